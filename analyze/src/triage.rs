//! Triage: from a cleaned, sanitized log to the lines that explain the failure, a
//! category with a confidence, the tool, the failing tests, file:line locations
//! and a fingerprint.
//!
//! It is a scorer, not a parser per tool: one table of signals (regular
//! expressions with a weight, and optionally the category and tool they point to)
//! scores each line as it streams by. Lines CI prints after the failure (cleanup,
//! cache uploads, "Done. Your build exited with 1") are recognised and scored
//! down; lines of a step's echoed script are scored down; lines that also occur in
//! a passing baseline log are scored down hard, so what is new comes first. The
//! analyzer keeps a bounded set of candidate lines with their neighbours, so
//! memory does not grow with the log.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::fingerprint::{fingerprint, template, template_hash};
use crate::keywords::WordSet;
use crate::literals::Lit;
use crate::read::{self, CiFormat, LineKind, Log, LogLine, ReadError, ReadOptions, Source};
use crate::sanitize::{SanitizeReport, Sanitizer};

/// The version of the [`Analysis`] JSON shape; bumped on breaking changes.
pub const SCHEMA_VERSION: u32 = 1;

/// What kind of failure it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The code does not compile or type-check.
    Compile,
    /// Tests ran and failed.
    Test,
    /// A linter, formatter or type checker complained.
    Lint,
    /// A dependency cannot be resolved, fetched or is incompatible.
    Dependency,
    /// Network trouble: DNS, refused or reset connections, TLS, 5xx from a service.
    Network,
    /// Something took too long.
    Timeout,
    /// Out of memory (including the OOM killer and exit code 137).
    Oom,
    /// The disk is full.
    Disk,
    /// Permission or authentication was refused.
    Permission,
    /// The CI configuration itself is wrong (workflow syntax, unknown keys).
    Config,
    /// The CI's machinery failed: runner lost, docker daemon, rate limits.
    Infrastructure,
    /// The failure looks intermittent (retried, marked flaky, passed on retry).
    Flaky,
    /// The run was cancelled.
    Cancelled,
    /// Nothing recognisable.
    Unknown,
}

impl Category {
    /// The snake_case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Compile => "compile",
            Category::Test => "test",
            Category::Lint => "lint",
            Category::Dependency => "dependency",
            Category::Network => "network",
            Category::Timeout => "timeout",
            Category::Oom => "oom",
            Category::Disk => "disk",
            Category::Permission => "permission",
            Category::Config => "config",
            Category::Infrastructure => "infrastructure",
            Category::Flaky => "flaky",
            Category::Cancelled => "cancelled",
            Category::Unknown => "unknown",
        }
    }
}

/// Options for an analysis.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most lines in the excerpt (context included).
    pub max_key_lines: usize,
    /// Lines of context shown before and after each key line.
    pub context: usize,
    /// Reading limits.
    pub read: ReadOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_key_lines: 40,
            context: 1,
            read: ReadOptions::default(),
        }
    }
}

/// Why a line is in the excerpt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It explains the failure.
    Error,
    /// It is shown for context.
    Context,
}

/// One line of the excerpt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyLine {
    /// Original 1-based line number in the input (per file for archives).
    pub line: u64,
    /// The cleaned, sanitized text.
    pub text: String,
    /// Error or context.
    pub role: Role,
    /// The score that selected it (0 for context).
    pub score: f32,
    /// Whether it is absent from the baseline (only when a baseline was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<bool>,
    /// The enclosing section (step, group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The archive entry it comes from (zip inputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A file:line location mentioned near the failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The path as printed (CI workspace prefix removed).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, when printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Facts about the input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Lines read.
    pub lines: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// The CI markup recognised.
    pub format: Option<CiFormat>,
    /// Lines whose tail was dropped for length.
    pub truncated_lines: u64,
    /// Lines in the baseline, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_lines: Option<u64>,
    /// What the sanitizer removed (counts per type, never values).
    pub sanitized: SanitizeReport,
}

/// How often a fingerprint was seen before (filled by the cache).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Times this fingerprint was analysed, this time included.
    pub count: u64,
    /// First time, in seconds since the Unix epoch.
    pub first_seen: u64,
    /// Latest time before this one, in seconds since the Unix epoch.
    pub last_seen: u64,
}

/// The result of triage. Field names are stable (see docs/analyze.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The failure's category.
    pub category: Category,
    /// How sure we are of the category, 0 to 1.
    pub confidence: f32,
    /// Stable id of this failure (16 hex digits).
    pub fingerprint: String,
    /// One line that best states the failure.
    pub summary: String,
    /// The step or section in which the failure shows.
    pub failed_step: Option<String>,
    /// The tool most involved in the failure.
    pub tool: Option<String>,
    /// All tools detected in the log, most evident first.
    pub tools: Vec<String>,
    /// Names of failing tests.
    pub tests: Vec<String>,
    /// file:line locations near the failure.
    pub locations: Vec<Location>,
    /// The excerpt, in line order.
    pub key_lines: Vec<KeyLine>,
    /// Facts about the input.
    pub stats: Stats,
    /// Repeats of this fingerprint (from the cache), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
    /// Best-effort notes.
    pub warnings: Vec<String>,
}

/// Templates of a passing log's lines, to rank new lines first.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    templates: HashSet<u64, TemplateHashes>,
    lines: u64,
}

/// Hashing for sets of [`template_hash`] values: they are hashes already, so
/// hashing them again (SipHash, the default) only costs time.
type TemplateHashes = std::hash::BuildHasherDefault<PassThrough>;

/// A hasher that keeps the `u64` it is given.
#[derive(Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed with it; bytes are folded in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Most templates kept from a baseline (8 bytes each: 32 MiB at most).
const MAX_BASELINE_TEMPLATES: usize = 4 << 20;

impl Baseline {
    /// An empty baseline.
    pub fn new() -> Self {
        Baseline::default()
    }

    /// Adds one line of the passing log.
    pub fn push(&mut self, text: &str) {
        self.lines += 1;
        if self.templates.len() < MAX_BASELINE_TEMPLATES {
            self.templates.insert(template_hash(text));
        }
    }

    /// Builds a baseline from a log in memory.
    pub fn from_log(log: &Log) -> Self {
        let mut b = Baseline::new();
        for l in &log.lines {
            b.push(&l.text);
        }
        b
    }

    /// Streams a baseline from a source (sanitized like any input).
    pub fn from_source(source: &Source, options: &ReadOptions) -> Result<Self, ReadError> {
        let mut b = Baseline::new();
        let mut sanitizer = Sanitizer::default();
        read::stream_log(source, &mut sanitizer, options, &mut |line, _| {
            b.push(&line.text)
        })?;
        Ok(b)
    }

    fn contains(&self, text: &str) -> bool {
        self.templates.contains(&template_hash(text))
    }
}

/// Analyses a log in memory.
pub fn analyze(log: &Log, options: &Options) -> Analysis {
    analyze_with_baseline(log, None, options)
}

/// Analyses a log in memory against a passing baseline.
pub fn analyze_with_baseline(
    log: &Log,
    baseline: Option<&Baseline>,
    options: &Options,
) -> Analysis {
    let mut a = Analyzer::new(options.clone(), baseline);
    for line in &log.lines {
        a.push(line, log);
    }
    a.finish(log)
}

/// Reads and analyses a source in one streaming pass (bounded memory).
pub fn analyze_source(
    source: &Source,
    sanitizer: &mut Sanitizer,
    baseline: Option<&Baseline>,
    options: &Options,
) -> Result<Analysis, ReadError> {
    let mut a = Analyzer::new(options.clone(), baseline);
    sanitizer.find_gate_words(true);
    // The lines are not kept: each one's text buffer serves the next.
    let log = read::stream_log_lending(source, sanitizer, &options.read, &mut |line, log| {
        a.push(&line, log);
        line.text
    });
    sanitizer.find_gate_words(false);
    Ok(a.finish(&log?))
}

/// Analyses bytes in memory in one streaming pass, without copying them.
pub fn analyze_bytes(
    bytes: &[u8],
    sanitizer: &mut Sanitizer,
    baseline: Option<&Baseline>,
    options: &Options,
) -> Result<Analysis, ReadError> {
    let mut a = Analyzer::new(options.clone(), baseline);
    sanitizer.find_gate_words(true);
    let log = read::stream_bytes_lending(bytes, sanitizer, &options.read, &mut |line, log| {
        a.push(&line, log);
        line.text
    });
    sanitizer.find_gate_words(false);
    Ok(a.finish(&log?))
}

/// One signal of the scoring table.
struct Signal {
    pattern: &'static str,
    weight: f32,
    category: Option<Category>,
    tool: Option<&'static str>,
}

const fn sig(
    pattern: &'static str,
    weight: f32,
    category: Option<Category>,
    tool: Option<&'static str>,
) -> Signal {
    Signal {
        pattern,
        weight,
        category,
        tool,
    }
}

use Category as C;

