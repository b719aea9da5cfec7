//! `medic init`: a project folder with a workflow that runs as it is.

use std::path::Path;
use std::process::ExitCode;

use crate::{CmdResult, Failure};

const EXAMPLE: &str = include_str!("../../workflows/hello.yaml");
const POLICIES_README: &str = "# Policies\n\nDecision policies (confidence weights, rules, guards and approvers) live here.\nCheck them with `medic validate policies/` and `medic policy test policies/default.yaml policies/default.cases.yaml`;\nsee docs/policies.md.\n";
const DEFAULT_POLICY: &str = medic_policies::policy::DEFAULT_POLICY;
const DEFAULT_CASES: &str = include_str!("../../policies/default.cases.yaml");

/// Scaffold `workflows/`, `schema/` and `policies/` (the default policy and its table
/// tests) under `dir`, never overwriting a file.
pub fn init(dir: &Path) -> CmdResult {
    // The example's modeline points editors at this schema.
    let schema = serde_json::to_string_pretty(&medic_engine::schema::workflow_schema())
        .unwrap_or_default()
        + "\n";
    let policy_schema = serde_json::to_string_pretty(&medic_policies::policy::policy_schema())
        .unwrap_or_default()
        + "\n";
    let files = [
        (dir.join("workflows").join("hello.yaml"), EXAMPLE),
        (
            dir.join("schema").join("workflow.schema.json"),
            schema.as_str(),
        ),
        (
            dir.join("schema").join("policy.schema.json"),
            policy_schema.as_str(),
        ),
        (dir.join("policies").join("README.md"), POLICIES_README),
        (dir.join("policies").join("default.yaml"), DEFAULT_POLICY),
        (
            dir.join("policies").join("default.cases.yaml"),
            DEFAULT_CASES,
        ),
    ];
    for (path, _) in &files {
        if path.exists() {
            return Err(Failure::usage(format!(
                "{} already exists: nothing was written",
                path.display()
            )));
        }
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(path, text)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("created {}", path.display());
    }
    eprintln!("next: medic validate workflows/ && medic run workflows/hello.yaml");
    Ok(ExitCode::SUCCESS)
}
