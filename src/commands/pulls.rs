//! `medic pulls`: the pull requests Medic opened, and learning from their fate.

use std::process::ExitCode;

use medic_actions::github::outcomes::poll_outcomes;

use super::{open_store, print_json};
use crate::cli::Output;
use crate::{CmdResult, Globals};

/// `medic pulls list`.
pub async fn list(output: Output, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let pulls = store.pulls(None).await?;
    if output == Output::Json {
        print_json(&serde_json::to_value(&pulls).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    if pulls.is_empty() {
        eprintln!("no pull requests yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32}  {:>6}  {:<7}  {:<24}  URL",
        "REPOSITORY", "NUMBER", "STATE", "BRANCH"
    );
    for p in pulls {
        println!(
            "{:<32}  {:>6}  {:<7}  {:<24}  {}",
            p.repository,
            p.number,
            p.state.as_str(),
            p.branch,
            p.url
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `medic pulls poll`.
pub async fn poll(token_env: &str, output: Output, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let polled = poll_outcomes(&store, token_env, &|name| std::env::var(name).ok()).await?;
    if output == Output::Json {
        print_json(&serde_json::to_value(&polled).unwrap_or_default());
    } else if polled.is_empty() {
        eprintln!("no open pull requests to check");
    } else {
        for p in &polled {
            let what = match (&p.recorded_for, &p.error) {
                (_, Some(e)) => format!("could not be checked: {e}"),
                (Some(d), None) => format!("{}: outcome recorded for decision {d}", p.state),
                (None, None) => p.state.clone(),
            };
            println!("{}#{} {what}", p.repository, p.number);
        }
    }
    // Some could not be read: say so in the exit code, after reporting the others.
    if polled.iter().any(|p| p.error.is_some()) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
