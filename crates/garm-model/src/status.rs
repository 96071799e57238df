//! Instance and runner status enums and their allowed transitions (garm's tables).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an instance (the machine a provider manages) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    PendingCreate,
    Creating,
    Running,
    Stopped,
    Error,
    PendingDelete,
    PendingForceDelete,
    Deleting,
    Deleted,
    Unknown,
}

/// What the runner on an instance reports (or GitHub reports through webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerStatus {
    Pending,
    Installing,
    Idle,
    Active,
    Failed,
    Terminated,
    Offline,
    Online,
    Unknown,
}

/// A refused status change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} transition from {from} to {to}")]
pub struct TransitionError {
    pub kind: &'static str,
    pub from: String,
    pub to: String,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 10] = [
        Self::PendingCreate,
        Self::Creating,
        Self::Running,
        Self::Stopped,
        Self::Error,
        Self::PendingDelete,
        Self::PendingForceDelete,
        Self::Deleting,
        Self::Deleted,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingCreate => "pending_create",
            Self::Creating => "creating",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Error => "error",
            Self::PendingDelete => "pending_delete",
            Self::PendingForceDelete => "pending_force_delete",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Unknown => "unknown",
        }
    }

    /// garm's table 5.11; same-state changes are always allowed.
    pub fn can_become(self, to: Self) -> bool {
        use InstanceStatus::*;
        if self == to {
            return true;
        }
        match self {
            PendingCreate => matches!(to, PendingDelete | Creating | PendingForceDelete),
            Creating => matches!(to, Error | Running),
            Running => matches!(to, PendingDelete | PendingForceDelete | Stopped | Unknown),
            Stopped => matches!(to, PendingDelete | PendingForceDelete | Running | Unknown),
            Error => matches!(to, PendingDelete | PendingForceDelete | Unknown | Deleting),
            PendingDelete => matches!(to, Deleting | PendingForceDelete),
            PendingForceDelete => matches!(to, Deleting),
            Deleting => matches!(to, Error | Deleted),
            Deleted => false,
            Unknown => true,
        }
    }

    pub fn check(self, to: Self) -> Result<(), TransitionError> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(TransitionError {
                kind: "instance status",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }

    /// States from which an operator may delete an instance through the API.
    pub fn deletable_by_api(self) -> bool {
        matches!(
            self,
            Self::Running | Self::Error | Self::PendingDelete | Self::PendingForceDelete
        )
    }

    /// Already on the way out.
    pub fn is_deleting(self) -> bool {
        matches!(
            self,
            Self::PendingDelete | Self::PendingForceDelete | Self::Deleting | Self::Deleted
        )
    }
}

impl RunnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Installing => "installing",
            Self::Idle => "idle",
            Self::Active => "active",
            Self::Failed => "failed",
            Self::Terminated => "terminated",
            Self::Offline => "offline",
            Self::Online => "online",
            Self::Unknown => "unknown",
        }
    }

    /// garm's runner table 5.11.
    pub fn can_become(self, to: Self) -> bool {
        use RunnerStatus::*;
        if self == to {
            return true;
        }
        match self {
            Pending => matches!(to, Failed | Installing | Terminated | Active),
            Installing => matches!(to, Failed | Idle | Terminated | Active | Offline),
            Idle => matches!(to, Offline | Active | Terminated),
            Active => matches!(to, Terminated),
            Failed => matches!(to, Terminated),
            Offline => matches!(to, Idle | Active | Terminated),
            Terminated => false,
            Online | Unknown => true,
        }
    }

    pub fn check(self, to: Self) -> Result<(), TransitionError> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(TransitionError {
                kind: "runner status",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Terminated | Self::Failed)
    }
}

macro_rules! text_enum {
    ($ty:ty, $what:literal, [$($v:ident),*]) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $(if s == <$ty>::$v.as_str() { return Ok(<$ty>::$v); })*
                Err(format!("unknown {} {s:?}", $what))
            }
        }
    };
}

text_enum!(
    InstanceStatus,
    "instance status",
    [
        PendingCreate,
        Creating,
        Running,
        Stopped,
        Error,
        PendingDelete,
        PendingForceDelete,
        Deleting,
        Deleted,
        Unknown
    ]
);
text_enum!(
    RunnerStatus,
    "runner status",
    [Pending, Installing, Idle, Active, Failed, Terminated, Offline, Online, Unknown]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_path_instance_transitions_are_allowed() {
        use InstanceStatus::*;
        let path = [PendingCreate, Creating, Running, PendingDelete, Deleting, Deleted];
        for pair in path.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn instance_cannot_skip_creating_or_leave_deleted() {
        use InstanceStatus::*;
        assert!(PendingCreate.check(Running).is_err());
        assert!(Deleted.check(Running).is_err());
        assert!(PendingForceDelete.check(PendingDelete).is_err());
        assert!(Creating.check(Stopped).is_err());
    }

    #[test]
    fn runner_must_report_installing_before_idle() {
        use RunnerStatus::*;
        assert!(Pending.check(Idle).is_err());
        assert!(Pending.can_become(Installing) && Installing.can_become(Idle));
        assert!(Terminated.check(Idle).is_err());
        assert!(Active.check(Idle).is_err());
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for status in InstanceStatus::ALL {
            assert_eq!(status.as_str().parse::<InstanceStatus>().unwrap(), status);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{status}\""));
        }
        assert!("bogus".parse::<RunnerStatus>().is_err());
    }
}
