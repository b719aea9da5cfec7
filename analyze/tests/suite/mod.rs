mod canary;
mod robustness;
mod sanitize_props;
mod sanitize_quality;
mod triage_fixtures;
