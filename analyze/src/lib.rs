//! medic-analyze: turns a failed CI build's log into something a person or the
//! decide step can act on — with every secret removed first.
//!
//! It is one library shared by the `medic analyze` / `medic sanitize` commands and
//! the `analyze` workflow action, so that both see the same excerpt, category and
//! fingerprint. The pipeline streams: bytes → lines ([`lines`]) → cleaned of CI
//! markup ([`read`]) → sanitized ([`sanitize`]) → ranked and classified
//! ([`triage`], with [`fingerprint`]) → rendered ([`report`]); [`cache`] remembers
//! what was seen; [`fetch`] turns CI URLs into API calls, sent by `http` (feature
//! `http`). `provider` (feature `http` too) asks an AI model to explain a failure,
//! an optional enrichment that nothing else depends on. See docs/analyze.md for
//! the JSON schema and measured figures.

#![warn(missing_docs)]

pub mod cache;
pub mod fetch;
pub mod fingerprint;
#[cfg(feature = "http")]
pub mod http;
mod keywords;
pub mod lines;
mod literals;
#[cfg(feature = "http")]
pub mod provider;
#[cfg(test)]
mod random_lines;
pub mod read;
pub mod report;
pub mod sanitize;
#[cfg(feature = "testing")]
pub mod testing;
pub mod triage;

/// Benchmark hook for `medic bench`: sanitizes and analyses `log` (raw bytes, any
/// CI format, gzip or zip) in one streaming pass and returns the number of lines
/// and the analysis. Time it from the caller; it does no timing itself.
pub fn bench_sanitize_and_analyze(log: &[u8]) -> Result<(u64, triage::Analysis), read::ReadError> {
    let mut sanitizer = sanitize::Sanitizer::default();
    let analysis = triage::analyze_bytes(log, &mut sanitizer, None, &triage::Options::default())?;
    Ok((analysis.stats.lines, analysis))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_hook_returns_an_error_for_a_broken_archive() {
        assert!(super::bench_sanitize_and_analyze(b"PK\x03\x04 not a zip").is_err());
        let (lines, a) = super::bench_sanitize_and_analyze(b"error: boom\n").unwrap();
        assert_eq!((lines, a.key_lines.len()), (1, 1));
    }
}
