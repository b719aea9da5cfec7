//! Running a child in its own process group, with stdout and stderr captured
//! concurrently into bounded tails and logged line by line.
//!
//! The group is killed whole when [`run`]'s future is dropped (a step timeout or the
//! run's cancellation), and when the command exits, so that no process a step started
//! outlives it.
//!
//! A program given by its path is started with `posix_spawn` directly (see `spawn`):
//! std's `Command` copies Medic's whole environment into a map and back into C strings
//! on every start once one variable differs, which was a tenth of a short step's CPU.
//! Other programs (a bare name, a relative path) go through std's `Command`, which looks
//! them up. Either way the child is waited for through a pidfd.
//!
//! For its first [`QUIET_START`] a command's exit is all that is waited for: most
//! short commands are over by then, and their output is read from the pipes after.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use medic_engine::action::StepContext;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, Interest};
use tokio::net::unix::pipe;

use super::spawn::Started;

/// Bytes of stdout and of stderr kept for the step's outputs.
pub(super) const TAIL_BYTES: usize = 64 * 1024;
/// Bytes of each stream sent to the run's log; past this only the tails keep output.
const LOG_BYTES: usize = 4 * 1024 * 1024;
/// A line longer than this is logged in pieces.
const MAX_LINE: usize = 16 * 1024;
/// How long to keep reading pipes after the command exited and its group was killed:
/// a process that left the group (`setsid`) may still hold them open.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long a command runs before its output is read as it comes. Until then only its
/// exit is waited for, and what it printed is read once it has exited: registered with
/// the runtime from the start, each pipe's end woke Medic as the command exited (one
/// wake-up for stdout, one for stderr, then one for the exit, each taking the CPU from
/// the exiting command), a fifth of the time Medic spent on a step that runs `true`.
/// A command that fills a pipe (64 KiB) sooner waits for the rest of this, once; a
/// line it prints is logged this much later at most.
const QUIET_START: Duration = Duration::from_millis(10);

/// What to start: the program, its `argv`, the variables set over Medic's own
/// environment (a later entry wins over an earlier one with the same name), and the
/// directory to run in. stdin is `/dev/null`; stdout and stderr are captured.
pub(super) struct Spec<'a> {
    pub program: &'a Path,
    pub arg0: &'a OsStr,
    pub args: &'a [&'a OsStr],
    pub env: &'a [(&'a OsStr, &'a OsStr)],
    pub cwd: &'a Path,
}

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

/// Spawn `spec` in a new process group, log its output, and wait for it.
///
/// Dropping the returned future kills the whole group.
pub(super) async fn run(spec: &Spec<'_>, ctx: &StepContext) -> io::Result<Finished> {
    let (mut group, stdout, stderr) = ProcessGroup::spawn(spec)?;
    let mut out = Capture::new();
    let mut err = Capture::new();
    // A quiet start: see [`QUIET_START`]. Waiting for the exit alone can be dropped
    // half-way (`wait` reaps only once the exit is there).
    let early = match group.exit {
        Exit::Pidfd(_) => tokio::time::timeout(QUIET_START, group.wait())
            .await
            .ok()
            .transpose()?,
        Exit::Blocking => None,
    };
    let status = match early {
        Some(status) => {
            group.kill_leftovers();
            let out_open = read_available(stdout, &mut out, ctx);
            let err_open = read_available(stderr, &mut err, ctx);
            if out_open.is_some() || err_open.is_some() {
                // A process outside the group still holds a pipe: read as it comes.
                let (out_open, err_open) = (
                    out_open.map(receiver).transpose()?,
                    err_open.map(receiver).transpose()?,
                );
                let readers = async {
                    tokio::join!(
                        pump_if_open(out_open, &mut out, ctx),
                        pump_if_open(err_open, &mut err, ctx)
                    );
                };
                drain_within_grace(readers, ctx).await;
            }
            status
        }
        None => {
            let (stdout, stderr) = (receiver(stdout)?, receiver(stderr)?);
            let readers = async {
                tokio::join!(pump(stdout, &mut out, ctx), pump(stderr, &mut err, ctx));
            };
            tokio::pin!(readers);
            let (status, drained) = tokio::select! {
                status = group.wait() => (status, false),
                () = &mut readers => (group.wait().await, true),
            };
            // Background processes the command left would hold the pipes open forever.
            group.kill_leftovers();
            if !drained {
                drain_within_grace(&mut readers, ctx).await;
            }
            status?
        }
    };
    Ok(Finished {
        status,
        stdout: out.tail(),
        stderr: err.tail(),
    })
}

