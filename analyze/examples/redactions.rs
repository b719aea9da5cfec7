//! Shows what the sanitizer redacts in a set of logs, to review false positives:
//! `cargo run -p medic-analyze --example redactions -- LOG…`. Prints counts per
//! rule and, per rule, a few redacted lines (after redaction: no secret is shown).

use std::collections::BTreeMap;

use medic_analyze::sanitize::Sanitizer;

fn main() {
    let mut samples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut total = Sanitizer::default();
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("cannot read {path}");
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            let before = total.report().by_type.clone();
            let out = total.sanitize_line(line);
            if out != line {
                for (rule, n) in &total.report().by_type {
                    if before.get(rule) != Some(n) {
                        let s = samples.entry(rule.clone()).or_default();
                        if s.len() < 4 {
                            s.push(out.chars().take(160).collect());
                        }
                    }
                }
            }
        }
    }
    for (rule, n) in &total.report().by_type {
        println!("{rule}: {n}");
        for s in samples.get(rule).into_iter().flatten() {
            println!("    {s}");
        }
    }
}
