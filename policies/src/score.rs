//! Confidence: four signals between 0 and 1, combined by the policy's weights.
//!
//! The formulas (also in docs/policies.md):
//! - **certainty** = the analysis' confidence, clamped to [0, 1] (NaN reads as 0).
//! - **history**: reported fix outcomes, smoothed twice so that little evidence stays
//!   near the middle. The category's rate with a uniform Beta(1, 1) prior,
//!   `m = (s_c + 1) / (n_c + 2)`, is the prior for the fingerprint's rate with a weight
//!   of two observations: `history = (s_f + 2m) / (n_f + 2)`. No data gives 0.5; one
//!   success (counted in both) gives 0.78, not 1.
//! - **change_size** = `1 / (1 + lines / 100) × 1 / (1 + (files − 1) / 10)`: a 10-line
//!   one-file change scores 0.91, 100 lines 0.5, 50 lines over 5 files 0.48. Without a
//!   change the signal is absent.
//! - **impact**: low 1.0, medium 0.6, high 0.3, critical 0.0 (medium when not given).
//!
//! `confidence = Σ weight × value / Σ weight` over the signals present, so an absent
//! change neither helps nor hurts. If no weighted signal is present, confidence is the
//! certainty.

use serde::Serialize;

use crate::input::{DecisionInput, Level};
use crate::policy::Weights;

/// Reported outcomes of past fixes, as counted by the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct History {
    /// Successes for this fingerprint.
    pub fingerprint_successes: u64,
    /// Failures for this fingerprint.
    pub fingerprint_failures: u64,
    /// Successes in this category.
    pub category_successes: u64,
    /// Failures in this category.
    pub category_failures: u64,
}

/// One signal as it entered the confidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// `certainty`, `history`, `change_size` or `impact`.
    pub name: &'static str,
    /// Its weight in the policy.
    pub weight: f64,
    /// Its value, 0 to 1; `None` when its inputs are missing.
    pub value: Option<f64>,
    /// weight × value / Σ weights present: its share of the confidence.
    pub contribution: f64,
    /// How the value was computed, for people.
    pub detail: String,
}

/// The signals and the confidence they combine into.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scoring {
    /// The four factors, in a fixed order.
    pub factors: Vec<Factor>,
    /// The combined confidence, 0 to 1.
    pub confidence: f64,
}

impl Scoring {
    /// A factor's value by name.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.factors
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.value)
    }
}

/// Clamp to [0, 1], reading NaN as 0.
fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// The history signal (see the module docs).
pub fn history_signal(h: &History) -> f64 {
    let (cs, cn) = (
        h.category_successes as f64,
        (h.category_successes + h.category_failures) as f64,
    );
    let (fs, fn_) = (
        h.fingerprint_successes as f64,
        (h.fingerprint_successes + h.fingerprint_failures) as f64,
    );
    let prior = (cs + 1.0) / (cn + 2.0);
    (fs + 2.0 * prior) / (fn_ + 2.0)
}

/// The change-size signal (see the module docs).
pub fn change_size_signal(lines: u64, files: u64) -> f64 {
    let files = files.max(1) as f64;
    1.0 / (1.0 + lines as f64 / 100.0) * (1.0 / (1.0 + (files - 1.0) / 10.0))
}

/// The impact signal.
pub fn impact_signal(impact: Level) -> f64 {
    match impact {
        Level::Low => 1.0,
        Level::Medium => 0.6,
        Level::High => 0.3,
        Level::Critical => 0.0,
    }
}

