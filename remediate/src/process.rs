//! Running a command (a verification command, a coding agent) in a worktree with a
//! time budget.
//!
//! The command runs under `sh -c` in its own process group; on timeout, and when the
//! future is dropped, the whole group is killed, so an agent that spawned a language
//! server or a test runner leaves nothing behind. Output is kept as a bounded tail and
//! sanitized before anyone sees it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medic_analyze::sanitize::Sanitizer;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of combined output kept.
pub const TAIL_BYTES: usize = 8 * 1024;
/// How long to keep reading pipes once the group is dead: a process that left the group
/// (`setsid`) may hold them open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A command that checks a worktree: the fix works, or a commit is good, when it
/// exits 0 within its time budget (a timeout counts as a failure). It runs with
/// `sh -c` in the worktree.
#[derive(Debug, Clone)]
pub struct Verify {
    /// The command line.
    pub command: String,
    /// Its time budget per run.
    pub timeout: Duration,
}

/// How the child's environment is built.
#[derive(Debug, Clone)]
pub enum Env {
    /// Medic's own environment plus these variables.
    Inherit(BTreeMap<String, String>),
    /// Only these variables (plus `PATH` and `HOME` from Medic's environment unless
    /// given), so an agent sees no token it was not handed on purpose.
    Only(BTreeMap<String, String>),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finished {
    /// The command line, sanitized.
    pub command: String,
    /// Its exit code; `None` when it was killed (timeout, signal).
    pub exit_code: Option<i32>,
    /// Whether the time budget ran out.
    pub timed_out: bool,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The last [`TAIL_BYTES`] of stdout and stderr interleaved, sanitized.
    pub output_tail: String,
}

impl Finished {
    /// Whether it exited with 0 in time.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Run `command` with `sh -c` in `dir` for at most `timeout`.
pub async fn run(
    command: &str,
    dir: &Path,
    env: &Env,
    timeout: Duration,
) -> std::io::Result<Finished> {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match env {
        Env::Inherit(vars) => {
            cmd.envs(vars);
        }
        Env::Only(vars) => {
            cmd.env_clear();
            for key in ["PATH", "HOME"] {
                if let Ok(value) = std::env::var(key) {
                    cmd.env(key, value);
                }
            }
            cmd.envs(vars);
        }
    }
    let mut group = Group::spawn(&mut cmd)?;
    let tail = Arc::new(Mutex::new(Vec::new()));
    let stdout = group.child.stdout.take();
    let stderr = group.child.stderr.take();
    let readers = {
        let (a, b) = (Arc::clone(&tail), Arc::clone(&tail));
        async move { tokio::join!(pump(stdout, a), pump(stderr, b)) }
    };
    tokio::pin!(readers);
    let waited = tokio::time::timeout(timeout, group.child.wait()).await;
    group.kill();
    let (exit_code, timed_out) = match waited {
        Ok(status) => (status?.code(), false),
        Err(_) => {
            let _ = group.child.wait().await;
            (None, true)
        }
    };
    let _ = tokio::time::timeout(DRAIN_GRACE, &mut readers).await;
    let bytes = tail.lock().map(|t| t.clone()).unwrap_or_default();
    Ok(Finished {
        // The command line may hold a rendered secret too.
        command: Sanitizer::default().sanitize_text(command),
        exit_code,
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
        output_tail: sanitized_tail(&bytes),
    })
}

/// The tail from a line start, sanitized: no secret leaves through a command's output.
fn sanitized_tail(bytes: &[u8]) -> String {
    let mut start = bytes.len().saturating_sub(TAIL_BYTES);
    if start > 0
        && let Some(newline) = bytes[start..].iter().position(|&b| b == b'\n')
    {
        start += newline + 1;
    }
    let text = String::from_utf8_lossy(&bytes[start..]);
    Sanitizer::default().sanitize_text(&text)
}

async fn pump(reader: Option<impl AsyncRead + Unpin>, tail: Arc<Mutex<Vec<u8>>>) {
    let Some(mut reader) = reader else { return };
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut tail) = tail.lock() {
                    tail.extend_from_slice(&buf[..n]);
                    // Trim in batches so that appending stays amortised O(1).
                    if tail.len() > 4 * TAIL_BYTES {
                        let cut = tail.len() - 2 * TAIL_BYTES;
                        tail.drain(..cut);
                    }
                }
            }
        }
    }
}

/// The child and its process group, killed whole when dropped.
struct Group {
    child: tokio::process::Child,
    pgid: libc::pid_t,
}

impl Group {
    fn spawn(cmd: &mut tokio::process::Command) -> std::io::Result<Group> {
        let child = cmd.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("the child exited before it was tracked"))?;
        let pgid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
        Ok(Group { child, pgid })
    }

    fn kill(&self) {
        // SAFETY: killpg has no memory-safety preconditions; a gone group yields ESRCH.
        unsafe {
            libc::killpg(self.pgid, libc::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.start_kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_exit_codes_and_sanitized_output() {
        let dir = tempfile::tempdir().unwrap();
        let ok = run(
            "echo hi; echo err >&2",
            dir.path(),
            &Env::Inherit(BTreeMap::new()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(ok.success());
        assert!(ok.output_tail.contains("hi") && ok.output_tail.contains("err"));
        let failed = run(
            "echo token 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; exit 3",
            dir.path(),
            &Env::Inherit(BTreeMap::new()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(failed.exit_code, Some(3));
        assert!(!failed.success());
        assert!(
            !failed
                .output_tail
                .contains("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"),
            "{}",
            failed.output_tail
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let command = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let done = run(
            &command,
            dir.path(),
            &Env::Inherit(BTreeMap::new()),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(done.timed_out);
        assert_eq!(done.exit_code, None);
        assert!(done.duration_ms < 10_000);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "a background child outlived the timeout");
    }

    #[tokio::test]
    async fn only_env_hides_medics_environment() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("MEDIC_TEST_HIDDEN", "visible") };
        let vars = BTreeMap::from([("GIVEN".to_string(), "yes".to_string())]);
        let done = run(
            "echo \"given=$GIVEN hidden=$MEDIC_TEST_HIDDEN\"; command -v sh >/dev/null && echo path-ok",
            dir.path(),
            &Env::Only(vars),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(
            done.output_tail.contains("given=yes hidden=\n"),
            "{}",
            done.output_tail
        );
        assert!(done.output_tail.contains("path-ok"));
    }
}
