//! Runner tests: a toy provider driven through `execute` with fake env, stdin and stdout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use super::*;
use crate::command::env;
use crate::instance::ProviderStatus;

#[derive(Default)]
struct Toy {
    instances: RefCell<Vec<ProviderInstance>>,
    seen_bootstrap: RefCell<Option<BootstrapInstance>>,
    fail_with: RefCell<Option<ProviderError>>,
}

impl Toy {
    fn with(instances: &[&str]) -> Toy {
        let toy = Toy::default();
        toy.instances
            .borrow_mut()
            .extend(instances.iter().map(|name| instance(name)));
        toy
    }

    fn failing(error: ProviderError) -> Toy {
        let toy = Toy::default();
        *toy.fail_with.borrow_mut() = Some(error);
        toy
    }

    fn check(&self) -> Result<(), ProviderError> {
        match self.fail_with.borrow_mut().take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn find(&self, id: &str) -> Result<ProviderInstance, ProviderError> {
        self.instances
            .borrow()
            .iter()
            .find(|instance| instance.provider_id == id)
            .cloned()
            .ok_or_else(|| ProviderError::NotFound(id.to_owned()))
    }
}

fn instance(name: &str) -> ProviderInstance {
    ProviderInstance {
        provider_id: name.to_owned(),
        name: name.to_owned(),
        status: ProviderStatus::Running,
        ..ProviderInstance::default()
    }
}

impl Provider for &Toy {
    fn create_instance(&self, _ctx: &Context, bootstrap: BootstrapInstance) -> Result<ProviderInstance, ProviderError> {
        self.check()?;
        let created = instance(&bootstrap.name);
        *self.seen_bootstrap.borrow_mut() = Some(bootstrap);
        Ok(created)
    }

    fn delete_instance(&self, _ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.check()?;
        self.find(instance_id)?;
        self.instances
            .borrow_mut()
            .retain(|instance| instance.provider_id != instance_id);
        Ok(())
    }

    fn get_instance(&self, _ctx: &Context, instance_id: &str) -> Result<ProviderInstance, ProviderError> {
        self.check()?;
        self.find(instance_id)
    }

    fn list_instances(&self, _ctx: &Context, _pool_id: &str) -> Result<Vec<ProviderInstance>, ProviderError> {
        self.check()?;
        Ok(self.instances.borrow().clone())
    }

    fn remove_all_instances(&self, _ctx: &Context) -> Result<(), ProviderError> {
        self.check()?;
        self.instances.borrow_mut().clear();
        Ok(())
    }

    fn start(&self, _ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.find(instance_id).map(drop)
    }

