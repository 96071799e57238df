//! The store's error type.

use garm_model::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{what} already exists")]
    Conflict { what: String },
    /// A delete or change refused because something still depends on the row.
    #[error("{what}")]
    InUse { what: String },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("database schema version {found} is newer than this garm understands ({known}); refusing to touch it")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("this is a garm (Go) database, not garm-rs's; garm-rs leaves it alone: import it into a new database with `garm admin import-garm` (docs/migrate-from-garm.md)")]
    GarmDatabase,
    #[error("a sealed secret could not be opened")]
    Seal(#[source] crate::seal::SealError),
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A write acting on a lease this replica no longer holds (taken over, expired, or never
    /// held): nothing was written; the work belongs to the lease's current holder.
    #[error("lease {lease} is not held by this replica any more")]
    LeaseLost { lease: String },
    #[error("corrupt row: {what}")]
    Corrupt { what: String },
}

impl StoreError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, Self::LeaseLost { .. })
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return Self::Conflict {
                    what: db.message().to_string(),
                };
            }
        }
        if matches!(err, sqlx::Error::RowNotFound) {
            return Self::NotFound { what: "row".into() };
        }
        Self::Backend(Box::new(err))
    }
}
