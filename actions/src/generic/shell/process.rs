//! Running a child in its own process group, with stdout and stderr captured
//! concurrently into bounded tails and logged line by line.
//!
//! The group is killed whole when [`run`]'s future is dropped (a step timeout or the
//! run's cancellation), and when the command exits, so that no process a step started
//! outlives it.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use medic_engine::action::StepContext;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// Bytes of stdout and of stderr kept for the step's outputs.
pub(super) const TAIL_BYTES: usize = 64 * 1024;
/// Bytes of each stream sent to the run's log; past this only the tails keep output.
const LOG_BYTES: usize = 4 * 1024 * 1024;
/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 16 * 1024;
/// How long to keep reading pipes after the command exited and its group was killed:
/// a process that left the group (`setsid`) may still hold them open.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What a finished command left.
#[derive(Debug)]
pub(super) struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// The last [`TAIL_BYTES`] of stdout.
    pub stdout: String,
    /// The last [`TAIL_BYTES`] of stderr.
    pub stderr: String,
}

/// Spawn `command` in a new process group, log its output, and wait for it.
///
/// Dropping the returned future kills the whole group.
pub(super) async fn run(mut command: Command, ctx: &StepContext) -> io::Result<Finished> {
    command
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut group = ProcessGroup::spawn(&mut command)?;
    let stdout = group.child.stdout.take();
    let stderr = group.child.stderr.take();
    let mut out = Capture::new();
    let mut err = Capture::new();
    let status = {
        let readers = async {
            tokio::join!(pump(stdout, &mut out, ctx), pump(stderr, &mut err, ctx));
        };
        tokio::pin!(readers);
        let (status, drained) = tokio::select! {
            status = group.child.wait() => (status, false),
            () = &mut readers => (group.child.wait().await, true),
        };
        // Background processes the command left would hold the pipes open forever.
        group.kill_leftovers();
        if !drained
            && tokio::time::timeout(DRAIN_GRACE, &mut readers)
                .await
                .is_err()
        {
            ctx.log(
                "[medic] stopped reading output held open by a process outside the step's group",
            );
        }
        status?
    };
    Ok(Finished {
        status,
        stdout: out.tail(),
        stderr: err.tail(),
    })
}

/// Owns the child and kills its whole process group unless the group was already
/// cleaned up after a normal exit.
struct ProcessGroup {
    child: Child,
    pgid: libc::pid_t,
    cleaned: bool,
}

impl ProcessGroup {
    fn spawn(command: &mut Command) -> io::Result<Self> {
        let child = command.spawn()?;
        // With `process_group(0)` the group id is the child's pid. `id()` is only `None`
        // once the child has been reaped, which cannot have happened yet.
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the child exited before it was tracked"))?;
        let pgid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        Ok(ProcessGroup {
            child,
            pgid,
            cleaned: false,
        })
    }

    fn killpg(&self) {
        // SAFETY: killpg has no memory-safety preconditions; a stale group id yields ESRCH.
        unsafe {
            libc::killpg(self.pgid, libc::SIGKILL);
        }
    }

    /// Kill what the command left running after it exited (it has been reaped). Pids
    /// are allocated cyclically, so the group id cannot have been reused this soon.
    fn kill_leftovers(&mut self) {
        self.killpg();
        self.cleaned = true;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        self.killpg();
        // SIGKILL lands within microseconds; reap the leader now so it does not linger
        // as a zombie. If it is slower, tokio's orphan reaper collects it later.
        for _ in 0..100 {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Ok(Some(_)) | Err(_) => break,
            }
        }
    }
}

/// One captured stream: a bounded tail for outputs and a line splitter for the log.
struct Capture {
    tail: Vec<u8>,
    truncated: bool,
    line: Vec<u8>,
    logged: usize,
}

impl Capture {
    fn new() -> Self {
        Capture {
            tail: Vec::new(),
            truncated: false,
            line: Vec::new(),
            logged: 0,
        }
    }

