//! Finding a program on `PATH`, remembered between steps and never stale.
//!
//! Looking `cargo` up on a typical `PATH` is a `statx` of every directory's
//! `cargo` until one exists: nine system calls for `true` on a CI runner's `PATH`,
//! about a twentieth of what Medic spends on a short shell step. Shells remember
//! where they found a program (`hash`) and can run a stale path when a program is
//! installed earlier on `PATH`, which is why scripts call `hash -r`. A workflow must
//! not depend on that, so here every directory a lookup searched is watched with
//! inotify first, and any change in any of them — a file created, removed, renamed
//! or `chmod`ed, the directory itself moved or removed, the event queue overflowing —
//! forgets everything remembered. A step then finds exactly what an uncached lookup
//! would, for the price of one `read` that finds no event.
//!
//! What is not watched is not remembered: a result found through a symbolic link
//! (whose target may change where no watch sees it), a search through a directory
//! that is a symbolic link or cannot be watched (missing, unreadable), or any lookup
//! when the process has no inotify instance left.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::inotify::Inotify;

/// Remembered lookups past which everything is forgotten, to bound memory.
const MAX_REMEMBERED: usize = 1024;

/// The events that can change what a lookup in a directory finds.
const WATCHED_EVENTS: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// Where `program` is on `path` (a `PATH` value), as the shell would find it: the
/// first directory holding an executable regular file of that name. `None` also when
/// an empty or relative entry comes first: the shell resolves those against the
/// step's working directory, so it is left to the shell.
pub(super) fn find_on_path(program: &str, path: &OsStr) -> Option<PathBuf> {
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    match cache.get_or_insert_with(|| Watched::new().map_err(|_| ())) {
        Ok(watched) => watched.find(program, path),
        Err(()) => search(program, path, |_| true).0,
    }
}

/// The process's lookups: `None` until the first, `Err` when inotify is unavailable.
static CACHE: Mutex<Option<Result<Watched, ()>>> = Mutex::new(None);

/// Lookups remembered while no directory they searched has changed.
struct Watched {
    inotify: Inotify,
    /// Directories with a watch on them.
    directories: HashSet<PathBuf>,
    /// What `(PATH, program)` found.
    found: HashMap<(OsString, String), Option<PathBuf>>,
}

impl Watched {
    fn new() -> io::Result<Self> {
        Ok(Watched {
            inotify: Inotify::new()?,
            directories: HashSet::new(),
            found: HashMap::new(),
        })
    }

    fn find(&mut self, program: &str, path: &OsStr) -> Option<PathBuf> {
        if self.changed() {
            // A watch may be gone with its directory, and a directory made again
            // under the same name is a new one to watch.
            self.found.clear();
            self.directories.clear();
        }
        let key = (path.to_os_string(), program.to_string());
        if let Some(found) = self.found.get(&key) {
            return found.clone();
        }
        // Each directory is watched before it is searched, so that a change right
        // after the search is seen by the next lookup.
        let (found, rememberable) = search(program, path, |dir| self.watch(dir));
        if rememberable {
            if self.found.len() >= MAX_REMEMBERED {
                self.found.clear();
            }
            self.found.insert(key, found.clone());
        }
        found
    }

    /// Whether an event arrived since the last call (reading them all).
    fn changed(&mut self) -> bool {
        let mut changed = false;
        // Events that could not be read cannot be trusted to be none.
        self.inotify.drain(|_| changed = true).is_err() || changed
    }

    /// Watch `dir`; false when it cannot be watched or is a symbolic link.
    fn watch(&mut self, dir: &Path) -> bool {
        if self.directories.contains(dir) {
            return true;
        }
        if std::fs::symlink_metadata(dir).map_or(true, |m| !m.is_dir()) {
            return false;
        }
        if self.inotify.add_watch(dir, WATCHED_EVENTS).is_err() {
            return false;
        }
        self.directories.insert(dir.to_path_buf());
        true
    }
}

