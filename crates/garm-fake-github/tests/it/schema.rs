//! A small validator for the JSON Schema subset the OpenAPI fixtures use, and operation look-up.
//!
//! Keywords: `type` (a name or, in OpenAPI 3.1 files, a list), `nullable` (3.0), `properties`,
//! `required`, `items`, `enum`, `allOf`/`anyOf`/`oneOf`, local `$ref`, `additionalProperties`.
//! `format` is not checked (the fixtures README: examples use it loosely).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::fixtures_dir;

/// One OpenAPI document.
pub struct Doc {
    pub root: Value,
}

fn load(name: &str) -> Doc {
    let path = fixtures_dir().join("openapi").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    Doc {
        root: serde_json::from_str(&text).expect("OpenAPI fixtures are JSON"),
    }
}

/// The GitHub Enterprise Cloud REST subset (github.com operations plus the enterprise ones).
pub fn ghec() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| load("rest-subset.ghec.json"))
}

/// The GitHub Enterprise Server 3.19 REST subset.
pub fn ghes() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| load("rest-subset.ghes-3.19.json"))
}

/// The github.com webhook subset.
pub fn webhooks() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| load("webhooks-subset.api.github.com.json"))
}

fn kind_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

impl Doc {
    /// Follows `$ref`s to the schema they name.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return value;
            };
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {reference}"));
            value = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        }
        panic!("$ref chain too long");
    }

    /// Every violation of `schema` by `value`, as `path: problem` lines.
    pub fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "$", &mut errors);
        errors
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let Some(map) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                errors.push(format!("{at}: no value is allowed here"));
            }
            return;
        };
        if value.is_null() && map.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        match map.get("type") {
            Some(Value::String(kind)) if !kind_matches(kind, value) => {
                errors.push(format!("{at}: expected {kind}, got {value}"));
                return;
            }
            Some(Value::Array(kinds)) if !kinds.iter().filter_map(Value::as_str).any(|k| kind_matches(k, value)) => {
                errors.push(format!("{at}: expected one of {kinds:?}, got {value}"));
                return;
            }
            _ => {}
        }
        if let Some(Value::Array(allowed)) = map.get("enum") {
            if !allowed.contains(value) {
                errors.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = map.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(required)) = map.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(name) {
                        errors.push(format!("{at}: missing required property {name}"));
                    }
                }
            }
            for (key, item) in object {
                let here = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => self.check(sub, item, &here, errors),
                    None => match map.get("additionalProperties") {
                        Some(Value::Bool(false)) => errors.push(format!("{here}: property not allowed")),
                        Some(sub @ Value::Object(_)) => self.check(sub, item, &here, errors),
                        _ => {}
                    },
                }
            }
        }
        if let (Some(items), Some(array)) = (map.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{at}[{index}]"), errors);
            }
        }
        if let Some(Value::Array(all)) = map.get("allOf") {
            for sub in all {
                self.check(sub, value, at, errors);
            }
        }
        if let Some(Value::Array(any)) = map.get("anyOf") {
            if !any.iter().any(|sub| self.errors(sub, value).is_empty()) {
                errors.push(format!("{at}: matches none of anyOf"));
            }
        }
        if let Some(Value::Array(one)) = map.get("oneOf") {
            let matching = one.iter().filter(|sub| self.errors(sub, value).is_empty()).count();
            if matching != 1 {
                errors.push(format!("{at}: matches {matching} of oneOf, expected exactly one"));
            }
        }
    }

    /// The path template (and its parameters) of the document that `path` instantiates.
    pub fn template_of(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let paths = self.root["paths"].as_object()?;
        paths
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') {
                        continue;
                    }
                    if part != segment {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, template.clone()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template)
    }

    /// The operation object for `method` on `template`.
    pub fn operation(&self, method: &str, template: &str) -> Option<&Value> {
        self.root["paths"][template].get(method.to_lowercase())
    }

    /// Operation ids of this document, as listed in `x-subset`.
    pub fn operation_ids(&self) -> Vec<String> {
        self.root["x-subset"]["operations"]
            .as_array()
            .map(|ops| ops.iter().filter_map(|o| o.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// A webhook payload schema, `components/schemas/webhook-<name>`.
    pub fn webhook_schema(&self, name: &str) -> &Value {
        &self.root["components"]["schemas"][format!("webhook-{name}")]
    }
}

/// The webhook schema name for an event and its action.
pub fn webhook_name(event: &str, action: Option<&str>) -> String {
    match action {
        Some(action) => format!("{}-{}", event.replace('_', "-"), action.replace('_', "-")),
        None => event.replace('_', "-"),
    }
}

/// Validates a webhook payload against its schema; panics with every problem found.
pub fn assert_webhook(event: &str, payload: &Value) {
    let action = payload.get("action").and_then(Value::as_str);
    let name = webhook_name(event, action);
    let doc = webhooks();
    let schema = doc.webhook_schema(&name);
    assert!(schema.is_object(), "no webhook schema {name}");
    let errors = doc.errors(schema, payload);
    assert!(
        errors.is_empty(),
        "{name} payload violates its schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn validator_rejects_wrong_types_missing_fields_and_bad_enums() {
    let doc = ghec();
    let runner = serde_json::json!({"$ref": "#/components/schemas/runner"});
    let good = serde_json::json!({"id": 1, "name": "r", "os": "linux", "status": "online", "busy": false, "labels": [{"name": "x", "type": "custom"}], "version": null});
    assert!(
        doc.errors(&runner, &good).is_empty(),
        "{:?}",
        doc.errors(&runner, &good)
    );
    let mut missing = good.clone();
    missing.as_object_mut().map(|m| m.remove("busy"));
    assert_eq!(doc.errors(&runner, &missing), vec!["$: missing required property busy"]);
    let mut wrong = good.clone();
    wrong["id"] = serde_json::json!("1");
    wrong["labels"][0]["type"] = serde_json::json!("other");
    let errors = doc.errors(&runner, &wrong);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let mut null_name = good;
    null_name["name"] = Value::Null;
    assert_eq!(doc.errors(&runner, &null_name).len(), 1);
}

#[test]
fn validator_handles_openapi_31_type_lists_and_one_of() {
    let doc = webhooks();
    let schema = serde_json::json!({"type": ["string", "null"], "enum": ["a", null]});
    assert!(doc.errors(&schema, &Value::Null).is_empty());
    assert!(doc.errors(&schema, &serde_json::json!("a")).is_empty());
    assert_eq!(doc.errors(&schema, &serde_json::json!(3)).len(), 1);
    let one_of = serde_json::json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
    assert!(doc.errors(&one_of, &serde_json::json!(3)).is_empty());
    assert_eq!(doc.errors(&one_of, &serde_json::json!(true)).len(), 1);
}

#[test]
fn every_fixture_ping_and_most_workflow_jobs_pass_the_webhook_schemas() {
    // The README: all pings pass; dotcom-00-in_progress (an old capture) lacks required fields.
    let dir = fixtures_dir().join("webhooks");
    let mut failures: HashMap<String, usize> = HashMap::new();
    for event in ["ping", "workflow_job"] {
        for entry in std::fs::read_dir(dir.join(event)).expect("fixture folder") {
            let path = entry.expect("entry").path();
            let payload: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            let action = payload.get("action").and_then(Value::as_str);
            let doc = webhooks();
            let errors = doc.errors(doc.webhook_schema(&webhook_name(event, action)), &payload);
            if !errors.is_empty() {
                failures.insert(path.file_name().unwrap().to_string_lossy().into_owned(), errors.len());
            }
        }
    }
    let names: Vec<&String> = failures.keys().collect();
    assert_eq!(names, vec!["dotcom-00-in_progress.json"], "{failures:?}");
}
