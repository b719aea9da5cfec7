//! medic-analyze: turns a failed CI build's log into something a person or the
//! decide step can act on — with every secret removed first.
//!
//! It is one library shared by the `medic analyze` / `medic sanitize` commands and
//! the `analyze` workflow action, so that both see the same excerpt, category and
//! fingerprint. The pipeline is streaming: bytes → lines ([`lines`]) → sanitized
//! ([`sanitize`]) → cleaned of CI markup ([`read`]) → ranked and classified
//! ([`triage`]) → rendered ([`report`]); [`cache`] remembers what was seen.

pub mod fingerprint;
pub mod lines;
pub mod read;
pub mod sanitize;
pub mod triage;
