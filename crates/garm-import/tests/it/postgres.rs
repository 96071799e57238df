//! A garm database on PostgreSQL: the fixture's rows copied into PostgreSQL tables typed as
//! garm's PostgreSQL schema types them (uuid, timestamptz, boolean, bytea, jsonb), imported
//! by URL. Runs when `GARM_TEST_POSTGRES_URL` names a server where databases may be created
//! (`cargo xtask test` starts one).

use crate::*;
use sqlx::{Connection, Row};

/// garm's PostgreSQL type for a column SQLite declares as `declared`.
fn pg_type(declared: &str) -> &'static str {
    match declared.to_lowercase().as_str() {
        "uuid" => "uuid",
        "datetime" => "timestamptz",
        "numeric" => "boolean",
        "blob" => "bytea",
        "json" => "jsonb",
        "integer" => "bigint",
        _ => "text",
    }
}

/// Copies every table of the SQLite database at `db` into the (empty) PostgreSQL `pg`.
async fn copy_to_postgres(db: &Path, pg: &mut sqlx::AnyConnection) {
    let mut lite = sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let tables: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'")
            .fetch_all(&mut lite)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("name"))
            .collect();
    for table in tables {
        let columns: Vec<(String, &str)> = sqlx::query(&format!("SELECT name, type FROM pragma_table_info('{table}')"))
            .fetch_all(&mut lite)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<String, _>("name"), pg_type(&r.get::<String, _>("type"))))
            .collect();
        let defs: Vec<String> = columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
        sqlx::query(&format!("CREATE TABLE {table} ({})", defs.join(", ")))
            .execute(&mut *pg)
            .await
            .unwrap();
        let reads: Vec<String> = columns
            .iter()
            .map(|(c, t)| match *t {
                "bytea" => format!("hex({c}) AS {c}"),
                _ => format!("CAST({c} AS TEXT) AS {c}"),
            })
            .collect();
        let writes: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(n, (_, t))| match *t {
                "bytea" => format!("decode(${}, 'hex')", n + 1),
                other => format!("CAST(${} AS {other})", n + 1),
            })
            .collect();
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            writes.join(", ")
        );
        let rows = sqlx::query(&format!("SELECT {} FROM {table}", reads.join(", ")))
            .fetch_all(&mut lite)
            .await
            .unwrap();
        for row in rows {
            let mut query = sqlx::query(&insert);
            for (n, _) in columns.iter().enumerate() {
                query = query.bind(row.get::<Option<String>, _>(n));
            }
            query.execute(&mut *pg).await.unwrap();
        }
    }
}

/// A time in microseconds, rounded down to a multiple of 10, so a 1 µs rounding difference
/// compares equal (unless it crosses a multiple of 10; the fixture's times do not).
fn close(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros() / 10 * 10
}

#[tokio::test]
async fn a_garm_database_on_postgresql_imports_like_its_sqlite_original() {
    let Some(admin) = std::env::var("GARM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("GARM_TEST_POSTGRES_URL unset: skipping the PostgreSQL source test");
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!("garm_source_{}", std::process::id());
    let mut server = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut server)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut server)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let mut pg = sqlx::AnyConnection::connect(&url).await.unwrap();
    copy_to_postgres(&db, &mut pg).await;
    pg.close().await.unwrap();

    let from_pg = garm_import::read(&SourceSpec {
        database: SourceDatabase::Postgres(url.clone()),
        passphrase: GARM_PASSPHRASE.into(),
    })
    .await
    .unwrap();
    let from_sqlite = garm_import::read(&spec(&db)).await.unwrap();
    assert_eq!(from_pg.report.carried, from_sqlite.report.carried);
    assert_eq!(from_pg.report.not_carried, from_sqlite.report.not_carried);
    assert_eq!(from_pg.report.sealed, from_sqlite.report.sealed);
    let (a, b) = (&from_pg.set, &from_sqlite.set);
    assert_eq!(a.controller, b.controller);
    let endpoint = |e: &garm_store::EndpointRecord| {
        let mut e = e.clone();
        e.created_at = chrono::DateTime::from_timestamp_micros(close(e.created_at)).unwrap();
        e.updated_at = e.created_at;
        e
    };
    let endpoints = |list: &[garm_store::EndpointRecord]| list.iter().map(endpoint).collect::<Vec<_>>();
    assert_eq!(endpoints(&a.endpoints), endpoints(&b.endpoints));
    let user = |u: &garm_store::UserRecord| {
        (
            u.id.clone(),
            u.username.clone(),
            u.password_hash.clone(),
            close(u.created_at),
        )
    };
    assert_eq!(
        a.users.iter().map(user).collect::<Vec<_>>(),
        b.users.iter().map(user).collect::<Vec<_>>()
    );
    for (x, y) in a.credentials.iter().zip(&b.credentials) {
        assert_eq!(
            (x.id, &x.name, &x.secret, close(x.created_at)),
            (y.id, &y.name, &y.secret, close(y.created_at))
        );
    }
    for (x, y) in a.entities.iter().zip(&b.entities) {
        assert_eq!(
            (&x.id, &x.webhook_secret, x.credentials_id),
            (&y.id, &y.webhook_secret, y.credentials_id)
        );
    }
    // jsonb stores the extra specs its own way (`{"confidential": true}`), as garm on PostgreSQL has them.
    // PostgreSQL rounds to the microsecond where the SQLite path cuts: times agree within 1 µs.
    let specs = |p: &garm_store::PoolRecord| {
        let json = p
            .extra_specs
            .as_deref()
            .map(|s| serde_json::from_str::<serde_json::Value>(s).unwrap());
        let mut rest = p.clone();
        rest.extra_specs = None;
        rest.created_at = chrono::DateTime::from_timestamp_micros(close(rest.created_at)).unwrap();
        rest.updated_at = chrono::DateTime::from_timestamp_micros(close(rest.updated_at)).unwrap();
        (json, rest)
    };
    assert_eq!(
        a.pools.iter().map(specs).collect::<Vec<_>>(),
        b.pools.iter().map(specs).collect::<Vec<_>>()
    );
    let instance = |i: &garm_store::InstanceRecord| {
        (
            i.id.clone(),
            i.name.clone(),
            i.provider_id.clone(),
            i.addresses.clone(),
            i.jit_config.clone(),
            i.heartbeat,
            close(i.created_at),
        )
    };
    assert_eq!(
        a.instances.iter().map(instance).collect::<Vec<_>>(),
        b.instances.iter().map(instance).collect::<Vec<_>>()
    );

    let store = target(&dir.0).await;
    garm_import::write(&from_pg, &store, garm_store::ImportMode::IntoEmpty)
        .await
        .unwrap();
    assert_eq!(store.instances().await.unwrap().len(), 1);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut server)
        .await
        .unwrap();
}
