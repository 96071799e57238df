//! The `action` of a job: the last `workflow_job` webhook action garm recorded for it.
//!
//! The spelling is GitHub's and is what the `jobs.action` column and the REST `action` field
//! hold, byte for byte. A value garm-rs does not know (a new GitHub action, a scale set
//! message's event name, a row from an imported database) is kept verbatim as
//! [`JobAction::Other`], so reading it never fails and writing it back changes nothing.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobAction {
    Queued,
    Waiting,
    InProgress,
    Completed,
    /// Any other spelling, kept as it was read.
    Other(String),
}

impl JobAction {
    /// The stored and wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Waiting => "waiting",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Other(other) => other,
        }
    }
}

/// A record not given an action yet holds the empty spelling, as the column did before.
impl Default for JobAction {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

impl From<String> for JobAction {
    fn from(action: String) -> Self {
        match action.as_str() {
            "queued" => Self::Queued,
            "waiting" => Self::Waiting,
            "in_progress" => Self::InProgress,
            "completed" => Self::Completed,
            _ => Self::Other(action),
        }
    }
}

impl From<&str> for JobAction {
    fn from(action: &str) -> Self {
        Self::from(action.to_string())
    }
}

impl FromStr for JobAction {
    type Err = Infallible;

    fn from_str(action: &str) -> Result<Self, Infallible> {
        Ok(Self::from(action))
    }
}

impl fmt::Display for JobAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back_as_it_was_written() {
        for text in [
            "queued",
            "waiting",
            "in_progress",
            "completed",
            "JobAssigned",
            "",
            "Queued",
        ] {
            let action: JobAction = text.parse().unwrap();
            assert_eq!(action.as_str(), text);
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                serde_json::to_string(text).unwrap()
            );
            let back: JobAction = serde_json::from_str(&serde_json::to_string(text).unwrap()).unwrap();
            assert_eq!(back, action);
        }
    }

    #[test]
    fn known_actions_get_their_variant_and_others_are_kept() {
        assert_eq!(JobAction::from("in_progress"), JobAction::InProgress);
        assert_eq!(JobAction::from("completed"), JobAction::Completed);
        assert_eq!(JobAction::from("Queued"), JobAction::Other("Queued".into()));
    }
}
