//! Prints the throughput of sanitize + triage over one log repeated to ~64 MiB:
//! `cargo run -p medic-analyze --example speed -- LOG [MiB]`. Never asserts.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: speed LOG [MiB]");
        std::process::exit(2);
    };
    let target: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    let reps = (target << 20) / bytes.len().max(1) + 1;
    let mut big = Vec::with_capacity(bytes.len() * reps);
    for _ in 0..reps {
        big.extend_from_slice(&bytes);
    }
    let mib = big.len() as f64 / (1 << 20) as f64;
    let start = Instant::now();
    let (lines, analysis) = medic_analyze::bench_sanitize_and_analyze(&big);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sanitize+triage: {mib:.1} MiB, {lines} lines, {secs:.2} s, {:.1} MiB/s on one core; category {}",
        mib / secs,
        analysis.category.as_str()
    );
}
