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

/// Benchmark hook for `medic bench`: sanitizes and analyses `log` (raw bytes, any
/// CI format) in one streaming pass and returns the number of lines and the
/// analysis. Time it from the caller; it does no timing itself.
pub fn bench_sanitize_and_analyze(log: &[u8]) -> (u64, triage::Analysis) {
    let mut sanitizer = sanitize::Sanitizer::default();
    let analysis = triage::analyze_bytes(log, &mut sanitizer, None, &triage::Options::default())
        .unwrap_or_else(|e| unreachable!("reading from memory cannot fail: {e}"));
    (analysis.stats.lines, analysis)
}
pub mod cache;
pub mod report;