/// Search `path` for `program`, calling `watch` on each directory before searching
/// it. Returns what was found and whether it may be remembered: every directory
/// searched was watched and the result is not a symbolic link.
fn search(
    program: &str,
    path: &OsStr,
    mut watch: impl FnMut(&Path) -> bool,
) -> (Option<PathBuf>, bool) {
    let mut rememberable = true;
    for dir in std::env::split_paths(path) {
        if !dir.is_absolute() {
            return (None, rememberable);
        }
        rememberable &= watch(&dir);
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            rememberable &= std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.is_file());
            return (Some(candidate), rememberable);
        }
    }
    (None, rememberable)
}

/// Whether `path` is a regular file (after links) with an exec bit.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn tool(dir: &Path, name: &str) -> PathBuf {
        let file = dir.join(name);
        fs::write(&file, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        file
    }

    fn path_of(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).unwrap()
    }

    #[test]
    fn programs_are_found_like_the_shell_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
        }
        // Not executable in `a`, executable in `b`: the shell skips the first.
        std::fs::write(a.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(a.join("dir-not-file")).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        // Twice: searched, then remembered.
        for _ in 0..2 {
            assert_eq!(find_on_path("tool", &path), Some(b.join("tool")));
            assert_eq!(find_on_path("dir-not-file", &path), None);
            assert_eq!(find_on_path("missing", &path), None);
        }
        assert_eq!(find_on_path("tool", OsStr::new("")), None);
        // A relative entry first: which `tool` it means depends on the step's folder.
        let relative = std::env::join_paths([Path::new("bin"), &b]).unwrap();
        assert_eq!(find_on_path("tool", &relative), None);
        let relative_after = std::env::join_paths([&b, Path::new("bin")]).unwrap();
        assert_eq!(find_on_path("tool", &relative_after), Some(b.join("tool")));
    }

    #[test]
    fn a_program_installed_earlier_on_path_is_found_at_once() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        let b_tool = tool(&b, "tool");
        let path = path_of(&[&a, &b]);
        assert_eq!(find_on_path("tool", &path), Some(b_tool.clone()));
        let a_tool = tool(&a, "tool");
        assert_eq!(find_on_path("tool", &path), Some(a_tool.clone()));
        // Made not executable, then removed: the search moves on to `b` again.
        fs::set_permissions(&a_tool, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_on_path("tool", &path), Some(b_tool.clone()));
        fs::set_permissions(&a_tool, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_on_path("tool", &path), Some(a_tool.clone()));
        fs::remove_file(&a_tool).unwrap();
        assert_eq!(find_on_path("tool", &path), Some(b_tool.clone()));
        fs::rename(&b_tool, b.join("renamed")).unwrap();
        assert_eq!(find_on_path("tool", &path), None);
    }

    #[test]
    fn a_directory_made_later_is_searched() {
        let root = tempfile::tempdir().unwrap();
        let (missing, b) = (root.path().join("missing"), root.path().join("b"));
        fs::create_dir_all(&b).unwrap();
        let b_tool = tool(&b, "tool");
        let path = path_of(&[&missing, &b]);
        assert_eq!(find_on_path("tool", &path), Some(b_tool));
        fs::create_dir(&missing).unwrap();
        let made = tool(&missing, "tool");
        assert_eq!(find_on_path("tool", &path), Some(made));
    }

    #[test]
    fn a_program_found_through_a_symbolic_link_is_checked_every_time() {
        let root = tempfile::tempdir().unwrap();
        let (bin, elsewhere) = (root.path().join("bin"), root.path().join("elsewhere"));
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        let target = tool(&elsewhere, "tool-1.0");
        symlink(&target, bin.join("tool")).unwrap();
        let path = path_of(&[&bin]);
        assert_eq!(find_on_path("tool", &path), Some(bin.join("tool")));
        // Nothing in `bin` changes, but the link's target stops being executable.
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_on_path("tool", &path), None);
    }
}
