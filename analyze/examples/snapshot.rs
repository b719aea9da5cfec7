//! Writes what medic-analyze makes of every log under some paths — the analysis as
//! JSON and the sanitized text — into a folder, so that a change meant only for
//! speed can be checked to change no output: snapshot before, snapshot after,
//! `diff -r`. `cargo run -p medic-analyze --release --example snapshot -- OUT_DIR PATH…`
//! (a PATH is a log file or a folder searched for `*.log` and `*.txt`).

use std::path::{Path, PathBuf};

use medic_analyze::read::Source;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Baseline, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, paths @ ..] = args.as_slice() else {
        eprintln!("usage: snapshot OUT_DIR PATH…");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&out, e));
    let mut logs = Vec::new();
    for p in paths {
        collect(Path::new(p), &mut logs);
    }
    logs.sort();
    for (i, log) in logs.iter().enumerate() {
        let name = format!(
            "{i:04}-{}",
            log.display()
                .to_string()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_")
        );
        let options = Options::default();
        let analysis = triage::analyze_source(
            &Source::File(log.clone()),
            &mut Sanitizer::default(),
            None,
            &options,
        )
        .unwrap_or_else(|e| fail(log, e));
        let json = serde_json::to_string_pretty(&analysis).expect("analysis serializes");
        write(&out.join(format!("{name}.json")), json.as_bytes());
        // A failing log next to a passing one (cidiff): the baseline path too.
        let pass = log.with_file_name("pass.log");
        if log.file_name().is_some_and(|n| n == "fail.log") && pass.exists() {
            let baseline = Baseline::from_source(&Source::File(pass), &options.read)
                .unwrap_or_else(|e| fail(log, e));
            let analysis = triage::analyze_source(
                &Source::File(log.clone()),
                &mut Sanitizer::default(),
                Some(&baseline),
                &options,
            )
            .unwrap_or_else(|e| fail(log, e));
            let json = serde_json::to_string_pretty(&analysis).expect("analysis serializes");
            write(&out.join(format!("{name}.baseline.json")), json.as_bytes());
        }
        let raw = std::fs::read(log).unwrap_or_else(|e| fail(log, e));
        let mut clean = Vec::new();
        let mut sanitizer = Sanitizer::default();
        sanitizer
            .sanitize_stream(raw.as_slice(), &mut clean)
            .unwrap_or_else(|e| fail(log, e));
        write(&out.join(format!("{name}.sanitized")), &clean);
        let report = serde_json::to_string_pretty(sanitizer.report()).expect("report serializes");
        write(&out.join(format!("{name}.report.json")), report.as_bytes());
    }
    println!("{} logs written to {}", logs.len(), out.display());
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

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| fail(path, e));
}

fn fail(path: &Path, e: impl std::fmt::Display) -> ! {
    eprintln!("{}: {e}", path.display());
    std::process::exit(2);
}