/// Read the pipes to their end, for at most [`DRAIN_GRACE`] once the command has exited
/// and its group was killed; past that a process outside the group holds them open,
/// and the log says so.
async fn drain_within_grace(readers: impl std::future::Future<Output = ()>, ctx: &StepContext) {
    if tokio::time::timeout(DRAIN_GRACE, readers).await.is_err() {
        ctx.log("[medic] stopped reading output held open by a process outside the step's group");
    }
}

/// How the leader's exit is awaited: its pidfd becoming readable, or (on a kernel
/// without pidfds) a blocking `waitpid` on the blocking pool.
enum Exit {
    Pidfd(AsyncFd<OwnedFd>),
    Blocking,
}

/// Owns the child and kills its whole process group unless the group was already
/// cleaned up after a normal exit; reaps the leader.
struct ProcessGroup {
    /// The leader's pid, which is also the group id (`setpgid(0, 0)` in the child).
    pid: libc::pid_t,
    exit: Exit,
    reaped: bool,
    cleaned: bool,
}

impl ProcessGroup {
    /// Start `spec`; returns the group and the read ends of stdout and stderr.
    /// The read ends are non-blocking, not yet registered with the runtime.
    fn spawn(spec: &Spec<'_>) -> io::Result<(Self, OwnedFd, OwnedFd)> {
        let Started {
            pid,
            pidfd,
            stdout,
            stderr,
        } = if spec.program.is_absolute() {
            super::spawn::spawn(spec)?
        } else {
            spawn_with_std(spec)?
        };
        // From here the child exists: the group owns it, whatever fails next.
        let mut group = ProcessGroup {
            pid,
            exit: Exit::Blocking,
            reaped: false,
            cleaned: false,
        };
        if let Some(pidfd) = pidfd.or_else(|| pidfd_open(pid)) {
            // SAFETY: an `OwnedFd` keeps its descriptor open, unchanged, until dropped.
            let registered = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) };
            group.exit = Exit::Pidfd(registered.map_err(io::Error::from)?);
        }
        Ok((group, non_blocking(stdout)?, non_blocking(stderr)?))
    }

    /// Wait for the leader to exit and reap it.
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        let pid = self.pid;
        let status = match &self.exit {
            Exit::Pidfd(fd) => loop {
                let mut ready = fd.readable().await?;
                match try_reap(pid)? {
                    Some(status) => break status,
                    None => ready.clear_ready(),
                }
            },
            // Waits without reaping, so that a wait dropped half-way (by `select!`)
            // leaves the exit to the next one.
            Exit::Blocking => loop {
                tokio::task::spawn_blocking(move || wait_exited(pid))
                    .await
                    .map_err(io::Error::other)??;
                if let Some(status) = try_reap(pid)? {
                    break status;
                }
            },
        };
        self.reaped = true;
        Ok(status)
    }

    fn killpg(&self) {
        // SAFETY: killpg has no memory-safety preconditions; a stale group id yields ESRCH.
        unsafe {
            libc::killpg(self.pid, libc::SIGKILL);
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
        if !self.cleaned {
            self.killpg();
        }
        if self.reaped {
            return;
        }
        // SIGKILL lands within microseconds; reap the leader now so it does not linger
        // as a zombie. If it is slower, a thread waits for it.
        for _ in 0..100 {
            match try_reap(self.pid) {
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
        let pid = self.pid;
        let _ = std::thread::Builder::new()
            .name("medic-reaper".into())
            .spawn(move || reap(pid));
    }
}

/// `spec` started by std's `Command`, which looks a bare program name up on `PATH`.
pub(super) fn spawn_with_std(spec: &Spec<'_>) -> io::Result<Started> {
    let mut command = std::process::Command::new(spec.program);
    command
        .arg0(spec.arg0)
        .args(spec.args)
        .envs(spec.env.iter().copied())
        .current_dir(spec.cwd)
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(io::Error::other("the child's pipes are missing"));
    };
    // Dropping std's `Child` neither waits nor kills: the group takes over.
    Ok(Started {
        pid,
        pidfd: None,
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
}

/// The read end of a pipe, made non-blocking (the write end, the child's, is not).
fn non_blocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on an fd we own. A pipe's read end has no other status flag set.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A non-blocking read end, registered with the runtime.
fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

/// Read what a non-blocking pipe holds into `capture`, without waiting. `None` when it
/// reached its end; else the pipe, still held open by some process.
fn read_available(fd: OwnedFd, capture: &mut Capture, ctx: &StepContext) -> Option<OwnedFd> {
    let mut buf = take_read_buffer();
    let open = loop {
        buf.clear();
        let spare = buf.spare_capacity_mut();
        // SAFETY: read writes at most `spare.len()` bytes into the spare capacity.
        let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        match usize::try_from(n) {
            Ok(0) => break false,
            Ok(n) => {
                // SAFETY: the read initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(n) };
                capture.push(&buf, ctx);
            }
            Err(_) => match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => break true,
                // As `pump`: a read error ends the stream.
                _ => break false,
            },
        }
    };
    give_back_read_buffer(buf);
    if open {
        return Some(fd);
    }
    capture.finish(ctx);
    None
}

/// A pidfd for `pid`, or `None` where the kernel has none (before Linux 5.3).
fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the syscall returned a new fd that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reap `pid` if it has exited.
fn try_reap(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    waitpid(pid, libc::WNOHANG)
}

/// Wait for `pid` to exit and reap it.
pub(super) fn reap(pid: libc::pid_t) -> io::Result<ExitStatus> {
    waitpid(pid, 0)?.ok_or_else(|| io::Error::other("waitpid returned without a child"))
}

/// `waitpid` with `flags`, again when interrupted; `None` when `WNOHANG` found the
/// child still running.
fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into the int it is given.
        match unsafe { libc::waitpid(pid, &mut status, flags) } {
            0 => return Ok(None),
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            _ => return Ok(Some(ExitStatus::from_raw(status))),
        }
    }
}