    fn stop(&self, _ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.find(instance_id).map(drop)
    }
}

/// A config file that exists for the duration of a test.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new() -> ConfigFile {
        let path = std::env::temp_dir().join(format!("garm-runner-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, "").unwrap();
        ConfigFile(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Invocation {
    vars: HashMap<&'static str, String>,
    stdin: Vec<u8>,
    stdin_is_terminal: bool,
    _config: ConfigFile,
}

impl Invocation {
    fn new(command: &str) -> Invocation {
        let config = ConfigFile::new();
        let vars = HashMap::from([
            (env::COMMAND, command.to_owned()),
            (env::CONTROLLER_ID, "controller-1".to_owned()),
            (env::POOL_ID, "pool-1".to_owned()),
            (env::INSTANCE_ID, "garm-a".to_owned()),
            (env::PROVIDER_CONFIG_FILE, config.0.display().to_string()),
        ]);
        Invocation {
            vars,
            stdin: Vec::new(),
            stdin_is_terminal: false,
            _config: config,
        }
    }

    fn unset(mut self, name: &'static str) -> Invocation {
        self.vars.remove(name);
        self
    }

    fn stdin(mut self, data: &str) -> Invocation {
        self.stdin = data.as_bytes().to_vec();
        self
    }

    /// Runs the toy; returns stdout, or the failure.
    fn run(self, toy: &Toy) -> Result<String, Failure> {
        let mut stdout = Vec::new();
        let vars = self.vars;
        execute(
            |_| Ok(toy),
            |name| vars.get(name).cloned(),
            &mut self.stdin.as_slice(),
            self.stdin_is_terminal,
            &mut stdout,
        )?;
        Ok(String::from_utf8(stdout).unwrap())
    }
}

#[test]
fn create_reads_stdin_and_prints_one_instance() {
    let toy = Toy::default();
    let out = Invocation::new("CreateInstance")
        .stdin(r#"{"name": "garm-new", "pool_id": "pool-1"}"#)
        .run(&toy)
        .unwrap();
    let printed: ProviderInstance = serde_json::from_str(&out).unwrap();
    assert_eq!(printed.name, "garm-new");
    assert_eq!(out.lines().count(), 1);
    let seen = toy.seen_bootstrap.borrow().clone().unwrap();
    assert_eq!(
        seen.extra_specs_json(),
        Some("{}"),
        "missing extra specs become an empty object"
    );
}

#[test]
fn create_without_stdin_fails_clearly() {
    let failure = Invocation::new("CreateInstance").run(&Toy::default()).unwrap_err();
    assert_eq!(failure.code, 1);
    assert!(failure.message.contains("stdin"), "{}", failure.message);

    let mut invocation = Invocation::new("CreateInstance").stdin(r#"{"name": "x"}"#);
    invocation.stdin_is_terminal = true;
    assert_eq!(invocation.run(&Toy::default()).unwrap_err().code, 1);

    let failure = Invocation::new("CreateInstance")
        .stdin(r#"{"pool_id": "p"}"#)
        .run(&Toy::default())
        .unwrap_err();
    assert!(failure.message.contains("name"), "{}", failure.message);
}

#[test]
fn missing_variables_exit_1_naming_the_variable() {
    let failure = Invocation::new("GetInstance")
        .unset(env::CONTROLLER_ID)
        .run(&Toy::default())
        .unwrap_err();
    assert_eq!(failure.code, 1);
    assert_eq!(failure.message, "missing GARM_CONTROLLER_ID");
}

#[test]
fn not_found_exits_30_and_duplicate_31() {
    let failure = Invocation::new("GetInstance").run(&Toy::default()).unwrap_err();
    assert_eq!(failure.code, 30);
    assert_eq!(failure.message, "instance garm-a not found");
    let failure = Invocation::new("DeleteInstance").run(&Toy::default()).unwrap_err();
    assert_eq!(failure.code, 30);

    let toy = Toy::failing(ProviderError::Duplicate("garm-new".into()));
    let failure = Invocation::new("CreateInstance")
        .stdin(r#"{"name": "garm-new"}"#)
        .run(&toy)
        .unwrap_err();
    assert_eq!(failure.code, 31);
}

#[test]
fn other_errors_exit_1_with_the_whole_chain() {
    let cause = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "quota exceeded");
    let toy = Toy::failing(ProviderError::caused_by("cannot create the VM", cause));
    let failure = Invocation::new("CreateInstance")
        .stdin(r#"{"name": "garm-new"}"#)
        .run(&toy)
        .unwrap_err();
    assert_eq!(failure.code, 1);
    assert_eq!(failure.message, "cannot create the VM: quota exceeded");
}

#[test]
fn get_and_delete_find_the_instance() {
    let toy = Toy::with(&["garm-a"]);
    let out = Invocation::new("GetInstance").run(&toy).unwrap();
    assert_eq!(serde_json::from_str::<ProviderInstance>(&out).unwrap().name, "garm-a");
    assert_eq!(
        Invocation::new("DeleteInstance").run(&toy).unwrap(),
        "",
        "delete prints nothing"
    );
    assert!(toy.instances.borrow().is_empty());
}

#[test]
fn list_prints_a_json_array_even_when_empty() {
    let out = Invocation::new("ListInstances").run(&Toy::default()).unwrap();
    assert_eq!(out.trim(), "[]");
    let out = Invocation::new("ListInstances")
        .run(&Toy::with(&["garm-a", "garm-b"]))
        .unwrap();
    let listed: Vec<ProviderInstance> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 2);
}

#[test]
fn an_invalid_instance_is_not_printed() {
    let toy = Toy::default();
    toy.instances.borrow_mut().push(ProviderInstance {
        status: ProviderStatus::Missing,
        ..instance("garm-a")
    });
    let failure = Invocation::new("GetInstance").run(&toy).unwrap_err();
    assert_eq!(failure.code, 1);
    assert!(failure.message.contains("invalid instance"), "{}", failure.message);
    assert!(Invocation::new("ListInstances").run(&toy).is_err());
}

#[test]
fn v0_1_1_extras_have_defaults() {
    let out = Invocation::new("GetSupportedInterfaceVersions")
        .run(&Toy::default())
        .unwrap();
    assert_eq!(out.trim(), r#"["v0.1.0","v0.1.1"]"#);
    let out = Invocation::new("GetVersion").run(&Toy::default()).unwrap();
    assert_eq!(out.trim(), "v0.0.0-unknown");
    assert_eq!(Invocation::new("ValidatePoolInfo").run(&Toy::default()).unwrap(), "");
    assert_eq!(
        Invocation::new("GetConfigJSONSchema")
            .run(&Toy::default())
            .unwrap_err()
            .code,
        1
    );
}
