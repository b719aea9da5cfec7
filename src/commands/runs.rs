//! `medic runs list|show|logs|cancel`.

use std::process::ExitCode;

use medic_engine::store::{RunFilter, RunStatus};
use serde_json::json;

use super::{open_store, print_json};
use crate::cli::Output;
use crate::progress::format_elapsed;
use crate::{CmdResult, Failure, Globals};

fn duration(
    start: chrono::DateTime<chrono::Utc>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match end {
        Some(end) => format_elapsed((end - start).to_std().unwrap_or_default()),
        None => "-".into(),
    }
}

/// `medic runs list`.
pub async fn list(
    status: Option<String>,
    workflow: Option<String>,
    limit: i64,
    output: Output,
    g: &Globals,
) -> CmdResult {
    let status = match status {
        None => None,
        Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
            Failure::usage(format!(
                "--status `{s}`: expected one of running, waiting, succeeded, failed, cancelled"
            ))
        })?),
    };
    if limit < 1 {
        return Err(Failure::usage("--limit must be at least 1"));
    }
    let store = open_store(g).await?;
    let runs = store
        .list_runs(&RunFilter {
            status,
            workflow,
            limit,
        })
        .await?;
    if output == Output::Json {
        print_json(&json!(runs));
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        eprintln!("no runs yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<24}  {:<10}  {:<20}  DURATION",
        "ID", "WORKFLOW", "STATUS", "STARTED"
    );
    for r in runs {
        println!(
            "{:<36}  {:<24}  {:<10}  {:<20}  {}",
            r.id,
            r.workflow,
            r.status.as_str(),
            r.created_at.format("%Y-%m-%d %H:%M:%S"),
            duration(r.created_at, r.finished_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `medic runs show`.
pub async fn show(id: &str, output: Output, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let id = store.resolve_run_id(id).await?;
    let run = store.run(&id).await?;
    let steps = store.step_runs(&id).await?;
    let approvals = store.approvals(Some(&id)).await?;
    if output == Output::Json {
        print_json(&json!({"run": run, "steps": steps, "approvals": approvals}));
        return Ok(ExitCode::SUCCESS);
    }
    println!("run       {}", run.id);
    println!("workflow  {} ({})", run.workflow, run.workflow_path);
    println!("status    {}", run.status.as_str());
    println!("started   {}", run.created_at.to_rfc3339());
    if let Some(end) = run.finished_at {
        println!(
            "finished  {} ({})",
            end.to_rfc3339(),
            duration(run.created_at, Some(end))
        );
    }
    if let Some(e) = &run.error {
        println!("error     {e}");
    }
    println!("inputs    {}", run.inputs);
    println!();
    println!(
        "{:<28}  {:<10}  {:>8}  {:>9}  DETAIL",
        "STEP", "STATUS", "ATTEMPTS", "DURATION"
    );
    for s in &steps {
        let detail = s.error.clone().unwrap_or_default();
        let dur = match s.started_at {
            Some(start) => duration(start, s.finished_at),
            None => "-".into(),
        };
        println!(
            "{:<28}  {:<10}  {:>8}  {:>9}  {}",
            s.step_key,
            s.status.as_str(),
            s.attempts,
            dur,
            detail
        );
    }
    for a in approvals {
        println!();
        println!("approval  {} — {}", a.step_key, a.status.as_str());
        println!("  asks    {}", a.request.message);
        if !a.request.approvers.is_empty() {
            println!("  who     {}", a.request.approvers.join(", "));
        }
        if let Some(by) = a.decided_by {
            println!(
                "  by      {by}{}",
                a.comment.map(|c| format!(": {c}")).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `medic runs logs`.
pub async fn logs(id: &str, step: Option<&str>, output: Output, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let id = store.resolve_run_id(id).await?;
    let attempts = store.attempts(&id).await?;
    let attempts: Vec<_> = attempts
        .into_iter()
        .filter(|a| {
            step.is_none_or(|s| a.step_key == s || a.step_key.starts_with(&format!("{s}[")))
        })
        .collect();
    if let (Some(s), true) = (step, attempts.is_empty()) {
        let keys: Vec<String> = store
            .step_runs(&id)
            .await?
            .into_iter()
            .map(|r| r.step_key)
            .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let hint = medic_engine::diagnostic::suggest(s, &refs)
            .map(|k| format!(": did you mean `{k}`?"))
            .unwrap_or_default();
        return Err(Failure::usage(format!(
            "run {id} has no attempts of step `{s}`{hint}"
        )));
    }
    if output == Output::Json {
        print_json(&json!(attempts));
        return Ok(ExitCode::SUCCESS);
    }
    for a in attempts {
        println!("── {} attempt {} ({}) ──", a.step_key, a.attempt, a.status);
        if !a.logs.is_empty() {
            println!("{}", a.logs);
        }
        if let Some(e) = a.error {
            println!("error: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `medic runs cancel`.
pub async fn cancel(id: &str, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let id = store.resolve_run_id(id).await?;
    let run = store.run(&id).await?;
    if run.status.is_terminal() {
        return Err(Failure::usage(format!(
            "run {id} already ended: {}",
            run.status.as_str()
        )));
    }
    let driven = run.lease_until.is_some_and(|t| t > chrono::Utc::now());
    store.request_cancel(&id).await?;
    if driven {
        eprintln!("cancel requested: the process driving run {id} stops it within seconds");
    } else {
        // Nobody drives it: cancel it here, recording every unfinished step.
        for s in store.step_runs(&id).await? {
            if !s.status.is_terminal() {
                store
                    .set_step(&medic_engine::store::StepUpdate {
                        run_id: id.clone(),
                        step_key: s.step_key,
                        status: medic_engine::store::StepStatus::Cancelled,
                        outputs: None,
                        error_kind: Some("cancelled".into()),
                        error: Some("the run was cancelled".into()),
                    })
                    .await?;
            }
        }
        store
            .set_run_status(&id, RunStatus::Cancelled, Some("cancelled by user"))
            .await?;
        eprintln!("run {id} cancelled");
    }
    Ok(ExitCode::SUCCESS)
}