/// The scoring table. Weights: 10 = states the failure, 6 = strong error,
/// 3 = error-ish word, 1 = weak (stack frame, warning). Negative weights mark
/// noise.
const SIGNALS: &[Signal] = &[
    // Compilers and type checkers.
    sig(
        r"^error(?:\[E\d{4}\])?: ",
        10.0,
        Some(C::Compile),
        Some("rustc"),
    ),
    sig(r"^\s*--> [^\s]+:\d+:\d+", 3.0, None, Some("rustc")),
    sig(
        r"error: could not compile `",
        8.0,
        Some(C::Compile),
        Some("cargo"),
    ),
    sig(r"\berror TS\d+:", 10.0, Some(C::Compile), Some("tsc")),
    sig(
        r"^\S+:\d+:\d+: (?:fatal )?error: ",
        10.0,
        Some(C::Compile),
        Some("gcc/clang"),
    ),
    sig(r"\berror CS\d{4}:", 10.0, Some(C::Compile), Some("dotnet")),
    sig(
        r"\[ERROR\] .*\.(?:java|kt|scala):\[\d+,\d+\]",
        10.0,
        Some(C::Compile),
        Some("maven"),
    ),
    sig(r"COMPILATION ERROR", 8.0, Some(C::Compile), Some("maven")),
    sig(
        r"(?:cannot find symbol|incompatible types|undefined reference to|undeclared identifier|cannot find type|cannot find value|mismatched types|has no attribute|is not assignable to|Cannot find name|SyntaxError:|IndentationError:)",
        6.0,
        Some(C::Compile),
        None,
    ),
    sig(r"^# [\w./-]+$", 1.0, None, Some("go")),
    sig(r"^\S+\.go:\d+:\d+: ", 8.0, Some(C::Compile), Some("go")),
    sig(r"^\S+\.py:\d+: error: ", 10.0, Some(C::Lint), Some("mypy")),
    sig(
        r"^Found \d+ errors? in \d+ files?",
        8.0,
        Some(C::Lint),
        Some("mypy"),
    ),
    // Build tools.
    sig(r"\[ERROR\]", 4.0, None, Some("maven")),
    sig(r"BUILD FAILURE", 6.0, None, Some("maven")),
    sig(r"Failed to execute goal", 7.0, None, Some("maven")),
    sig(
        r"FAILURE: Build failed with an exception",
        8.0,
        None,
        Some("gradle"),
    ),
    sig(r"^> Task :\S+ FAILED", 8.0, None, Some("gradle")),
    sig(r"^\* What went wrong:", 6.0, None, Some("gradle")),
    sig(
        r"make(?:\[\d+\])?: \*\*\* .*Error \d+",
        6.0,
        None,
        Some("make"),
    ),
    sig(r"npm ERR!|^npm error ", 5.0, None, Some("npm")),
    sig(r"ERR_PNPM_\w+", 8.0, None, Some("pnpm")),
    sig(
        r"^error Command failed with exit code",
        5.0,
        None,
        Some("yarn"),
    ),
    sig(r"^error \S", 6.0, None, Some("yarn")),
    sig(
        r"^ERROR: failed to (?:solve|build)",
        8.0,
        None,
        Some("docker"),
    ),
    sig(r"^(?:#\d+ )?ERROR(?: \[[^\]]+\])?: ", 6.0, None, None),
    sig(
        r"did not complete successfully: exit code",
        7.0,
        None,
        Some("docker"),
    ),
    sig(r"^│ Error: ", 8.0, None, Some("terraform")),
    sig(r"^Error: ", 4.0, None, None),
    sig(
        r"^\s*(?:ERROR|FAILED):? (?:Build|build) (?:did NOT complete successfully|failed)",
        8.0,
        None,
        Some("bazel"),
    ),
    // Tests.
    sig(
        r"^test \S+ \.\.\. FAILED$",
        9.0,
        Some(C::Test),
        Some("cargo"),
    ),
    sig(r"^---- \S+ stdout ----$", 7.0, Some(C::Test), Some("cargo")),
    sig(r"^test result: FAILED", 7.0, Some(C::Test), Some("cargo")),
    sig(
        r"^\s*(?:FAIL|SIGSEGV|SIGABRT|SIGKILL|TIMEOUT|LEAK) \[\s*[\d.]+s\] ",
        9.0,
        Some(C::Test),
        Some("nextest"),
    ),
    sig(r"panicked at", 8.0, Some(C::Test), None),
    sig(r"^\s*--- FAIL: ", 9.0, Some(C::Test), Some("go")),
    sig(
        r"^FAIL\s+\S+\s+[\d.]+s$|^FAIL$",
        7.0,
        Some(C::Test),
        Some("go"),
    ),
    sig(r"^\s+\S+_test\.go:\d+: ", 8.0, Some(C::Test), Some("go")),
    sig(r"^\s*● ", 9.0, Some(C::Test), Some("jest")),
    sig(
        r"^FAIL \S+\.(?:test|spec)\.[jt]sx?",
        8.0,
        Some(C::Test),
        Some("jest"),
    ),
    sig(r"^Tests:\s+\d+ failed", 7.0, Some(C::Test), Some("jest")),
    sig(
        r"No tests found, exiting with code",
        8.0,
        Some(C::Test),
        Some("jest"),
    ),
    sig(
        r"^=+ FAILURES =+$|^=+ ERRORS =+$|short test summary info",
        6.0,
        Some(C::Test),
        Some("pytest"),
    ),
    sig(
        r"^(?:FAILED|ERROR) \S+::\S+",
        9.0,
        Some(C::Test),
        Some("pytest"),
    ),
    sig(r"^E\s{2,}\S", 7.0, Some(C::Test), Some("pytest")),
    sig(
        r"^=+ .*\d+ (?:failed|errors?)\b.* in [\d.]+s",
        7.0,
        Some(C::Test),
        Some("pytest"),
    ),
    sig(
        r"Tests run: \d+, Failures: \d+, Errors: \d+.*<<< (?:FAILURE|ERROR)!",
        8.0,
        Some(C::Test),
        Some("maven"),
    ),
    sig(
        r"^\[ERROR\] (?:Tests run:|Failures:|Errors:|  \S+[.#]\w+:\d+)",
        8.0,
        Some(C::Test),
        Some("maven"),
    ),
    sig(r"^\S+ > \S+.* FAILED$", 9.0, Some(C::Test), Some("gradle")),
    sig(r"^\s*Failed \S+ \[", 8.0, Some(C::Test), Some("dotnet")),
    sig(r"^rspec \./\S+:\d+", 8.0, Some(C::Test), Some("rspec")),
    // TAP (Test Anything Protocol): bats, prove, tape, node-tap.
    sig(r"^not ok \d+\b", 9.0, Some(C::Test), Some("tap")),
    sig(
        r"AssertionError|AssertionFailedError|assert(?:ion)? failed|assertion `left == right` failed|\bExpected\b.*\b(?:but|Received|got)\b|^\s*Expected:|^\s*Received:",
        7.0,
        Some(C::Test),
        None,
    ),
    sig(
        r"\b\d+ (?:tests? )?failed\b|\bfailures?: \d*[1-9]",
        5.0,
        Some(C::Test),
        None,
    ),
    sig(
        r"Traceback \(most recent call last\)",
        6.0,
        None,
        Some("python"),
    ),
    sig(
        r"^\s*File \x22[^\x22]+\x22, line \d+",
        2.0,
        None,
        Some("python"),
    ),
    sig(r"^\w*(?:Error|Exception)(?:: |$)", 6.0, None, None),
    sig(
        r"^\s+at [\w.$<>]+\(.*\)$|^\s+at .+:\d+:\d+\)?$",
        1.0,
        None,
        None,
    ),
    // Lint and format.
    sig(
        r"(?i)\b(?:eslint|prettier|stylelint)\b.*(?:error|fail|problem|warn)|\d+ problems? \(\d+ errors?",
        7.0,
        Some(C::Lint),
        Some("eslint"),
    ),
    sig(
        r"(?i)uses prettier to format|please run \S+ \S*(?:prettier|fmt|format|lint)|(?:not|isn't|is not|are not) (?:properly )?formatted|needs? formatting|formatting (?:check|issues|errors)|check formatting|Code style issues found|Run Prettier with --write|prettier-check|would reformat|files? would be reformatted",
        8.0,
        Some(C::Lint),
        Some("prettier"),
    ),
    sig(
        r"^Diff in \S+|rustfmt|cargo fmt",
        7.0,
        Some(C::Lint),
        Some("rustfmt"),
    ),
    sig(r"clippy::|cargo clippy", 6.0, Some(C::Lint), Some("clippy")),
    sig(
        r"\b(?:flake8|ruff|pylint|golangci-lint|shellcheck|hadolint|rubocop|ktlint|checkstyle|black)\b",
        3.0,
        Some(C::Lint),
        None,
    ),
    sig(
        r"^\S+:\d+:\d+: [A-Z]{1,3}\d{3,4} ",
        8.0,
        Some(C::Lint),
        Some("ruff/flake8"),
    ),
    // Dependencies.
    sig(
        r"Could not resolve dependencies|Could not find artifact|Could not resolve all (?:files|dependencies)|No matching version found|ERESOLVE|peer dep|version solving failed|Could not find a version that satisfies|No matching distribution found|ResolutionImpossible|failed to select a version|no matching package named|missing go\.sum entry|unknown revision|is incompatible with this module|Unsupported engine|requires a peer of|Cannot find module|ModuleNotFoundError|No module named|unresolved import|package .* does not exist|error: failed to get `|failed to download|Failed to fetch|lock file .* (?:outdated|out of date|needs to be updated)|frozen-lockfile|Your lockfile needs to be updated",
        8.0,
        Some(C::Dependency),
        None,
    ),
    // Network.
    sig(
        r"(?i)could not resolve host|temporary failure in name resolution|name or service not known|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|connection (?:refused|reset|timed out)|network is unreachable|TLS handshake timeout|unexpected EOF|502 Bad Gateway|503 Service Unavailable|504 Gateway Time-?out|ssl.*(?:error|failed)|socket hang up|i/o timeout",
        7.0,
        Some(C::Network),
        None,
    ),
    // Timeouts.
    sig(
        r"(?i)\btimed? ?out\b|deadline exceeded|exceeded the maximum time limit|maximum time limit for jobs|exceeded the maximum execution time|has exceeded the maximum execution time|Timeout of \d+ms exceeded|took longer than|execution expired",
        6.0,
        Some(C::Timeout),
        None,
    ),
    // Out of memory.
    sig(
        r"(?i)out of memory|OOMKilled|oom-kill|JavaScript heap out of memory|java\.lang\.OutOfMemoryError|Cannot allocate memory|MemoryError|exit code 137|signal: killed|^Killed$|memory allocation of \d+ bytes failed",
        9.0,
        Some(C::Oom),
        None,
    ),
    // Disk.
    sig(
        r"(?i)no space left on device|ENOSPC|disk quota exceeded|not enough space on the disk|insufficient disk space",
        10.0,
        Some(C::Disk),
        None,
    ),
    // Permission and authentication.
    sig(
        r"(?i)permission denied|permission to \S+ denied|returned error: 40[13]\b|\bHTTP (?:error )?40[13]\b|status(?: code)?:? 40[13]\b|EACCES|EPERM|403 Forbidden|401 Unauthorized|Resource not accessible by integration|authentication (?:failed|required)|bad credentials|access denied|not authorized|detected dubious ownership|could not read Username|requested access to the resource is denied|invalid (?:token|credentials)|unauthorized:",
        8.0,
        Some(C::Permission),
        None,
    ),
    // CI configuration.
    sig(
        r"(?i)invalid workflow file|the workflow is not valid|unrecognized named-value|yaml: line \d+|mapping values are not allowed|did not find expected key|jobs config should contain|jobs:\S+ config|unable to resolve action|can't find 'action\.ya?ml'|is not a valid (?:key|event|configuration)|unknown (?:key|field|property)|unexpected value|Required property is missing|Unexpected input\(s\)|pipeline configuration|\.gitlab-ci\.yml|\bpipeline\.yml\b.*(?:invalid|error)",
        8.0,
        Some(C::Config),
        None,
    ),
    // Infrastructure.
    sig(
        r"(?i)cannot connect to the docker daemon|is the docker daemon running|runner has received a shutdown signal|lost communication with the server|the hosted runner encountered an error|agent (?:was )?lost|api rate limit exceeded|rate limit|429 Too Many Requests|toomanyrequests|no space|runner system failure|ERROR: Job failed \(system failure\)|Error response from daemon|pull access denied|manifest unknown|image .* not found|The runner .* (?:offline|disconnected)",
        8.0,
        Some(C::Infrastructure),
        None,
    ),
    // Cancelled.
    sig(
        r"(?i)the operation was canceled|received cancellation signal|interrupted by a signal|signal: terminated|operation was cancelled|job (?:was )?cancel+ed|build (?:was )?(?:aborted|canceled|cancelled)|canceling since a higher priority|received (?:SIGTERM|SIGINT)|^Terminated$|interrupted by user",
        8.0,
        Some(C::Cancelled),
        None,
    ),
    // Flaky evidence.
    sig(
        r"(?i)\bflaky\b|passed on retry|rerun(?:ning)? failed|retrying test|\bRETRY\b \d|attempt \d+ of \d+ failed",
        4.0,
        Some(C::Flaky),
        None,
    ),
    // CI verdicts (state the failure, but rarely explain it).
    sig(
        r"Process completed with exit code [1-9]\d*",
        4.0,
        None,
        None,
    ),
    sig(r"^ERROR: Job failed|^ERROR: Build failed", 4.0, None, None),
    sig(
        r"exited with (?:status|code) [1-9]|returned (?:a )?non-zero exit|exit status [1-9]|exit code:? [1-9]",
        3.0,
        None,
        None,
    ),
    sig(
        r"^Finished: (?:FAILURE|ABORTED)",
        3.0,
        None,
        Some("jenkins"),
    ),
    // Generic words.
    sig(
        r"(?i)\b(?:error|errors|fatal|failed|failure|exception|panic|abort(?:ed)?|segmentation fault|core dumped)\b",
        3.0,
        None,
        None,
    ),
    sig(
        r"(?i)\b(?:cannot|could not|couldn't|unable to|not found|no such file|undefined|unexpected|invalid|missing)\b",
        2.0,
        None,
        None,
    ),
    sig(r"(?i)\bwarn(?:ing)?\b", 0.5, None, None),
    // A passing test's name can say "timeout" or "cancel": it explains nothing.
    sig(
        r"^\s*(?:PASS|PASSED|ok)\s+\[|\.\.\. ok$|^ok\s+\S+\s+[\d.]+s|^\s*(?:✓|✔|√)\s|^\s*PASS\s+\S|\bPASSED\b|^--- PASS: ",
        -12.0,
        None,
        None,
    ),
    // Jenkins echoes its git commands with `# timeout=10`.
    sig(r"# timeout=\d+$|^\s*> git ", -8.0, None, None),
    // Noise: lines that look bad but are routine.
    sig(
        r"(?i)\b0 (?:errors?|failed|failures)\b|\berrors?: 0\b|failures: 0\b|no errors|without errors|error_?log|errorprone|-Werror|\bon-?error\b|\bif-no-files-found\b|continue-on-error|ignore[_-]?errors?|\berror\.(?:js|ts|rs|go|py|tsx)\b|\bstderr\b",
        -4.0,
        None,
        None,
    ),
    sig(
        r"(?i)^(?:Downloading|Downloaded|Compiling|Installing|Collecting|Fetching|Resolving|Unpacking|Setting up|Preparing|Building wheel|Requirement already satisfied|Get:\d+|Hit:\d+|Reading package lists|remote: |Receiving objects|Resolving deltas|   Compiling|    Finished|  Downloaded|Progress|\[\d+/\d+\])",
        -3.0,
        None,
        None,
    ),
];

