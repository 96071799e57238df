//! How long taking over a large garm takes: the fixture database grown to 10,000 instances
//! (garm's own schema, each with an address and a sealed JIT configuration), read, unsealed
//! and written into a fresh garm-rs SQLite store. Run with `cargo bench -p garm-import`.

use garm_import::{SourceDatabase, SourceSpec};
use garm_store::{ImportMode, Sealer, Store};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::Instant;

const INSTANCES: usize = 10_000;
const GARM_PASSPHRASE: &str = "9LpkqtBpbSYD2oArCTKlhEl9PiUXVRtY";
const OUR_PASSPHRASE: &str = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";

fn fixture_db() -> PathBuf {
    match std::env::var("GARM_DB_FIXTURE_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir).join("garm.db"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/garm-db/garm.db"),
    }
}

/// Copies the fixture and clones its one instance (and its address) until there are `n`,
/// spread over the three pools, with distinct ids, names, provider ids and agent ids.
async fn grow(db: &Path, n: usize) -> anyhow::Result<()> {
    std::fs::copy(fixture_db(), db)?;
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display())).await?;
    let pools: Vec<String> = sqlx::query_scalar("SELECT id FROM pools ORDER BY id")
        .fetch_all(&mut conn)
        .await?;
    anyhow::ensure!(pools.len() == 3, "the fixture has three pools");
    let mut tx = conn.begin().await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO instances (id, created_at, updated_at, deleted_at, provider_id, name, agent_id, os_type, os_arch, os_name, os_version, status, runner_status, heartbeat, callback_url, metadata_url, provider_fault, create_attempt, token_fetched, jit_configuration, git_hub_runner_group, aditional_labels, capabilities, generation, pool_id, scale_set_fk_id)
         SELECT printf('00000000-0000-4000-8000-%012d', i), s.created_at, s.updated_at, NULL, 'bench-vm-' || i, 'bench-' || i, 100000 + i, s.os_type, s.os_arch, s.os_name, s.os_version, s.status, s.runner_status, s.heartbeat, s.callback_url, s.metadata_url, s.provider_fault, s.create_attempt, s.token_fetched, s.jit_configuration, s.git_hub_runner_group, s.aditional_labels, s.capabilities, s.generation,
                CASE i % 3 WHEN 0 THEN $2 WHEN 1 THEN $3 ELSE $4 END, NULL
         FROM n, instances s WHERE s.name = 'garm-uywommqldscp'",
    )
    .bind((n - 1) as i64)
    .bind(&pools[0])
    .bind(&pools[1])
    .bind(&pools[2])
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO addresses (id, created_at, updated_at, deleted_at, address, type, instance_id)
         SELECT 'a' || substr(i.id, 2), i.created_at, i.created_at, NULL, '10.20.' || (i.agent_id % 250) || '.' || (i.agent_id % 199), 'private', i.id
         FROM instances i WHERE i.name LIKE 'bench-%'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("garm-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let source = dir.join("garm.db");
    sqlx::any::install_default_drivers();
    grow(&source, INSTANCES).await?;
    let spec = SourceSpec {
        database: SourceDatabase::Sqlite(source.clone()),
        passphrase: GARM_PASSPHRASE.into(),
    };
    let store = Store::connect(
        &format!("sqlite://{}", dir.join("garm-rs.db").display()),
        Sealer::new(OUR_PASSPHRASE),
    )
    .await?;
    let start = Instant::now();
    let plan = garm_import::read(&spec).await?;
    let read = start.elapsed();
    garm_import::write(&plan, &store, ImportMode::IntoEmpty).await?;
    let total = start.elapsed();
    let written = store.instances().await?.len();
    std::fs::remove_dir_all(&dir)?;
    anyhow::ensure!(
        written == INSTANCES,
        "{written} instances written, expected {INSTANCES}"
    );
    println!(
        "import of {INSTANCES} instances: read and unsealed in {:.2} s, total {:.2} s (target: under 10 s)",
        read.as_secs_f64(),
        total.as_secs_f64()
    );
    Ok(())
}
