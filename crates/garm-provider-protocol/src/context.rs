//! `Context`: a provider process's view of the `GARM_*` environment, checked as garm-provider-common checks it.

use std::path::PathBuf;

use crate::command::{env, Command, InterfaceVersion, UnknownCommand, UnknownInterfaceVersion};
use crate::extra_specs::{decode_pool_extra_specs, ExtraSpecsError};

/// What garm told the provider process through its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub command: Command,
    /// `v0.1.0` when garm did not say.
    pub interface_version: InterfaceVersion,
    pub controller_id: String,
    /// Exists (checked when the context is built).
    pub config_file: PathBuf,
    /// Present for every command that needs it (see [`Context::from_vars`]).
    pub pool_id: Option<String>,
    /// Present for `DeleteInstance`, `GetInstance`, `StartInstance` and `StopInstance`.
    pub instance_id: Option<String>,
    /// Decoded `GARM_POOL_EXTRASPECS`; `None` when absent or JSON `null`.
    pub pool_extra_specs: Option<serde_json::Value>,
}

/// The environment does not describe a command the provider can run.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("invalid {}", env::COMMAND)]
    Command(#[source] UnknownCommand),
    #[error("invalid {}", env::INTERFACE_VERSION)]
    InterfaceVersion(#[source] UnknownInterfaceVersion),
    #[error("cannot access the provider config file {}", path.display())]
    ConfigFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decode the pool's extra specs")]
    ExtraSpecs(#[source] ExtraSpecsError),
}

impl Context {
    /// Reads the process environment; see [`Context::from_vars`].
    pub fn from_env() -> Result<Context, ContextError> {
        Context::from_vars(|name| std::env::var(name).ok())
    }

    /// Builds and checks a context from a variable lookup (an empty value counts as missing).
    ///
    /// Fails like garm-provider-common's `execution` package: `GARM_COMMAND`,
    /// `GARM_CONTROLLER_ID` and an existing `GARM_PROVIDER_CONFIG_FILE` are always required;
    /// `CreateInstance` and `ListInstances` need `GARM_POOL_ID`; instance commands need
    /// `GARM_INSTANCE_ID` and, for v0.1.1, `GARM_POOL_ID`. The bootstrap name that
    /// `CreateInstance` also needs comes from stdin and is checked by the runner.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Context, ContextError> {
        let get = |name: &str| var(name).filter(|value| !value.is_empty());
        let require = |name: &'static str| get(name).ok_or(ContextError::Missing(name));

        let interface_version = get(env::INTERFACE_VERSION)
            .unwrap_or_default()
            .parse::<InterfaceVersion>()
            .map_err(ContextError::InterfaceVersion)?;
        let command = require(env::COMMAND)?
            .parse::<Command>()
            .map_err(ContextError::Command)?;
        let config_file = PathBuf::from(require(env::PROVIDER_CONFIG_FILE)?);
        if let Err(source) = std::fs::symlink_metadata(&config_file) {
            return Err(ContextError::ConfigFile {
                path: config_file,
                source,
            });
        }
        let controller_id = require(env::CONTROLLER_ID)?;

        let pool_id = get(env::POOL_ID);
        let instance_id = get(env::INSTANCE_ID);
        let needs_pool = match command {
            Command::CreateInstance | Command::ListInstances => true,
            command if command.targets_instance() => interface_version == InterfaceVersion::V0_1_1,
            _ => false,
        };
        if needs_pool && pool_id.is_none() {
            return Err(ContextError::Missing(env::POOL_ID));
        }
        if command.targets_instance() && instance_id.is_none() {
            return Err(ContextError::Missing(env::INSTANCE_ID));
        }
        let pool_extra_specs = decode_pool_extra_specs(&get(env::POOL_EXTRASPECS).unwrap_or_default())
            .map_err(ContextError::ExtraSpecs)?;

        Ok(Context {
            command,
            interface_version,
            controller_id,
            config_file,
            pool_id,
            instance_id,
            pool_extra_specs,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::extra_specs::encode_pool_extra_specs;

    struct Env {
        vars: HashMap<&'static str, String>,
        config: PathBuf,
    }

    impl Env {
        /// A complete `DeleteInstance` environment with a real config file.
        fn new() -> Env {
            let config = std::env::temp_dir().join(format!("garm-protocol-{}.toml", uuid::Uuid::new_v4()));
            std::fs::write(&config, "").unwrap();
            let vars = HashMap::from([
                (env::COMMAND, "DeleteInstance".to_owned()),
                (env::CONTROLLER_ID, "c0ffee".to_owned()),
                (env::INSTANCE_ID, "garm-abc".to_owned()),
                (env::PROVIDER_CONFIG_FILE, config.display().to_string()),
            ]);
            Env { vars, config }
        }

        fn set(mut self, name: &'static str, value: &str) -> Env {
            self.vars.insert(name, value.to_owned());
            self
        }

        fn unset(mut self, name: &'static str) -> Env {
            self.vars.remove(name);
            self
        }

        fn context(&self) -> Result<Context, ContextError> {
            Context::from_vars(|name| self.vars.get(name).cloned())
        }
    }

    impl Drop for Env {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.config);
        }
    }

    fn missing(res: Result<Context, ContextError>) -> &'static str {
        match res {
            Err(ContextError::Missing(name)) => name,
            other => panic!("expected a missing variable, got {other:?}"),
        }
    }

    #[test]
    fn a_v0_1_0_delete_needs_no_pool_id() {
        let ctx = Env::new().context().unwrap();
        assert_eq!(ctx.command, Command::DeleteInstance);
        assert_eq!(ctx.interface_version, InterfaceVersion::V0_1_0);
        assert_eq!(ctx.instance_id.as_deref(), Some("garm-abc"));
        assert_eq!(ctx.pool_id, None);
        assert_eq!(ctx.pool_extra_specs, None);
    }

    #[test]
    fn a_v0_1_1_delete_needs_a_pool_id() {
        let env = Env::new().set(env::INTERFACE_VERSION, "v0.1.1");
        assert_eq!(missing(env.context()), env::POOL_ID);
        let env = env.set(env::POOL_ID, "pool-1");
        assert_eq!(env.context().unwrap().pool_id.as_deref(), Some("pool-1"));
    }

    #[test]
    fn always_required_variables_are_named_when_missing() {
        assert_eq!(missing(Env::new().unset(env::COMMAND).context()), env::COMMAND);
        assert_eq!(
            missing(Env::new().unset(env::CONTROLLER_ID).context()),
            env::CONTROLLER_ID
        );
        assert_eq!(
            missing(Env::new().set(env::CONTROLLER_ID, "").context()),
            env::CONTROLLER_ID
        );
        assert_eq!(
            missing(Env::new().unset(env::PROVIDER_CONFIG_FILE).context()),
            env::PROVIDER_CONFIG_FILE
        );
        assert_eq!(missing(Env::new().unset(env::INSTANCE_ID).context()), env::INSTANCE_ID);
    }

    #[test]
    fn create_and_list_need_a_pool_id() {
        for command in ["CreateInstance", "ListInstances"] {
            let env = Env::new().set(env::COMMAND, command).unset(env::INSTANCE_ID);
            assert_eq!(missing(env.context()), env::POOL_ID, "{command}");
        }
        let env = Env::new()
            .set(env::COMMAND, "RemoveAllInstances")
            .unset(env::INSTANCE_ID);
        assert!(env.context().is_ok());
    }

    #[test]
    fn a_config_file_that_does_not_exist_is_rejected() {
        let env = Env::new().set(env::PROVIDER_CONFIG_FILE, "/nonexistent/garm/provider.toml");
        assert!(matches!(env.context(), Err(ContextError::ConfigFile { .. })));
    }

    #[test]
    fn unknown_commands_and_versions_are_rejected() {
        assert!(matches!(
            Env::new().set(env::COMMAND, "Explode").context(),
            Err(ContextError::Command(_))
        ));
        assert!(matches!(
            Env::new().set(env::INTERFACE_VERSION, "v0.3.0").context(),
            Err(ContextError::InterfaceVersion(_))
        ));
    }

    #[test]
    fn pool_extra_specs_are_decoded() {
        let encoded = encode_pool_extra_specs(Some(r#"{"flavor_override": "big"}"#));
        let env = Env::new().set(env::POOL_EXTRASPECS, &encoded);
        let specs = env.context().unwrap().pool_extra_specs.unwrap();
        assert_eq!(specs["flavor_override"], "big");

        let env = Env::new().set(env::POOL_EXTRASPECS, "not base64");
        assert!(matches!(env.context(), Err(ContextError::ExtraSpecs(_))));
    }
}
