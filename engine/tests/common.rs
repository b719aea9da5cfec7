//! Helpers shared by the engine's integration tests: a fresh store on SQLite, and on
//! Postgres when `MEDIC_TEST_POSTGRES_URL` is set (`.ci/run` sets it).

#![allow(dead_code)]

use medic_engine::store::Store;
use sqlx::Connection;

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
    let base = std::env::var("MEDIC_TEST_POSTGRES_URL").ok()?;
    let name = format!("medic_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to MEDIC_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && base[..i].matches('/').count() >= 2 => {
            format!("{}/{name}", &base[..i])
        }
        _ => format!("{base}/{name}"),
    };
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
