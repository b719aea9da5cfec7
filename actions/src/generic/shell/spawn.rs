//! Starting a program given by its path with `posix_spawn`, as std's `Command` does,
//! without what `Command` costs on every start once the environment differs from
//! Medic's: reading the whole environment into a map of owned strings, merging the
//! changes, and making a C string of every variable again. Here Medic's variables are
//! passed as they are (pointers into its environment), with those the step sets
//! replaced; stdin is one `/dev/null` opened once.
//!
//! The child is what std's `Command` would start with `process_group(0)`, stdin on
//! `/dev/null` and stdout and stderr piped: the same `posix_spawn` attributes (its own
//! process group, an empty signal mask, SIGPIPE back to its default, no handler of
//! Medic's left; see [`to_default`] for how the latter costs less), the same file
//! actions (the three standard descriptors, then the working directory), and every
//! other descriptor of Medic's closed by exec (Rust opens them all close-on-exec).
//! An exec failure comes back as its error (`ENOENT`, `EACCES`, `ENOEXEC`…).

use std::io;
use std::os::fd::OwnedFd;

use super::process::Spec;

/// A started child: its pid, its pidfd when the start made one, and the read ends of
/// its stdout and stderr.
pub(super) struct Started {
    pub pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Start `spec`.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn spawn(spec: &Spec<'_>) -> io::Result<Started> {
    super::process::spawn_with_std(spec)
}

/// Start `spec`: by `clone3` where it can be used (see `clone`), else by `posix_spawn`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn spawn(spec: &Spec<'_>) -> io::Result<Started> {
    use std::ffi::{CStr, CString, c_char};
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;

    let program = CString::new(spec.program.as_os_str().as_bytes())?;
    let cwd = CString::new(spec.cwd.as_os_str().as_bytes())?;
    let mut args = Vec::with_capacity(spec.args.len() + 1);
    args.push(CString::new(spec.arg0.as_bytes())?);
    for arg in spec.args {
        args.push(CString::new(arg.as_bytes())?);
    }
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());

    // The variables the step sets, the last setting of each name.
    let mut names: Vec<&[u8]> = Vec::with_capacity(spec.env.len());
    let mut set: Vec<CString> = Vec::with_capacity(spec.env.len());
    for (name, value) in spec.env.iter().rev() {
        let name = name.as_bytes();
        if names.contains(&name) {
            continue;
        }
        names.push(name);
        let mut entry = Vec::with_capacity(name.len() + 1 + value.len() + 1);
        entry.extend_from_slice(name);
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        set.push(CString::new(entry)?);
    }
    let mut envp: Vec<*const c_char> = Vec::with_capacity(64 + set.len());
    // Medic's own variables, except those the step sets. Medic never changes its
    // environment once started (std's `set_var` is only used by tests of other
    // crates), so reading `environ` here is as safe as `getenv`.
    // SAFETY: `environ` is a null-terminated array of C strings.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = CStr::from_ptr(*entry).to_bytes();
            // As std reads the environment: the name ends at the first `=` after its
            // first byte; an entry without one is not passed on.
            if let Some(eq) = bytes.iter().skip(1).position(|&b| b == b'=')
                && !names.contains(&&bytes[..eq + 1])
            {
                envp.push(*entry);
            }
            entry = entry.add(1);
        }
    }
    envp.extend(set.iter().map(|e| e.as_ptr()));
    envp.push(std::ptr::null());

    let null = dev_null()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;

    let stdio = [null.as_raw_fd(), stdout_w.as_raw_fd(), stderr_w.as_raw_fd()];
    #[cfg(target_arch = "x86_64")]
    let cloned = super::clone::spawn(&super::clone::Child {
        program: program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: cwd.as_ptr(),
        stdio,
    });
    #[cfg(not(target_arch = "x86_64"))]
    let cloned = None;
    let (pid, pidfd) = match cloned {
        Some(started) => {
            let (pid, pidfd) = started?;
            (pid, Some(pidfd))
        }
        None => (posix_spawn(&program, &argv, &envp, &cwd, stdio)?, None),
    };
    // The write ends belong to the child now.
    drop((stdout_w, stderr_w));
    Ok(Started {
        pid,
        pidfd,
        stdout: stdout_r,
        stderr: stderr_r,
    })
}

