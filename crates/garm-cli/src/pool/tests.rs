//! Tests of pool request bodies, extra-specs validation and pool views.

use super::*;
use crate::parse_args;

fn add_args(extra: &[&str]) -> PoolAddArgs {
    let mut argv = vec![
        "garm-cli",
        "pool",
        "add",
        "--repo",
        "05e7eac6-4705-486d-89c9-0170bbb576af",
        "--provider-name",
        "azure",
        "--image",
        "img",
        "--flavor",
        "f",
        "--tags",
        "a, b,,c",
    ];
    argv.extend_from_slice(extra);
    match parse_args(argv).unwrap().command {
        crate::Command::Pool(PoolCommand::Add(args)) => args,
        other => panic!("unexpected command {other:?}"),
    }
}

#[test]
fn valid_extra_specs_are_sent_as_json_values() {
    let body = create_body(&add_args(&["--extra-specs", r#"{"confidential": true}"#])).unwrap();
    assert_eq!(body["extra_specs"], json!({"confidential": true}));
}

#[test]
fn invalid_extra_specs_fail_before_any_request() {
    let err = create_body(&add_args(&["--extra-specs", r#"{"confidential": true"#])).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("--extra-specs is not valid JSON: "), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn extra_specs_file_is_read_and_validated() {
    let dir = std::env::temp_dir().join(format!("garm-cli-specs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, "{\n  \"storage\": 30\n}\n").unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "storage: 30").unwrap();
    let specs = extra_specs(None, Some(&good)).unwrap();
    assert_eq!(specs, Some(json!({"storage": 30})));
    let err = extra_specs(None, Some(&bad)).unwrap_err().to_string();
    assert!(err.contains("bad.json is not valid JSON"), "{err}");
    assert!(extra_specs(None, Some(&dir.join("missing.json"))).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn create_body_applies_go_defaults_and_splits_tags() {
    let body = create_body(&add_args(&[])).unwrap();
    assert_eq!(body["tags"], json!(["a", "b", "c"]));
    assert_eq!(body["os_type"], "linux");
    assert_eq!(body["os_arch"], "amd64");
    assert_eq!(body["max_runners"], 5);
    assert_eq!(body["min_idle_runners"], 1);
    assert_eq!(body["runner_bootstrap_timeout"], 20);
    assert_eq!(body["enabled"], false);
    assert!(body.get("extra_specs").is_none());
}

#[test]
fn create_body_rejects_what_garm_would_reject() {
    let err = create_body(&add_args(&["--min-idle-runners", "6"])).unwrap_err();
    assert_eq!(err.to_string(), "min_idle_runners cannot be larger than max_runners");
    assert!(create_body(&add_args(&["--os-type", "plan9"])).is_err());
    assert!(create_body(&add_args(&["--os-arch", "i386"])).is_err());
}

#[test]
fn pool_list_shows_owner_endpoint_and_space_separated_tags() {
    let pools = json!([{
        "id": "p1", "image": "img", "flavor": "f", "enabled": true,
        "tags": [{"name": "self-hosted"}, {"name": "azure"}],
        "repo_id": "r", "repo_name": "mkulke/garm-playground",
        "endpoint": {"name": "github.com", "endpoint_type": "github"},
    }]);
    let rendered = pools_table(&pools, Columns::Short).render();
    let row = rendered.lines().nth(3).unwrap();
    assert_eq!(
        row,
        "| p1 | img   | f      | self-hosted azure | mkulke/garm-playground | github.com | github     | true    |"
    );
}

#[test]
fn pool_show_lists_instances_and_raw_extra_specs() {
    let pool = json!({
        "id": "p1", "provider_name": "azure", "max_runners": 4, "extra_specs": {"confidential": true},
        "org_id": "o", "org_name": "acme", "template_id": 2, "template_name": "github_linux",
        "instances": [{"name": "garm-abc", "id": "i1"}, {"name": "garm-def", "id": "i2"}],
    });
    let rendered = pool_table(&pool).render();
    assert!(rendered.contains("| Extra specs              | {\"confidential\":true}"));
    assert!(rendered.contains("| Belongs to               | acme"));
    assert!(rendered.contains("| Level                    | org"));
    assert!(rendered.contains("| Template                 | github_linux (ID: 2)"));
    assert!(rendered.contains("| Instances                | garm-abc (i1)"));
    assert!(rendered.contains("|                          | garm-def (i2)"));
    assert!(rendered.contains("| Max Runners              |"));
    assert!(!rendered.contains("Proxy"));
}