/// Wait for `pid` to exit, leaving it to be reaped.
fn wait_exited(pid: libc::pid_t) -> io::Result<()> {
    loop {
        // SAFETY: waitid writes into the siginfo it is given.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT;
        // SAFETY: as above; `pid` is our child.
        match unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            _ => return Ok(()),
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
async fn pump(mut reader: impl AsyncRead + Unpin, capture: &mut Capture, ctx: &StepContext) {
    let mut buf = take_read_buffer();
    loop {
        buf.clear();
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => capture.push(&buf, ctx),
        }
    }
    capture.finish(ctx);
    give_back_read_buffer(buf);
}

/// [`pump`] a pipe that has not reached its end yet, if any.
async fn pump_if_open(reader: Option<pipe::Receiver>, capture: &mut Capture, ctx: &StepContext) {
    if let Some(reader) = reader {
        pump(reader, capture, ctx).await;
    }
}

/// An empty buffer to read a pipe into, with [`READ_BUFFER`] bytes of spare capacity.
///
/// Reads go into spare capacity: a zeroed buffer cost a 16 KiB memset per stream and
/// step, for commands that mostly print little or nothing. The buffer comes from a
/// pool: two 16 KiB blocks allocated and freed next to the heap's top each step made
/// glibc consolidate its free lists every time.
fn take_read_buffer() -> Vec<u8> {
    READ_BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_else(|| Vec::with_capacity(READ_BUFFER))
}

fn give_back_read_buffer(buf: Vec<u8>) {
    let mut pool = READ_BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < KEPT_READ_BUFFERS && buf.capacity() == READ_BUFFER {
        pool.push(buf);
    }
}

/// Bytes read from a pipe at a time.
const READ_BUFFER: usize = 16 * 1024;
/// Read buffers kept for later steps: two per step running at once, up to a point.
const KEPT_READ_BUFFERS: usize = 32;
static READ_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

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
