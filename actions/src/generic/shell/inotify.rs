//! A non-blocking inotify instance: what the `PATH` lookups (`lookup`) and the step
//! directory (`scratch`) watch their directories with.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug)]
pub(super) struct Inotify(OwnedFd);

/// One event: what happened, and to which name in the watched directory (empty when
/// it happened to the directory itself, or for a queue overflow).
pub(super) struct Event<'a> {
    pub mask: u32,
    pub name: &'a OsStr,
}

impl Inotify {
    /// A new instance, non-blocking and closed on exec.
    pub(super) fn new() -> io::Result<Inotify> {
        // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: inotify_init1 returned a new fd that nothing else owns.
        Ok(Inotify(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watch `path` for the events in `mask`.
    pub(super) fn add_watch(&self, path: &Path, mask: u32) -> io::Result<()> {
        let name = CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: `name` is a NUL-terminated path; the fd is our inotify instance.
        let wd = unsafe { libc::inotify_add_watch(self.0.as_raw_fd(), name.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Take every queued event, in order, without waiting. An error means events may
    /// have been lost: unreadable events cannot be trusted to be none.
    pub(super) fn drain(&self, mut each: impl FnMut(Event<'_>)) -> io::Result<()> {
        // Aligned for `inotify_event`; room for many events with short names.
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: read writes at most the buffer's size into it.
            let n = unsafe {
                libc::read(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            let n = match usize::try_from(n) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(_) => {
                    let error = io::Error::last_os_error();
                    match error.kind() {
                        io::ErrorKind::WouldBlock => return Ok(()),
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(error),
                    }
                }
            };
            // SAFETY: the kernel wrote `n` bytes of whole events into the buffer.
            let mut bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
            while bytes.len() >= HEADER {
                // SAFETY: a whole header is there; read unaligned, as names pad events.
                let event: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                let end = (HEADER + event.len as usize).min(bytes.len());
                let name = bytes[HEADER..end]
                    .split(|&b| b == 0)
                    .next()
                    .unwrap_or_default();
                each(Event {
                    mask: event.mask,
                    name: OsStr::from_bytes(name),
                });
                bytes = &bytes[end..];
            }
        }
    }
}
