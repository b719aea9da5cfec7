//! No panic on any input: random logs built from the fragments that exercise the
//! parsers' edge cases (markers cut short, multi-byte text at odd offsets, escape
//! sequences without terminators, key blocks without ends), through every path.

use medic_analyze::read::{ReadOptions, Source, read_log};
use medic_analyze::report;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Baseline, Options};

const FRAGMENTS: &[&str] = &[
    "##[group]",
    "##[endgroup]",
    "##[error]",
    "##[",
    "::error file=x::",
    "[command]",
    "section_start:",
    "section_start:17:",
    "section_end:1:x",
    "\r\x1b[0K",
    "travis_fold:start:",
    "travis_time:end:",
    "\x1b[",
    "\x1b]8;;",
    "\x1b_bk;t=17\x07",
    "\x1b",
    "\r",
    "\t",
    "--- ",
    "+++ ",
    "~~~ ",
    "--- FAIL: ",
    "2024-01-01T00:00:00.0000000Z ",
    "2024-01-01T00:0",
    "é",
    "✓",
    "●",
    "│",
    "\u{fffd}",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END",
    "MIIEv",
    "password=",
    "password: ",
    "token:",
    "://u:p@h",
    "postgres://a:",
    "ghp_",
    "AKIA",
    "eyJhbGciOiJIUzI1NiJ9.eyJ",
    "[REDACTED:",
    "]",
    "@",
    "1.2.3.4",
    "203.0.113.9",
    "error: ",
    "error[E0308]: ",
    "FAILED",
    "panicked at",
    "npm ERR! ",
    " --> src/a.rs:1:2",
    "Process completed with exit code 1.",
    "Post job cleanup.",
    "Traceback (most recent call last)",
    "File \"x.py\", line 3",
    "at a.b(C.java:9)",
    "No space left on device",
    "\"auth\": \"",
    "<password>",
    "x",
    " ",
    "0",
    "::",
    ":",
    "=",
    "'",
    "\"",
    "`",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn random_log(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..(rng.next() % 60) {
        for _ in 0..(rng.next() % 8) {
            out.extend_from_slice(
                FRAGMENTS[(rng.next() % FRAGMENTS.len() as u64) as usize].as_bytes(),
            );
        }
        if rng.next().is_multiple_of(17) {
            // Raw bytes, possibly cutting a UTF-8 sequence.
            out.push((rng.next() % 256) as u8);
        }
        out.push(b'\n');
    }
    out
}

#[test]
fn random_logs_never_panic_and_stay_within_budget() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let options = Options {
        max_key_lines: 12,
        ..Options::default()
    };
    for _ in 0..400 {
        let bytes = random_log(&mut rng);
        let log = read_log(
            &Source::Bytes(bytes.clone()),
            &mut Sanitizer::default(),
            &ReadOptions::default(),
        )
        .expect("plain bytes always read");
        let base = Baseline::from_log(&log);
        let a = triage::analyze_with_baseline(&log, Some(&base), &options);
        assert!(a.key_lines.len() <= 12);
        let _ = (
            report::terminal(&a, true),
            report::markdown(&a),
            report::html(&a),
            report::json(&a),
        );
        let b = triage::analyze_bytes(&bytes, &mut Sanitizer::default(), None, &options)
            .expect("reads");
        assert_eq!(a.stats.lines, b.stats.lines);
        let mut out = Vec::new();
        Sanitizer::default()
            .sanitize_stream(bytes.as_slice(), &mut out)
            .expect("in memory");
    }
}
