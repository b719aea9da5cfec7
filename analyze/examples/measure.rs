//! Measures triage quality on the labelled development sets, and the speed of
//! sanitize + triage. A benchmark, not a test: it prints and never asserts.
//!
//! `cargo run -p medic-analyze --example measure -- /work/shared/datasets [LOG_FOR_SPEED]`
//!
//! - cidiff (fail.log; then pass.log as the baseline): the share of logs whose
//!   whole labelled error range (`E` lines) is inside the excerpt, the share with
//!   at least one error line inside, the mean line recall, the mean line precision
//!   (excerpt lines that are `E` or `C` lines) and the mean excerpt size. CiDiff
//!   numbers lines like Java's `readLine` (a lone CR ends a line); our reader treats
//!   a lone CR as a progress-bar redraw, so labels are mapped onto our lines.
//! - logdx-dev: the same coverage figures against the critical signals' evidence
//!   lines, precision against all evidence spans, and category agreement.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use medic_analyze::read::{self, ReadOptions, Source};
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Analysis, Baseline, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(args.first().map_or("/work/shared/datasets", String::as_str));
    cidiff(&root.join("cidiff"));
    logdx(&root.join("logdx-dev"));
    if let Some(speed_log) = args.get(1) {
        speed(Path::new(speed_log));
    }
}

/// For each universal-newline line (1-based), our line number.
fn line_map(bytes: &[u8]) -> Vec<u64> {
    let mut map = vec![0u64];
    let mut ours = 1u64;
    map.push(ours);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                ours += 1;
                map.push(ours);
            }
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => map.push(ours),
            _ => {}
        }
        i += 1;
    }
    map
}

#[derive(Default)]
struct Tally {
    logs: u32,
    whole: u32,
    any: u32,
    recall: f64,
    precision: f64,
    size: f64,
    category_agree: u32,
}

impl Tally {
    fn add(&mut self, excerpt: &BTreeSet<u64>, errors: &BTreeSet<u64>, relevant: &BTreeSet<u64>) {
        self.logs += 1;
        let hit = errors.intersection(excerpt).count();
        if hit == errors.len() {
            self.whole += 1;
        }
        if hit > 0 {
            self.any += 1;
        }
        self.recall += hit as f64 / errors.len().max(1) as f64;
        let good = excerpt.iter().filter(|l| relevant.contains(l)).count();
        self.precision += good as f64 / excerpt.len().max(1) as f64;
        self.size += excerpt.len() as f64;
    }

    fn print(&self, name: &str) {
        let n = self.logs.max(1) as f64;
        println!(
            "{name}: logs={} whole_range_in_excerpt={:.1}% any_error_line={:.1}% mean_line_recall={:.3} mean_line_precision={:.3} mean_excerpt_lines={:.1}",
            self.logs,
            100.0 * self.whole as f64 / n,
            100.0 * self.any as f64 / n,
            self.recall / n,
            self.precision / n,
            self.size / n
        );
    }
}

fn analyze_file(path: &Path, baseline: Option<&Baseline>) -> Analysis {
    let mut sanitizer = Sanitizer::default();
    triage::analyze_source(
        &Source::File(path.to_path_buf()),
        &mut sanitizer,
        baseline,
        &Options::default(),
    )
    .expect("dataset log readable")
}

fn excerpt_lines(a: &Analysis) -> BTreeSet<u64> {
    a.key_lines.iter().map(|k| k.line).collect()
}

fn cidiff(root: &Path) {
    let mut dirs = Vec::new();
    collect_dirs(root, &mut dirs);
    dirs.sort();
    let mut plain = Tally::default();
    let mut with_base = Tally::default();
    for dir in dirs {
        let Ok(gt) = std::fs::read_to_string(dir.join("groundtruth")) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(dir.join("fail.log")) else {
            continue;
        };
        let map = line_map(&bytes);
        let mut errors = BTreeSet::new();
        let mut relevant = BTreeSet::new();
        for l in gt.lines().skip(1) {
            let mut parts = l.split_whitespace();
            let (Some(kind), Some(range)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (a, b) = match range.split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
                None => {
                    let a: usize = range.parse().unwrap_or(0);
                    (a, a)
                }
            };
            for u in a..=b {
                let Some(&ours) = map.get(u) else { continue };
                relevant.insert(ours);
                if kind == "E" {
                    errors.insert(ours);
                }
            }
        }
        if errors.is_empty() {
            continue;
        }
        let a = analyze_file(&dir.join("fail.log"), None);
        plain.add(&excerpt_lines(&a), &errors, &relevant);
        if std::env::var_os("MEASURE_VERBOSE").is_some() {
            let ex = excerpt_lines(&a);
            println!(
                "  cidiff {}: errors {}/{} in excerpt, {} lines, category {}",
                dir.display(),
                errors.intersection(&ex).count(),
                errors.len(),
                ex.len(),
                a.category.as_str()
            );
        }
        if let Ok(base) =
            Baseline::from_source(&Source::File(dir.join("pass.log")), &ReadOptions::default())
        {
            let b = analyze_file(&dir.join("fail.log"), Some(&base));
            with_base.add(&excerpt_lines(&b), &errors, &relevant);
        }
    }
    plain.print("cidiff fail.log");
    with_base.print("cidiff fail.log + pass.log baseline");
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.join("fail.log").exists() {
                out.push(p);
            } else {
                collect_dirs(&p, out);
            }
        }
    }
}

