//! Properties of the sanitizer a user relies on: idempotence, streaming in
//! bounded pieces, and safety on hostile input.

use std::io::Cursor;

use medic_analyze::sanitize::Sanitizer;

fn fixtures() -> Vec<(&'static str, String)> {
    let mut v = vec![
        (
            "github-yarn-install",
            include_str!("../fixtures/github-yarn-install.log").to_string(),
        ),
        (
            "buildkite-playwright",
            include_str!("../fixtures/buildkite-playwright.log").to_string(),
        ),
        (
            "buildkite-docker-push",
            include_str!("../fixtures/buildkite-docker-push.log").to_string(),
        ),
        (
            "gitlab-trace",
            include_str!("../fixtures/gitlab-trace-with-sections.log").to_string(),
        ),
        (
            "cidiff-fail",
            include_str!("../fixtures/cidiff-npefix_1847/fail.log").to_string(),
        ),
        (
            "logdx-lint",
            include_str!("../fixtures/logdx-lint-react-001/raw.log").to_string(),
        ),
    ];
    let samples: String = include_str!("../fixtures/detect-secrets-samples.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    v.push(("secrets-dev", samples));
    v
}

#[test]
fn sanitizing_twice_equals_sanitizing_once() {
    for (name, text) in fixtures() {
        let once = Sanitizer::default().sanitize_text(&text);
        let twice = Sanitizer::default().sanitize_text(&once);
        if once != twice {
            let diff = once
                .lines()
                .zip(twice.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n once: {a}\ntwice: {b}"))
                .unwrap_or_default();
            panic!("{name}: not idempotent{diff}");
        }
        // And the second pass finds nothing new to count.
        let mut second = Sanitizer::default();
        second.sanitize_text(&once);
        assert_eq!(
            second.report().redactions,
            0,
            "{name}: {:?}",
            second.report().by_type
        );
    }
}

#[test]
fn stream_equals_whole_text_on_ordinary_logs() {
    for (name, text) in fixtures() {
        let whole = Sanitizer::default().sanitize_text(&text.replace("\r\n", "\n"));
        let mut out = Vec::new();
        Sanitizer::default()
            .sanitize_stream(
                Cursor::new(text.replace("\r\n", "\n").into_bytes()),
                &mut out,
            )
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), whole, "{name}");
    }
}

#[test]
fn a_huge_single_line_is_streamed_and_still_redacted() {
    // 8 MiB on one line with a token every ~64 KiB: processed in 1 MiB pieces cut at
    // spaces, so no token straddles a cut.
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let mut line = String::with_capacity(8 << 20);
    while line.len() < 8 << 20 {
        line.push_str(&"x".repeat(64 * 1024 - 60));
        line.push(' ');
        line.push_str(token);
        line.push(' ');
    }
    let mut out = Vec::new();
    let mut s = Sanitizer::default();
    s.sanitize_stream(Cursor::new(line.as_bytes()), &mut out)
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains(token));
    assert_eq!(
        out.matches("[REDACTED:github-pat]").count(),
        line.matches(token).count()
    );
    assert!(
        !out.contains('\n'),
        "no newline may be invented inside a line"
    );
}

#[test]
fn binary_and_invalid_utf8_do_not_panic() {
    let mut bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    bytes.extend_from_slice(
        b"\nexport TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n\xff\xfe\x00",
    );
    let mut out = Vec::new();
    Sanitizer::default()
        .sanitize_stream(Cursor::new(bytes), &mut out)
        .unwrap();
    assert!(!String::from_utf8_lossy(&out).contains("ghp_abcdef"));
    let mut empty = Vec::new();
    Sanitizer::default()
        .sanitize_stream(Cursor::new(Vec::new()), &mut empty)
        .unwrap();
    assert!(empty.is_empty());
}
