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

/// Render diagnostics of a file, re-reading it for the snippets (lossily: a file that
/// is not UTF-8 still gets its diagnostic).
pub fn render_file_diagnostics(path: &Path, diags: &[Diagnostic], color: bool) -> String {
    let source = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    // Oversized files are not worth re-reading for a snippet.
    let source = if source.len() > 10 * 1024 * 1024 {
        String::new()
    } else {
        source
    };
    render_diagnostics(diags, &source, color)
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
    let results = medic_engine::validate::validate_paths(paths, &registry);
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
