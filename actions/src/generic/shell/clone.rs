//! Starting a child with `clone3` directly, where the kernel and the architecture allow
//! (Linux 5.5 or later, x86-64): the same child as `posix_spawn` makes (see `spawn`),
//! for less work on every start.
//!
//! glibc's `posix_spawn` maps a fresh stack for the child and unmaps it afterwards (an
//! `munmap` in a multi-threaded process flushes the TLB of every CPU running one of its
//! threads), and its child asks the kernel for each signal's disposition or resets it
//! (about 60 `sigaction` calls while Medic waits for the exec). Here the child runs on
//! a stack each thread keeps for it, `CLONE_CLEAR_SIGHAND` has the kernel reset every
//! handled signal in one go, and `CLONE_PIDFD` returns the pidfd the wait needs, which
//! would otherwise take a `pidfd_open`.
//!
//! Like `posix_spawn`, the child shares Medic's memory (`CLONE_VM`) and Medic's
//! calling thread is suspended until the child has exec'd or exited (`CLONE_VFORK`), so
//! the child may read what that thread prepared and must do nothing but system calls:
//! no allocation, no lock, no unwinding. Where `clone3` is refused (an older kernel, a
//! seccomp filter such as Docker's default profile), the caller falls back to
//! `posix_spawn` for the rest of the process's life.

use std::ffi::c_char;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// What the child needs, prepared by the parent; every pointer outlives the clone.
pub(super) struct Child {
    pub program: *const c_char,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    pub cwd: *const c_char,
    /// The descriptors that become the child's 0, 1 and 2, in that order.
    pub stdio: [RawFd; 3],
}

/// Start `child` in a process group of its own; returns its pid and pidfd. `None` when
/// `clone3` cannot be used here: the caller starts the child another way.
pub(super) fn spawn(child: &Child) -> Option<io::Result<(libc::pid_t, OwnedFd)>> {
    static REFUSED: AtomicBool = AtomicBool::new(false);
    #[cfg(test)]
    if OFF_ON_THIS_THREAD.with(std::cell::Cell::get) {
        return None;
    }
    if REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    match start(child) {
        Err(e) if is_refusal(&e) => {
            REFUSED.store(true, Ordering::Relaxed);
            None
        }
        done => Some(done),
    }
}

#[cfg(test)]
thread_local! {
    /// Set by a test to have this thread's children started by `posix_spawn`, the way a
    /// kernel that refuses `clone3` starts them.
    pub(super) static OFF_ON_THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The errors of a `clone3` the kernel or a filter does not allow, as opposed to a
/// failed start (no memory, too many processes) that `posix_spawn` would meet too.
fn is_refusal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::EPERM | libc::E2BIG)
    )
}

const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// `struct clone_args` as of Linux 5.5 (`CLONE_ARGS_SIZE_VER1`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// Bytes of the child's stack: it makes a handful of system calls.
const STACK_BYTES: usize = 32 * 1024;

thread_local! {
    /// The stack this thread's children run on until they exec. One is enough: the
    /// thread is suspended while its child uses it. 16-byte aligned, as the ABI wants.
    static STACK: Box<[u128]> = vec![0u128; STACK_BYTES / 16].into_boxed_slice();
}

/// What the child reads and where it reports a failure before exec.
struct Shared<'a> {
    child: &'a Child,
    /// The error number of the step that failed, 0 while none has.
    error: AtomicI32,
}

