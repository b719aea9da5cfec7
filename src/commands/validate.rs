//! `medic validate`, `medic graph` and `medic schema`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use medic_engine::dag::Dag;
use medic_engine::diagnostic::{self, Diagnostic};
use serde_json::json;

use super::print_json;
use crate::cli::{GraphFormat, Output};
use crate::{CmdResult, Failure, Globals};

/// Render diagnostics of one source text for a terminal.
pub fn render_diagnostics(diags: &[Diagnostic], source: &str, color: bool) -> String {
    diagnostic::render(diags, source, color)
}

/// Render diagnostics of a file, re-reading it for the snippets.
pub fn render_file_diagnostics(path: &Path, diags: &[Diagnostic], color: bool) -> String {
    medic_engine::validate::render_file_diagnostics(path, diags, color)
}

/// `medic validate <paths>`.
pub fn validate(paths: &[PathBuf], output: Output, g: &Globals) -> CmdResult {
    for p in paths {
        if !p.exists() {
            return Err(Failure::usage(format!(
                "{}: no such file or folder",
                p.display()
            )));
        }
    }
    let registry = medic_actions::registry();
    let results: Vec<(PathBuf, Result<(), Vec<Diagnostic>>)> =
        medic_engine::validate::validate_paths(paths, &registry)
            .into_iter()
            .map(|(path, result)| {
                let result = match file_kind(&path) {
                    FileKind::Workflow => result.map(|_| ()),
                    FileKind::Policy => medic_policies::load_file(&path).map(|_| ()),
                    FileKind::Cases => check_cases(&path),
                };
                (path, result)
            })
            .collect();
    if results.is_empty() {
        return Err(Failure::usage(
            "no workflow files (*.yaml, *.yml) found".to_string(),
        ));
    }
    let mut invalid = 0usize;
    let mut all = Vec::new();
    for (path, result) in &results {
        match result {
            Ok(_) => {
                if output == Output::Text {
                    eprintln!("✔ {}", path.display());
                }
            }
            Err(diags) => {
                invalid += 1;
                if output == Output::Text {
                    eprint!("{}", render_file_diagnostics(path, diags, g.color));
                }
                all.extend(diags.iter().cloned());
            }
        }
    }
    if output == Output::Json {
        print_json(&json!({
            "files": results.len(),
            "invalid": invalid,
            "diagnostics": diagnostic::to_json(&all),
        }));
    } else {
        let errors = all.iter().filter(|d| d.is_error()).count();
        eprintln!(
            "{} file{} checked, {} invalid, {} problem{}",
            results.len(),
            if results.len() == 1 { "" } else { "s" },
            invalid,
            errors,
            if errors == 1 { "" } else { "s" }
        );
    }
    Ok(if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What a YAML file holds, for `medic validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Workflow,
    Policy,
    Cases,
}

/// `*.cases.yaml` files are policy table tests; a file under a `policies/` folder, or
/// whose top level has `rules`, `weights` or `guards` and no `steps`, is a policy;
/// anything else is a workflow.
fn file_kind(path: &Path) -> FileKind {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".cases.yaml") || name.ends_with(".cases.yml") {
        return FileKind::Cases;
    }
    let in_policies = path
        .parent()
        .is_some_and(|p| p.components().any(|c| c.as_os_str() == "policies"));
    let looks = medic_engine::validate::read_source(path)
        .is_ok_and(|text| medic_policies::policy::looks_like_policy(&text));
    if in_policies || looks {
        FileKind::Policy
    } else {
        FileKind::Workflow
    }
}

fn check_cases(path: &Path) -> Result<(), Vec<Diagnostic>> {
    let text = medic_engine::validate::read_source(path).map_err(|d| vec![d])?;
    medic_policies::cases::parse_cases(&text)
        .map(|_| ())
        .map_err(|e| {
            vec![
                Diagnostic::error("invalid-cases", format!("not a policy cases file: {e}"))
                    .locate(path, &text),
            ]
        })
}

/// `medic graph <file>`.
pub fn graph(file: &Path, format: GraphFormat, g: &Globals) -> CmdResult {
    let workflow = super::run::load_workflow(file, g)?;
    let dag = Dag::from_workflow(&workflow);
    match format {
        GraphFormat::Dot => print!("{}", dag.to_dot(&workflow.name)),
        GraphFormat::Mermaid => print!("{}", dag.to_mermaid()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `medic schema`.
pub fn schema() -> CmdResult {
    print_json(&medic_engine::schema::workflow_schema());
    Ok(ExitCode::SUCCESS)
}
