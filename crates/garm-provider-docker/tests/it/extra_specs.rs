//! Extra specs and flavors: validated before anything is created; privileges only on request.

use serde_json::json;

use crate::support::{bootstrap, engine, instance_name, stderr, template, Controller};

#[test]
fn an_unknown_extra_spec_key_is_refused_by_name_before_anything_is_created() {
    let controller = Controller::new();
    let name = instance_name();
    let specs = json!({"runner_install_template": template("true\n"), "disk_size_gb": 64});
    let out = controller.create("pool", &bootstrap(&name, "pool", "unlimited", Some(specs)));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("unknown field `disk_size_gb`"), "{err}");
    assert!(err.contains("expected one of"), "{err}");
    assert!(engine().inspect(&name).is_none());
}

#[test]
fn an_unknown_flavor_is_refused_with_the_known_ones() {
    let controller = Controller::new();
    let name = instance_name();
    let out = controller.create("pool", &bootstrap(&name, "pool", "huge", None));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(r#"unknown flavor "huge""#), "{err}");
    assert!(err.contains(r#""small", "unlimited""#), "{err}");
    assert!(engine().inspect(&name).is_none());
}

#[test]
fn privileged_containers_are_created_only_when_the_pool_asks() {
    let controller = Controller::new();
    let (plain, privileged) = (instance_name(), instance_name());
    let keep = template("nohup setsid sleep 600 >/dev/null 2>&1 &\n");
    controller.create_ok(
        "pool",
        &bootstrap(
            &plain,
            "pool",
            "unlimited",
            Some(json!({"runner_install_template": keep})),
        ),
    );
    controller.create_ok(
        "pool",
        &bootstrap(
            &privileged,
            "pool",
            "unlimited",
            Some(json!({"runner_install_template": keep, "privileged": true})),
        ),
    );
    let privileged_of = |name: &str| engine().inspect(name).unwrap().host_config.unwrap().privileged;
    assert_eq!(privileged_of(&plain), Some(false));
    assert_eq!(privileged_of(&privileged), Some(true));
}

#[test]
fn pools_are_validated_and_the_extra_specs_schema_is_published() {
    let controller = Controller::new();
    let encode = |specs: &str| template(specs);
    let validate = |specs: &str| {
        controller.run(
            "ValidatePoolInfo",
            &[
                ("GARM_POOL_EXTRASPECS", &encode(specs)),
                ("GARM_INTERFACE_VERSION", "v0.1.1"),
            ],
            None,
        )
    };
    assert!(validate(r#"{"privileged": true, "env": {"A": "b"}}"#).status.success());
    let out = validate(r#"{"priviledged": true}"#);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown field `priviledged`"), "{}", stderr(&out));

    let out = controller.run("GetExtraSpecsJSONSchema", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn windows_pools_are_refused() {
    let controller = Controller::new();
    let name = instance_name();
    let mut params = bootstrap(&name, "pool", "unlimited", None);
    params["os_type"] = json!("windows");
    let out = controller.create("pool", &params);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Linux containers only"), "{}", stderr(&out));
    assert!(engine().inspect(&name).is_none());
}
