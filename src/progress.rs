//! Live progress of a run: a spinner line per step on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use medic_engine::runtime::Progress;
use medic_engine::store::StepStatus;
use medic_engine::workflow::Workflow;
use tokio::sync::mpsc;

/// Renders progress events to stderr.
pub struct Display {
    tty: bool,
    names: HashMap<String, String>,
}

impl Display {
    /// A display for a run of `workflow`.
    pub fn new(workflow: &Workflow) -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let names = workflow
            .steps
            .iter()
            .filter_map(|s| s.name.clone().map(|n| (s.id.clone(), n)))
            .collect();
        Display { tty, names }
    }

    fn label(&self, key: &str) -> String {
        let id = key.split('[').next().unwrap_or(key);
        match self.names.get(id) {
            Some(name) => format!("{key} ({name})"),
            None => key.to_string(),
        }
    }

    /// Consume events until the sender is dropped.
    pub async fn show(self, mut rx: mpsc::UnboundedReceiver<Progress>) {
        if self.tty {
            self.show_tty(&mut rx).await
        } else {
            self.show_plain(&mut rx).await
        }
    }

    async fn show_plain(&self, rx: &mut mpsc::UnboundedReceiver<Progress>) {
        while let Some(p) = rx.recv().await {
            eprintln!("{}", line(&self.label(&p.step_key), &p));
        }
    }

    async fn show_tty(&self, rx: &mut mpsc::UnboundedReceiver<Progress>) {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars: HashMap<String, ProgressBar> = HashMap::new();
        while let Some(p) = rx.recv().await {
            let label = self.label(&p.step_key);
            match p.status {
                StepStatus::Running | StepStatus::Waiting => {
                    let bar = bars.entry(p.step_key.clone()).or_insert_with(|| {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(style.clone());
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar
                    });
                    bar.set_message(line(&label, &p));
                }
                _ => {
                    let text = line(&label, &p);
                    match bars.remove(&p.step_key) {
                        Some(bar) => bar.finish_with_message(text),
                        None => {
                            let _ = multi.println(text);
                        }
                    }
                }
            }
        }
        for bar in bars.values() {
            bar.abandon();
        }
    }
}

fn symbol(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "·",
        StepStatus::Running => "▶",
        StepStatus::Waiting => "⏸",
        StepStatus::Succeeded => "✔",
        StepStatus::Failed => "✘",
        StepStatus::Skipped => "↷",
        StepStatus::Cancelled => "■",
    }
}

fn line(label: &str, p: &Progress) -> String {
    let mut s = format!("{} {label}: {}", symbol(p.status), p.status.as_str());
    if p.attempt > 1 || (p.attempt == 1 && p.status == StepStatus::Running) {
        s.push_str(&format!(" (attempt {})", p.attempt));
    }
    if let Some(e) = p.elapsed {
        s.push_str(&format!(" in {}", format_elapsed(e)));
    }
    if let Some(m) = &p.message {
        s.push_str(&format!(" — {m}"));
    }
    s
}

/// `1.2s`, `340ms`, `2m05s`.
pub fn format_elapsed(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}
