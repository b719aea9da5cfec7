//! `shell`: run a command line or a script, the workhorse of most workflows.
//!
//! The process runs in its own process group, which is killed whole when the step's
//! future is dropped (timeout, cancellation) and when the command exits, so a step
//! never leaves processes behind. Output is captured into bounded tails and logged
//! with secrets masked; a step declares outputs through `$MEDIC_OUTPUT` or a JSON
//! object on its last line of stdout.

#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
mod clone;
mod direct;
mod inotify;
mod lookup;
mod outputs;
mod process;
mod scratch;
mod spawn;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{config_error, masked_error, masked_outputs};

/// The `shell` action.
#[derive(Debug, Default)]
pub struct Shell {
    /// Where the steps' `$MEDIC_OUTPUT` files go.
    scratch: scratch::ScratchDir,
}

/// `with:` of a `shell` step. Give exactly one of `run` and `script`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// A command line, run as `<shell> -c '<run>'` (by default `sh -c`). A line of
    /// plain words naming a program (no quotes, variables, globs, pipes, redirections
    /// or builtins) is run directly with the default shell: same result, one process
    /// start fewer.
    #[serde(default)]
    pub run: Option<String>,
    /// A multi-line script, written to a temporary file and run as `<shell> <file>`.
    #[serde(default)]
    pub script: Option<String>,
    /// The interpreter and its leading arguments, split on spaces: `sh` (default),
    /// `bash`, `bash -eo pipefail`, `python3`…
    #[serde(default)]
    pub shell: Option<String>,
    /// Environment variables for the command, over the workflow's and the step's `env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The directory to run in, relative to the folder the run was started from.
    #[serde(default)]
    pub working_dir: Option<String>,
}

/// What to run, once the config has been checked.
#[derive(Debug)]
enum Program {
    Line(String),
    Script(String),
}

impl Program {
    fn text(&self) -> &str {
        match self {
            Program::Line(text) | Program::Script(text) => text,
        }
    }
}

/// A checked `ShellConfig`.
#[derive(Debug)]
struct Plan {
    interpreter: String,
    interpreter_args: Vec<String>,
    program: Program,
    env: BTreeMap<String, String>,
    working_dir: PathBuf,
}

impl ShellConfig {
    /// Check the config, reporting every problem at once.
    fn plan(self, ctx: &StepContext) -> Result<Plan, StepError> {
        let mut problems = Vec::new();
        let program = match (self.run, self.script) {
            (Some(run), None) => Some(Program::Line(run)),
            (None, Some(script)) => Some(Program::Script(script)),
            (Some(_), Some(_)) => {
                problems.push("give either `run` or `script`, not both".to_string());
                None
            }
            (None, None) => {
                problems
                    .push("give `run` (a command line) or `script` (a multi-line script)".into());
                None
            }
        };
        let mut words = self
            .shell
            .as_deref()
            .unwrap_or("sh")
            .split_whitespace()
            .map(str::to_string);
        let interpreter = words.next();
        if interpreter.is_none() {
            problems.push("`shell` is empty (leave it out for `sh`)".into());
        }
        for name in self
            .env
            .keys()
            .filter(|k| k.is_empty() || k.contains(['=', '\0']))
        {
            problems.push(format!("`env`: `{name}` is not a variable name"));
        }
        match (program, interpreter) {
            (Some(program), Some(interpreter)) if problems.is_empty() => Ok(Plan {
                interpreter,
                interpreter_args: words.collect(),
                program,
                env: self.env,
                working_dir: ctx.base_dir.join(self.working_dir.as_deref().unwrap_or("")),
            }),
            _ => Err(config_error(problems.join("; "))),
        }
    }
}

/// Output names the shell action sets itself; a step cannot override them.
const RESERVED: [&str; 4] = ["exit_code", "signal", "stdout", "stderr"];