/// Lines that CI prints after the failure: boilerplate, never the cause. A
/// line is such a line when either pattern matches: the alternatives anchored
/// at the line start, and those found anywhere. Apart, the first stops within a
/// few bytes and the second skips to its literals; as one regex, every line
/// after the verdict with a score was searched to its end.
const POST_FAILURE: &[&str] = &[
    r"(?i)^post job cleanup|^cleaning up orphan processes|^Uploading artifacts|^Saving cache|^Cache saved|^Uploading cache|^Removing |^\[WS-CLEANUP\]|^Done\. Your build exited with|^Finished: |^Terminate orphan process|^Stopping container|^Removing (?:network|container)|^Cleaning up project directory|^Cleaning up file based variables|^\[Pipeline\]|^Archiving artifacts|^Recording test results|^Sending e-mails|^No emails were triggered|^Notifying|^Build step '.*' marked build as failure|^Post stage|^Skipping step|^git version|^Temporarily overriding HOME|^Adding repository directory|^Entering '|^http\.https://",
    r"(?i)\bcache\b|Unable to reserve cache|Failed to save",
];

/// Lines that mark the job's failure verdict: after them comes boilerplate.
const VERDICT: &str = r"Process completed with exit code [1-9]|^ERROR: Job failed|^Done\. Your build exited with [1-9]|Build step '.*' marked build as failure|^Finished: (?:FAILURE|ABORTED)|^\^\^\^ \+\+\+$|script returned exit code [1-9]|^🚨 Error: The command exited with status";

/// Evidence that a tool ran, anywhere in the log.
const TOOLS: &[(&str, &str)] = &[
    (
        r"^\s*Compiling \S+ v\d|^\s*Running `?(?:/\S+/)?(?:cargo|rustc)\b|\bcargo (?:build|test|clippy|fmt|check|nextest)\b",
        "cargo",
    ),
    (r"\bnpm (?:ci|install|run|test)\b|npm ERR!", "npm"),
    (
        r"^yarn (?:install|run) v\d|\byarn (?:install|test|build|lint)\b",
        "yarn",
    ),
    (r"\bpnpm (?:install|run|test|i)\b|ERR_PNPM", "pnpm"),
    (r"\bjest\b|^Tests:\s+\d+", "jest"),
    (r"\bvitest\b", "vitest"),
    (r"^TAP version \d+|^\s*(?:not )?ok \d+ - ", "tap"),
    (r"=+ test session starts =+|\bpytest\b", "pytest"),
    (
        r"^\s*(?:ok|FAIL|---)\s+\S+\s+[\d.]+s$|\bgo (?:test|build|vet|mod)\b",
        "go",
    ),
    (
        r"\[INFO\] (?:BUILD|Building|---)|\bmvn\b|Apache Maven",
        "maven",
    ),
    (r"^> Task :|\bgradlew?\b", "gradle"),
    (r"\bmake(?:\[\d+\])?: ", "make"),
    (
        r"\bdocker (?:build|run|push|pull|compose)\b|^#\d+ \[|^Step \d+/\d+ : ",
        "docker",
    ),
    (
        r"\bterraform (?:init|plan|apply|validate|fmt)\b|^Terraform v\d",
        "terraform",
    ),
    (r"\btsc\b|error TS\d+", "tsc"),
    (r"\beslint\b", "eslint"),
    (r"\bprettier\b", "prettier"),
    (r"\bmypy\b", "mypy"),
    (r"\bruff\b", "ruff"),
    (r"\bflake8\b", "flake8"),
    (r"\bbazel\b", "bazel"),
    (r"\bdotnet (?:build|test|restore)\b|\bMSBuild\b", "dotnet"),
    (r"\bctest\b|\bcmake\b", "cmake"),
    (r"\bswift (?:build|test)\b|\bxcodebuild\b", "swift"),
    (r"\bbundle exec\b|\brspec\b", "ruby"),
    (r"\bpip install\b|\bpoetry\b|\buv (?:sync|pip)\b", "pip"),
    (r"\bhelm (?:install|upgrade|lint|template)\b", "helm"),
    (r"\bkubectl\b", "kubectl"),
    (r"\bansible-playbook\b", "ansible"),
    (r"\bphpunit\b|\bcomposer (?:install|update)\b", "php"),
    (r"\bplaywright\b", "playwright"),
    (r"\bcypress\b", "cypress"),
];

