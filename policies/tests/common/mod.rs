//! Fresh stores for the policy crate's tests: SQLite always, Postgres when
//! `MEDIC_TEST_POSTGRES_URL` is set (a new database per call, as the engine's tests do).

#![allow(dead_code)]

use medic_engine::store::Store;

/// A fresh SQLite store in a temporary folder (kept alive by the returned guard).
pub async fn sqlite_store() -> (Store, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir
        .path()
        .join("medic.db")
        .to_str()
        .expect("utf-8 path")
        .to_string();
    let store = Store::connect(&url).await.expect("open sqlite store");
    (store, dir, url)
}

/// The URL of a fresh, migrated Postgres database, when a server is configured.
pub async fn postgres_url() -> Option<String> {
    let url = medic_engine::store::testing::fresh_postgres_url().await?;
    Store::connect(&url).await.expect("migrate postgres store");
    Some(url)
}

/// Every backend available, with the URL to open more handles on it.
pub async fn stores() -> Vec<(String, Store, String, Option<tempfile::TempDir>)> {
    let (sqlite, dir, url) = sqlite_store().await;
    let mut out = vec![("sqlite".to_string(), sqlite, url, Some(dir))];
    if let Some(url) = postgres_url().await {
        let pg = Store::connect(&url).await.expect("open postgres store");
        out.push(("postgres".to_string(), pg, url, None));
    }
    out
}
