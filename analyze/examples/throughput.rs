//! The speed and memory benchmark of issue 3: MiB/s per core and peak memory of
//! sanitize + triage on a big log. A benchmark: it prints and never asserts.
//!
//! ```text
//! # a 1 GiB log from real logs, one planted secret line every 1,000 lines
//! cargo run -p medic-analyze --release --example throughput -- build /tmp/big.log 1024 \
//!     /work/shared/datasets /work/shared/fixtures
//! # read + clean + sanitize + triage in one streaming pass (what `medic analyze` does);
//! # it prints MiB per CPU second (per core) and the peak memory
//! cargo run -p medic-analyze --release --example throughput -- run /tmp/big.log
//! # one stage only: `--stage sanitize` (what `medic sanitize` does), `--stage read`
//! # (read, clean and sanitize, no triage); `-` reads stdin (a 5 GB single line)
//! ```
//!
//! `build` takes every `*.log` and `*.txt` under the PATHs, in name order, and
//! repeats them until the size is reached. It is a separate step so that `run`
//! can be timed alone (`/usr/bin/time -v`) and so that runs before and after a
//! change read the same bytes. The generated log must stay out of the repository.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use medic_analyze::read::{self, ReadOptions, Source};
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Options};

/// Secret lines planted into the log, in the shapes CI logs leak them. Each must be
/// redacted; `run` prints the counts per rule to check it. Made-up values.
const PLANTED: &[&str] = &[
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Zr2LmX0",
    "+ docker login -u ci -p Zq8r2LmX0vT7bN4k registry.example.com",
    "GITHUB_TOKEN=ghp_q8Zr2LmX0vT7bN4kq8Zr2LmX0vT7bN4kAbCd",
    "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjaSJ9.q8Zr2LmX0vT7bN4kq8Zr2LmX0vT7bN4kAbCd' https://api.example.com",
    "Connecting to postgres://app:Zq8r2LmX0vT7bN4k@db.internal:5432/app",
    "npm config set //registry.npmjs.org/:_authToken npm_q8Zr2LmX0vT7bN4kq8Zr2LmX0vT7bN4kAbCd",
    "slack webhook https://hooks.slack.com/services/T0Q8ZR2LM/B0X0VT7BN/q8Zr2LmX0vT7bN4kAbCdEfGh",
    "Using access key AKIAQ4ZR2LMXSVT7BN4K for s3 upload",
];

/// Lines between two planted secrets.
const PLANT_EVERY: u64 = 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") if args.len() >= 4 => {
            let mib: u64 = args[2].parse().unwrap_or_else(|_| usage());
            build(Path::new(&args[1]), mib, &args[3..]);
        }
        Some("run") if args.len() >= 2 => {
            let stage = match args.iter().position(|a| a == "--stage") {
                Some(i) => args
                    .get(i + 1)
                    .map(String::as_str)
                    .unwrap_or_else(|| usage()),
                None => "all",
            };
            run(&args[1], stage);
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: throughput build OUT MiB PATH…\n       throughput run FILE|- [--stage all|read|sanitize]"
    );
    std::process::exit(2);
}

fn build(out: &Path, mib: u64, paths: &[String]) {
    let mut logs = Vec::new();
    for p in paths {
        collect(Path::new(p), &mut logs);
    }
    logs.sort();
    if logs.is_empty() {
        eprintln!("no *.log or *.txt under {paths:?}");
        std::process::exit(2);
    }
    let texts: Vec<Vec<u8>> = logs
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| fail(p, e)))
        .collect();
    let file = std::fs::File::create(out).unwrap_or_else(|e| fail(out, e));
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let target = mib << 20;
    let (mut written, mut lines, mut planted) = (0u64, 0u64, 0u64);
    'fill: loop {
        for text in &texts {
            for line in text.split_inclusive(|&b| b == b'\n') {
                w.write_all(line).unwrap_or_else(|e| fail(out, e));
                if !line.ends_with(b"\n") {
                    w.write_all(b"\n").unwrap_or_else(|e| fail(out, e));
                    written += 1;
                }
                written += line.len() as u64;
                lines += 1;
                if lines % PLANT_EVERY == 0 {
                    let secret = PLANTED[planted as usize % PLANTED.len()];
                    writeln!(w, "{secret}").unwrap_or_else(|e| fail(out, e));
                    written += secret.len() as u64 + 1;
                    planted += 1;
                }
                if written >= target {
                    break 'fill;
                }
            }
        }
    }
    w.flush().unwrap_or_else(|e| fail(out, e));
    println!(
        "{}: {:.1} MiB, {} lines from {} logs, {planted} planted secret lines ({} shapes)",
        out.display(),
        written as f64 / (1 << 20) as f64,
        lines + planted,
        logs.len(),
        PLANTED.len()
    );
}

