//! Recall and precision of the sanitizer on labelled strings from detect-secrets'
//! test suite (tests/fixtures/detect-secrets-samples.jsonl). Printed, and held above
//! a floor so that a rule change that loses coverage fails.

use medic_analyze::sanitize::Sanitizer;
use serde_json::Value;

#[test]
fn recall_and_precision_on_secrets_dev() {
    let data = include_str!("../fixtures/detect-secrets-samples.jsonl");
    let (mut tp, mut fp, mut fneg, mut tn) = (0u32, 0u32, 0u32, 0u32);
    let mut misses = Vec::new();
    let mut false_alarms = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line).unwrap();
        let text = row["text"].as_str().unwrap();
        let positive = row["kind"] == "tp";
        let plugin = row["plugin"].as_str().unwrap().to_string();
        let flagged = Sanitizer::default().sanitize_text(text) != text;
        match (positive, flagged) {
            (true, true) => tp += 1,
            (true, false) => {
                fneg += 1;
                misses.push(format!("{plugin}: {text}"));
            }
            (false, true) => {
                fp += 1;
                false_alarms.push(format!("{plugin}: {text}"));
            }
            (false, false) => tn += 1,
        }
    }
    let recall = tp as f64 / (tp + fneg) as f64;
    let precision = tp as f64 / (tp + fp) as f64;
    println!(
        "secrets-dev: tp={tp} fp={fp} fn={fneg} tn={tn} recall={recall:.3} precision={precision:.3}"
    );
    for m in &misses {
        println!("  missed: {m}");
    }
    for f in &false_alarms {
        println!("  false alarm: {f}");
    }
    assert!(recall >= 0.90, "recall {recall:.3} below floor");
    assert!(precision >= 0.85, "precision {precision:.3} below floor");
}
