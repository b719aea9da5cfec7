//! Where steps' `$MEDIC_OUTPUT` files go: one private directory for as long as the
//! action lives, and in it a new name for every step, whose file the step creates only
//! if it declares outputs.
//!
//! A temporary file per step cost an inode allocation and a journal entry to create
//! and another to delete, about 30 µs a step on ext4, for a file that most steps never
//! write. The directory keeps what the per-step file had: it is private (0700) under
//! an unpredictable name, nothing a step leaves there is handed to another (every step
//! gets a name never given before, and its file is removed when the step ends), and
//! the directory is removed with the action.
//!
//! Whether a step created its file is told by an inotify watch on the directory rather
//! than by looking: opening a name never seen before is a search of the directory on
//! disk (ext4 keeps no entry for a name it never had), and with the check that the
//! directory still exists and the removal after, it was about 20 µs of each short
//! step. A step now costs one `read` that finds no event. A file is known to exist
//! from its creation event, which the kernel queues before the creating call returns,
//! so by the time the step's command has exited; a file created under a name whose
//! step has ended (by a process the step left behind) is removed when its event is
//! read. Where the watch cannot tell (no inotify instance left, events lost to an
//! overflowing queue, the directory removed under Medic), a path is looked at as
//! before.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::inotify::Inotify;

/// The private directory, created when a step first needs it.
#[derive(Debug, Default)]
pub(super) struct ScratchDir {
    kept: Mutex<Option<Kept>>,
    issued: AtomicU64,
    /// Counts the directories made, so that a path can tell its directory was replaced.
    generation: AtomicU64,
}

/// The directory and what its watch has seen.
#[derive(Debug)]
struct Kept {
    dir: tempfile::TempDir,
    generation: u64,
    /// `None` where no inotify instance could be had: every path is looked at.
    watch: Option<Watch>,
}

#[derive(Debug)]
struct Watch {
    inotify: Inotify,
    dir: PathBuf,
    /// Names handed out whose paths are not dropped yet.
    live: HashSet<OsString>,
    /// Live names that may have a file: seen created, or events were lost.
    may_exist: HashSet<OsString>,
    /// The directory itself was removed or moved: the watch is gone with it.
    lost: bool,
}

/// The events that make a name exist in the directory, and its own end.
const WATCHED_EVENTS: u32 = libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

impl ScratchDir {
    /// A path in the directory that no step was given before. Nothing exists there.
    pub(super) fn fresh_path(&self, stem: &str) -> io::Result<ScratchPath<'_>> {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.lock();
        if let Some(watch) = kept.as_mut().and_then(|k| k.watch.as_mut()) {
            watch.read_events();
        }
        let usable = match kept.as_ref() {
            Some(Kept {
                watch: Some(watch), ..
            }) => !watch.lost,
            // A long-lived process may see its directory cleaned away (tmpfiles,
            // tmpreaper): a step must still be able to write its outputs.
            Some(Kept {
                dir, watch: None, ..
            }) => dir.path().is_dir(),
            None => false,
        };
        let k = match kept.take() {
            Some(k) if usable => kept.insert(k),
            _ => kept.insert(self.make()?),
        };
        let name = OsString::from(format!("{stem}-{n}"));
        let path = k.dir.path().join(&name);
        if let Some(watch) = k.watch.as_mut() {
            watch.live.insert(name.clone());
        }
        Ok(ScratchPath {
            scratch: self,
            path,
            name,
            generation: k.generation,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn make(&self) -> io::Result<Kept> {
        // tempfile's directories get the umask's mode (0755 most often): ask.
        let dir = tempfile::Builder::new()
            .prefix("medic-steps-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        // Watched before any name is handed out, so that no creation goes unseen.
        let watch = Watch::new(dir.path()).ok();
        Ok(Kept {
            dir,
            generation: self.generation.fetch_add(1, Ordering::Relaxed),
            watch,
        })
    }

    /// Whether something may exist at `path`; forgets it when `forget`.
    fn may_exist(&self, path: &ScratchPath<'_>, forget: bool) -> bool {
        let mut kept = self.lock();
        let Some(k) = kept.as_mut().filter(|k| k.generation == path.generation) else {
            // Its directory was replaced: look.
            return true;
        };
        let Some(watch) = k.watch.as_mut() else {
            return true;
        };
        watch.read_events();
        let may = watch.lost || watch.may_exist.contains(&path.name);
        if forget {
            watch.live.remove(&path.name);
            watch.may_exist.remove(&path.name);
        }
        may
    }
}

impl Watch {
    fn new(dir: &Path) -> io::Result<Watch> {
        let inotify = Inotify::new()?;
        inotify.add_watch(dir, WATCHED_EVENTS)?;
        Ok(Watch {
            inotify,
            dir: dir.to_path_buf(),
            live: HashSet::new(),
            may_exist: HashSet::new(),
            lost: false,
        })
    }

    /// Take in every queued event. Names created that no live path has are removed.
    fn read_events(&mut self) {
        let Watch {
            inotify,
            dir,
            live,
            may_exist,
            lost,
        } = self;
        let mut overflowed = false;
        let read = inotify.drain(|event| {
            if event.mask & libc::IN_Q_OVERFLOW != 0 {
                overflowed = true;
            } else if event.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED)
                != 0
            {
                *lost = true;
            } else if live.contains(event.name) {
                may_exist.insert(event.name.to_os_string());
            } else if !event.name.is_empty() {
                // Created under a name whose step has ended (or was never given): by
                // a process a step left behind. Nobody will read it.
                let _ = std::fs::remove_file(dir.join(event.name));
            }
        });
        if overflowed || read.is_err() {
            self.all_may_exist();
        }
    }

    fn all_may_exist(&mut self) {
        self.may_exist.extend(self.live.iter().cloned());
    }
}

/// A path handed to one step. Whatever the step left there is removed on drop.
#[derive(Debug)]
pub(super) struct ScratchPath<'a> {
    scratch: &'a ScratchDir,
    path: PathBuf,
    name: OsString,
    generation: u64,
}

impl ScratchPath<'_> {
    /// The path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether something may have been created at the path. False only when nothing
    /// was: a step that never wrote its file costs no lookup.
    pub(super) fn may_exist(&self) -> bool {
        self.scratch.may_exist(self, false)
    }
}

