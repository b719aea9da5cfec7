mod canary;
mod categories;
mod robustness;
mod sanitize_props;
mod sanitize_quality;
mod triage_fixtures;