/// Compute every factor and the confidence.
pub fn score(input: &DecisionInput, history: &History, weights: &Weights) -> Scoring {
    let a = &input.analysis;
    let certainty = unit(a.confidence);
    let hist = history_signal(history);
    let change = input
        .change
        .as_ref()
        .map(|c| (change_size_signal(c.lines(), c.file_count()), c));
    let impact = impact_signal(a.impact());
    let mut factors = vec![
        Factor {
            name: "certainty",
            weight: weights.certainty,
            value: Some(certainty),
            contribution: 0.0,
            detail: format!("analysis confidence {:.2}", a.confidence),
        },
        Factor {
            name: "history",
            weight: weights.history,
            value: Some(hist),
            contribution: 0.0,
            detail: format!(
                "fingerprint {}✔ {}✘, category {}✔ {}✘",
                history.fingerprint_successes,
                history.fingerprint_failures,
                history.category_successes,
                history.category_failures
            ),
        },
        Factor {
            name: "change_size",
            weight: weights.change_size,
            value: change.map(|(v, _)| v),
            contribution: 0.0,
            detail: match change {
                Some((_, c)) => format!(
                    "{} line{} in {} file{}",
                    c.lines(),
                    if c.lines() == 1 { "" } else { "s" },
                    c.file_count(),
                    if c.file_count() == 1 { "" } else { "s" }
                ),
                None => "no change given: left out".to_string(),
            },
        },
        Factor {
            name: "impact",
            weight: weights.impact,
            value: Some(impact),
            contribution: 0.0,
            detail: format!(
                "impact {}{}",
                a.impact().as_str(),
                if a.impact.is_none() { " (default)" } else { "" }
            ),
        },
    ];
    let total: f64 = factors
        .iter()
        .filter(|f| f.value.is_some())
        .map(|f| f.weight)
        .sum();
    let confidence = if total > 0.0 {
        for f in &mut factors {
            f.contribution = f.value.map_or(0.0, |v| f.weight * v / total);
        }
        unit(factors.iter().map(|f| f.contribution).sum())
    } else {
        certainty
    };
    Scoring {
        factors,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Analysis, Change};
    use crate::policy::DEFAULT_WEIGHTS;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn history_is_smoothed_so_one_success_is_not_certainty() {
        assert!(close(history_signal(&History::default()), 0.5));
        let one = History {
            fingerprint_successes: 1,
            category_successes: 1,
            ..History::default()
        };
        // prior (1+1)/(1+2) = 2/3; (1 + 4/3) / 3 = 7/9.
        assert!(close(history_signal(&one), 7.0 / 9.0));
        let many = History {
            fingerprint_successes: 50,
            category_successes: 50,
            ..History::default()
        };
        assert!(history_signal(&many) > 0.98 && history_signal(&many) < 1.0);
        let failing = History {
            fingerprint_failures: 3,
            category_successes: 10,
            category_failures: 3,
            ..History::default()
        };
        assert!(
            history_signal(&failing) < 0.4,
            "{}",
            history_signal(&failing)
        );
    }

    #[test]
    fn change_size_falls_with_lines_and_files() {
        assert!(close(change_size_signal(0, 1), 1.0));
        assert!(close(change_size_signal(100, 1), 0.5));
        assert!(close(change_size_signal(0, 0), 1.0), "0 files reads as 1");
        assert!(change_size_signal(10, 1) > change_size_signal(10, 5));
        assert!(change_size_signal(10, 1) > change_size_signal(200, 1));
    }

    #[test]
    fn confidence_is_the_weighted_mean_of_present_signals() {
        let mut a = Analysis::new("lint", 0.9);
        a.impact = Some(Level::Low);
        let mut input = DecisionInput::from_analysis(a);
        let s = score(&input, &History::default(), &DEFAULT_WEIGHTS);
        // Without a change: (0.4×0.9 + 0.3×0.5 + 0.1×1.0) / 0.8.
        assert!(
            close(s.confidence, (0.36 + 0.15 + 0.1) / 0.8),
            "{}",
            s.confidence
        );
        assert_eq!(s.value("change_size"), None);
        let sum: f64 = s.factors.iter().map(|f| f.contribution).sum();
        assert!(close(sum, s.confidence));

        input.change = Some(Change {
            lines_added: 100,
            files: Some(1),
            ..Change::default()
        });
        let s = score(&input, &History::default(), &DEFAULT_WEIGHTS);
        assert!(
            close(s.confidence, 0.36 + 0.15 + 0.2 * 0.5 + 0.1),
            "{}",
            s.confidence
        );
    }

    #[test]
    fn out_of_range_certainty_is_clamped_and_nan_is_zero() {
        let w = Weights {
            certainty: 1.0,
            history: 0.0,
            change_size: 0.0,
            impact: 0.0,
        };
        let s = score(
            &DecisionInput::from_analysis(Analysis::new("x", 7.0)),
            &History::default(),
            &w,
        );
        assert!(close(s.confidence, 1.0));
        let s = score(
            &DecisionInput::from_analysis(Analysis::new("x", f64::NAN)),
            &History::default(),
            &w,
        );
        assert!(close(s.confidence, 0.0));
    }

    #[test]
    fn only_absent_signals_weighted_falls_back_to_certainty() {
        let w = Weights {
            certainty: 0.0,
            history: 0.0,
            change_size: 1.0,
            impact: 0.0,
        };
        let s = score(
            &DecisionInput::from_analysis(Analysis::new("x", 0.3)),
            &History::default(),
            &w,
        );
        assert!(close(s.confidence, 0.3));
    }
}