/// Start `program` with `posix_spawn`: `stdio` as the child's 0, 1 and 2, `cwd` as its
/// working directory, in a process group of its own, with an empty signal mask and the
/// signals of [`to_default`] at their defaults. `argv` and `envp` end with a null.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn posix_spawn(
    program: &std::ffi::CStr,
    argv: &[*const std::ffi::c_char],
    envp: &[*const std::ffi::c_char],
    cwd: &std::ffi::CStr,
    stdio: [std::os::fd::RawFd; 3],
) -> io::Result<libc::pid_t> {
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attributes and file actions are initialised before use and destroyed
    // by their guards, each given its own init/destroy pair; every pointer handed to
    // posix_spawn outlives the call (the caller owns the strings, `environ`'s entries
    // live as long as the process).
    unsafe {
        let mut actions = Initialised::new(
            libc::posix_spawn_file_actions_init,
            libc::posix_spawn_file_actions_destroy,
        )?;
        let fa = actions.ptr();
        for (target, fd) in stdio.into_iter().enumerate() {
            check(libc::posix_spawn_file_actions_adddup2(
                fa,
                fd,
                target as libc::c_int,
            ))?;
        }
        check(libc::posix_spawn_file_actions_addchdir_np(fa, cwd.as_ptr()))?;

        let mut attrs =
            Initialised::new(libc::posix_spawnattr_init, libc::posix_spawnattr_destroy)?;
        let at = attrs.ptr();
        let mut signals = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(signals.as_mut_ptr());
        check(libc::posix_spawnattr_setsigmask(at, signals.as_ptr()))?;
        check(libc::posix_spawnattr_setsigdefault(at, to_default()))?;
        check(libc::posix_spawnattr_setpgroup(at, 0))?;
        let flags = libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        check(libc::posix_spawnattr_setflags(at, flags as libc::c_short))?;

        check(libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            fa,
            at,
            argv.as_ptr().cast(),
            envp.as_ptr().cast(),
        ))?;
    }
    Ok(pid)
}

/// The signals the child sets to their default disposition before exec: every signal
/// Medic does not ignore, and SIGPIPE (as std's `Command` does).
///
/// glibc's child must not run a handler of Medic's (it shares Medic's memory until
/// exec), so for every signal outside this set it asks the kernel for the disposition
/// and resets a handled one: about 120 `sigaction` calls in every child, while Medic
/// waits for the exec. A signal in the set is reset with one call, without asking. The
/// outcome is the same: a handled signal ends at its default, an ignored one stays
/// ignored (those are left out of the set, and glibc keeps them as they are), a default
/// one stays default. Read once: Medic ignores no signal after it starts (it only sets
/// SIGPIPE back to its default, first thing in `main`). glibc's own two signals (32 and
/// 33, below `SIGRTMIN`) are left to glibc, and SIGKILL and SIGSTOP cannot change.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn to_default() -> *const libc::sigset_t {
    struct Set(libc::sigset_t);
    // SAFETY: a sigset_t is plain bits, read only once built.
    unsafe impl Sync for Set {}
    unsafe impl Send for Set {}
    static SET: std::sync::OnceLock<Set> = std::sync::OnceLock::new();
    let set = SET.get_or_init(|| {
        // SAFETY: sigemptyset/sigaddset write into the set they are given; sigaction
        // with a null new action only reads the current one.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in 1..=libc::SIGRTMAX() {
                if sig == libc::SIGKILL
                    || sig == libc::SIGSTOP
                    || (sig > 31 && sig < libc::SIGRTMIN())
                {
                    continue;
                }
                let mut current: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut current) != 0
                    || current.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                libc::sigaddset(&mut set, sig);
            }
            libc::sigaddset(&mut set, libc::SIGPIPE);
            Set(set)
        }
    });
    &set.0
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    static environ: *const *const std::ffi::c_char;
}

/// `posix_spawn_*` functions return an error number instead of setting `errno`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}

/// A pipe whose both ends are closed on exec (the child's end is dup'ed onto 1 or 2).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new fds into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are new and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `/dev/null` for reading, opened once (close-on-exec; each child gets a copy as 0).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn dev_null() -> io::Result<&'static OwnedFd> {
    static NULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd);
    }
    let file = std::fs::File::open("/dev/null")?;
    Ok(NULL.get_or_init(|| file.into()))
}

/// A libc object that must be initialised before use and destroyed after
/// (`posix_spawn_file_actions_t`, `posix_spawnattr_t`), kept at one address.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct Initialised<T> {
    value: Box<T>,
    destroy: unsafe extern "C" fn(*mut T) -> libc::c_int,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl<T> Initialised<T> {
    /// # Safety
    /// `init` and `destroy` must be the pair of functions for `T`, and an all-zero `T`
    /// a valid place for `init` to write into.
    unsafe fn new(
        init: unsafe extern "C" fn(*mut T) -> libc::c_int,
        destroy: unsafe extern "C" fn(*mut T) -> libc::c_int,
    ) -> io::Result<Self> {
        // SAFETY: upheld by the caller.
        let mut value: Box<T> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: init on owned memory, as the caller promises it may.
        check(unsafe { init(&mut *value) })?;
        Ok(Initialised { value, destroy })
    }

    fn ptr(&mut self) -> *mut T {
        &mut *self.value
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl<T> Drop for Initialised<T> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { (self.destroy)(&mut *self.value) };
    }
}
