//! The typed workflow: what validation produces and the runtime executes.
//!
//! Every value here has been checked: durations are parsed, cron expressions compile,
//! `needs` name existing steps, the graph has no cycle and every template parses.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::action::{ErrorKind, InputType};
use crate::raw::WebhookSource;

/// A validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The file it came from (for messages), or `<inline>`.
    pub path: PathBuf,
    /// The YAML text it was parsed from; stored with each run so that a resumed run
    /// executes exactly what was started, even if the file changed since.
    pub source: String,
    /// What starts it.
    pub triggers: Triggers,
    /// Declared inputs, in file order.
    pub inputs: IndexMap<String, InputSpec>,
    /// Environment for every step.
    pub env: IndexMap<String, String>,
    /// Names of secrets resolved from the environment.
    pub secrets: Vec<String>,
    /// All steps: main steps, then `on_failure`, then `finally`, each in file order.
    pub steps: Vec<Step>,
    /// Steps of one run that may run at once.
    pub max_parallel: usize,
}

impl Workflow {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// What starts a workflow.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    /// Whether it may be started by hand. True when `on` is absent.
    pub manual: bool,
    /// Cron schedules.
    pub schedules: Vec<Schedule>,
    /// Webhook sources.
    pub webhooks: Vec<WebhookTrigger>,
}

/// A checked cron schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as written.
    pub cron: String,
    /// The time zone it is read in.
    pub timezone: chrono_tz::Tz,
    /// Inputs for the runs it starts.
    pub inputs: IndexMap<String, Value>,
}

/// A webhook trigger.
#[derive(Debug, Clone)]
pub struct WebhookTrigger {
    /// Who sends it.
    pub source: WebhookSource,
    /// Accepted event names; all when empty.
    pub events: Vec<String>,
    /// Expression over `trigger` that must hold.
    pub condition: Option<String>,
}

/// A declared input.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// Its type.
    pub kind: InputType,
    /// Whether it must be given when there is no default.
    pub required: bool,
    /// Its default value.
    pub default: Option<Value>,
    /// What it means.
    pub description: Option<String>,
}

/// Which block of the file a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `steps:`
    Main,
    /// `on_failure:` runs after the main steps when the run is failing.
    OnFailure,
    /// `finally:` runs last, always.
    Finally,
}

impl Phase {
    /// The YAML key of the block.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Main => "steps",
            Phase::OnFailure => "on_failure",
            Phase::Finally => "finally",
        }
    }
}

/// A step's `if:`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The expression without its `{{ }}`.
    pub expr: String,
    /// Whether it calls `always()`, `failure()` or `cancelled()`: such a condition is
    /// evaluated even when a needed step did not succeed (GitHub Actions semantics).
    pub checks_status: bool,
}

/// A step's `for_each`.
#[derive(Debug, Clone)]
pub enum ForEach {
    /// A literal list.
    Items(Vec<Value>),
    /// An expression that must evaluate to a list.
    Expr(String),
}

/// A checked step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its id (the key in the file).
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Which block it is in.
    pub phase: Phase,
    /// The action it runs.
    pub uses: String,
    /// The action's config, templates not yet rendered.
    pub with: serde_json::Map<String, Value>,
    /// Steps that must finish first (same phase, or main steps for later phases).
    pub needs: Vec<String>,
    /// Its `if:`.
    pub condition: Option<Condition>,
    /// Fan-out.
    pub for_each: Option<ForEach>,
    /// Items run at once in a fan-out.
    pub max_parallel: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Whether its failure is tolerated.
    pub continue_on_error: bool,
    /// Step environment (over the workflow's).
    pub env: IndexMap<String, String>,
}

/// When and how to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all.
    pub max_attempts: u32,
    /// First delay.
    pub initial: Duration,
    /// Growth per attempt.
    pub factor: f64,
    /// Longest delay.
    pub max: Duration,
    /// Randomise delays.
    pub jitter: bool,
    /// Retried kinds; `None` means the default set.
    pub on: Option<Vec<ErrorKind>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(300),
            jitter: true,
            on: None,
        }
    }
}

impl RetryPolicy {
    /// Whether a failure of this kind after `attempt` attempts gets another one.
    pub fn should_retry(&self, kind: ErrorKind, attempt: u32) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        match &self.on {
            Some(kinds) => kinds.contains(&kind),
            None => !matches!(
                kind,
                ErrorKind::Rejected | ErrorKind::Config | ErrorKind::Cancelled
            ),
        }
    }

    /// The delay before attempt `attempt + 1`. `unit` in [0, 1) drives the jitter, so
    /// tests can pin it.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self
            .factor
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let secs = if self.jitter {
            base * (0.5 + 0.5 * unit.clamp(0.0, 1.0))
        } else {
            base
        };
        Duration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial: Duration::from_secs(1),
            factor: 3.0,
            max: Duration::from_secs(10),
            jitter: false,
            on: None,
        };
        assert_eq!(p.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(p.delay(2, 0.0), Duration::from_secs(3));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(9));
        assert_eq!(p.delay(4, 0.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let p = RetryPolicy {
            initial: Duration::from_secs(4),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(1, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay(1, 1.0), Duration::from_secs(4));
    }

    #[test]
    fn retry_respects_kinds_and_attempts() {
        let p = RetryPolicy {
            max_attempts: 3,
            on: Some(vec![ErrorKind::Timeout]),
            ..Default::default()
        };
        assert!(p.should_retry(ErrorKind::Timeout, 1));
        assert!(!p.should_retry(ErrorKind::Failed, 1));
        assert!(!p.should_retry(ErrorKind::Timeout, 3));
        let d = RetryPolicy {
            max_attempts: 2,
            ..Default::default()
        };
        assert!(d.should_retry(ErrorKind::Failed, 1));
        assert!(!d.should_retry(ErrorKind::Rejected, 1));
    }
}
