//! `medic run` and `medic runs resume`: drive a run with live progress.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use medic_engine::runtime::{DriveOptions, Executor, create_run, resolve_inputs};
use medic_engine::store::{RunStatus, Store};
use medic_engine::workflow::Workflow;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{open_store, parse_pairs, print_json};
use crate::cli::{Output, RunArgs};
use crate::progress::Display;
use crate::{CmdResult, Failure, Globals};

/// Load and validate a workflow file, printing diagnostics on failure.
pub fn load_workflow(path: &Path, g: &Globals) -> Result<Workflow, Failure> {
    let registry = medic_actions::registry();
    medic_engine::validate::load_file(path, &registry).map_err(|diags| {
        eprint!(
            "{}",
            super::validate::render_file_diagnostics(path, &diags, g.color)
        );
        Failure::usage(format!("{} is not a valid workflow", path.display()))
    })
}

fn base_dir_of(path: &Path) -> PathBuf {
    std::env::current_dir()
        .unwrap_or_else(|_| path.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// `medic run <file>`.
pub async fn run(args: RunArgs, g: &Globals) -> CmdResult {
    let workflow = load_workflow(&args.file, g)?;
    let mut given = serde_json::Map::new();
    for (name, raw) in parse_pairs(&args.inputs, "--input")? {
        let value = match workflow.inputs.get(&name) {
            Some(spec) => spec
                .kind
                .parse_cli(&raw)
                .map_err(|e| Failure::usage(format!("--input {name}: {e}")))?,
            None => Value::String(raw),
        };
        given.insert(name, value);
    }
    let inputs = resolve_inputs(&workflow, &given).map_err(|e| Failure::usage(e.to_string()))?;
    let store = open_store(g).await?;
    let run_id = create_run(
        &store,
        &workflow,
        inputs,
        json!({"kind": "manual", "user": whoami()}),
    )
    .await
    .map_err(|e| Failure::failed(e.to_string()))?;
    eprintln!(
        "run {run_id} of {} started{}",
        workflow.name,
        if args.dry_run { " (dry run)" } else { "" }
    );
    drive(
        store,
        &workflow,
        &run_id,
        args.dry_run,
        !args.no_wait,
        args.output,
        &args.file,
    )
    .await
}

/// `medic runs resume <id>`.
pub async fn resume(id: &str, no_wait: bool, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let run_id = store.resolve_run_id(id).await?;
    let run = store.run(&run_id).await?;
    if run.status.is_terminal() {
        return Err(Failure::usage(format!(
            "run {run_id} already ended: {}",
            run.status.as_str()
        )));
    }
    // Resume what was started, not what the file says now.
    let registry = medic_actions::registry();
    let path = PathBuf::from(&run.workflow_path);
    let workflow =
        medic_engine::validate::load_str(&run.source, &path, &registry).map_err(|diags| {
            eprint!(
                "{}",
                super::validate::render_diagnostics(&diags, &run.source, g.color)
            );
            Failure::failed(format!(
                "the stored workflow of run {run_id} no longer validates"
            ))
        })?;
    eprintln!("resuming run {run_id} of {}", workflow.name);
    drive(
        store,
        &workflow,
        &run_id,
        false,
        !no_wait,
        Output::Text,
        &path,
    )
    .await
}

async fn drive(
    store: Store,
    workflow: &Workflow,
    run_id: &str,
    dry_run: bool,
    wait: bool,
    output: Output,
    path: &Path,
) -> CmdResult {
    let opts = DriveOptions {
        dry_run,
        wait,
        base_dir: base_dir_of(path),
        ..super::drive_options()
    };
    drive_with(store, workflow, run_id, opts, output).await
}

/// Drive a run with live progress until it ends or only waits remain (when not
/// waiting), then report how it ended.
pub async fn drive_with(
    store: Store,
    workflow: &Workflow,
    run_id: &str,
    opts: DriveOptions,
    output: Output,
) -> CmdResult {
    let executor = Executor::new(store.clone(), medic_actions::registry());
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
    let display = tokio::spawn(Display::new(workflow).show(progress_rx));
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling… (steps are being stopped)");
            let _ = cancel_tx.send(true);
        }
    });
    let result = executor
        .drive(workflow, run_id, &opts, cancel_rx, Some(progress_tx))
        .await;
    ctrl_c.abort();
    let _ = display.await;
    let status = result.map_err(|e| Failure::failed(e.to_string()))?;
    let run = store.run(run_id).await?;
    if output == Output::Json {
        let steps = store.step_runs(run_id).await?;
        print_json(&json!({"run": run, "steps": steps}));
    }
    match status {
        RunStatus::Succeeded => {
            eprintln!("run {run_id} succeeded");
            Ok(ExitCode::SUCCESS)
        }
        RunStatus::Waiting => {
            eprintln!("run {run_id} is waiting; continue it with `medic runs resume {run_id}`");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprintln!(
                "run {run_id} {}: {}",
                other.as_str(),
                run.error.unwrap_or_default()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Who is at the keyboard, for triggers and approvals.
pub fn whoami() -> String {
    std::env::var("MEDIC_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_string())
}
