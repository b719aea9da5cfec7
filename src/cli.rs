//! Every command and flag of `medic`, in one table.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Medic: self-healing workflows for CI/CD and production failures.
#[derive(Debug, Parser)]
#[command(name = "medic", version, about, propagate_version = true)]
pub struct Cli {
    /// Database URL: a SQLite path or `sqlite://…` (default `.medic/medic.db`), or
    /// `postgres://…` for a shared Postgres.
    #[arg(
        long,
        global = true,
        env = "MEDIC_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// When to use colour: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal unless NO_COLOR is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Output format of read commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For programs, editors and CI.
    Json,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GraphFormat {
    /// Graphviz.
    #[default]
    Dot,
    /// Mermaid (renders in GitHub Markdown).
    Mermaid,
}

/// Report formats of `medic analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// For a terminal (colour unless NO_COLOR or not a terminal).
    #[default]
    Terminal,
    /// For pull requests, job summaries, Buildkite annotations, chat.
    Markdown,
    /// A self-contained HTML page.
    Html,
    /// The stable JSON report (docs/analyze.md).
    Json,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflow files and report every problem with its location.
    Validate {
        /// Files or folders (folders are searched for *.yaml and *.yml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Print a workflow's step graph.
    Graph {
        /// The workflow file.
        file: PathBuf,
        /// Graph format.
        #[arg(long, short, value_enum, default_value_t)]
        format: GraphFormat,
    },
    /// Print the JSON Schema of workflow files (for editors).
    Schema,
    /// Describe an action: its config fields, outputs and an example. Lists actions
    /// when no name is given.
    Explain {
        /// The action's name, as in `uses:`.
        action: Option<String>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Run a workflow now, with live progress.
    Run(RunArgs),
    /// Inspect and manage runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Approve a step waiting for a human.
    Approve(DecideArgs),
    /// Reject a step waiting for a human.
    Reject(DecideArgs),
    /// Create workflows/ and policies/ with a working example.
    Init {
        /// Where (default: the current folder).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Decide what to do about an analysed failure: auto_fix, open_pr, retry, schedule,
    /// escalate or ignore. The decision is recorded; report how it went with
    /// `medic outcome`.
    Decide(DecisionArgs),
    /// Work with decision policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Report how a decision turned out; feeds the history signal of later decisions.
    Outcome {
        /// Decision id (a unique prefix is enough).
        decision: String,
        /// How it went.
        #[arg(value_enum)]
        result: OutcomeResult,
        /// Why (e.g. "PR merged", "deploy rolled back").
        #[arg(long)]
        reason: Option<String>,
    },
    /// Success rates of past decisions, per fingerprint and per category.
    Stats {
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// The kill switch: from now on every decision goes to a human.
    Pause {
        /// Why (shown by `medic stats`).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift the kill switch; with --fingerprint or --repository, reset that circuit
    /// breaker instead.
    Resume {
        /// Reset the circuit breaker of this failure fingerprint.
        #[arg(long, conflicts_with = "repository")]
        fingerprint: Option<String>,
        /// Reset the circuit breaker of this repository.
        #[arg(long)]
        repository: Option<String>,
    },
    /// Find the lines that explain a failed CI build, its category, tool, tests and a
    /// stable fingerprint, with every secret removed first.
    Analyze(AnalyzeArgs),
    /// Print a log with its secrets redacted (the counts per type go to stderr), so that
    /// it can be shared.
    Sanitize {
        /// A log file, or `-` for standard input.
        input: String,
    },
    /// The pull requests Medic opened, and learning from their fate.
    #[command(subcommand)]
    Pulls(PullsCommand),
    /// The whole remediation loop on this machine, offline: a small project whose
    /// tests broke, its remote, the failed job's log and a local stand-in of GitHub's
    /// API; the fix is pushed to the remote and a pull request opened on the stand-in.
    Demo(DemoArgs),
    /// Measure the engine on standard shapes (figures for the README and issues).
    Bench {
        /// Which shape: a (chain of 100), b (fan-out of 500), c (100 shell steps),
        /// d (validate 1,000 steps), or all.
        #[arg(long, default_value = "all")]
        shape: String,
    },
}

/// `medic run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// An input, `name=value` (repeatable). Objects and lists are given as JSON.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Show what would run without side effects (shell and http steps are described,
    /// not performed).
    #[arg(long)]
    pub dry_run: bool,
    /// Return as soon as only approvals or sleeps remain, leaving the run waiting
    /// (resume it later with `medic runs resume`).
    #[arg(long)]
    pub no_wait: bool,
    /// Output format of the final summary.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
}

/// `medic runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Recent runs, newest first.
    List {
        /// Only runs in this status (running, waiting, succeeded, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// One run with its steps.
    Show {
        /// Run id (a unique prefix is enough).
        id: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// The logs of a run's attempts.
    Logs {
        /// Run id (a unique prefix is enough).
        id: String,
        /// Only this step (or `step[i]` item).
        #[arg(long)]
        step: Option<String>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Continue a run that was interrupted or is waiting: finished steps are not run
    /// again; a step that was in flight runs again with the same idempotency key.
    Resume {
        /// Run id (a unique prefix is enough).
        id: String,
        /// Return when only waits remain.
        #[arg(long)]
        no_wait: bool,
    },
    /// Cancel a run (the process driving it stops its steps).
    Cancel {
        /// Run id (a unique prefix is enough).
        id: String,
    },
}

/// `medic approve` / `medic reject`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Run id (a unique prefix is enough).
    pub run: String,
    /// The approval step; optional when the run has one pending approval.
    pub step: Option<String>,
    /// An input the approval asks for, `name=value` (repeatable).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Why.
    #[arg(long, short)]
    pub comment: Option<String>,
    /// Who decides (default: $MEDIC_USER, then $USER).
    #[arg(long = "as", value_name = "USER")]
    pub who: Option<String>,
}

/// `medic decide`.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// The analysis, a JSON file (the `analyze` action's output: category, confidence,
    /// tool, fingerprint…).
    #[arg(long, value_name = "FILE")]
    pub analysis: PathBuf,
    /// The proposed change, a JSON file (files, lines_added, lines_removed, paths, action).
    #[arg(long, value_name = "FILE")]
    pub change: Option<PathBuf>,
    /// The change's review, a JSON file (passed, score).
    #[arg(long, value_name = "FILE")]
    pub review: Option<PathBuf>,
    /// The policy file (default: the built-in default policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Show every factor with its weight and value, the rules tried and the guards.
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
}

/// `medic policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run a policy's table tests: each case's inputs and the outcome it must give.
    /// Exits 1 when a case fails.
    Test {
        /// The policy file.
        policy: PathBuf,
        /// The cases file (YAML, `cases:`).
        cases: PathBuf,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Print the JSON Schema of policy files (for editors).
    Schema,
}

/// `medic pulls …`.
#[derive(Debug, Subcommand)]
pub enum PullsCommand {
    /// Pull requests Medic opened, oldest first.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Check the open ones and record the outcome of each merged (success) or closed
    /// (failure) one for the decision behind it.
    Poll {
        /// The environment variable holding the GitHub token.
        #[arg(long, default_value = "GITHUB_TOKEN")]
        token_env: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
}

/// `medic demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the demo's project, remote and store (must not exist, or be
    /// empty).
    #[arg(long, default_value = "medic-demo")]
    pub dir: PathBuf,
    /// Use a policy that escalates: the run waits for your approval (`medic approve`
    /// from another terminal, in the demo folder) before opening the pull request.
    #[arg(long)]
    pub escalate: bool,
    /// Show what would be done: nothing is pushed and no pull request is opened.
    #[arg(long)]
    pub dry_run: bool,
}

/// How a decision turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeResult {
    /// The fix worked (merged, deployed and verified, approved).
    Success,
    /// It did not (closed, rolled back, rejected).
    Failure,
}

/// `medic analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A log file (plain, gzip, or the zip GitHub serves), `-` for standard input, or the
    /// URL of a GitHub Actions run or job, a GitLab job or a Buildkite build (tokens from
    /// GITHUB_TOKEN, GITLAB_TOKEN or BUILDKITE_API_TOKEN).
    pub input: String,
    /// Report format.
    #[arg(long, short, value_enum, default_value_t)]
    pub format: ReportFormat,
    /// `json` is the same as `--format json`, as on every read command.
    #[arg(long, short, value_enum)]
    pub output: Option<Output>,
    /// The last passing log of the same job: lines absent from it rank first.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Most lines in the excerpt, context included.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub max_lines: usize,
    /// Neither read nor write the analysis cache, nor count the fingerprint in the store.
    #[arg(long)]
    pub no_cache: bool,
    /// Where analyses are cached (fingerprint sightings are counted in the store).
    #[arg(long, value_name = "DIR", default_value = ".medic/cache")]
    pub cache_dir: PathBuf,
    /// Seconds one HTTP request may take when fetching a URL.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Add an AI explanation, with the provider described in this file (YAML or JSON:
    /// kind, model, base_url, api_key_env, budget, price…; see docs/analyze.md).
    #[arg(long, value_name = "FILE", conflicts_with = "ai")]
    pub explain_with: Option<PathBuf>,
    /// Add an AI explanation from this provider (`openai` also covers Azure OpenAI,
    /// OpenRouter, Ollama, vLLM and llama.cpp through --ai-base-url).
    #[arg(long, value_enum, value_name = "PROVIDER", requires = "ai_model")]
    pub ai: Option<AiProvider>,
    /// The model for --ai, e.g. gpt-4o-mini, claude-sonnet-4-5, gemini-2.5-flash, llama3.2.
    #[arg(long, value_name = "MODEL", requires = "ai")]
    pub ai_model: Option<String>,
    /// The API's address for --ai (default: the provider's own; Ollama:
    /// http://localhost:11434/v1).
    #[arg(long, value_name = "URL", requires = "ai")]
    pub ai_base_url: Option<String>,
    /// The environment variable holding the key for --ai (default OPENAI_API_KEY,
    /// ANTHROPIC_API_KEY or GEMINI_API_KEY).
    #[arg(long, value_name = "VAR", requires = "ai")]
    pub ai_key_env: Option<String>,
}

/// The AI providers of `medic analyze --ai`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AiProvider {
    /// OpenAI-compatible chat completions.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
}