    fn push(&mut self, chunk: &[u8], ctx: &StepContext) {
        self.tail.extend_from_slice(chunk);
        // Trim in batches so that appending stays amortised O(1).
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
            self.truncated = true;
        }
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let (mut content, ends_line) = match piece.strip_suffix(b"\n") {
                Some(content) => (content, true),
                None => (piece, false),
            };
            loop {
                let room = MAX_LINE - self.line.len();
                if content.len() <= room {
                    self.line.extend_from_slice(content);
                    break;
                }
                self.line.extend_from_slice(&content[..room]);
                content = &content[room..];
                self.flush_line(ctx);
            }
            if ends_line {
                self.flush_line(ctx);
            }
        }
    }

    fn flush_line(&mut self, ctx: &StepContext) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        if self.logged < LOG_BYTES {
            self.logged += line.len() + 1;
            if self.logged >= LOG_BYTES {
                ctx.log(
                    "[medic] log limit reached: further output is kept only in the step's outputs",
                );
            } else {
                ctx.log(String::from_utf8_lossy(line));
            }
        }
        self.line.clear();
    }

    fn finish(&mut self, ctx: &StepContext) {
        if !self.line.is_empty() {
            self.flush_line(ctx);
        }
    }

    /// The last [`TAIL_BYTES`] as text. When output was cut, the tail starts at a line
    /// boundary if it can, so that no secret is left half-visible past the masker.
    fn tail(&self) -> String {
        let mut start = self.tail.len().saturating_sub(TAIL_BYTES);
        let cut = self.truncated || start > 0;
        if let Some(newline) = self.tail[start..]
            .iter()
            .position(|&b| b == b'\n')
            .filter(|_| cut)
        {
            start += newline + 1;
        }
        String::from_utf8_lossy(&self.tail[start..]).into_owned()
    }
}

/// Read `reader` to its end into `capture`.
async fn pump(reader: Option<impl AsyncRead + Unpin>, capture: &mut Capture, ctx: &StepContext) {
    let Some(mut reader) = reader else { return };
    // Read into spare capacity: a zeroed buffer cost a 16 KiB memset per stream and
    // step, for commands that mostly print little or nothing.
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => capture.push(&buf, ctx),
        }
    }
    capture.finish(ctx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;

    #[test]
    fn tail_keeps_the_end_from_a_line_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let mut capture = Capture::new();
        for i in 0..20_000 {
            capture.push(format!("line {i}\n").as_bytes(), &ctx);
        }
        let tail = capture.tail();
        assert!(tail.len() <= TAIL_BYTES);
        assert!(tail.len() > TAIL_BYTES - 20);
        assert!(tail.starts_with("line "), "{:?}", &tail[..20]);
        assert!(tail.ends_with("line 19999\n"));
        assert_eq!(ctx.logs().len(), 20_000);
    }

    #[test]
    fn long_lines_are_logged_in_pieces_and_partial_lines_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let mut capture = Capture::new();
        capture.push(&vec![b'x'; MAX_LINE + 10], &ctx);
        capture.push(b"\r\nlast", &ctx);
        capture.finish(&ctx);
        let logs = ctx.logs();
        assert_eq!(
            logs.len(),
            3,
            "{:?}",
            logs.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(logs[0].len(), MAX_LINE);
        assert_eq!(logs[1], "x".repeat(10));
        assert_eq!(logs[2], "last");
    }

    #[test]
    fn the_log_stops_at_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let mut capture = Capture::new();
        let line = format!("{}\n", "y".repeat(1023));
        for _ in 0..(LOG_BYTES / 1024 + 100) {
            capture.push(line.as_bytes(), &ctx);
        }
        let logs = ctx.logs();
        assert_eq!(logs.len(), LOG_BYTES / 1024);
        assert!(logs[logs.len() - 1].starts_with("[medic] log limit reached"));
    }
}
