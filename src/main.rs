//! `medic`: the command-line face of Medic. Thin wiring: argument parsing, output, exit
//! codes. The work is done by the engine and actions crates.
//!
//! Exit codes: 0 success; 1 the workflow, run or validation failed; 2 bad input or usage.

mod cli;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, ColorChoice, Command, PolicyCommand, PullsCommand, RunsCommand};

/// A command's failure: its message for stderr and its exit code.
#[derive(Debug)]
pub struct Failure {
    /// 1 (the thing checked or run failed) or 2 (bad input or usage).
    pub code: u8,
    /// What to tell the user.
    pub message: String,
}

impl Failure {
    /// Bad input or usage (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// The workflow, run or check failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<medic_engine::store::StoreError> for Failure {
    fn from(e: medic_engine::store::StoreError) -> Self {
        use medic_engine::store::StoreError;
        match e {
            StoreError::NotFound(_) | StoreError::Conflict(_) | StoreError::Url(_) => {
                Failure::usage(e.to_string())
            }
            other => Failure::failed(other.to_string()),
        }
    }
}

/// What a command returns.
pub type CmdResult = Result<ExitCode, Failure>;

/// Global settings every command may read.
#[derive(Debug, Clone)]
pub struct Globals {
    /// Database URL.
    pub database_url: String,
    /// Whether stderr diagnostics use colour.
    pub color: bool,
    /// Whether reports on stdout use colour.
    pub stdout_color: bool,
}

/// Rust ignores SIGPIPE, so a reader that stops early (`medic schema | head`) made
/// every `println!` after it panic ("failed printing to stdout") and exit 101. With
/// the default action restored, Medic ends quietly as other Unix tools do; cargo
/// does the same. Sockets are unaffected: std and the HTTP clients write to them
/// with MSG_NOSIGNAL, and children get the default action from std anyway.
fn reset_sigpipe() {
    // SAFETY: called first in main, before any thread exists; SIG_DFL for SIGPIPE
    // has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    reset_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    // One TLS crypto provider for every HTTP client in the process (see
    // ../shared/notes/crates.md): reqwest is built without its own.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => medic_engine::diagnostic::stderr_color(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MEDIC_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .init();
    let globals = Globals {
        database_url: cli
            .database_url
            .clone()
            .unwrap_or_else(|| ".medic/medic.db".to_string()),
        color,
        stdout_color: match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => medic_analyze::report::use_color(),
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli.command, &globals));
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(command: Command, g: &Globals) -> CmdResult {
    use commands::*;
    match command {
        Command::Validate { paths, output } => validate::validate(&paths, output, g),
        Command::Graph { file, format } => validate::graph(&file, format, g),
        Command::Schema => validate::schema(),
        Command::Explain { action, output } => explain::explain(action.as_deref(), output),
        Command::Run(args) => run::run(args, g).await,
        Command::Runs(RunsCommand::List {
            status,
            workflow,
            limit,
            output,
        }) => runs::list(status, workflow, limit, output, g).await,
        Command::Runs(RunsCommand::Show { id, output }) => runs::show(&id, output, g).await,
        Command::Runs(RunsCommand::Logs { id, step, output }) => {
            runs::logs(&id, step.as_deref(), output, g).await
        }
        Command::Runs(RunsCommand::Resume { id, no_wait }) => run::resume(&id, no_wait, g).await,
        Command::Runs(RunsCommand::Cancel { id }) => runs::cancel(&id, g).await,
        Command::Approve(args) => approve::decide(args, true, g).await,
        Command::Reject(args) => approve::decide(args, false, g).await,
        Command::Init { dir } => init::init(&dir),
        Command::Analyze(args) => analyze::analyze(args, g).await,
        Command::Sanitize { input } => analyze::sanitize(&input),
        Command::Bench { shape } => bench::bench(&shape, g).await,
        Command::Pulls(PullsCommand::List { output }) => pulls::list(output, g).await,
        Command::Pulls(PullsCommand::Poll { token_env, output }) => {
            pulls::poll(&token_env, output, g).await
        }
        Command::Demo(args) => demo::run(args, g).await,
        Command::Decide(args) => decide::decide(args, g).await,
        Command::Policy(PolicyCommand::Test {
            policy,
            cases,
            output,
        }) => decide::policy_test(&policy, &cases, output, g).await,
        Command::Policy(PolicyCommand::Schema) => decide::policy_schema(),
        Command::Outcome {
            decision,
            result,
            reason,
        } => learn::outcome(&decision, result, reason.as_deref(), g).await,
        Command::Stats { output } => learn::stats(output, g).await,
        Command::Pause { reason } => learn::pause(reason.as_deref(), g).await,
        Command::Resume {
            fingerprint,
            repository,
        } => learn::resume(fingerprint.as_deref(), repository.as_deref(), g).await,
    }
}