#[async_trait]
impl Action for Shell {
    type Config = ShellConfig;
    const NAME: &'static str = "shell";
    const DESCRIPTION: &'static str = "Runs a command line (`run`, by `sh -c`) or a multi-line \
        `script` with an interpreter of your choice. Like GNU make, a `run` line of plain words \
        naming a program (no shell syntax, no builtin) skips the shell: it means the same \
        and starts one process fewer. The command sees the workflow's env, \
        `MEDIC_RUN_ID`, `MEDIC_STEP_ID`, `MEDIC_ATTEMPT`, `MEDIC_IDEMPOTENCY_KEY` and \
        `MEDIC_OUTPUT`, a file (absent until written) where it may write outputs as \
        `name=value` lines, `name<<EOF` heredocs or one JSON object. A JSON object on the last line of stdout \
        becomes outputs too (the file wins on conflicts). A non-zero exit fails the step. \
        When the step times out or is cancelled, and when the command exits, every process \
        it started is killed. Under `--dry-run` nothing runs.";
    const EXAMPLE: &'static str = r#"test:
  uses: shell
  with:
    script: |
      set -e
      cargo test --workspace 2>&1 | tee test.log
      echo "log=test.log" >> "$MEDIC_OUTPUT"
    shell: bash -eo pipefail
    working_dir: service
    env:
      RUST_BACKTRACE: "1"
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "exit_code",
            kind: "number",
            description: "The command's exit code; null when a signal killed it.",
        },
        OutputDoc {
            name: "signal",
            kind: "number",
            description: "The signal that killed the command; only present then.",
        },
        OutputDoc {
            name: "stdout",
            kind: "string",
            description: "The last 64 KiB of standard output, from a line start when cut.",
        },
        OutputDoc {
            name: "stderr",
            kind: "string",
            description: "The last 64 KiB of standard error, from a line start when cut.",
        },
        OutputDoc {
            name: "<name>",
            kind: "string or any JSON",
            description: "Each output written to $MEDIC_OUTPUT or printed as a JSON object \
                on the last line of stdout.",
        },
    ];

    async fn run(&self, config: ShellConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        // Every value below may hold a rendered secret: mask whatever leaves the step.
        let result = match config.plan(ctx) {
            Ok(plan) if ctx.dry_run => Ok(describe_dry_run(&plan, ctx)),
            Ok(plan) => run_plan(plan, &self.scratch, ctx).await,
            Err(e) => Err(e),
        };
        result
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

fn describe_dry_run(plan: &Plan, ctx: &StepContext) -> Outputs {
    ctx.log(format!(
        "dry run: would run {}: {}",
        plan.interpreter,
        plan.program.text()
    ));
    let mut outputs = Outputs::new();
    outputs.insert("dry_run".into(), Value::Bool(true));
    outputs.insert(
        "command".into(),
        Value::String(plan.program.text().to_string()),
    );
    outputs
}

async fn run_plan(
    plan: Plan,
    scratch: &scratch::ScratchDir,
    ctx: &StepContext,
) -> Result<Outputs, StepError> {
    // Removed when the step ends, however it ends.
    let output_file = scratch
        .fresh_path("output")
        .map_err(|e| internal(format!("cannot make a directory for $MEDIC_OUTPUT: {e}")))?;
    let mut script_file = None;
    let mut shell_args: Vec<&OsStr> = plan.interpreter_args.iter().map(OsStr::new).collect();
    match &plan.program {
        Program::Line(line) => {
            shell_args.push(OsStr::new("-c"));
            shell_args.push(OsStr::new(line));
        }
        Program::Script(script) => {
            let file = scratch
                .fresh_path("script")
                .and_then(|file| std::fs::write(file.path(), script).map(|()| file))
                .map_err(|e| internal(format!("cannot write the script: {e}")))?;
            script_file = Some(file);
        }
    }
    if let Some(file) = &script_file {
        shell_args.push(file.path().as_os_str());
    }
    let attempt = ctx.attempt.to_string();
    let env = environment(&plan, ctx, &attempt, output_file.path());
    // Only awaited when the step goes through its interpreter.
    let run_shell = async {
        // The interpreter, found on the PATH the command sees as `execvp` would find
        // it, so that it can be started by its path; else std's `Command` looks it up.
        let interpreter_path = match command_path(&plan, ctx) {
            Some(path) if !plan.interpreter.contains('/') => {
                lookup::find_on_path(&plan.interpreter, &path)
            }
            _ => None,
        };
        let shell = process::Spec {
            program: interpreter_path
                .as_deref()
                .unwrap_or(Path::new(&plan.interpreter)),
            arg0: OsStr::new(&plan.interpreter),
            args: &shell_args,
            env: &env,
            cwd: &plan.working_dir,
        };
        match process::run(&shell, ctx).await {
            // Not a binary and without `#!`: std's `Command` (`execvp`) runs it with
            // `/bin/sh`, as it would have without the lookup above.
            Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) && interpreter_path.is_some() => {
                let by_name = process::Spec {
                    program: Path::new(&plan.interpreter),
                    ..shell
                };
                process::run(&by_name, ctx).await
            }
            other => other,
        }
    };
    let finished = match direct_command(&plan, ctx) {
        Some(direct) => {
            let args: Vec<&OsStr> = direct.args.iter().map(OsStr::new).collect();
            let spec = process::Spec {
                program: &direct.program,
                arg0: OsStr::new(direct.arg0),
                args: &args,
                env: &env,
                cwd: &plan.working_dir,
            };
            match process::run(&spec, ctx).await {
                // Not a binary and without `#!`: a shell runs it as a script.
                Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => run_shell.await,
                other => other,
            }
        }
        None => run_shell.await,
    };
    // `script_file` is removed when this function returns, however it returns.
    // A missing working directory fails the start (chdir); it is told apart from a
    // missing program here rather than checked before every start.
    if finished.is_err() && !plan.working_dir.is_dir() {
        return Err(config_error(format!(
            "`working_dir`: {} is not a directory",
            plan.working_dir.display()
        )));
    }
    let finished = finished.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => config_error(format!(
            "`shell`: the interpreter `{}` was not found",
            plan.interpreter
        )),
        std::io::ErrorKind::PermissionDenied => config_error(format!(
            "`shell`: the interpreter `{}` cannot be executed",
            plan.interpreter
        )),
        // The one invalid input spawning refuses: a NUL byte in an argument or variable.
        std::io::ErrorKind::InvalidInput => {
            config_error("the command or its environment holds a NUL byte")
        }
        _ => internal(format!("cannot run `{}`: {e}", plan.interpreter)),
    })?;

    let mut outputs = Outputs::new();
    outputs.insert(
        "exit_code".into(),
        finished.status.code().map_or(Value::Null, Value::from),
    );
    if let Some(signal) = finished.status.signal() {
        outputs.insert("signal".into(), Value::from(signal));
    }
    let stdout_object = outputs::last_line_object(&finished.stdout);
    outputs.insert("stdout".into(), Value::String(finished.stdout));
    outputs.insert("stderr".into(), Value::String(finished.stderr));
    if let Some(declared) = stdout_object {
        merge_declared(&mut outputs, declared, "stdout's last line", ctx);
    }
    let declared = if output_file.may_exist() {
        read_output_file(output_file.path())
    } else {
        Ok(Outputs::new())
    };
    let file_problem = match declared {
        Ok(declared) => {
            merge_declared(&mut outputs, declared, "$MEDIC_OUTPUT", ctx);
            None
        }
        Err(problem) => Some(problem),
    };

    let failure = match (finished.status.code(), finished.status.signal()) {
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("exit code {code}")),
        (None, Some(signal)) => Some(format!("killed by signal {signal}{}", signal_name(signal))),
        (None, None) => Some("ended without an exit code".to_string()),
    };
    match (failure, file_problem) {
        (Some(failure), _) => Err(StepError::new(ErrorKind::Failed, failure).with_outputs(outputs)),
        (None, Some(problem)) => {
            Err(StepError::new(ErrorKind::Failed, problem).with_outputs(outputs))
        }
        (None, None) => Ok(outputs),
    }
}

