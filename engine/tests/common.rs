//! Helpers shared by the engine's integration tests: a fresh store on SQLite, and on
//! Postgres when `MEDIC_TEST_POSTGRES_URL` is set (`.ci/run` sets it).

#![allow(dead_code)]

use medic_engine::store::Store;

/// A fresh SQLite store in a temporary folder (kept alive by the returned guard).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("medic.db");
    let store = Store::connect(path.to_str().expect("utf-8 path"))
        .await
        .expect("open sqlite store");
    (store, dir)
}

/// A fresh Postgres database, when a server URL is configured.
pub async fn postgres_store() -> Option<Store> {
    let url = medic_engine::store::testing::fresh_postgres_url().await?;
    Some(Store::connect(&url).await.expect("open postgres store"))
}

/// Every backend available: SQLite always, Postgres when configured.
pub async fn stores() -> Vec<(String, Store, Option<tempfile::TempDir>)> {
    let (sqlite, dir) = sqlite_store().await;
    let mut out = vec![("sqlite".to_string(), sqlite, Some(dir))];
    if let Some(pg) = postgres_store().await {
        out.push(("postgres".to_string(), pg, None));
    }
    out
}
