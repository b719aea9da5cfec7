//! Triage on real logs: what a user would check first.

use medic_analyze::read::{ReadOptions, Source, read_log, read_str};
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Baseline, Category, Options, Role};

fn analyze(text: &str) -> triage::Analysis {
    triage::analyze(
        &read_str(text, &mut Sanitizer::default()),
        &Options::default(),
    )
}

#[test]
fn github_yarn_install_failure() {
    let a = analyze(include_str!("../fixtures/github-yarn-install.log"));
    assert_eq!(a.category, Category::Dependency, "{a:?}");
    assert_eq!(a.tool.as_deref(), Some("yarn"));
    assert!(a.summary.contains("incompatible"), "{}", a.summary);
    assert_eq!(
        a.failed_step.as_deref(),
        Some("Run yarn install --frozen-lockfile")
    );
    // Nothing from the post-job cleanup explains the failure.
    for k in a.key_lines.iter().filter(|k| k.role == Role::Error) {
        assert!(!k.text.contains("git config"), "{k:?}");
        assert!(!k.text.contains("orphan"), "{k:?}");
    }
    // Original line numbers are kept.
    let raw: Vec<&str> = include_str!("../fixtures/github-yarn-install.log")
        .lines()
        .collect();
    for k in &a.key_lines {
        assert!(
            raw[(k.line - 1) as usize].ends_with(k.text.as_str()),
            "{k:?}"
        );
    }
}

#[test]
fn buildkite_rustfmt_diff_is_lint() {
    let a = analyze(include_str!("../fixtures/buildkite-rustfmt.log"));
    assert_eq!(a.category, Category::Lint, "{a:?}");
    assert_eq!(a.tool.as_deref(), Some("rustfmt"));
}

#[test]
fn cidiff_maven_compile_error_is_in_the_excerpt() {
    let fail = include_str!("../fixtures/cidiff-npefix_1847/fail.log");
    let a = analyze(fail);
    assert_eq!(a.category, Category::Compile, "{a:?}");
    assert_eq!(a.tool.as_deref(), Some("maven"));
    let lines: Vec<u64> = a.key_lines.iter().map(|k| k.line).collect();
    // groundtruth: E 917, E 926-936, numbered like Java's readLine (a lone CR ends
    // a line); we keep a CR-redrawn line as one, so map the label onto our lines.
    let ours = |universal: usize| -> u64 {
        let mut n = 1u64;
        let mut u = 1usize;
        let b = fail.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if u == universal {
                break;
            }
            if c == b'\n' {
                n += 1;
                u += 1;
            } else if c == b'\r' && b.get(i + 1) != Some(&b'\n') {
                u += 1;
            }
        }
        n
    };
    let e917 = ours(917);
    assert!(lines.contains(&e917), "{e917} not in {lines:?}");
    for u in 926..=936 {
        assert!(lines.contains(&ours(u)), "{} not in {lines:?}", ours(u));
    }
    assert!(
        a.locations
            .iter()
            .any(|l| l.file.ends_with("VariableFinder.java") && l.line == 107),
        "{:?}",
        a.locations
    );

    // With the passing log as baseline the excerpt gets no worse and is smaller.
    let pass = include_str!("../fixtures/cidiff-npefix_1847/pass.log");
    let base = Baseline::from_log(&read_str(pass, &mut Sanitizer::default()));
    let b = triage::analyze_with_baseline(
        &read_str(fail, &mut Sanitizer::default()),
        Some(&base),
        &Options::default(),
    );
    assert!(b.key_lines.iter().any(|k| k.line == e917));
    assert!(b.key_lines.len() <= a.key_lines.len());
}

#[test]
fn logdx_prettier_check_is_lint() {
    let a = analyze(include_str!("../fixtures/logdx-lint-react-001/raw.log"));
    assert_eq!(a.category, Category::Lint, "{a:?}");
}

#[test]
fn reruns_share_a_fingerprint_and_other_failures_do_not() {
    let fail = include_str!("../fixtures/github-yarn-install.log");
    // A rerun: other timestamps, durations and temp dirs.
    let rerun = fail.replace("2026-02-22T14:2", "2026-03-01T09:4").replace(
        "9e154743-8321-4ff2-9885-acc6c8b22fb2",
        "0b2b4c1e-1111-4ff2-9885-acc6c8b22fb2",
    );
    assert_eq!(analyze(fail).fingerprint, analyze(&rerun).fingerprint);
    let other = include_str!("../fixtures/cidiff-npefix_1847/fail.log");
    assert_ne!(analyze(fail).fingerprint, analyze(other).fingerprint);
}

#[test]
fn bad_inputs_give_an_analysis_or_an_error_never_a_panic() {
    use std::io::Write;
    for bytes in [
        Vec::new(),
        vec![0u8; 10_000],
        (0..100_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
            .collect(),
        b"\x1f\x8b\x08\x00garbage".to_vec(),
        b"PK\x03\x04 not really a zip".to_vec(),
    ] {
        let r = triage::analyze_source(
            &Source::Bytes(bytes),
            &mut Sanitizer::default(),
            None,
            &Options::default(),
        );
        if let Ok(a) = r {
            assert!(a.key_lines.len() <= 40);
        }
    }
    // Truncated gzip of a real log: best effort, with a warning.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(include_str!("../fixtures/github-yarn-install.log").as_bytes())
        .unwrap();
    let bytes = gz.finish().unwrap();
    let cut = bytes[..bytes.len() / 2].to_vec();
    let log = read_log(
        &Source::Bytes(cut),
        &mut Sanitizer::default(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert!(!log.warnings.is_empty());
    assert!(!log.lines.is_empty());
    let missing = read_log(
        &Source::File("/nonexistent/log.txt".into()),
        &mut Sanitizer::default(),
        &ReadOptions::default(),
    );
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/log.txt")
    );
}