/// Add outputs the step declared, refusing the names the action sets itself.
fn merge_declared(outputs: &mut Outputs, declared: Outputs, source: &str, ctx: &StepContext) {
    for (name, value) in declared {
        if RESERVED.contains(&name.as_str()) {
            ctx.log(format!(
                "[medic] ignored output `{name}` from {source}: the name is reserved"
            ));
        } else {
            outputs.insert(name, value);
        }
    }
}

/// Read what the step declared in `$MEDIC_OUTPUT`: nothing when the step did not create
/// the file. A local file of at most 1 MiB, and most often absent: reading it in place
/// costs less than a blocking-pool round trip.
fn read_output_file(path: &Path) -> Result<Outputs, String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Outputs::new()),
        Err(e) => return Err(format!("cannot open $MEDIC_OUTPUT: {e}")),
    };
    let mut bytes = Vec::new();
    file.take(outputs::MAX_OUTPUT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read $MEDIC_OUTPUT: {e}"))?;
    if bytes.len() as u64 > outputs::MAX_OUTPUT_FILE {
        return Err(
            "$MEDIC_OUTPUT is larger than 1 MiB; write big data to a file and output its path"
                .into(),
        );
    }
    let text = String::from_utf8(bytes).map_err(|_| "$MEDIC_OUTPUT is not UTF-8".to_string())?;
    outputs::parse_output_file(&text)
}

