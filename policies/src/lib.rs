//! medic-policies: Medic's decision engine.
//!
//! A decision turns an analysed failure, and when there is one a proposed change and its
//! review, into one [`Outcome`]: auto_fix, open_pr, retry, schedule, escalate or ignore.
//! It exists so that Medic can be left alone safely: every outcome is explained factor
//! by factor ([`score`]), comes from a readable policy ([`policy`]: weighted signals,
//! ordered rules in the workflows' expression language, guards and approvers), is
//! bounded by limits that hold across restarts and many workers ([`ledger`], backed by
//! the engine's store), and improves as outcomes are reported (the history signal).

pub mod cases;
pub mod clock;
pub mod decide;
pub mod input;
pub mod ledger;
pub mod outcome;
pub mod policy;
pub mod raw;
pub mod score;
pub mod window;

pub use clock::{Clock, FixedClock, SystemClock};
pub use decide::{DecideError, Decider, Decision, GuardTrace, RuleTrace};
pub use input::{Analysis, Change, DecisionInput, Level, Review};
pub use ledger::{Ledger, MemoryLedger};
pub use outcome::Outcome;
pub use policy::{Approvers, Policy, load_file, load_str};
pub use score::{Factor, History};
