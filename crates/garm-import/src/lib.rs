//! Takes over a garm (Go) installation: reads garm's database without writing to it, opens
//! garm's sealed secrets with garm's passphrase, and writes garm-rs's store through
//! [`garm_store::Store::import`], sealed with garm-rs's passphrase.
//!
//! Ids are kept (controller, users, credentials, entities, pools, tags, instances), so the
//! providers still find the machines garm made (tagged with the controller id) and garm-rs
//! adopts them rather than recreating them. What garm-rs has no place for (Gitea, scale sets,
//! the object store, …) is listed in the [`Report`] and left alone.
//!
//! It does not talk to GitHub or to providers, and never writes to garm's database.

mod convert;
mod read;
mod report;
mod runners;
mod source;
pub mod unseal;

pub use report::{NotCarried, Report};
pub use source::{SourceDatabase, SourceSpec};
pub use unseal::{GarmUnsealer, SealFormat, UnsealError};

use garm_store::{ImportMode, ImportSet, Store, StoreError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("garm config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("garm's database {0} does not exist")]
    Missing(PathBuf),
    #[error("reading garm's database failed")]
    Source(#[source] sqlx::Error),
    #[error("this is not a garm database (it has no table {missing})")]
    NotGarm { missing: String },
    #[error("cannot unseal {what}")]
    Unseal {
        what: String,
        #[source]
        source: UnsealError,
    },
    #[error("garm's database holds a value garm-rs cannot read: {what}")]
    Corrupt { what: String },
    #[error("the target store already holds data ({found}); import with --force to replace it")]
    NotEmpty { found: String },
    #[error("writing garm-rs's store failed")]
    Store(#[source] StoreError),
    #[error("copying garm's database failed")]
    Io(#[source] std::io::Error),
}

/// Everything read from garm's database: the rows to write and the report.
#[derive(Debug)]
pub struct Plan {
    pub set: ImportSet,
    pub report: Report,
}

/// Reads garm's whole database (nothing is written anywhere) and unseals its secrets.
///
/// Fails if the database cannot be read, is not garm's, or a secret does not open with the
/// passphrase (a wrong passphrase fails on the first secret). Objects garm-rs cannot hold
/// do not fail it; they are listed in [`Report::not_carried`].
pub async fn read(spec: &SourceSpec) -> Result<Plan, ImportError> {
    let unsealer = GarmUnsealer::new(&spec.passphrase).map_err(|source| ImportError::Unseal {
        what: "anything: garm's passphrase".into(),
        source,
    })?;
    let mut opened = source::open(&spec.database).await?;
    let mut taken = convert::Taken {
        unsealer: &unsealer,
        set: ImportSet::default(),
        report: Report {
            source: spec.database.describe(),
            notes: opened.note.iter().cloned().collect(),
            ..Report::default()
        },
        endpoints: Default::default(),
        endpoint_types: Default::default(),
        credentials: Default::default(),
        entities: Default::default(),
    };
    let backend = opened.backend;
    let mut reader = read::Reader::new(&mut opened.conn, backend).await?;
    convert::controller(&mut reader, &mut taken).await?;
    convert::users(&mut reader, &mut taken).await?;
    convert::endpoints(&mut reader, &mut taken).await?;
    convert::credentials(&mut reader, &mut taken).await?;
    convert::entities(&mut reader, &mut taken).await?;
    convert::events(&mut reader, &mut taken).await?;
    let mut seen = runners::Runners::default();
    runners::pools(&mut reader, &mut taken, &mut seen).await?;
    runners::instances(&mut reader, &mut taken, &mut seen).await?;
    runners::jobs(&mut reader, &mut taken, &seen).await?;
    runners::left_behind(&mut reader, &mut taken).await?;
    if let SourceDatabase::Sqlite(path) = &spec.database {
        let blob = path.with_file_name(format!(
            "blob-{}",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        ));
        if blob.exists() {
            taken.report.skip(
                "object store",
                blob.display().to_string(),
                "garm's file object store is not read (garm-rs has no objects)",
            );
        }
    }
    Ok(Plan {
        set: taken.set,
        report: taken.report,
    })
}

/// Writes a plan into garm-rs's store in one transaction (see [`Store::import`]).
///
/// With [`ImportMode::IntoEmpty`] a store that already holds users, credentials, entities,
/// pools, instances, jobs or endpoints besides `github.com` is refused with
/// [`ImportError::NotEmpty`] and left as it was.
pub async fn write(plan: &Plan, store: &Store, mode: ImportMode) -> Result<(), ImportError> {
    if mode == ImportMode::IntoEmpty {
        let found = store.occupied().await.map_err(ImportError::Store)?;
        if !found.is_empty() {
            return Err(ImportError::NotEmpty {
                found: found.join(", "),
            });
        }
    }
    // The store checks again inside its transaction.
    store.import(&plan.set, mode).await.map_err(ImportError::Store)
}