fn start(child: &Child) -> io::Result<(libc::pid_t, OwnedFd)> {
    let shared = Shared {
        child,
        error: AtomicI32::new(0),
    };
    let mut pidfd: RawFd = -1;
    let (stack, stack_size) = STACK
        .try_with(|s| (s.as_ptr() as u64, (s.len() * 16) as u64))
        // The thread is exiting and its stack is gone: not a place to start children.
        .map_err(|_| io::Error::from_raw_os_error(libc::ENOSYS))?;
    let mut args = CloneArgs {
        flags: CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack,
        stack_size,
        ..CloneArgs::default()
    };
    // No signal may run one of Medic's handlers in the child before the kernel has
    // reset them, nor interrupt this thread half-way: all are blocked around the
    // clone, and the child unblocks them just before exec.
    // SAFETY: sigfillset and pthread_sigmask write only into the sets they are given.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `args` describes a stack only this thread's children use, and this
    // thread is suspended until the child has exec'd or exited; `child_main` makes only
    // system calls, on memory that lives until `clone3` returns.
    let pid = unsafe { clone3(&mut args, child_main, &shared as *const Shared as *mut _) };
    // SAFETY: as above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    if pid < 0 {
        return Err(io::Error::from_raw_os_error(-pid as i32));
    }
    let pid = pid as libc::pid_t;
    // SAFETY: the kernel wrote a new pidfd, owned by nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    match shared.error.load(Ordering::Acquire) {
        0 => Ok((pid, pidfd)),
        error => {
            // The child exited before exec: reap it, and report why it could not start.
            let _ = super::process::reap(pid);
            Err(io::Error::from_raw_os_error(error))
        }
    }
}

/// The child, from the clone to the exec: what `posix_spawn` does with Medic's file
/// actions and attributes, in the same order. Never returns.
extern "C" fn child_main(shared: *mut libc::c_void) -> ! {
    // SAFETY: `shared` points at the parent's `Shared`, alive and unchanged while the
    // parent is suspended; the calls below only read the strings and arrays it names.
    unsafe {
        let shared = &*(shared as *const Shared);
        let child = shared.child;
        // SIGPIPE at its default, as std's `Command` leaves it, even if Medic ignored it
        // (`CLONE_CLEAR_SIGHAND` resets handled signals only).
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        if libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut()) != 0 {
            fail(shared);
        }
        if libc::setpgid(0, 0) != 0 {
            fail(shared);
        }
        for (target, &fd) in child.stdio.iter().enumerate() {
            let target = target as RawFd;
            let done = if fd == target {
                // Already in place: only the close-on-exec flag must go.
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            };
            if done == -1 {
                fail(shared);
            }
        }
        if libc::chdir(child.cwd) != 0 {
            fail(shared);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        // The raw call: glibc's wrapper would keep its own two signals as they are.
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &none as *const libc::sigset_t,
            std::ptr::null_mut::<libc::sigset_t>(),
            std::mem::size_of::<libc::c_ulong>(),
        );
        libc::execve(child.program, child.argv, child.envp);
        fail(shared)
    }
}

/// Report the current error number to the parent and exit, from the child.
///
/// # Safety
/// Only in the child, before exec.
unsafe fn fail(shared: &Shared) -> ! {
    // SAFETY: the child's thread pointer is the parent thread's, whose errno it is.
    unsafe {
        let errno = *libc::__errno_location();
        shared.error.store(errno.max(1), Ordering::Release);
        libc::_exit(127)
    }
}

/// `clone3(args)`, with the child calling `entry(arg)` on the stack `args` names.
///
/// A raw system call, because the child starts on its new stack: it cannot return into
/// the frame that made the call, so it calls `entry` from here, which never returns.
///
/// # Safety
/// `args` must name a stack of `stack_size` bytes that nothing else uses until the
/// child execs or exits, and `entry` must not return.
unsafe fn clone3(
    args: &mut CloneArgs,
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> i64 {
    let ret: i64;
    // SAFETY: upheld by the caller. The parent gets the kernel's return in rax, with
    // rcx and r11 clobbered by `syscall` as always; the child, with rax = 0 and rsp at
    // the top of its stack (16-byte aligned, so the `call` leaves it as the ABI
    // expects), calls `entry` with `arg`, saved across the call in r12 and r13.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r13",
            "call r12",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") entry,
            in("r13") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
