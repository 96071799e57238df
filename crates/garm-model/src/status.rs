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

    /// garm's table 5.11, plus two moves of garm-rs's own lifecycle: a create that fails before
    /// the provider was asked goes `pending_create` → `error` (retried like any failed create),
    /// and a failed delete goes `deleting` → `pending_delete` / `pending_force_delete` (its
    /// status before, so the next pool pass deletes it again). Same-state changes are always
    /// allowed.
    pub fn can_become(self, to: Self) -> bool {
        use InstanceStatus::*;
        if self == to {
            return true;
        }
        match self {
            PendingCreate => matches!(to, PendingDelete | Creating | PendingForceDelete | Error),
            Creating => matches!(to, Error | Running),
            Running => matches!(to, PendingDelete | PendingForceDelete | Stopped | Unknown),
            Stopped => matches!(to, PendingDelete | PendingForceDelete | Running | Unknown),
            Error => matches!(to, PendingDelete | PendingForceDelete | Unknown | Deleting),
            PendingDelete => matches!(to, Deleting | PendingForceDelete),
            PendingForceDelete => matches!(to, Deleting),
            Deleting => matches!(to, Error | Deleted | PendingDelete | PendingForceDelete),
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

/// The one restart the transition tables do not hold: garm-rs retrying a failed create
/// starts the instance over, `error` → `pending_create`, with a new runner (`pending`), from
/// whatever state the failed runner was in. Nothing else passes.
pub fn check_recreate(
    from: InstanceStatus,
    to: InstanceStatus,
    runner_to: RunnerStatus,
) -> Result<(), TransitionError> {
    if from == InstanceStatus::Error && to == InstanceStatus::PendingCreate && runner_to == RunnerStatus::Pending {
        return Ok(());
    }
    Err(TransitionError {
        kind: "instance recreate",
        from: from.to_string(),
        to: format!("{to} (runner {runner_to})"),
    })
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
    fn a_create_that_failed_before_the_provider_was_asked_is_an_error() {
        use InstanceStatus::*;
        assert!(PendingCreate.check(Error).is_ok());
        assert!(
            Running.check(Error).is_err(),
            "a running instance does not fall back to error"
        );
        assert!(
            PendingDelete.check(Error).is_err(),
            "a finished job's instance stays on its way out"
        );
    }

    #[test]
    fn a_failed_delete_goes_back_to_the_pending_delete_it_came_from() {
        use InstanceStatus::*;
        assert!(Deleting.check(PendingDelete).is_ok());
        assert!(Deleting.check(PendingForceDelete).is_ok());
        assert!(Deleting.check(Running).is_err());
        assert!(Deleting.check(PendingCreate).is_err());
    }

    #[test]
    fn only_a_failed_create_is_recreated_and_only_with_a_new_runner() {
        use InstanceStatus::*;
        // The runner's own table refuses going back to pending (a callback must not do that);
        // a recreate is a new runner, whatever state the old one reached.
        for runner_before in [RunnerStatus::Installing, RunnerStatus::Failed] {
            assert!(runner_before.check(RunnerStatus::Pending).is_err());
        }
        assert!(check_recreate(Error, PendingCreate, RunnerStatus::Pending).is_ok());
        assert!(Error.check(PendingCreate).is_err(), "not an ordinary transition");
        assert!(check_recreate(Error, PendingCreate, RunnerStatus::Idle).is_err());
        assert!(check_recreate(Running, PendingCreate, RunnerStatus::Pending).is_err());
        assert!(check_recreate(PendingDelete, PendingCreate, RunnerStatus::Pending).is_err());
        assert!(check_recreate(Error, Running, RunnerStatus::Pending).is_err());
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