struct Tables {
    /// Each signal on its own, run only where the gate says it can match: as one
    /// set, the lazy DFA of a hundred patterns kept overflowing its cache and
    /// spent most of its time building states.
    signals: Vec<regex::bytes::Regex>,
    /// Signals with a negative weight (noise): checked on scored lines only.
    negative: u128,
    /// The alternatives of signals and tool patterns anchored at the line
    /// start: decided on every line by one walk, without their regexes.
    anchored: Anchored,
    gate: Gate,
    post_failure: Vec<regex::bytes::Regex>,
    verdict: regex::bytes::Regex,
    warning_line: regex::bytes::Regex,
    tests: Vec<Regex>,
    locations: Vec<Regex>,
    /// Each tool pattern, run where the gate says it can match.
    tools: Vec<regex::bytes::Regex>,
    tool_names: Vec<&'static str>,
}

/// Shortest literal worth gating on: shorter ones (`# `, `E`) hit most lines.
const MIN_GATE_LITERAL: usize = 3;

/// What one scan of the gate found in a line: the signals and tools that can
/// match it (bit i = `SIGNALS[i]`, `TOOLS[i]`), those that do (patterns the
/// gate decides alone, see [`crate::literals::decided`]) and whether the
/// verdict can.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hits {
    signals: u128,
    signals_matched: u128,
    tools: u64,
    tools_matched: u64,
    verdict: bool,
}

/// One keyword scan ([`crate::keywords`], any case) over the literals that every
/// signal, tool pattern and the verdict need (derived from the patterns by
/// [`crate::literals`]). Before it, the whole signal table ran as a regex set on
/// the two thirds of all lines that held a hand-listed trigger word.
struct Gate {
    dfa: crate::keywords::KeywordDfa,
    /// The words: the sanitizer walks them too (see [`gate_words`]).
    words: Vec<Lit>,
    /// For each word, what it stands for.
    hits: Vec<Hits>,
    /// What the empty word stands for: it is in every line.
    everywhere: Hits,
}

impl Gate {
    fn build(entries: Vec<(Lit, Hits)>) -> Gate {
        let mut words: Vec<Lit> = Vec::new();
        let mut hits: Vec<Hits> = Vec::new();
        let mut everywhere = Hits::default();
        for (word, h) in entries {
            if word.bytes.is_empty() {
                everywhere.merge(&h);
                continue;
            }
            match words.iter().position(|w| *w == word) {
                Some(i) => hits[i].merge(&h),
                None => {
                    words.push(word);
                    hits.push(h);
                }
            }
        }
        assert!(
            words.len() <= WordSet::CAPACITY,
            "the gate's words must fit a WordSet"
        );
        Gate {
            dfa: crate::keywords::KeywordDfa::new(
                &words.iter().map(Lit::as_word).collect::<Vec<_>>(),
            ),
            words,
            hits,
            everywhere,
        }
    }

    /// What can match `text`, from the words that `found` says it holds, or from
    /// a scan of it when no one scanned it already.
    fn scan(&self, text: &str, found: Option<&WordSet>) -> Hits {
        let mut out = self.everywhere;
        match found {
            Some(words) => {
                for w in words.iter() {
                    out.merge(&self.hits[w as usize]);
                }
            }
            None => self
                .dfa
                .scan(text.as_bytes(), |w, _| out.merge(&self.hits[w as usize])),
        }
        out
    }
}

/// The gate's words, in their index order. The sanitizer walks
/// every line with a keyword DFA anyway; with these words in it, that one walk
/// also finds what the gate needs, and the reader hands the result on with the
/// line ([`LogLine::gate`]), so that the triage does not walk the line again.
pub(crate) fn gate_words() -> &'static [Lit] {
    &tables().gate.words
}

impl Hits {
    /// That signal `i` can match, and that it does.
    fn signal(i: usize) -> (Hits, Hits) {
        let can = Hits {
            signals: 1 << i,
            ..Hits::default()
        };
        let does = Hits {
            signals_matched: 1 << i,
            ..Hits::default()
        };
        (can, does)
    }

    /// That tool pattern `i` can match, and that it does.
    fn tool(i: usize) -> (Hits, Hits) {
        let can = Hits {
            tools: 1 << i,
            ..Hits::default()
        };
        let does = Hits {
            tools_matched: 1 << i,
            ..Hits::default()
        };
        (can, does)
    }

    fn merge(&mut self, other: &Hits) {
        self.signals |= other.signals;
        self.signals_matched |= other.signals_matched;
        self.tools |= other.tools;
        self.tools_matched |= other.tools_matched;
        self.verdict |= other.verdict;
    }
}

impl Tables {
    /// What can match `text`, and what does: the gate's hits and those of the
    /// anchored alternatives.
    fn candidates(&self, text: &str, found: Option<&WordSet>) -> Hits {
        let mut hits = self.gate.scan(text, found);
        let mut matched = self.anchored.matching(text.as_bytes());
        while matched != 0 {
            let i = matched.trailing_zeros() as usize;
            matched &= matched - 1;
            hits.merge(&self.anchored.hits[i]);
        }
        hits
    }

    /// The signals that match `text` (bit i = `SIGNALS[i]`), exactly those a
    /// regex set of all signals would report, given the gate's hits. With
    /// `always`, negative signals count even without a positive one.
    fn signal_matches(&self, text: &[u8], hits: &Hits, always: bool) -> u128 {
        let (candidates, decided) = (hits.signals, hits.signals_matched);
        let mut matched = (decided & !self.negative) | self.run(candidates & !self.negative, text);
        // Noise only lowers a score: it matters where a positive signal matched.
        if matched != 0 || always {
            matched |= (decided & self.negative) | self.run(candidates & self.negative, text);
        }
        matched
    }

    /// The signals among `candidates` that match `text`.
    fn run(&self, mut candidates: u128, text: &[u8]) -> u128 {
        let mut matched = 0u128;
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            if self.signals[i].is_match(text) {
                matched |= 1 << i;
            }
        }
        matched
    }

    /// The tools whose pattern matches `text` (bit i = `TOOLS[i]`).
    fn tool_matches(&self, text: &[u8], hits: &Hits) -> u64 {
        let mut candidates = hits.tools;
        let mut matched = hits.tools_matched;
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            if self.tools[i].is_match(text) {
                matched |= 1 << i;
            }
        }
        matched
    }
}

/// The signals' and tools' alternatives that are anchored at the line start
/// (`^\s+at …`, `^error(?:\[E\d{4}\])?: `), decided on every line by one walk of
/// a dense DFA over them all. Anchored, the walk ends within a few bytes on
/// most lines; walked by hand, it costs a fraction of one call into the regex
/// crate, and these alternatives were most of the calls left after the gate
/// (their literals, such as `error`, are in many lines). A match of an
/// alternative is a match of its pattern. The set stays as the reference the
/// tests compare with.
struct Anchored {
    dfa: regex_automata::dfa::dense::DFA<Vec<u32>>,
    start: regex_automata::util::primitives::StateID,
    /// What each alternative's match stands for.
    hits: Vec<Hits>,
    set: regex::bytes::RegexSet,
}

impl Anchored {
    fn new(alternatives: Vec<(String, Hits)>) -> Anchored {
        assert!(alternatives.len() <= 128, "one bit per alternative");
        let (patterns, hits): (Vec<String>, Vec<Hits>) = alternatives.into_iter().unzip();
        use regex_automata::MatchKind;
        use regex_automata::dfa::{Automaton, StartKind, dense};
        use regex_automata::util::{start, syntax};
        let dfa = dense::Builder::new()
            .configure(
                dense::DFA::config()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::All),
            )
            // The alternatives are printed from patterns parsed without Unicode:
            // their classes, `\b` and case folding are already spelt out in
            // ASCII (`(?-u:…)`). Unicode mode only admits the non-ASCII literals
            // some hold (`✓`).
            .syntax(syntax::Config::new().utf8(false))
            .build_many(&patterns)
            .expect("the anchored alternatives compile to a DFA");
        let start = dfa
            .start_state(&start::Config::new().anchored(regex_automata::Anchored::Yes))
            .expect("an anchored start state without look-behind");
        Anchored {
            dfa,
            start,
            hits,
            set: regex::bytes::RegexSet::new(&patterns).expect("valid alternatives"),
        }
    }

    /// The alternatives that match `text`, bit i for alternative i: what the
    /// set's `matches` says. They are all anchored at the start, so one walk
    /// from there, noting the patterns of every match state, finds them all.
    fn matching(&self, text: &[u8]) -> u128 {
        use regex_automata::dfa::Automaton;
        let dfa = &self.dfa;
        let note = |s, found: &mut u128| {
            for i in 0..dfa.match_len(s) {
                *found |= 1 << dfa.match_pattern(s, i).as_usize();
            }
        };
        let mut found = 0u128;
        let mut s = self.start;
        for &b in text {
            s = dfa.next_state(s, b);
            if dfa.is_special_state(s) {
                if dfa.is_match_state(s) {
                    note(s, &mut found);
                } else if dfa.is_dead_state(s) {
                    return found;
                } else if dfa.is_quit_state(s) {
                    // No quit bytes are configured; should one appear, ask the set.
                    return self.set.matches(text).iter().map(|i| 1 << i).sum();
                }
            }
        }
        let eoi = dfa.next_eoi_state(s);
        if dfa.is_match_state(eoi) {
            note(eoi, &mut found);
        }
        found
    }
}

