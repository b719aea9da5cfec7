//! One module per command family.

pub mod analyze;
pub mod approve;
pub mod bench;
pub mod decide;
pub mod demo;
pub mod explain;
pub mod init;
pub mod learn;
pub mod pulls;
pub mod run;
pub mod runs;
pub mod validate;

use crate::Failure;

/// Split `name=value` arguments.
pub fn parse_pairs(pairs: &[String], flag: &str) -> Result<Vec<(String, String)>, Failure> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(Failure::usage(format!("{flag} `{p}`: expected NAME=VALUE"))),
        })
        .collect()
}

/// Open the store named by the global database URL.
pub async fn open_store(g: &crate::Globals) -> Result<medic_engine::store::Store, Failure> {
    medic_engine::store::Store::connect(&g.database_url)
        .await
        .map_err(|e| {
            Failure::usage(format!(
                "cannot open the store at {}: {e}",
                medic_engine::store::redact_url(&g.database_url)
            ))
        })
}

/// Print JSON to stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Drive options for this process: the environment, and medic-analyze's sanitizer as
/// the engine's redactor, so that secrets a step prints without the workflow declaring
/// them are removed before they are stored or shown.
pub fn drive_options() -> medic_engine::runtime::DriveOptions {
    medic_engine::runtime::DriveOptions {
        redactor: Some(std::sync::Arc::new(analyze::SanitizerRedactor)),
        ..medic_engine::runtime::DriveOptions::default()
    }
}
