//! The change feed: every committed write to an instance or job row, whoever made it (the pool
//! manager's steps, webhook intake, instance callbacks, the API), for live streams.
//!
//! Instances and jobs change in many places; publishing from the store catches them all
//! without the pool manager knowing about subscribers. The feed is a bounded broadcast: a
//! write never waits for a reader, and a reader that falls more than [`FEED_CAPACITY`]
//! changes behind is told how many it missed (`RecvError::Lagged`).

use super::*;
use tokio::sync::broadcast;

/// Changes kept for readers that have not caught up.
pub const FEED_CAPACITY: usize = 4096;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

/// The row as it is after the write (for a delete, as it was before).
#[derive(Debug, Clone)]
pub enum ChangedRow {
    Instance(Box<InstanceRecord>),
    Job(Box<JobRecord>),
}

/// One committed write.
#[derive(Debug, Clone)]
pub struct Change {
    pub op: ChangeOp,
    pub row: ChangedRow,
}

pub(crate) fn feed() -> broadcast::Sender<Change> {
    broadcast::channel(FEED_CAPACITY).0
}

impl Store {
    /// Subscribes to the change feed (see the module documentation).
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Publishes committed changes; costs nothing but a check while nobody listens.
    pub(crate) fn changed(&self, op: ChangeOp, rows: impl IntoIterator<Item = ChangedRow>) {
        if self.changes.receiver_count() == 0 {
            return;
        }
        for row in rows {
            // An error only means the last reader went away meanwhile.
            let _ = self.changes.send(Change { op, row });
        }
    }

    pub(crate) fn instance_changed(&self, op: ChangeOp, i: &InstanceRecord) {
        if self.changes.receiver_count() > 0 {
            self.changed(op, [ChangedRow::Instance(Box::new(i.clone()))]);
        }
    }

    pub(crate) fn job_changed(&self, op: ChangeOp, j: &JobRecord) {
        if self.changes.receiver_count() > 0 {
            self.changed(op, [ChangedRow::Job(Box::new(j.clone()))]);
        }
    }

    /// Whether anyone listens (to skip the reads only a change needs).
    pub(crate) fn feed_open(&self) -> bool {
        self.changes.receiver_count() > 0
    }
}
