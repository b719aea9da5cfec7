//! `medic approve` and `medic reject`.

use std::process::ExitCode;

use medic_engine::approval::{Answer, ApprovalError, decide as decide_approval};

use super::{open_store, parse_pairs};
use crate::cli::DecideArgs;
use crate::commands::run::whoami;
use crate::{CmdResult, Failure, Globals};

/// Record a decision on a waiting approval.
pub async fn decide(args: DecideArgs, approve: bool, g: &Globals) -> CmdResult {
    let inputs = parse_pairs(&args.inputs, "--input")?;
    let store = open_store(g).await?;
    let run_id = store.resolve_run_id(&args.run).await?;
    let answer = Answer {
        run_id: run_id.clone(),
        step_key: args.step,
        who: args.who.unwrap_or_else(whoami),
        // The CLI cannot verify group membership, so it never claims one.
        groups: Vec::new(),
        approve,
        inputs,
        comment: args.comment,
    };
    let record = decide_approval(&store, &answer)
        .await
        .map_err(|e| match e {
            ApprovalError::Store(s) => Failure::from(s),
            other => Failure::usage(other.to_string()),
        })?;
    let run = store.run(&run_id).await?;
    let verb = if approve { "approved" } else { "rejected" };
    eprintln!(
        "{verb} `{}` of run {run_id} as {}",
        record.step_key, answer.who
    );
    if run.lease_until.is_none_or(|t| t <= chrono::Utc::now()) {
        eprintln!("no process is driving this run: continue it with `medic runs resume {run_id}`");
    }
    Ok(ExitCode::SUCCESS)
}
