//! Prints the throughput and peak memory of sanitize + triage over one log
//! repeated (with planted secrets) into a temporary file of ~N MiB, read back in
//! one streaming pass: `cargo run -p medic-analyze --example speed -- LOG [MiB]`.
//! A benchmark: it prints and never asserts.

use std::io::Write;
use std::time::Instant;

use medic_analyze::read::Source;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Options};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: speed LOG [MiB]");
        std::process::exit(2);
    };
    let target: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let log = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    let planted = b"export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Zr2LmX0\n\
        + docker login -u ci -p Zq8r2LmX0vT7bN4k registry.example.com\n\
        GITHUB_TOKEN=ghp_q8Zr2LmX0vT7bN4kq8Zr2LmX0vT7bN4kAbCd\n";
    let dir = tempfile_dir();
    let big = dir.join("speed.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&big).expect("temp file"));
    let mut written = 0u64;
    while written < target << 20 {
        f.write_all(&log).expect("write");
        f.write_all(planted).expect("write");
        written += (log.len() + planted.len()) as u64;
    }
    f.flush().expect("flush");
    drop(f);
    let before = peak_rss_kib();
    let mib = written as f64 / (1 << 20) as f64;
    let start = Instant::now();
    let analysis = triage::analyze_source(
        &Source::File(big.clone()),
        &mut Sanitizer::default(),
        None,
        &Options::default(),
    )
    .expect("temp log readable");
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "sanitize+triage: {mib:.1} MiB, {} lines, {secs:.2} s, {:.1} MiB/s on one core; peak RSS {} MiB (before: {} MiB); {} redactions; category {}",
        analysis.stats.lines,
        mib / secs,
        peak_rss_kib().unwrap_or(0) / 1024,
        before.unwrap_or(0) / 1024,
        analysis.stats.sanitized.redactions,
        analysis.category.as_str()
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("medic-analyze-speed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
