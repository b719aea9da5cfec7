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
            let wf = chain(100, "log", r#"{ message: "step" }"#);
            run_shape("A: chain of 100 no-op steps", &wf, 100, false).await
        }
        "b" => run_shape("B: 1 → 500 parallel no-op steps → 1", &fan(500), 502, false).await,
        "c" => {
            let wf = chain(100, "shell", r#"{ run: "true" }"#);
            run_shape("C: chain of 100 shell steps running `true`", &wf, 100, true).await
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

/// CPU time this process has used (user + system, every thread, children excluded).
fn own_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn bare_spawn_loop(n: usize, argv: &[&str]) -> Result<Duration, Failure> {
    let start = Instant::now();
    for _ in 0..n {
        std::process::Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .map_err(|e| Failure::failed(format!("cannot spawn `{}`: {e}", argv[0])))?;
    }
    Ok(start.elapsed())
}

/// `true` started the way a step starts it, without the engine: by tokio, in a process
/// group of its own, stdin on `/dev/null`, stdout and stderr piped and read to their
/// end. Not the target's baseline; it shows how much of C is supervising a process
/// asynchronously at all, and how much is the engine.
async fn async_spawn_loop(n: usize) -> Result<Duration, Failure> {
    let start = Instant::now();
    for _ in 0..n {
        tokio::process::Command::new("true")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| Failure::failed(format!("cannot spawn `true`: {e}")))?;
    }
    Ok(start.elapsed())
}

/// Rounds per shape. Each round runs the workflow once (and, for C, the bare loops
/// right before it), and the median round is reported: on a shared machine a
/// neighbour's burst lands on one round, not on the figure.
const ROUNDS: usize = 7;
/// Rounds for C, whose figure is a ratio of two noisy times: a process start on a
/// shared VM varies by a fifth from one round to the next, and seven rounds left the
/// median ratio moving by ±0.1 between two runs of the same binary.
const RATIO_ROUNDS: usize = 21;

/// The median of `values`, which must not be empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run_shape(title: &str, yaml: &str, steps: usize, with_baseline: bool) -> CmdResult {
    let dir = tempdir()?;
    let db = dir.join("bench.db");
    let registry = medic_actions::registry();
    let wf = medic_engine::validate::load_str(yaml, Path::new("bench.yaml"), &registry)
        .map_err(|d| Failure::failed(format!("bench workflow invalid: {d:?}")))?;
    let store = Store::connect(db.to_str().unwrap_or("bench.db")).await?;
    let exec = Executor::new(store.clone(), registry);
    let opts = DriveOptions {
        base_dir: dir.clone(),
        ..super::drive_options()
    };
    let (mut totals, mut bare, mut bare_sh, mut ratios) = (vec![], vec![], vec![], vec![]);
    let (mut supervised, mut engine_ratios, mut cpu) = (vec![], vec![], vec![]);
    let rounds = if with_baseline { RATIO_ROUNDS } else { ROUNDS };
    for _ in 0..rounds {
        // Baselines for C: `true` itself, as the target is stated; `sh -c true`, the
        // shell a step would start if it could not run `true` directly; and `true`
        // supervised asynchronously as a step's command is.
        let baseline = if with_baseline {
            Some((
                bare_spawn_loop(steps, &["true"])?,
                bare_spawn_loop(steps, &["sh", "-c", "true"])?,
                async_spawn_loop(steps).await?,
            ))
        } else {
            None
        };
        let (_tx, rx) = watch::channel(false);
        let cpu_before = own_cpu();
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
        let total = start.elapsed().as_secs_f64() * 1e3;
        cpu.push((own_cpu() - cpu_before).as_secs_f64() * 1e3);
        if status.as_str() != "succeeded" {
            return Err(Failure::failed(format!(
                "bench run ended {}",
                status.as_str()
            )));
        }
        totals.push(total);
        if let Some((t, sh, supervised_t)) = baseline {
            let (t, sh) = (t.as_secs_f64() * 1e3, sh.as_secs_f64() * 1e3);
            let supervised_t = supervised_t.as_secs_f64() * 1e3;
            ratios.push(total / t);
            engine_ratios.push(total / supervised_t);
            bare.push(t);
            bare_sh.push(sh);
            supervised.push(supervised_t);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let total = median(totals.clone());
    println!("{title} (median of {rounds} rounds)");
    println!("  total             {total:.1} ms");
    println!("  per durable step  {:.3} ms", total / steps as f64);
    // Wall time on a shared machine moves with its neighbours; the CPU Medic itself
    // spends per step (children excluded) is the steadier figure to compare builds by.
    println!(
        "  Medic's CPU       {:.3} ms per step (user + system, children excluded)",
        median(cpu) / steps as f64
    );
    if with_baseline {
        println!("  bare `true` loop  {:.1} ms", median(bare));
        println!("  bare `sh -c true` {:.1} ms", median(bare_sh));
        println!(
            "  async `true` loop {:.1} ms (tokio, process group, piped output; run / this {:.2}×)",
            median(supervised),
            median(engine_ratios)
        );
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        println!(
            "  ratio to `true`   {:.2}× (middle half of the rounds from {:.2}× to {:.2}×, all from {:.2}× to {:.2}×)",
            ratios[n / 2],
            ratios[n / 4],
            ratios[(3 * n) / 4],
            ratios[0],
            ratios[n - 1],
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