fn ascii_regex(pattern: &str) -> regex::bytes::Regex {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .expect("valid regex")
}

/// A set matched on bytes with ASCII classes and word boundaries: Unicode `\b`
/// makes the lazy DFA give up on non-ASCII text, and the fallback is an order of
/// magnitude slower. Logs are read for ASCII keywords anyway.
#[cfg(test)]
fn ascii_set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> regex::bytes::RegexSet {
    regex::bytes::RegexSetBuilder::new(patterns)
        .unicode(false)
        .size_limit(1 << 24)
        .dfa_size_limit(1 << 24)
        .build()
        .expect("valid signal table")
}

/// How the triage finds where `pattern` matches: its anchored alternatives
/// join the DFA that decides them (`does`); of the others, a pattern of literals
/// alone is decided by the gate (`does`), and any other pattern gates its
/// regex on its literals (`can`). Every unanchored alternative has a literal
/// of [`MIN_GATE_LITERAL`] bytes or more (every test that triages builds the
/// tables and would fail here).
fn gate_pattern(
    pattern: &str,
    can: Hits,
    does: Hits,
    entries: &mut Vec<(Lit, Hits)>,
    anchored: &mut Vec<(String, Hits)>,
) {
    let (starts, rest) = crate::literals::split_anchored(pattern)
        .unwrap_or_else(|| panic!("signal pattern parses: {pattern}"));
    anchored.extend(starts.into_iter().map(|a| (a, does)));
    let Some(rest) = rest else { return };
    if let Some(lits) = crate::literals::decided(&rest, MIN_GATE_LITERAL) {
        entries.extend(lits.into_iter().map(|l| (l, does)));
        return;
    }
    let (lits, ungated) = crate::literals::split(&rest, MIN_GATE_LITERAL)
        .unwrap_or_else(|| panic!("signal pattern parses: {pattern}"));
    assert!(
        ungated.is_empty(),
        "an alternative without a literal of {MIN_GATE_LITERAL} bytes must be anchored: {ungated:?} in {pattern}"
    );
    entries.extend(lits.into_iter().map(|l| (l, can)));
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        assert!(SIGNALS.len() <= 128 && TOOLS.len() <= 64, "bit sets too small");
        // Each pattern's anchored alternatives join the DFA run on every line;
        // its other alternatives' literals feed the gate (see `gate_pattern`).
        let mut entries: Vec<(Lit, Hits)> = Vec::new();
        let mut anchored: Vec<(String, Hits)> = Vec::new();
        let mut negative = 0u128;
        for (i, s) in SIGNALS.iter().enumerate() {
            if s.weight <= 0.0 {
                negative |= 1 << i;
            }
            let (can, does) = Hits::signal(i);
            gate_pattern(s.pattern, can, does, &mut entries, &mut anchored);
        }
        for (i, (p, _)) in TOOLS.iter().enumerate() {
            let (can, does) = Hits::tool(i);
            gate_pattern(p, can, does, &mut entries, &mut anchored);
        }
        let verdict_hit = Hits {
            verdict: true,
            ..Hits::default()
        };
        let (verdict_lits, ungated_verdict) = crate::literals::split(VERDICT, MIN_GATE_LITERAL)
            .unwrap_or_else(|| (Vec::new(), vec![VERDICT.to_string()]));
        entries.extend(verdict_lits.into_iter().map(|l| (l, verdict_hit)));
        // Every verdict has a literal part; should one ever lack it, the gate
        // takes the empty literal, which hits every line.
        if !ungated_verdict.is_empty() {
            entries.push((
                Lit::new(Vec::new(), true),
                verdict_hit,
            ));
        }
        Tables {
        signals: SIGNALS.iter().map(|s| ascii_regex(s.pattern)).collect(),
        negative,
        anchored: Anchored::new(anchored),
        gate: Gate::build(entries),
        post_failure: POST_FAILURE.iter().map(|p| ascii_regex(p)).collect(),
        verdict: ascii_regex(VERDICT),
        warning_line: regex::bytes::RegexBuilder::new(
            r"^\s*(?:warning|warn|npm WARN|\[WARN(?:ING)?\]|WARNING:|W: |DeprecationWarning)\b",
        )
        .case_insensitive(true)
        .unicode(false)
        .build()
        .expect("valid warning regex"),
        tests: [
            r"^test (\S+) \.\.\. FAILED$",
            r"^---- (\S+) stdout ----$",
            r"^\s*(?:FAIL|SIGSEGV|SIGABRT|SIGKILL|TIMEOUT|LEAK) \[\s*[\d.]+s\] (?:\(\s*\d+/\d+\) )?(\S+(?: \S+)?)$",
            r"^\s*--- FAIL: (\S+)",
            r"^(?:FAILED|ERROR) (\S+::\S+?)(?: - |$)",
            r"^(\S+\.py::\S+) FAILED",
            r"^\s*● (.+ › .+)$",
            r"^FAIL (\S+\.(?:test|spec)\.[jt]sx?)",
            r"^\[ERROR\] (\w+)\(([\w.]+)\)",
            r"^\[ERROR\]\s+([\w.$]+[.#]\w+):\d+ ",
            r"^\[ERROR\] Tests run:.*<<< (?:FAILURE|ERROR)! - in ([\w.$]+)",
            r"^([\w.$]+ > \w+.*) FAILED$",
            r"^\s*Failed (\S+) \[",
            r"^rspec (\./\S+:\d+)",
            r"^not ok \d+ (?:- )?(.+?)(?:\s+# .*)?$",
        ]
        .into_iter()
        .map(|p| Regex::new(p).expect("valid test regex"))
        .collect(),
        locations: [
            r#"(?:^|[\s(\['"=])((?:[\w.@~+-]+/)*[\w.@+-]+\.(?:rs|go|py|pyi|js|jsx|ts|tsx|mjs|cjs|java|kt|kts|scala|groovy|rb|php|c|cc|cpp|cxx|h|hpp|cs|fs|swift|m|mm|ex|exs|erl|hs|ml|tf|hcl|yml|yaml|json|toml|gradle|xml|sh|bash|vue|svelte|dart|lua|zig|nim|proto|sql|css|scss)):(\d+)(?::(\d+))?"#,
            r#"File "([^"]+)", line (\d+)"#,
            r"\(([\w$]+\.(?:java|kt|scala|groovy)):(\d+)\)",
            r"(\S+\.(?:java|kt|scala)):\[(\d+),(\d+)\]",
        ]
        .into_iter()
        .map(|p| Regex::new(p).expect("valid location regex"))
        .collect(),
        tools: TOOLS.iter().map(|(p, _)| ascii_regex(p)).collect(),
        tool_names: TOOLS.iter().map(|(_, t)| *t).collect(),
    }
    })
}

#[derive(Debug, Clone)]
struct Candidate {
    number: u64,
    order: u64,
    score: f32,
    text: String,
    section: Option<String>,
    file: u32,
    new: Option<bool>,
    before: Vec<(u64, String)>,
    after: Vec<(u64, String)>,
    step: u32,
    categories: Vec<(Category, f32)>,
    tools: Vec<&'static str>,
}

/// Most extra lines that continue an error (stack frames, notes) shown after it.
const MAX_CONTINUATION: usize = 4;

/// Whether a line continues the error above it rather than starting a new one.
fn is_continuation(text: &str) -> bool {
    let t = text.trim_start();
    if t.is_empty() || t.len() == text.len() && !t.starts_with("Caused by") {
        return false;
    }
    t.starts_with("at ")
        || t.starts_with("Caused by")
        || t.starts_with("... ")
        || t.starts_with('|')
        || t.starts_with("-->")
        || t.starts_with('^')
        || t.starts_with("= ")
        || t.starts_with("note:")
        || t.starts_with("help:")
        || t.starts_with("File \"")
        || t.starts_with('│')
        || t.as_bytes().first().is_some_and(u8::is_ascii_digit) && t.contains(" | ")
}

/// Most candidate lines kept while streaming; the weakest half is dropped when
/// full.
const MAX_CANDIDATES: usize = 4096;
/// Longest text kept for a key line.
const MAX_KEY_TEXT: usize = 2000;

/// The streaming analyzer: push every line, then [`Analyzer::finish`].
pub struct Analyzer<'b> {
    options: Options,
    baseline: Option<&'b Baseline>,
    recent: VecDeque<(u64, String)>,
    candidates: Vec<Candidate>,
    waiting_after: Vec<usize>,
    after_verdict: bool,
    step: u32,
    verdict_step: Option<u32>,
    step_name: Option<String>,
    failed_step: Option<String>,
    seen_in_log: HashMap<u64, u32, TemplateHashes>,
    tool_counts: BTreeMap<&'static str, u32>,
    order: u64,
    lines: u64,
}

impl std::fmt::Debug for Analyzer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("lines", &self.lines)
            .field("candidates", &self.candidates.len())
            .finish()
    }
}

impl<'b> Analyzer<'b> {
    /// A new analyzer.
    pub fn new(options: Options, baseline: Option<&'b Baseline>) -> Self {
        Analyzer {
            options,
            baseline,
            recent: VecDeque::new(),
            candidates: Vec::new(),
            waiting_after: Vec::new(),
            after_verdict: false,
            step: 0,
            verdict_step: None,
            step_name: None,
            failed_step: None,
            seen_in_log: HashMap::default(),
            tool_counts: BTreeMap::new(),
            order: 0,
            lines: 0,
        }
    }