/// A program run without a shell: its path, the name it was given as (`argv[0]`, as
/// the shell passes it) and its arguments.
struct Direct<'a> {
    program: PathBuf,
    arg0: &'a str,
    args: Vec<&'a str>,
}

/// The `PATH` the command sees: the step's, the workflow's, or Medic's own.
fn command_path(plan: &Plan, ctx: &StepContext) -> Option<OsString> {
    plan.env
        .get("PATH")
        .or_else(|| ctx.env.get("PATH"))
        .map(OsString::from)
        .or_else(|| std::env::var_os("PATH"))
}

/// The program itself, without `sh -c`, when the step runs a plain command line with
/// the default shell and the program is on the `PATH` the command would see.
fn direct_command<'p>(plan: &'p Plan, ctx: &StepContext) -> Option<Direct<'p>> {
    let Program::Line(line) = &plan.program else {
        return None;
    };
    if plan.interpreter != "sh" || !plan.interpreter_args.is_empty() {
        return None;
    }
    let words = direct::simple_command(line)?;
    let path = command_path(plan, ctx)?;
    let program = lookup::find_on_path(words[0], &path)?;
    Some(Direct {
        program,
        arg0: words[0],
        args: words[1..].to_vec(),
    })
}

/// What the command sees over Medic's environment, the same with or without a shell:
/// the workflow's and step's `env`, the action's own `env`, then Medic's variables
/// (later entries win).
fn environment<'a>(
    plan: &'a Plan,
    ctx: &'a StepContext,
    attempt: &'a str,
    output_file: &'a Path,
) -> Vec<(&'a OsStr, &'a OsStr)> {
    let mut env: Vec<(&OsStr, &OsStr)> = Vec::with_capacity(ctx.env.len() + plan.env.len() + 5);
    for (name, value) in ctx.env.iter().chain(&plan.env) {
        env.push((OsStr::new(name), OsStr::new(value)));
    }
    env.extend([
        (OsStr::new("MEDIC_RUN_ID"), OsStr::new(&ctx.run_id)),
        (OsStr::new("MEDIC_STEP_ID"), OsStr::new(&ctx.step_id)),
        (OsStr::new("MEDIC_ATTEMPT"), OsStr::new(attempt)),
        (
            OsStr::new("MEDIC_IDEMPOTENCY_KEY"),
            OsStr::new(&ctx.idempotency_key),
        ),
        (OsStr::new("MEDIC_OUTPUT"), output_file.as_os_str()),
    ]);
    env
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGQUIT => " (SIGQUIT)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGPIPE => " (SIGPIPE)",
        libc::SIGALRM => " (SIGALRM)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

fn internal(message: String) -> StepError {
    StepError::new(ErrorKind::Internal, message)
}

#[cfg(test)]
mod tests;
