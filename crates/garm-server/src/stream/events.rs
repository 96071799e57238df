//! Database change events: garm's envelope and filter protocol (served at `/api/v1/ws/events`
//! by [`crate::ws::events`]).
//!
//! Nothing is sent until the client writes a filter: `{"send-everything": true}` or
//! `{"filters": [{"entity-type": "pool", "operations": ["create"]}]}` (a filter without
//! operations takes all three). A message with no filters is ignored; one that is not JSON
//! gets the text `failed to unmarshal filter`, one naming an unknown entity type or operation
//! gets `invalid filter`, and both close the connection.

use super::hub::Message;
use super::{EntityType, Operation};
use serde::{Deserialize, Serialize};

/// What an events subscriber asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// No filter yet: nothing is sent (garm's `WithNone`).
    #[default]
    Nothing,
    Everything,
    /// Any of these: an entity type and the operations wanted (empty: all).
    Any(Vec<(EntityType, Vec<Operation>)>),
}

impl Selection {
    pub fn wants(&self, kind: EntityType, op: Operation) -> bool {
        match self {
            Selection::Nothing => false,
            Selection::Everything => true,
            Selection::Any(rules) => rules
                .iter()
                .any(|(k, ops)| *k == kind && (ops.is_empty() || ops.contains(&op))),
        }
    }
}

/// garm's `Options` as the client writes it; types are checked after decoding, as garm does.
#[derive(Debug, Deserialize)]
struct Options {
    #[serde(default, rename = "send-everything")]
    send_everything: Option<bool>,
    #[serde(default)]
    filters: Option<Vec<Filter>>,
}

#[derive(Debug, Deserialize)]
struct Filter {
    #[serde(default, rename = "entity-type")]
    entity_type: Option<String>,
    #[serde(default)]
    operations: Option<Vec<String>>,
}

/// The outcome of a client's filter message.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Select(Selection),
    /// No filters and not everything: garm ignores the message.
    Ignore,
    Refuse(&'static str),
}

/// A garm name (`"pool"`, `"create"`) as one of our enums.
fn named<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

pub fn parse(text: &str) -> Parsed {
    let Ok(opt) = serde_json::from_str::<Options>(text) else {
        return Parsed::Refuse("failed to unmarshal filter");
    };
    if opt.send_everything.unwrap_or(false) {
        return Parsed::Select(Selection::Everything);
    }
    let filters = opt.filters.unwrap_or_default();
    if filters.is_empty() {
        return Parsed::Ignore;
    }
    let mut rules = Vec::with_capacity(filters.len());
    for f in filters {
        let Some(kind) = f.entity_type.as_deref().and_then(named::<EntityType>) else {
            return Parsed::Refuse("invalid filter");
        };
        let mut ops = Vec::new();
        for op in f.operations.unwrap_or_default() {
            match named(&op) {
                Some(op) => ops.push(op),
                None => return Parsed::Refuse("invalid filter"),
            }
        }
        rules.push((kind, ops));
    }
    Parsed::Select(Selection::Any(rules))
}

/// garm's `ChangePayload`, keys in its order.
#[derive(Serialize)]
struct Envelope<'a, P> {
    #[serde(rename = "entity-type")]
    entity_type: EntityType,
    operation: Operation,
    payload: &'a P,
}

pub fn encode(kind: EntityType, op: Operation, payload: &impl Serialize) -> Option<Message> {
    let env = Envelope {
        entity_type: kind,
        operation: op,
        payload,
    };
    serde_json::to_string(&env).ok().map(Message::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_garm_reads_them() {
        assert_eq!(
            parse(r#"{"send-everything": true}"#),
            Parsed::Select(Selection::Everything)
        );
        assert_eq!(parse(r#"{}"#), Parsed::Ignore);
        assert_eq!(parse(r#"{"filters": []}"#), Parsed::Ignore);
        assert_eq!(parse("nope"), Parsed::Refuse("failed to unmarshal filter"));
        assert_eq!(
            parse(r#"{"filters": [{"entity-type": "pools"}]}"#),
            Parsed::Refuse("invalid filter")
        );
        assert_eq!(
            parse(r#"{"filters": [{"operations": ["create"]}]}"#),
            Parsed::Refuse("invalid filter")
        );
        assert_eq!(
            parse(r#"{"filters": [{"entity-type": "pool", "operations": ["upsert"]}]}"#),
            Parsed::Refuse("invalid filter")
        );
        let Parsed::Select(sel) = parse(
            r#"{"filters": [{"entity-type": "instance", "operations": ["create","delete"]}, {"entity-type": "scaleset"}]}"#,
        ) else {
            panic!("valid filter refused")
        };
        assert!(sel.wants(EntityType::Instance, Operation::Create));
        assert!(!sel.wants(EntityType::Instance, Operation::Update));
        assert!(sel.wants(EntityType::ScaleSet, Operation::Update));
        assert!(!sel.wants(EntityType::Pool, Operation::Create));
        assert!(!Selection::Nothing.wants(EntityType::Pool, Operation::Create));
    }

    #[test]
    fn the_envelope_has_garms_keys() {
        let msg = encode(
            EntityType::GithubCredentials,
            Operation::Delete,
            &serde_json::json!({"id": 3}),
        )
        .unwrap();
        assert_eq!(
            &*msg,
            r#"{"entity-type":"github_credentials","operation":"delete","payload":{"id":3}}"#
        );
    }
}