    /// Feeds one line; `log` gives the sections and files read so far.
    pub fn push(&mut self, line: &LogLine, log: &Log) {
        self.lines += 1;
        let t = tables();
        let text = line.text.as_str();
        let context = self.options.context;

        // Fill the after-context of recent candidates: `context` lines, and more
        // while the lines continue the error (stack frames, diagnostics' notes).
        if !self.waiting_after.is_empty() {
            let short = clip(text);
            let continues = is_continuation(text);
            self.waiting_after.retain(|&i| {
                let c = &mut self.candidates[i];
                if c.file != line.file {
                    return false;
                }
                let wanted = c.after.len() < context
                    || (continues && c.after.len() < context + MAX_CONTINUATION);
                if wanted {
                    c.after.push((line.number, short.clone()));
                }
                wanted
            });
        }

        let bytes = text.as_bytes();
        let hits = t.candidates(text, line.gate.as_ref());
        if text.len() < 4000 {
            let mut found = t.tool_matches(bytes, &hits);
            while found != 0 {
                let i = found.trailing_zeros() as usize;
                found &= found - 1;
                *self.tool_counts.entry(t.tool_names[i]).or_default() += 1;
            }
        }

        let mut score = 0.0f32;
        let mut categories = Vec::new();
        let mut tools = Vec::new();
        // Without a positive signal a line's score is at most 0 and it leaves no
        // trace, whatever negative signals match; CI-flagged lines get a bonus, so
        // their negative signals count.
        let always = matches!(line.kind, LineKind::CiError | LineKind::CiWarning);
        let mut matched = t.signal_matches(bytes, &hits, always);
        while matched != 0 {
            let i = matched.trailing_zeros() as usize;
            matched &= matched - 1;
            let s = &SIGNALS[i];
            score += s.weight;
            if let Some(c) = s.category {
                categories.push((c, s.weight));
            }
            if let Some(tool) = s.tool {
                tools.push(tool);
            }
        }
        if score > 0.0 && t.warning_line.is_match(text.as_bytes()) {
            // A warning explains a failure only when nothing else does.
            score *= 0.25;
        }
        match line.kind {
            LineKind::CiError => score += 6.0,
            LineKind::CiWarning => score += 0.5,
            LineKind::Command | LineKind::SectionStart | LineKind::SectionEnd => score *= 0.2,
            LineKind::Output => {}
        }
        let section = line
            .section
            .and_then(|s| log.sections.get(s as usize))
            .map(|s| s.name.as_str());
        if line.kind == LineKind::SectionStart {
            // A new step: GitHub's `Run …`/`Post …` groups (other groups are an
            // action's own output), every header elsewhere.
            let is_step = match log.format {
                Some(CiFormat::GithubActions) => {
                    section.is_some_and(|n| n.starts_with("Run ") || n.starts_with("Post "))
                }
                _ => true,
            };
            if is_step {
                self.step += 1;
                self.step_name = section.map(str::to_string);
            }
        }
        if let Some(name) = section {
            // GitHub echoes a step's script inside its `Run …` group, and post steps
            // are cleanup.
            if log.format == Some(CiFormat::GithubActions)
                && (name.starts_with("Run ") || name.starts_with("Post "))
            {
                score *= 0.3;
            }
        }
        if self.after_verdict
            && score > 0.0
            && t.post_failure.iter().any(|r| r.is_match(text.as_bytes()))
        {
            score = score.min(0.0);
        }
        if hits.verdict && t.verdict.is_match(bytes) {
            // The verdict says that it failed, not why.
            self.after_verdict = true;
            // Only GitHub prints the verdict inside the failing step; GitLab's
            // after_script and Jenkins' skipped stages come between the failure
            // and the verdict elsewhere.
            if self.verdict_step.is_none() && log.format == Some(CiFormat::GithubActions) {
                self.verdict_step = Some(self.step);
                self.failed_step = self.step_name.clone();
            }
            score = score.min(4.0);
        }
        // Repeated lines add little: keep the first few of each template.
        let mut new = None;
        // Only lines that can still become candidates need their template.
        if score >= 3.0 || (self.baseline.is_some() && score >= 0.6) {
            let key = template_hash(text);
            let n = self.seen_in_log.entry(key).or_default();
            *n += 1;
            if *n > 3 {
                score *= 0.3;
            }
            if let Some(b) = self.baseline {
                let is_new = !b.contains(text);
                new = Some(is_new);
                if is_new {
                    score = score * 1.5 + 2.0;
                } else {
                    score *= 0.1;
                }
            }
        }

        if score >= 3.0 {
            self.order += 1;
            let before = self
                .recent
                .iter()
                .rev()
                .take(context)
                .rev()
                .cloned()
                .collect();
            self.candidates.push(Candidate {
                number: line.number,
                order: self.order,
                score,
                text: clip(text),
                section: section.map(str::to_string),
                file: line.file,
                new,
                before,
                after: Vec::new(),
                step: self.step,
                categories,
                tools,
            });
            self.waiting_after.push(self.candidates.len() - 1);
            if self.candidates.len() >= MAX_CANDIDATES {
                self.shrink();
            }
        }

        if context > 0 {
            // Reuse the oldest buffer: one allocation per line is measurable here.
            let mut buf = if self.recent.len() >= context {
                self.recent.pop_front().map(|(_, s)| s).unwrap_or_default()
            } else {
                String::new()
            };
            buf.clear();
            buf.push_str(&text[..clip_len(text)]);
            self.recent.push_back((line.number, buf));
        }
        // Bounded memory: forget repeat counts rather than grow (a few MiB).
        if self.seen_in_log.len() > 1 << 18 {
            self.seen_in_log.clear();
        }
    }

