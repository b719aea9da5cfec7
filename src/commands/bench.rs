//! `medic bench`: the engine's figures on standard shapes, measured on this machine.
//!
//! Each shape runs in a fresh child process so that its peak memory is its own.
//! Figures are printed, never asserted: timing assertions in tests are flaky on shared
//! machines, and the issue notes report these numbers.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use medic_engine::runtime::{DriveOptions, Executor, create_run};
use medic_engine::store::Store;
use tokio::sync::watch;

use crate::{CmdResult, Failure, Globals};

const SHAPES: [&str; 4] = ["a", "b", "c", "d"];

/// Run one shape, or every shape each in its own process.
pub async fn bench(shape: &str, _g: &Globals) -> CmdResult {
    match shape {
        "all" => {
            let exe = std::env::current_exe().map_err(|e| Failure::failed(e.to_string()))?;
            for s in SHAPES {
                let status = std::process::Command::new(&exe)
                    .args(["bench", "--shape", s])
                    .status()
                    .map_err(|e| Failure::failed(format!("cannot start {}: {e}", exe.display())))?;
                if !status.success() {
                    return Err(Failure::failed(format!("shape {s} failed")));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        "a" => {
            run_shape(
                "A: chain of 100 no-op steps",
                &chain(100, "log", r#"{ message: "step" }"#),
                100,
                None,
            )
            .await
        }
        "b" => run_shape("B: 1 → 500 parallel no-op steps → 1", &fan(500), 502, None).await,
        "c" => {
            // Two baselines: `true` itself, as the target is stated, and `sh -c true`,
            // which is what a shell step runs, to separate engine cost from the shell's.
            let baseline = (
                bare_spawn_loop(100, &["true"])?,
                bare_spawn_loop(100, &["sh", "-c", "true"])?,
            );
            run_shape(
                "C: chain of 100 shell steps running `true`",
                &chain(100, "shell", r#"{ run: "true" }"#),
                100,
                Some(baseline),
            )
            .await
        }
        "d" => validate_shape(),
        other => Err(Failure::usage(format!(
            "--shape `{other}`: expected a, b, c, d or all"
        ))),
    }
}

fn chain(n: usize, uses: &str, with: &str) -> String {
    let mut y = String::from("name: bench-chain\nsteps:\n");
    for i in 0..n {
        let _ = writeln!(y, "  s{i}:\n    uses: {uses}\n    with: {with}");
        if i > 0 {
            let _ = writeln!(y, "    needs: [s{}]", i - 1);
        }
    }
    y
}

fn fan(n: usize) -> String {
    let mut y = String::from(
        "name: bench-fan\nconcurrency: { max_parallel: 64 }\nsteps:\n  start:\n    uses: log\n    with: { message: start }\n",
    );
    for i in 0..n {
        let _ = writeln!(
            y,
            "  f{i}:\n    uses: log\n    needs: [start]\n    with: {{ message: f }}"
        );
    }
    let needs: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
    let _ = writeln!(
        y,
        "  end:\n    uses: log\n    needs: [{}]\n    with: {{ message: end }}",
        needs.join(", ")
    );
    y
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn bare_spawn_loop(n: usize, argv: &[&str]) -> Result<Duration, Failure> {
    let start = Instant::now();
    for _ in 0..n {
        std::process::Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .map_err(|e| Failure::failed(format!("cannot spawn `true`: {e}")))?;
    }
    Ok(start.elapsed())
}

async fn run_shape(
    title: &str,
    yaml: &str,
    steps: usize,
    baseline: Option<(Duration, Duration)>,
) -> CmdResult {
    let dir = tempdir()?;
    let db = dir.join("bench.db");
    let registry = medic_actions::registry();
    let wf = medic_engine::validate::load_str(yaml, Path::new("bench.yaml"), &registry)
        .map_err(|d| Failure::failed(format!("bench workflow invalid: {d:?}")))?;
    let store = Store::connect(db.to_str().unwrap_or("bench.db")).await?;
    let exec = Executor::new(store.clone(), registry);
    let (_tx, rx) = watch::channel(false);
    let opts = DriveOptions {
        base_dir: dir.clone(),
        ..super::drive_options()
    };
    let start = Instant::now();
    let run_id = create_run(
        &store,
        &wf,
        serde_json::Map::new(),
        serde_json::json!({"kind": "bench"}),
    )
    .await
    .map_err(|e| Failure::failed(e.to_string()))?;
    let status = exec
        .drive(&wf, &run_id, &opts, rx, None)
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    let total = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{title}");
    println!("  status            {}", status.as_str());
    println!("  total             {:.1} ms", total.as_secs_f64() * 1e3);
    println!(
        "  per durable step  {:.3} ms",
        total.as_secs_f64() * 1e3 / steps as f64
    );
    if let Some((bare, sh)) = baseline {
        let ratio = |b: Duration| total.as_secs_f64() / b.as_secs_f64();
        println!(
            "  bare `true` loop  {:.1} ms  (ratio {:.2}×)",
            bare.as_secs_f64() * 1e3,
            ratio(bare)
        );
        println!(
            "  bare `sh -c true` {:.1} ms  (ratio {:.2}×)",
            sh.as_secs_f64() * 1e3,
            ratio(sh)
        );
    }
    if let Some(p) = peak_rss_mib() {
        println!("  peak memory       {p:.1} MiB");
    }
    Ok(ExitCode::SUCCESS)
}

fn validate_shape() -> CmdResult {
    let registry = medic_actions::registry();
    let text = medic_engine::validate::generated_workflow(1000);
    let start = Instant::now();
    let rounds = 10;
    for _ in 0..rounds {
        medic_engine::validate::load_str(&text, Path::new("bench.yaml"), &registry).map_err(
            |d| Failure::failed(format!("generated workflow invalid: {} problems", d.len())),
        )?;
    }
    let each = start.elapsed() / rounds;
    println!(
        "D: validate a generated 1,000-step workflow ({} KiB)",
        text.len() / 1024
    );
    println!(
        "  per validation    {:.1} ms (mean of {rounds})",
        each.as_secs_f64() * 1e3
    );
    if let Some(p) = peak_rss_mib() {
        println!("  peak memory       {p:.1} MiB");
    }
    Ok(ExitCode::SUCCESS)
}

fn tempdir() -> Result<std::path::PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("medic-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
