//! Reads garm's JSON objects (decoded as `serde_json::Value`) the way the Go CLI prints them.

use base64::Engine as _;
use serde_json::Value;

use crate::table::Cell;

/// The value at a key path, if present.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// The text of a key path as Go's `fmt` would print the field; missing or `null` is `""`.
pub fn text(value: &Value, path: &[&str]) -> String {
    match at(value, path) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A boolean field; missing means `false` (Go's zero value).
pub fn flag(value: &Value, path: &[&str]) -> bool {
    at(value, path).and_then(Value::as_bool).unwrap_or(false)
}

/// A table cell for a key path: numbers right-aligned, booleans default to `false`.
pub fn cell(value: &Value, path: &[&str]) -> Cell {
    match at(value, path) {
        Some(Value::Number(n)) => Cell::num(n),
        Some(Value::Bool(b)) => Cell::from(*b),
        _ => Cell::from(text(value, path)),
    }
}

/// The elements of an array field; missing or `null` is empty.
pub fn items<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A top-level JSON array response as a slice (`null` is an empty list).
pub fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A base64 (`[]byte`) field decoded to text, or `None` when absent or empty.
pub fn bytes_text(value: &Value, path: &[&str]) -> Option<String> {
    let encoded = text(value, path);
    if encoded.is_empty() {
        return None;
    }
    match base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => Some(encoded),
    }
}

/// A timestamp as Go's `Format("2006-01-02T15:04:05")` prints it (the RFC 3339 prefix).
pub fn short_time(value: &Value, path: &[&str]) -> String {
    text(value, path).chars().take(19).collect()
}

/// A timestamp as garm's tables print a Go `time.Time` (its `String()`:
/// `2006-01-02 15:04:05.999999999 -0700 MST`, fraction without trailing zeros), for the RFC 3339
/// text the API sends. Missing or `null` is Go's zero time, which garm's CLI prints for an absent
/// field (its times are not pointers); anything else is shown as it came.
pub fn go_time(value: &Value, path: &[&str]) -> String {
    let raw = text(value, path);
    if raw.is_empty() {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    }
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(&raw) else {
        return raw;
    };
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = t.format("%z").to_string();
    // Go names a parsed zero offset UTC; another offset gets a zone named after itself.
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        offset.clone()
    };
    out.push_str(&format!(" {offset} {zone}"));
    out
}

/// The credentials name of an entity, preferring the nested credentials object.
pub fn credentials_name(entity: &Value) -> String {
    let nested = text(entity, &["credentials", "name"]);
    if nested.is_empty() {
        text(entity, &["credentials_name"])
    } else {
        nested
    }
}

/// An entity's pool balancer, `roundrobin` when unset.
pub fn balancer_type(entity: &Value) -> String {
    let balancer = text(entity, &["pool_balancing_type"]);
    if balancer.is_empty() {
        "roundrobin".to_string()
    } else {
        balancer
    }
}

/// The forge type of an object's endpoint, `github` when unset.
pub fn forge_type(object: &Value) -> String {
    let forge = text(object, &["endpoint", "endpoint_type"]);
    if forge.is_empty() {
        "github".to_string()
    } else {
        forge
    }
}

/// Tag names of a pool.
pub fn tag_names(pool: &Value) -> Vec<String> {
    items(pool, &["tags"])
        .iter()
        .map(|tag| match tag {
            Value::String(name) => name.clone(),
            other => text(other, &["name"]),
        })
        .collect()
}

/// A pool's runner prefix, `garm` when unset.
pub fn runner_prefix(pool: &Value) -> String {
    let prefix = text(pool, &["runner_prefix"]);
    if prefix.is_empty() {
        "garm".to_string()
    } else {
        prefix
    }
}

/// Which entity a pool belongs to, and at which level.
pub fn pool_owner(pool: &Value) -> (String, &'static str) {
    let set = |key: &str| !text(pool, &[key]).is_empty();
    if set("repo_id") {
        (text(pool, &["repo_name"]), "repo")
    } else if set("org_id") {
        (text(pool, &["org_name"]), "org")
    } else if set("enterprise_id") {
        (text(pool, &["enterprise_name"]), "enterprise")
    } else if set("forge_instance_id") {
        (text(pool, &["endpoint", "name"]), "forge-instance")
    } else {
        (String::new(), "")
    }
}

/// Whether a string is a hyphenated UUID (as the Go CLI checks before resolving names).
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_reads_nested_keys_and_treats_missing_as_empty() {
        let v = json!({"endpoint": {"name": "github.com"}, "n": 5, "x": null});
        assert_eq!(text(&v, &["endpoint", "name"]), "github.com");
        assert_eq!(text(&v, &["n"]), "5");
        assert_eq!(text(&v, &["x"]), "");
        assert_eq!(text(&v, &["missing", "deeper"]), "");
    }

    #[test]
    fn times_print_as_go_prints_a_time() {
        let v = json!({
            "z": "2026-07-01T10:00:00Z", "nano": "2026-07-01T10:00:00.120000000Z",
            "east": "2026-07-01T12:00:00.000001+02:00", "odd": "yesterday", "none": null,
        });
        assert_eq!(go_time(&v, &["z"]), "2026-07-01 10:00:00 +0000 UTC");
        assert_eq!(go_time(&v, &["nano"]), "2026-07-01 10:00:00.12 +0000 UTC");
        assert_eq!(go_time(&v, &["east"]), "2026-07-01 12:00:00.000001 +0200 +0200");
        assert_eq!(go_time(&v, &["odd"]), "yesterday");
        assert_eq!(go_time(&v, &["none"]), "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_time(&v, &["missing"]), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn entity_defaults_match_the_go_cli() {
        let repo = json!({"credentials_name": "old", "credentials": {}});
        assert_eq!(credentials_name(&repo), "old");
        assert_eq!(balancer_type(&repo), "roundrobin");
        assert_eq!(forge_type(&repo), "github");
        let repo = json!({"credentials": {"name": "new"}, "pool_balancing_type": "pack"});
        assert_eq!(credentials_name(&repo), "new");
        assert_eq!(balancer_type(&repo), "pack");
    }

    #[test]
    fn pool_owner_and_tags_are_read_from_pool_json() {
        let pool = json!({"repo_id": "r", "repo_name": "o/n", "tags": [{"id": "1", "name": "a"}, {"name": "b"}]});
        assert_eq!(pool_owner(&pool), ("o/n".to_string(), "repo"));
        assert_eq!(tag_names(&pool), ["a", "b"]);
        let pool = json!({"forge_instance_id": "f", "endpoint": {"name": "gitea"}});
        assert_eq!(pool_owner(&pool), ("gitea".to_string(), "forge-instance"));
    }

    #[test]
    fn byte_fields_are_decoded_from_base64() {
        let v = json!({"provider_fault": "Ym9vbQ==", "empty": ""});
        assert_eq!(bytes_text(&v, &["provider_fault"]).as_deref(), Some("boom"));
        assert_eq!(bytes_text(&v, &["empty"]), None);
    }

    #[test]
    fn uuid_detection_accepts_only_hyphenated_uuids() {
        assert!(is_uuid("05e7eac6-4705-486d-89c9-0170bbb576af"));
        assert!(!is_uuid("mkulke/garm-playground"));
        assert!(!is_uuid("05e7eac6-4705-486d-89c9-0170bbb576ag"));
    }
}