impl Drop for ScratchPath<'_> {
    fn drop(&mut self) {
        if self.scratch.may_exist(self, true) {
            // A file the step declared and then removed itself: NotFound is normal.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_new_private_and_removed() {
        let scratch = ScratchDir::default();
        let first = scratch.fresh_path("output").unwrap();
        let second = scratch.fresh_path("output").unwrap();
        assert_ne!(first.path(), second.path());
        assert!(!first.path().exists());
        assert!(!first.may_exist());
        let dir = first.path().parent().unwrap().to_path_buf();
        assert_eq!(second.path().parent(), Some(dir.as_path()));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");

        std::fs::write(first.path(), "x=1\n").unwrap();
        assert!(first.may_exist());
        assert!(!second.may_exist());
        let written = first.path().to_path_buf();
        drop(first);
        assert!(!written.exists());
        drop(second);
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn a_file_moved_into_place_is_seen_too() {
        let scratch = ScratchDir::default();
        let path = scratch.fresh_path("output").unwrap();
        let dir = path.path().parent().unwrap().to_path_buf();
        let elsewhere = tempfile::tempdir().unwrap();
        let staged = elsewhere.path().join("staged");
        std::fs::write(&staged, "x=1\n").unwrap();
        // Within a file system a rename is a move into the directory.
        if std::fs::rename(&staged, path.path()).is_ok() {
            assert!(path.may_exist());
            let moved = path.path().to_path_buf();
            drop(path);
            assert!(!moved.exists());
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn a_file_made_after_its_step_ended_is_removed() {
        let scratch = ScratchDir::default();
        let ended = scratch.fresh_path("output").unwrap();
        let late = ended.path().to_path_buf();
        let dir = late.parent().unwrap().to_path_buf();
        drop(ended);
        // A process the step left behind writes its file now.
        std::fs::write(&late, "x=1\n").unwrap();
        let next = scratch.fresh_path("output").unwrap();
        assert!(!late.exists(), "the late file should be gone");
        assert!(!next.may_exist());
        drop(next);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn a_directory_cleaned_away_is_made_again() {
        let scratch = ScratchDir::default();
        let first = scratch.fresh_path("output").unwrap();
        let dir = first.path().parent().unwrap().to_path_buf();
        std::fs::remove_dir(&dir).unwrap();
        let again = scratch.fresh_path("output").unwrap();
        assert_ne!(again.path().parent(), Some(dir.as_path()));
        std::fs::write(again.path(), "x=1\n").unwrap();
        assert!(again.may_exist());
        // The path in the old directory cannot be told about: it is looked at.
        assert!(first.may_exist());
    }
}