    /// Drops the weaker half of the candidates (keeping order).
    fn shrink(&mut self) {
        let mut scores: Vec<f32> = self.candidates.iter().map(|c| c.score).collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        let cut = scores[MAX_CANDIDATES / 2];
        let waiting: HashSet<u64> = self
            .waiting_after
            .iter()
            .map(|&i| self.candidates[i].order)
            .collect();
        self.candidates
            .retain(|c| c.score > cut || waiting.contains(&c.order));
        self.waiting_after = self
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| waiting.contains(&c.order))
            .map(|(i, _)| i)
            .collect();
    }

    /// Ends the analysis.
    pub fn finish(mut self, log: &Log) -> Analysis {
        let t = tables();
        // The step that printed the verdict is the one that failed; CI stops at
        // the first failing step, so what earlier steps printed did not fail them.
        if let Some(v) = self.verdict_step {
            for c in &mut self.candidates {
                if c.step < v {
                    c.score *= 0.4;
                } else if c.step == v {
                    c.score *= 1.3;
                }
            }
        }
        let mut ranked: Vec<&Candidate> = self.candidates.iter().collect();
        // Best first; among equals, the earlier line (the first error is usually
        // the cause, later ones its consequences).
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.order.cmp(&b.order)));

        let budget = self.options.max_key_lines.max(1);
        let mut chosen: BTreeMap<(u32, u64), KeyLine> = BTreeMap::new();
        let mut picked: Vec<&Candidate> = Vec::new();
        let top = ranked.first().map(|c| c.score).unwrap_or(0.0);
        for c in &ranked {
            // Weak lines far below the best are not worth the reader's time.
            if c.score < top * 0.25 && chosen.len() >= budget / 4 {
                break;
            }
            let mut add: Vec<KeyLine> = Vec::new();
            let file_name = log
                .files
                .get(c.file as usize)
                .filter(|f| !f.is_empty())
                .cloned();
            add.push(KeyLine {
                line: c.number,
                text: c.text.clone(),
                role: Role::Error,
                score: (c.score * 10.0).round() / 10.0,
                new: c.new,
                section: c.section.clone(),
                file: file_name.clone(),
            });
            for (n, text) in c.before.iter().chain(c.after.iter()) {
                add.push(KeyLine {
                    line: *n,
                    text: text.clone(),
                    role: Role::Context,
                    score: 0.0,
                    new: None,
                    section: c.section.clone(),
                    file: file_name.clone(),
                });
            }
            let fresh = add
                .iter()
                .filter(|k| !chosen.contains_key(&(c.file, k.line)))
                .count();
            if chosen.len() + fresh > budget {
                if chosen.len() >= budget {
                    break;
                }
                // Take the line itself without context if that still fits.
                if let std::collections::btree_map::Entry::Vacant(e) =
                    chosen.entry((c.file, c.number))
                {
                    e.insert(add.swap_remove(0));
                    picked.push(c);
                }
                continue;
            }
            for k in add {
                match chosen.get_mut(&(c.file, k.line)) {
                    Some(existing) if k.role == Role::Error => *existing = k,
                    Some(_) => {}
                    None => {
                        chosen.insert((c.file, k.line), k);
                    }
                }
            }
            picked.push(c);
        }

        // Category: per category, the strongest line's evidence plus a quarter of
        // the rest, so that fifty similar lines do not drown one decisive line.
        let mut per_cat: BTreeMap<Category, Vec<f32>> = BTreeMap::new();
        let mut tool_scores: BTreeMap<&'static str, f32> = BTreeMap::new();
        for c in &picked {
            for (cat, w) in &c.categories {
                per_cat
                    .entry(*cat)
                    .or_default()
                    .push(w * c.score.max(1.0).sqrt());
            }
            for tool in &c.tools {
                *tool_scores.entry(tool).or_default() += c.score;
            }
        }
        let mut cat_scores: BTreeMap<Category, f32> = per_cat
            .into_iter()
            .map(|(cat, mut v)| {
                v.sort_by(|a, b| b.total_cmp(a));
                let rest: f32 = v[1..].iter().sum();
                (cat, v[0] + 0.25 * rest)
            })
            .collect();
        // Root causes outrank their symptoms: an OOM-killed test run is an OOM.
        for (cat, boost) in [
            (C::Oom, 3.0),
            (C::Disk, 3.0),
            (C::Cancelled, 2.0),
            (C::Config, 2.0),
            (C::Infrastructure, 1.8),
            (C::Timeout, 1.3),
            (C::Permission, 1.3),
            (C::Dependency, 1.3),
            (C::Compile, 1.1),
        ] {
            if let Some(v) = cat_scores.get_mut(&cat) {
                *v *= boost;
            }
        }
        if cat_scores.contains_key(&C::Flaky) && cat_scores.contains_key(&C::Test) {
            let test = cat_scores[&C::Test];
            *cat_scores.entry(C::Flaky).or_default() += test;
        }
        let total: f32 = cat_scores.values().sum();
        let (category, best) = cat_scores
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(c, v)| (*c, *v))
            .unwrap_or((C::Unknown, 0.0));
        let confidence = if category == C::Unknown || total <= 0.0 {
            0.0
        } else {
            let share = best / total;
            let strength = (best / 40.0).min(1.0);
            ((share * (0.5 + 0.5 * strength)) * 100.0).round() / 100.0
        };

        // Tools: from the failure lines first, then the rest of the log.
        let mut tools: Vec<(&'static str, f32)> = tool_scores.into_iter().collect();
        tools.sort_by(|a, b| b.1.total_cmp(&a.1));
        let tool = tools.first().map(|(t, _)| t.to_string()).or_else(|| {
            self.tool_counts
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(t, _)| t.to_string())
        });
        let mut all_tools: Vec<String> = tools.iter().map(|(t, _)| t.to_string()).collect();
        let mut rest: Vec<(&&str, &u32)> = self.tool_counts.iter().collect();
        rest.sort_by(|a, b| b.1.cmp(a.1));
        for (t, _) in rest {
            if !all_tools.iter().any(|x| x == *t) {
                all_tools.push(t.to_string());
            }
        }

        // Tests and locations from all candidates (in line order), not only the
        // excerpt: a long list of failing tests is worth having in full.
        let mut in_order: Vec<&Candidate> = self.candidates.iter().collect();
        in_order.sort_by_key(|c| c.order);
        let mut tests: Vec<String> = Vec::new();
        let mut locations: Vec<Location> = Vec::new();
        for c in &in_order {
            if tests.len() < 100 {
                for re in &t.tests {
                    if let Some(caps) = re.captures(&c.text) {
                        let name = match (caps.get(1), caps.get(2)) {
                            (Some(m), Some(class)) => format!("{}.{}", class.as_str(), m.as_str()),
                            (Some(m), None) => m.as_str().to_string(),
                            _ => continue,
                        };
                        if !tests.contains(&name) {
                            tests.push(name);
                        }
                        break;
                    }
                }
            }
            if locations.len() < 30 && c.score >= top * 0.25 {
                for text in std::iter::once(&c.text).chain(c.after.iter().map(|(_, s)| s)) {
                    for re in &t.locations {
                        for caps in re.captures_iter(text) {
                            let file = strip_workspace(caps.get(1).map_or("", |m| m.as_str()));
                            let Some(line) = caps.get(2).and_then(|m| m.as_str().parse().ok())
                            else {
                                continue;
                            };
                            if file.is_empty() || is_vendor_path(&file) {
                                continue;
                            }
                            let loc = Location {
                                file,
                                line,
                                column: caps.get(3).and_then(|m| m.as_str().parse().ok()),
                            };
                            if !locations.contains(&loc) && locations.len() < 30 {
                                locations.push(loc);
                            }
                        }
                    }
                }
            }
        }

        // Fingerprint: the templates of the strongest error lines.
        let mut strongest: Vec<&Candidate> = picked.clone();
        strongest.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.order.cmp(&b.order)));
        let templates: Vec<String> = strongest
            .iter()
            .filter(|c| c.score >= top * 0.5)
            .take(8)
            .map(|c| template(&c.text))
            .collect();
        let fp = if templates.is_empty() {
            fingerprint([format!("category:{}", category.as_str()).as_str()])
        } else {
            fingerprint(templates.iter().map(String::as_str))
        };

        let summary = ranked
            .first()
            .map(|c| c.text.trim().to_string())
            .unwrap_or_default();
        // The step that printed the verdict, else the best line's section.
        let failed_step = self
            .failed_step
            .clone()
            .or_else(|| ranked.first().and_then(|c| c.section.clone()));
        let mut warnings = log.warnings.clone();
        if self.lines == 0 {
            warnings.push("the log is empty".to_string());
        } else if ranked.is_empty() {
            warnings
                .push("no line looks like an error; nothing to explain the failure".to_string());
        }

        Analysis {
            schema_version: SCHEMA_VERSION,
            category,
            confidence,
            fingerprint: fp,
            summary,
            failed_step,
            tool,
            tools: all_tools,
            tests,
            locations,
            key_lines: chosen.into_values().collect(),
            stats: Stats {
                lines: self.lines,
                bytes: log.bytes,
                format: log.format,
                truncated_lines: log.truncated_lines,
                baseline_lines: self.baseline.map(|b| b.lines),
                sanitized: log.sanitize.clone(),
            },
            seen: None,
            warnings,
        }
    }
}

