//! Fresh databases for the tests of Medic's crates (feature `testing`).
//!
//! Every test that runs on Postgres gets a database of its own, so that tests run in
//! parallel and leave each other's rows alone. The server comes from
//! `MEDIC_TEST_POSTGRES_URL` (`.ci/run` sets it); without it, Postgres tests are
//! skipped.

use sqlx::Connection;

/// The URL of a new, empty database on the server `MEDIC_TEST_POSTGRES_URL` names, or
/// `None` when it is not set. Panics when the server refuses: a test environment that
/// names a server expects it to work.
pub async fn fresh_postgres_url() -> Option<String> {
    let base = std::env::var("MEDIC_TEST_POSTGRES_URL").ok()?;
    let name = format!("medic_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to MEDIC_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    Some(match base.rfind('/') {
        Some(i) if base[..i].contains("://") && base[..i].matches('/').count() >= 2 => {
            format!("{}/{name}", &base[..i])
        }
        _ => format!("{base}/{name}"),
    })
}
