//! The source is never written, a second import is refused, a wrong passphrase writes nothing.

use crate::*;
use garm_import::ImportError;
use garm_store::ImportMode;

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_source_database_is_byte_for_byte_unchanged_and_gets_no_companions() {
    let dir = temp_dir();
    let source_dir = dir.0.join("garm");
    std::fs::create_dir_all(&source_dir).unwrap();
    let db = copy_fixture(&source_dir);
    let before = sha256(&db);
    assert_eq!(before, manifest()["file_sha256"]["garm.db"].as_str().unwrap());
    let plan = garm_import::read(&spec(&db)).await.unwrap();
    let store = target(&dir.0).await;
    garm_import::write(&plan, &store, ImportMode::IntoEmpty).await.unwrap();
    assert_eq!(sha256(&db), before);
    assert_eq!(listing(&source_dir), ["garm.db"], "no -wal or -shm beside garm's file");
}

#[tokio::test]
async fn a_second_import_is_refused_unless_forced() {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let plan = garm_import::read(&spec(&db)).await.unwrap();
    let store = target(&dir.0).await;
    garm_import::write(&plan, &store, ImportMode::IntoEmpty).await.unwrap();
    let err = garm_import::write(&plan, &store, ImportMode::IntoEmpty)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(store.instances().await.unwrap().len(), 1, "nothing doubled");
    garm_import::write(&plan, &store, ImportMode::Replace).await.unwrap();
    assert_eq!(store.instances().await.unwrap().len(), 1);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_store_that_only_ran_once_is_still_empty_enough() {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let store = target(&dir.0).await;
    // What `garm` does on its first start, before anyone initializes it.
    store.ensure_controller().await.unwrap();
    store.seed_github_com().await.unwrap();
    assert!(store.occupied().await.unwrap().is_empty());
    let plan = garm_import::read(&spec(&db)).await.unwrap();
    garm_import::write(&plan, &store, ImportMode::IntoEmpty).await.unwrap();
    assert_eq!(
        store.controller().await.unwrap().controller_id,
        "452697e6-368b-4e2b-b797-7afc1937d32f",
        "garm's controller id replaces the fresh one"
    );
}

#[tokio::test]
async fn a_wrong_passphrase_fails_before_anything_is_written() {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let mut wrong = spec(&db);
    wrong.passphrase = "0123456789abcdef0123456789abcdef".into();
    let err = garm_import::read(&wrong).await.unwrap_err();
    assert!(matches!(err, ImportError::Unseal { .. }), "{err}");
    let short = SourceSpec {
        passphrase: "short".into(),
        ..spec(&db)
    };
    assert!(garm_import::read(&short).await.is_err());
}

#[tokio::test]
async fn garms_config_names_the_database_and_the_passphrase() {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let text = std::fs::read_to_string(fixture_dir().join("config.toml"))
        .unwrap()
        .replace("/var/lib/garm-fixture/db/garm.db", &db.display().to_string());
    let config = dir.0.join("config.toml");
    std::fs::write(&config, text).unwrap();
    let spec = SourceSpec::from_garm_config(&config).unwrap();
    assert_eq!(spec.database, SourceDatabase::Sqlite(db.clone()));
    assert_eq!(spec.passphrase, GARM_PASSPHRASE);
    assert!(!format!("{spec:?}").contains(GARM_PASSPHRASE));
    let plan = garm_import::read(&spec).await.unwrap();
    assert_eq!(plan.report.count("pools"), 3);
}

#[tokio::test]
async fn writes_garm_left_in_its_wal_are_read_through_a_copy() {
    use sqlx::Connection;
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    // A writer that stays open keeps its WAL, as garm's stop leaves it.
    sqlx::any::install_default_drivers();
    let mut garm = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for sql in [
        "PRAGMA wal_autocheckpoint = 0",
        "UPDATE github_endpoints SET description = 'changed in the WAL' WHERE name = 'ghes-example'",
    ] {
        sqlx::query(sql).execute(&mut garm).await.unwrap();
    }
    let wal = dir.0.join("garm.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let (db_before, wal_before) = (sha256(&db), sha256(&wal));
    let plan = garm_import::read(&spec(&db)).await.unwrap();
    let ghes = plan.set.endpoints.iter().find(|e| e.name == "ghes-example").unwrap();
    assert_eq!(ghes.description, "changed in the WAL");
    assert!(plan.report.notes.iter().any(|n| n.contains("write-ahead log")));
    assert_eq!((sha256(&db), sha256(&wal)), (db_before, wal_before));
    garm.close().await.unwrap();
}

#[tokio::test]
async fn pointing_garm_rs_at_garms_database_is_refused_with_a_pointer_to_the_import() {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let before = sha256(&db);
    let url = format!("sqlite://{}", db.display());
    let err = Store::connect(&url, Sealer::new(OUR_PASSPHRASE)).await.unwrap_err();
    assert!(matches!(err, garm_store::StoreError::GarmDatabase), "{err}");
    assert!(err.to_string().contains("garm admin import-garm"), "{err}");
    assert_eq!(sha256(&db), before, "no table of ours was added to garm's file");
}