fn clip_len(text: &str) -> usize {
    if text.len() <= MAX_KEY_TEXT {
        return text.len();
    }
    let mut end = MAX_KEY_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn clip(text: &str) -> String {
    if text.len() <= MAX_KEY_TEXT {
        return text.to_string();
    }
    let mut end = MAX_KEY_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn strip_workspace(path: &str) -> String {
    for prefix in [
        "/home/runner/work/",
        "/Users/runner/work/",
        "/builds/",
        "/var/lib/buildkite-agent/builds/",
        "/home/travis/build/",
        "/var/jenkins_home/workspace/",
        "/var/lib/jenkins/workspace/",
        "/__w/",
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            // Drop owner/repo (GitHub: repo/repo; GitLab: group/project).
            let parts: Vec<&str> = rest.splitn(3, '/').collect();
            if parts.len() == 3 {
                return parts[2].to_string();
            }
        }
    }
    path.trim_start_matches("./").to_string()
}

fn is_vendor_path(path: &str) -> bool {
    path.contains("node_modules/")
        || path.starts_with("/rustc/")
        || path.contains("/.cargo/registry/")
        || path.contains("site-packages/")
        || path.starts_with("/usr/")
        || path.starts_with("internal/")
        || path.contains("/go/pkg/mod/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_str;

    fn run(text: &str) -> Analysis {
        let log = read_str(text, &mut Sanitizer::default());
        analyze(&log, &Options::default())
    }

    #[test]
    fn rust_compile_error_is_found_and_classified() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("   Compiling crate{i} v0.1.0\n"));
        }
        text.push_str("error[E0308]: mismatched types\n --> src/main.rs:4:13\n  |\n4 |     let x: u32 = \"a\";\n");
        text.push_str("error: could not compile `demo` (bin \"demo\") due to 1 previous error\n");
        let a = run(&text);
        assert_eq!(a.category, Category::Compile);
        assert_eq!(a.tool.as_deref(), Some("rustc"));
        assert!(
            a.key_lines
                .iter()
                .any(|k| k.text.starts_with("error[E0308]") && k.line == 201)
        );
        assert!(a.locations.contains(&Location {
            file: "src/main.rs".into(),
            line: 4,
            column: Some(13)
        }));
        assert!(a.confidence > 0.5, "{}", a.confidence);
    }

    /// The two post-failure patterns match where the one they were split
    /// from matches.
    #[test]
    fn post_failure_patterns_are_the_one_pattern() {
        let whole = ascii_regex(&POST_FAILURE.join("|"));
        let pieces = [
            "Post job cleanup",
            "post JOB cleanup",
            " ",
            "cache",
            "CACHE",
            "caches",
            "_cache",
            "Unable to reserve cache",
            "failed to save",
            "Removing ",
            "Finished: ",
            "[Pipeline]",
            "x",
            "error",
            "\t",
            "Entering '",
            "é",
        ];
        let t = tables();
        // Batches from many seeds (a generator whose line comes out empty
        // stays empty).
        let lines = (0..1000u32)
            .flat_map(|i| crate::random_lines::random_lines(&pieces, 5, 8, 0x1234_5678 ^ i));
        let mut matched = 0;
        for line in lines {
            let split = t.post_failure.iter().any(|r| r.is_match(line.as_bytes()));
            assert_eq!(split, whole.is_match(line.as_bytes()), "{line}");
            matched += usize::from(split);
        }
        assert!(matched > 500, "{matched}");
    }

    #[test]
    fn post_failure_boilerplate_is_skipped() {
        let text = "2024-01-01T00:00:00.0Z npm ERR! code ERESOLVE\n\
                    2024-01-01T00:00:00.0Z npm ERR! Could not resolve dependency: peer react@17\n\
                    2024-01-01T00:00:00.0Z ##[error]Process completed with exit code 1.\n\
                    2024-01-01T00:00:00.0Z Post job cleanup.\n\
                    2024-01-01T00:00:00.0Z Warning: Failed to save: Unable to reserve cache with key npm-123, another job may be creating this cache.\n\
                    2024-01-01T00:00:00.0Z [command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader\n\
                    2024-01-01T00:00:00.0Z Cleaning up orphan processes\n";
        let a = run(text);
        assert_eq!(a.category, Category::Dependency);
        assert!(
            a.key_lines
                .iter()
                .all(|k| !k.text.contains("reserve cache") || k.role == Role::Context),
            "{:?}",
            a.key_lines
        );
        assert!(
            a.summary.contains("ERESOLVE") || a.summary.contains("Could not resolve"),
            "{}",
            a.summary
        );
    }

    #[test]
    fn failing_tests_are_named() {
        let text = "running 3 tests\ntest a::ok ... ok\ntest a::bad ... FAILED\n\n---- a::bad stdout ----\nthread 'a::bad' panicked at src/lib.rs:9:5:\nassertion `left == right` failed\n\nfailures:\n    a::bad\n\ntest result: FAILED. 1 passed; 1 failed\n--- FAIL: TestThing (0.01s)\nFAILED tests/test_x.py::test_y - assert 1 == 2\n";
        let a = run(text);
        assert_eq!(a.category, Category::Test);
        assert!(a.tests.contains(&"a::bad".to_string()), "{:?}", a.tests);
        assert!(a.tests.contains(&"TestThing".to_string()));
        assert!(a.tests.contains(&"tests/test_x.py::test_y".to_string()));
    }

    /// TAP, as bats, prove and tape print it: the failing tests are named and the
    /// tool is recognised.
    #[test]
    fn tap_failures_are_test_failures() {
        let text = "TAP version 13\n1..3\nok 1 - add sums\nnot ok 2 - add handles negative numbers\n  ---\n  message: expected -1, got 3\n  at: test.sh:25\n  ...\nok 3 - mul # SKIP slow\nnot ok 4 - mul keeps the sign # TODO sign\n# tests 3, pass 1, fail 2\n";
        let a = run(text);
        assert_eq!(a.category, Category::Test);
        assert_eq!(a.tool.as_deref(), Some("tap"));
        assert_eq!(
            a.tests,
            ["add handles negative numbers", "mul keeps the sign"]
        );
        assert!(
            a.key_lines.iter().any(|k| k.text.contains("not ok 2")),
            "{:?}",
            a.key_lines
        );
    }

    #[test]
    fn excerpt_respects_the_budget() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("error: problem number {i} in src/f{i}.rs:1:1\n"));
        }
        let a = run(&text);
        assert!(a.key_lines.len() <= 40, "{}", a.key_lines.len());
        assert!(!a.key_lines.is_empty());
        let opts = Options {
            max_key_lines: 5,
            ..Options::default()
        };
        let log = read_str(&text, &mut Sanitizer::default());
        assert!(analyze(&log, &opts).key_lines.len() <= 5);
    }

    #[test]
    fn baseline_ranks_new_lines_first() {
        let common = "error: this line is always printed, harmless\n";
        let pass = format!("{common}all good\n");
        let fail = format!("{common}step 2\nFAILED to connect: connection refused\n");
        let base = Baseline::from_log(&read_str(&pass, &mut Sanitizer::default()));
        let log = read_str(&fail, &mut Sanitizer::default());
        let a = analyze_with_baseline(&log, Some(&base), &Options::default());
        assert!(a.summary.contains("connection refused"), "{}", a.summary);
        assert_eq!(a.category, Category::Network);
        let top = a.key_lines.iter().find(|k| k.role == Role::Error).unwrap();
        assert_eq!(top.new, Some(true));
        for k in a.key_lines.iter().filter(|k| k.text.contains("always")) {
            assert!(k.role == Role::Context || k.new == Some(false), "{k:?}");
        }
    }

    #[test]
    fn fingerprint_is_stable_across_reruns_and_differs_between_failures() {
        let run1 = "2024-01-01T10:00:00.0Z thread 'main' panicked at src/a.rs:10:5 (took 1.2s) in /tmp/xyz123\n";
        let run2 = "2024-02-02T11:11:11.0Z thread 'main' panicked at src/a.rs:10:5 (took 3.9s) in /tmp/abc987\n";
        let other = "2024-01-01T10:00:00.0Z error[E0425]: cannot find value `x` in this scope\n";
        assert_eq!(run(run1).fingerprint, run(run2).fingerprint);
        assert_ne!(run(run1).fingerprint, run(other).fingerprint);
    }

    #[test]
    fn empty_and_boring_logs_are_unknown_with_a_warning() {
        let a = run("");
        assert_eq!(a.category, Category::Unknown);
        assert!(!a.warnings.is_empty());
        let a = run("hello\nworld\n");
        assert_eq!(a.category, Category::Unknown);
        assert_eq!(a.confidence, 0.0);
    }

    /// The gate must never hide a signal: on every line of the test fixtures, the
    /// signals and tools found through it are exactly those that a regex set of
    /// all patterns finds, and the verdict passes it.
    #[test]
    fn gate_never_hides_a_signal() {
        let t = tables();
        let all_signals = ascii_set(SIGNALS.iter().map(|s| s.pattern));
        let all_tools = ascii_set(TOOLS.iter().map(|(p, _)| *p));
        let fixtures = [
            include_str!("../tests/fixtures/github-yarn-install.log"),
            include_str!("../tests/fixtures/buildkite-playwright.log"),
            include_str!("../tests/fixtures/buildkite-docker-push.log"),
            include_str!("../tests/fixtures/buildkite-rustfmt.log"),
            include_str!("../tests/fixtures/gitlab-trace-with-sections.log"),
            include_str!("../tests/fixtures/cidiff-npefix_1847/fail.log"),
            include_str!("../tests/fixtures/cidiff-npefix_1847/pass.log"),
            include_str!("../tests/fixtures/logdx-lint-react-001/raw.log"),
            include_str!("../tests/fixtures/detect-secrets-samples.jsonl"),
        ];
        let (mut checked, mut gated, mut lines, mut carried) = (0, 0, 0, 0);
        let mut anchored_matched = 0;
        for text in fixtures {
            let mut sanitizer = Sanitizer::default();
            sanitizer.find_gate_words(true);
            let log = read_str(text, &mut sanitizer);
            for log_line in &log.lines {
                let line = log_line.text.as_str();
                lines += 1;
                let expected: u128 = t
                    .anchored
                    .set
                    .matches(line.as_bytes())
                    .iter()
                    .map(|i| 1 << i)
                    .sum();
                assert_eq!(t.anchored.matching(line.as_bytes()), expected, "{line}");
                anchored_matched += u32::from(expected != 0);
                let hits = t.candidates(line, None);
                // What the sanitizer's walk found for the gate is what the
                // gate's own walk finds.
                if log_line.gate.is_some() {
                    carried += 1;
                    assert_eq!(t.candidates(line, log_line.gate.as_ref()), hits, "{line}");
                }
                let bytes = line.as_bytes();
                let expected: u128 = all_signals.matches(bytes).iter().map(|i| 1 << i).sum();
                let positive = expected & !t.negative;
                let found = t.signal_matches(bytes, &hits, false);
                if positive != 0 {
                    checked += 1;
                    assert_eq!(found, expected, "signals differ on: {line}");
                } else {
                    assert_eq!(found, 0, "{line}");
                }
                assert_eq!(t.signal_matches(bytes, &hits, true), expected, "{line}");
                if hits.signals != 0 {
                    gated += 1;
                }
                if t.verdict.is_match(bytes) {
                    assert!(hits.verdict, "gate hides a verdict on: {line}");
                }
                let tools: u64 = all_tools.matches(bytes).iter().map(|i| 1 << i).sum();
                assert_eq!(
                    t.tool_matches(bytes, &hits),
                    tools,
                    "tools differ on: {line}"
                );
            }
        }
        assert!(checked > 100, "only {checked} signal lines checked");
        assert!(
            anchored_matched > 20,
            "only {anchored_matched} anchored lines checked"
        );
        // Not a timing: the gate must leave most lines alone to be worth it.
        assert!(gated * 2 < lines, "{gated} of {lines} lines gated");
        // Lines the sanitizer changed are walked again; the others are not.
        assert!(
            carried * 10 > lines * 9,
            "{carried} of {lines} lines carried the gate"
        );
    }

    /// Every line walks the anchored DFA: it must stay small and quick to
    /// build (the tables are built on a process's first analysis).
    #[test]
    fn anchored_dfa_stays_small() {
        let t = tables();
        assert!(
            t.anchored.dfa.memory_usage() < 4 << 20,
            "{}",
            t.anchored.dfa.memory_usage()
        );
        eprintln!(
            "anchored DFA: {} alternatives, {} KiB",
            t.anchored.hits.len(),
            t.anchored.dfa.memory_usage() >> 10
        );
    }

    #[test]
    fn gitlab_after_script_does_not_hide_the_failing_section() {
        let text = "section_start:1:step_script\r\x1b[0K$ cargo test\n                    error[E0425]: cannot find value `x` in this scope\n                    section_end:2:step_script\r\x1b[0K\n                    section_start:3:after_script\r\x1b[0K$ echo done\n                    done\n                    section_end:4:after_script\r\x1b[0K\n                    ERROR: Job failed: exit code 1\n";
        let a = run(text);
        assert_eq!(a.failed_step.as_deref(), Some("step_script"));
        assert!(a.summary.starts_with("error[E0425]"), "{}", a.summary);
        assert_eq!(a.category, Category::Compile);
    }

    #[test]
    fn oom_beats_the_test_failure_it_causes() {
        let text = "running tests\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\nFAIL src/app.test.js\n● suite › renders\nTests: 1 failed, 10 passed\n";
        assert_eq!(run(text).category, Category::Oom);
    }
}
