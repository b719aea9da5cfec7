//! medic-engine: Medic's workflow language and durable runtime.
//!
//! A workflow file is parsed into a span-aware YAML tree ([`yaml`]), checked as a whole
//! with every problem reported at once ([`validate`], [`diagnostic`]), turned into a
//! typed [`workflow::Workflow`] whose steps form a DAG ([`dag`]), and executed by the
//! [`runtime`], which writes every state change to the [`store`] before acting on it so
//! that a killed process resumes without repeating finished steps. This crate knows no
//! HTTP framework, GitHub or Slack: actions live in `medic-actions`.

pub mod action;
pub mod approval;
pub mod dag;
pub mod diagnostic;
pub mod expr;
pub mod raw;
pub mod runtime;
pub mod schema;
pub mod schema_check;
pub mod secrets;
pub mod store;
pub mod validate;
pub mod workflow;
pub mod yaml;

/// The candidate closest to `name`, when one is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