fn run(file: &str, stage: &str) {
    let source = if file == "-" {
        Source::Stdin
    } else {
        Source::File(PathBuf::from(file))
    };
    let mut sanitizer = Sanitizer::default();
    let start = Instant::now();
    let (bytes, lines, extra) = match stage {
        "all" => {
            let a = triage::analyze_source(&source, &mut sanitizer, None, &Options::default())
                .unwrap_or_else(|e| fail(Path::new(file), e));
            let extra = format!(
                "category {}, {} key lines, fingerprint {}",
                a.category.as_str(),
                a.key_lines.len(),
                a.fingerprint
            );
            (a.stats.bytes, a.stats.lines, extra)
        }
        "read" => {
            let mut kept = 0u64;
            let log = read::stream_log(
                &source,
                &mut sanitizer,
                &ReadOptions::default(),
                &mut |line, _| kept += line.text.len() as u64,
            )
            .unwrap_or_else(|e| fail(Path::new(file), e));
            let lines = log.sanitize.lines;
            (log.bytes, lines, format!("{kept} bytes of clean text"))
        }
        "sanitize" => {
            let mut counter = CountingSink(0);
            let read: Box<dyn Read> = match &source {
                Source::File(p) => Box::new(std::fs::File::open(p).unwrap_or_else(|e| fail(p, e))),
                _ => Box::new(std::io::stdin()),
            };
            let mut input = BufReader::with_capacity(256 << 10, CountingReader(read, 0));
            sanitizer
                .sanitize_stream(&mut input, &mut counter)
                .unwrap_or_else(|e| fail(Path::new(file), e));
            let written = counter.0;
            (
                input.get_ref().1,
                sanitizer.report().lines,
                format!("{written} bytes written"),
            )
        }
        _ => usage(),
    };
    let secs = start.elapsed().as_secs_f64();
    let mib = bytes as f64 / (1 << 20) as f64;
    let report = sanitizer.report();
    // Per CPU second, which is what "per core" means and what a neighbour's load
    // on a shared machine does not change; wall time is shown beside it.
    let cpu = cpu_seconds().unwrap_or(secs);
    println!(
        "{stage}: {mib:.1} MiB, {lines} lines in {secs:.2} s wall, {cpu:.2} s CPU = {:.1} MiB/s per core; peak RSS {} MiB",
        mib / cpu,
        peak_rss_kib().unwrap_or(0) / 1024,
    );
    println!(
        "  {} redactions on {} lines: {:?}; {extra}",
        report.redactions, report.lines_changed, report.by_type
    );
}

/// A reader that counts what it hands out (stdin has no size to ask for).
struct CountingReader(Box<dyn Read>, u64);

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// A writer that only counts, so that `--stage sanitize` measures the sanitizer
/// and not a disk.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// User + system CPU time of this process so far (Linux, clock-tick resolution).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // utime and stime are the 12th and 13th of them.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports USER_HZ ticks, 100 per second on Linux.
    Some(ticks as f64 / 100.0)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).unwrap_or_else(|e| fail(path, e));
        for entry in entries.flatten() {
            collect(&entry.path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "log" || e == "txt") {
        out.push(path.to_path_buf());
    }
}

fn fail(path: &Path, e: impl std::fmt::Display) -> ! {
    eprintln!("{}: {e}", path.display());
    std::process::exit(2);
}
