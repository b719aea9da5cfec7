mod canary;
mod categories;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod providers;
mod robustness;
mod sanitize_props;
mod sanitize_quality;
mod triage_fixtures;