fn logdx(root: &Path) {
    let mut tally = Tally::default();
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("raw.log").exists())
        .collect();
    dirs.sort();
    for dir in dirs {
        let gt: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("ground_truth.json")).expect("ground truth"),
        )
        .expect("ground truth json");
        let bytes = std::fs::read(dir.join("raw.log")).expect("raw log");
        let map = line_map(&bytes);
        let mut errors = BTreeSet::new();
        let mut relevant = BTreeSet::new();
        let add = |a: u64, b: u64, set: &mut BTreeSet<u64>| {
            for u in a..=b {
                if let Some(&ours) = map.get(u as usize) {
                    set.insert(ours);
                }
            }
        };
        for s in gt["required_signals"].as_array().into_iter().flatten() {
            let critical = s["importance"] == "critical";
            for r in s["evidence_lines"].as_array().into_iter().flatten() {
                let (a, b) = (r[0].as_u64().unwrap_or(0), r[1].as_u64().unwrap_or(0));
                add(a, b, &mut relevant);
                if critical {
                    add(a, b, &mut errors);
                }
            }
        }
        for s in gt["evidence_spans"].as_array().into_iter().flatten() {
            let (a, b) = (
                s["start_line"].as_u64().unwrap_or(0),
                s["end_line"].as_u64().unwrap_or(0),
            );
            add(a, b, &mut relevant);
        }
        let a = analyze_file(&dir.join("raw.log"), None);
        tally.add(&excerpt_lines(&a), &errors, &relevant);
        let expected = gt["root_cause"]["category"].as_str().unwrap_or("");
        let agree = match expected {
            "compile_error" => a.category.as_str() == "compile",
            "test_assertion" | "test_failure" => a.category.as_str() == "test",
            "lint_error" => a.category.as_str() == "lint",
            "type_error" => matches!(a.category.as_str(), "lint" | "compile"),
            "permission_or_secret" => a.category.as_str() == "permission",
            "dependency_error" => a.category.as_str() == "dependency",
            "timeout" => a.category.as_str() == "timeout",
            other => a.category.as_str() == other,
        };
        if agree {
            tally.category_agree += 1;
        }
        println!(
            "  logdx {}: expected {expected}, got {} ({:.2}), tool {:?}, {} key lines, critical evidence covered {}/{}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            a.category.as_str(),
            a.confidence,
            a.tool,
            a.key_lines.len(),
            errors.intersection(&excerpt_lines(&a)).count(),
            errors.len()
        );
    }
    tally.print("logdx-dev");
    println!(
        "logdx-dev category agreement: {}/{}",
        tally.category_agree, tally.logs
    );
}

fn speed(path: &Path) {
    let bytes = std::fs::read(path).expect("speed log");
    // Repeat the log up to ~64 MB so the measurement is not dominated by start-up.
    let reps = (64 << 20) / bytes.len().max(1) + 1;
    let mut big = Vec::with_capacity(bytes.len() * reps);
    for _ in 0..reps {
        big.extend_from_slice(&bytes);
    }
    let mb = big.len() as f64 / (1 << 20) as f64;
    let start = Instant::now();
    let (lines, analysis) =
        medic_analyze::bench_sanitize_and_analyze(&big).expect("log in memory reads");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "speed: {mb:.1} MiB, {lines} lines in {secs:.2}s = {:.1} MiB/s (one core, this build profile); category {}",
        mb / secs,
        analysis.category.as_str()
    );
    let _ = read::MAX_LINE;
}
