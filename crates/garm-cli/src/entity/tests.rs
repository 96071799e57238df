//! Tests of entity views and create bodies.

use super::*;

fn sample_repo() -> Value {
    json!({
        "id": "05e7eac6-4705-486d-89c9-0170bbb576af",
        "owner": "mkulke",
        "name": "garm-playground",
        "credentials_name": "garm",
        "credentials": {"name": "garm"},
        "endpoint": {"name": "github.com", "endpoint_type": "github"},
        "pool_manager_status": {"running": false, "failure_reason": "pool manager is starting up"},
        "agent_mode": false,
        "created_at": "2026-07-01T10:00:00.123456Z",
        "updated_at": "2026-07-01T10:00:00.123456Z",
        "pool": [{"id": "p-1"}, {"id": "p-2"}],
        "events": [{"created_at": "2026-07-01T10:00:01.5Z", "event_level": "info", "message": "started"}],
    })
}

#[test]
fn repo_list_has_garm_columns_and_defaults() {
    let rendered = entities_table(Kind::Repo, &json!([sample_repo()]), Columns::Short).render();
    let header = rendered.lines().nth(1).unwrap();
    assert_eq!(
        header,
        "| ID                                   | OWNER  | NAME            | ENDPOINT   | CREDENTIALS NAME | POOL BALANCER TYPE | FORGE TYPE | POOL MGR RUNNING |"
    );
    let row = rendered.lines().nth(3).unwrap();
    assert!(row.contains("| roundrobin "), "{row}");
    assert!(row.contains("| github     |"), "{row}");
    assert!(row.ends_with("| false            |"), "{row}");
}

#[test]
fn enterprise_list_has_no_owner_or_forge_type() {
    let rendered = entities_table(Kind::Enterprise, &json!([]), Columns::Long).render();
    assert!(!rendered.contains("OWNER"));
    assert!(!rendered.contains("FORGE TYPE"));
    assert!(rendered.contains("CREATED AT"));
}

#[test]
fn repo_show_lists_failure_reason_pools_and_events() {
    let rendered = entity_table(Kind::Repo, &sample_repo()).render();
    assert!(rendered.contains("| Failure reason       | pool manager is starting up"));
    assert!(rendered.contains("| Pools                | p-1"));
    assert!(rendered.contains("|                      | p-2"));
    assert!(rendered.contains("| Events               | 2026-07-01T10:00:01 INFO: started"));
    let mut running = sample_repo();
    running["pool_manager_status"]["running"] = json!(true);
    assert!(!entity_table(Kind::Repo, &running).render().contains("Failure reason"));
}

#[test]
fn random_webhook_secret_replaces_the_empty_one() {
    let hooked = HookedAddArgs {
        common: CommonAddArgs {
            credentials: "garm".into(),
            webhook_secret: None,
            pool_balancer_type: "roundrobin".into(),
            agent_mode: None,
        },
        random_webhook_secret: true,
        forge_type: None,
        install_webhook: false,
    };
    let body = add_body(&hooked.common, &hooked).unwrap();
    let secret = body["webhook_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(body["credentials_name"], "garm");
    assert_eq!(body["pool_balancer_type"], "roundrobin");
    assert!(body.get("forge_type").is_none());
}
