//! Tokens, cost and the budget of one run.
//!
//! One [`super::Provider`] serves one run, so its budget is the run's: it is
//! checked before every call (so a spent budget stops the next call, not the one
//! in flight) and fed with each answer's usage. The call count is taken when a call
//! starts, so concurrent calls cannot slip past `max_calls` together.

use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ProviderError;

/// Limits for one run; a call is refused once any of them is reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Most calls (a call retried after a 429 or 5xx counts once).
    #[serde(default)]
    pub max_calls: Option<u64>,
    /// Most tokens, input and output together.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Most money in US dollars, computed with `price` (which is then required).
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
}

/// What a model costs, in US dollars per million tokens, for the cost figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per million input (prompt) tokens.
    pub input_usd_per_million: f64,
    /// Dollars per million output (completion) tokens.
    pub output_usd_per_million: f64,
}

impl Price {
    /// The cost of a call with these token counts.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_million
            + output_tokens as f64 * self.output_usd_per_million)
            / 1_000_000.0
    }
}

/// Tokens and cost of one call, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CallUsage {
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
    /// Dollars, when a `price` is configured.
    pub cost_usd: Option<f64>,
}

impl CallUsage {
    /// Adds another call's usage (for work that took several calls).
    pub fn add(&mut self, other: &CallUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// Calls, tokens and cost of a run so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunUsage {
    /// Calls started (each counts once, however often it was retried).
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars, when a `price` is configured.
    pub cost_usd: Option<f64>,
}

impl RunUsage {
    /// Input and output tokens together.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// The running total of one run, checked against its limits.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: BudgetConfig,
    used: Mutex<RunUsage>,
}

impl Budget {
    /// A budget with these limits; `priced` says whether costs will be known.
    pub(crate) fn new(limits: BudgetConfig, priced: bool) -> Result<Budget, ProviderError> {
        if let Some(max) = limits.max_cost_usd {
            if !priced {
                return Err(ProviderError::Config {
                    field: "budget.max_cost_usd",
                    message: "a cost limit needs `price` (input_usd_per_million and \
                              output_usd_per_million) to compute costs"
                        .into(),
                });
            }
            if !(max.is_finite() && max >= 0.0) {
                return Err(ProviderError::Config {
                    field: "budget.max_cost_usd",
                    message: format!("expected a number of dollars, 0 or more; got {max}"),
                });
            }
        }
        let used = RunUsage {
            cost_usd: priced.then_some(0.0),
            ..RunUsage::default()
        };
        Ok(Budget {
            limits,
            used: Mutex::new(used),
        })
    }

    /// Checks every limit and, when none is reached, counts a call.
    pub(crate) fn start_call(&self) -> Result<(), ProviderError> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(max) = self.limits.max_calls
            && used.calls >= max
        {
            return Err(spent("calls", used.calls.to_string(), max.to_string()));
        }
        if let Some(max) = self.limits.max_tokens
            && used.tokens() >= max
        {
            return Err(spent("tokens", used.tokens().to_string(), max.to_string()));
        }
        if let (Some(max), Some(cost)) = (self.limits.max_cost_usd, used.cost_usd)
            && cost >= max
        {
            return Err(spent(
                "cost_usd",
                format!("${cost:.4}"),
                format!("${max:.4}"),
            ));
        }
        used.calls += 1;
        Ok(())
    }

    /// Adds an answered call's tokens and cost.
    pub(crate) fn record(&self, call: &CallUsage) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.input_tokens += call.input_tokens;
        used.output_tokens += call.output_tokens;
        if let (Some(total), Some(cost)) = (used.cost_usd.as_mut(), call.cost_usd) {
            *total += cost;
        }
    }

    /// The totals so far.
    pub(crate) fn usage(&self) -> RunUsage {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn spent(what: &'static str, used: String, limit: String) -> ProviderError {
    ProviderError::BudgetSpent { what, used, limit }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(input: u64, output: u64, cost: Option<f64>) -> CallUsage {
        CallUsage {
            input_tokens: input,
            output_tokens: output,
            cost_usd: cost,
        }
    }

    #[test]
    fn price_is_per_million_tokens() {
        let p = Price {
            input_usd_per_million: 0.15,
            output_usd_per_million: 0.60,
        };
        assert!((p.cost(1_000_000, 0) - 0.15).abs() < 1e-12);
        assert!((p.cost(2000, 500) - 0.0006).abs() < 1e-12);
    }

    #[test]
    fn each_limit_stops_the_next_call() {
        let b = Budget::new(
            BudgetConfig {
                max_calls: Some(2),
                ..BudgetConfig::default()
            },
            false,
        )
        .unwrap();
        b.start_call().unwrap();
        b.start_call().unwrap();
        let e = b.start_call().unwrap_err();
        assert!(
            matches!(e, ProviderError::BudgetSpent { what: "calls", .. }),
            "{e}"
        );
        assert_eq!(b.usage().calls, 2);

        let b = Budget::new(
            BudgetConfig {
                max_tokens: Some(100),
                ..BudgetConfig::default()
            },
            false,
        )
        .unwrap();
        b.start_call().unwrap();
        b.record(&call(60, 39, None));
        b.start_call().unwrap();
        b.record(&call(1, 0, None));
        let e = b.start_call().unwrap_err();
        assert!(e.to_string().contains("100 of 100 tokens"), "{e}");

        let b = Budget::new(
            BudgetConfig {
                max_cost_usd: Some(0.01),
                ..BudgetConfig::default()
            },
            true,
        )
        .unwrap();
        b.start_call().unwrap();
        b.record(&call(10, 10, Some(0.004)));
        b.start_call().unwrap();
        b.record(&call(10, 10, Some(0.007)));
        let e = b.start_call().unwrap_err();
        assert!(e.to_string().contains("$0.0110 of $0.0100 cost_usd"), "{e}");
        let u = b.usage();
        assert_eq!((u.calls, u.input_tokens, u.output_tokens), (2, 20, 20));
        assert!((u.cost_usd.unwrap() - 0.011).abs() < 1e-12);
    }

    #[test]
    fn a_cost_limit_without_a_price_is_a_config_error() {
        let e = Budget::new(
            BudgetConfig {
                max_cost_usd: Some(1.0),
                ..BudgetConfig::default()
            },
            false,
        )
        .unwrap_err();
        assert!(
            e.is_config() && e.to_string().contains("needs `price`"),
            "{e}"
        );
        let e = Budget::new(
            BudgetConfig {
                max_cost_usd: Some(f64::NAN),
                ..BudgetConfig::default()
            },
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("0 or more"), "{e}");
        // Without a price the run's cost is unknown, not zero.
        let b = Budget::new(BudgetConfig::default(), false).unwrap();
        assert_eq!(b.usage().cost_usd, None);
    }

    #[test]
    fn call_usage_adds_up() {
        let mut a = call(1, 2, Some(0.5));
        a.add(&call(3, 4, Some(0.25)));
        assert_eq!(a, call(4, 6, Some(0.75)));
        let mut b = call(1, 1, None);
        b.add(&call(1, 1, None));
        assert_eq!(b.cost_usd, None);
    }
}
