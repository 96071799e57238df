//! Commands, interface versions, `GARM_*` variable names and exit codes of the provider protocol.

use std::fmt;
use std::str::FromStr;

/// Names of the environment variables garm sets for a provider process.
pub mod env {
    /// Which operation to perform; one of [`Command`](super::Command)'s values.
    pub const COMMAND: &str = "GARM_COMMAND";
    /// The controller's UUID; providers tag every resource with it.
    pub const CONTROLLER_ID: &str = "GARM_CONTROLLER_ID";
    /// The pool's UUID (for scale sets, `<scale set name>-<entity id>`).
    pub const POOL_ID: &str = "GARM_POOL_ID";
    /// The instance's `provider_id`, or its name when no provider id is known.
    pub const INSTANCE_ID: &str = "GARM_INSTANCE_ID";
    /// The provider's own config file (may be empty).
    pub const PROVIDER_CONFIG_FILE: &str = "GARM_PROVIDER_CONFIG_FILE";
    /// Base64 of the pool's extra specs as JSON (v0.1.1 only); `bnVsbA==` for none.
    pub const POOL_EXTRASPECS: &str = "GARM_POOL_EXTRASPECS";
    /// `v0.1.0` or `v0.1.1`.
    pub const INTERFACE_VERSION: &str = "GARM_INTERFACE_VERSION";

    /// Proxy variables garm passes through from its own environment (prefix matched).
    pub const PROXY_VARIABLES: [&str; 6] = [
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    ];

    /// Host variables whose names start with this are never passed through a configured prefix.
    pub const RESERVED_PREFIX: &str = "GARM";
}

/// Exit code meaning "no such instance"; garm treats it as success for `DeleteInstance`.
pub const EXIT_NOT_FOUND: u8 = 30;
/// Exit code meaning "already exists"; garm does not special-case it.
pub const EXIT_DUPLICATE: u8 = 31;

/// A value of `GARM_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    CreateInstance,
    DeleteInstance,
    GetInstance,
    ListInstances,
    StartInstance,
    StopInstance,
    RemoveAllInstances,
    GetVersion,
    /// v0.1.1 extra; garm never invokes it.
    GetSupportedInterfaceVersions,
    /// v0.1.1 extra; garm never invokes it.
    ValidatePoolInfo,
    /// v0.1.1 extra; garm never invokes it.
    GetConfigJsonSchema,
    /// v0.1.1 extra; garm never invokes it.
    GetExtraSpecsJsonSchema,
}

impl Command {
    /// Every command, in the order of the spec's table.
    pub const ALL: [Command; 12] = [
        Command::CreateInstance,
        Command::DeleteInstance,
        Command::GetInstance,
        Command::ListInstances,
        Command::StartInstance,
        Command::StopInstance,
        Command::RemoveAllInstances,
        Command::GetVersion,
        Command::GetSupportedInterfaceVersions,
        Command::ValidatePoolInfo,
        Command::GetConfigJsonSchema,
        Command::GetExtraSpecsJsonSchema,
    ];

    /// The exact `GARM_COMMAND` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::CreateInstance => "CreateInstance",
            Command::DeleteInstance => "DeleteInstance",
            Command::GetInstance => "GetInstance",
            Command::ListInstances => "ListInstances",
            Command::StartInstance => "StartInstance",
            Command::StopInstance => "StopInstance",
            Command::RemoveAllInstances => "RemoveAllInstances",
            Command::GetVersion => "GetVersion",
            Command::GetSupportedInterfaceVersions => "GetSupportedInterfaceVersions",
            Command::ValidatePoolInfo => "ValidatePoolInfo",
            Command::GetConfigJsonSchema => "GetConfigJSONSchema",
            Command::GetExtraSpecsJsonSchema => "GetExtraSpecsJSONSchema",
        }
    }

    /// Whether garm names an instance (`GARM_INSTANCE_ID`) for this command.
    pub fn targets_instance(self) -> bool {
        matches!(
            self,
            Command::DeleteInstance | Command::GetInstance | Command::StartInstance | Command::StopInstance
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `GARM_COMMAND` value this crate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider command {0:?}")]
pub struct UnknownCommand(pub String);

impl FromStr for Command {
    type Err = UnknownCommand;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Command::ALL
            .into_iter()
            .find(|command| command.as_str() == value)
            .ok_or_else(|| UnknownCommand(value.to_owned()))
    }
}

/// The external provider interface version (`GARM_INTERFACE_VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InterfaceVersion {
    /// The base command set; also what an empty version means.
    #[default]
    V0_1_0,
    /// Adds `GARM_POOL_EXTRASPECS` everywhere and `GARM_POOL_ID` to instance commands.
    V0_1_1,
}

impl InterfaceVersion {
    /// Every version, oldest first.
    pub const ALL: [InterfaceVersion; 2] = [InterfaceVersion::V0_1_0, InterfaceVersion::V0_1_1];

    /// The exact `GARM_INTERFACE_VERSION` value.
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceVersion::V0_1_0 => "v0.1.0",
            InterfaceVersion::V0_1_1 => "v0.1.1",
        }
    }
}

impl fmt::Display for InterfaceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An interface version other than `""`, `v0.1.0` and `v0.1.1`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported provider interface version {0:?}")]
pub struct UnknownInterfaceVersion(pub String);

impl FromStr for InterfaceVersion {
    type Err = UnknownInterfaceVersion;

    /// Parses a config or environment value; the empty string means v0.1.0, as in garm.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "" | "v0.1.0" => Ok(InterfaceVersion::V0_1_0),
            "v0.1.1" => Ok(InterfaceVersion::V0_1_1),
            other => Err(UnknownInterfaceVersion(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_back_from_its_name() {
        for command in Command::ALL {
            assert_eq!(command.as_str().parse::<Command>(), Ok(command));
        }
        assert_eq!(Command::GetConfigJsonSchema.as_str(), "GetConfigJSONSchema");
        assert!("createinstance".parse::<Command>().is_err());
    }

    #[test]
    fn empty_interface_version_means_v0_1_0_and_others_are_rejected() {
        assert_eq!("".parse(), Ok(InterfaceVersion::V0_1_0));
        assert_eq!("v0.1.1".parse(), Ok(InterfaceVersion::V0_1_1));
        assert_eq!(
            "v0.2.0".parse::<InterfaceVersion>(),
            Err(UnknownInterfaceVersion("v0.2.0".into()))
        );
    }
}
