//! `garm admin import-garm`: takes over a stopped garm's database (see docs/migrate-from-garm.md).

use anyhow::Context;
use garm_import::{SourceDatabase, SourceSpec};
use garm_store::{ImportMode, Store};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// garm's config.toml: its [database] section names the database and the passphrase.
    #[arg(long, value_name = "GARM_CONFIG")]
    pub from: Option<PathBuf>,
    /// garm's SQLite file or a postgres:// URL (instead of, or overriding, --from).
    #[arg(long)]
    pub db: Option<String>,
    /// garm's database passphrase (instead of, or overriding, --from).
    #[arg(long, env = "GARM_IMPORT_PASSPHRASE", hide_env_values = true)]
    pub passphrase: Option<String>,
    /// Print what would be imported; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace whatever garm-rs's store already holds.
    #[arg(long)]
    pub force: bool,
}

impl Args {
    /// Where garm's database is, from --from and/or --db and --passphrase.
    pub fn source(&self) -> anyhow::Result<SourceSpec> {
        let base = match &self.from {
            Some(path) => Some(SourceSpec::from_garm_config(path)?),
            None => None,
        };
        let database = match (&self.db, &base) {
            (Some(db), _) if db.starts_with("postgres://") || db.starts_with("postgresql://") => {
                SourceDatabase::Postgres(db.clone())
            }
            (Some(db), _) => SourceDatabase::Sqlite(PathBuf::from(db.strip_prefix("sqlite://").unwrap_or(db))),
            (None, Some(base)) => base.database.clone(),
            (None, None) => anyhow::bail!("name garm's database with --from <garm config.toml> or --db"),
        };
        let passphrase = match (&self.passphrase, base) {
            (Some(p), _) => p.clone(),
            (None, Some(base)) => base.passphrase,
            (None, None) => anyhow::bail!("give garm's passphrase with --passphrase (or --from <garm config.toml>)"),
        };
        Ok(SourceSpec { database, passphrase })
    }
}

/// Prints what an import would carry and leave behind; opens no garm-rs database.
pub async fn dry_run(args: &Args) -> anyhow::Result<()> {
    let plan = garm_import::read(&args.source()?).await?;
    println!("dry run: nothing written");
    print!("{}", plan.report);
    Ok(())
}

/// Imports garm's database into `store` and prints the report.
pub async fn run(store: &Store, args: &Args) -> anyhow::Result<()> {
    let plan = garm_import::read(&args.source()?).await?;
    let mode = if args.force {
        ImportMode::Replace
    } else {
        ImportMode::IntoEmpty
    };
    garm_import::write(&plan, store, mode)
        .await
        .context("importing garm's database")?;
    println!("imported; garm's database was not changed");
    print!("{}", plan.report);
    Ok(())
}
