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

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The private directory, created when a step first needs it.
#[derive(Debug, Default)]
pub(super) struct ScratchDir {
    dir: Mutex<Option<tempfile::TempDir>>,
    issued: AtomicU64,
}

impl ScratchDir {
    /// A path in the directory that no step was given before. Nothing exists there.
    pub(super) fn fresh_path(&self, stem: &str) -> io::Result<ScratchPath> {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.dir.lock().unwrap_or_else(|p| p.into_inner());
        let dir = match kept.take() {
            Some(dir) if dir.path().is_dir() => dir,
            // A long-lived process may see its directory cleaned away (tmpfiles,
            // tmpreaper): a step must still be able to write its outputs.
            // tempfile's directories get the umask's mode (0755 most often): ask.
            _ => tempfile::Builder::new()
                .prefix("medic-steps-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()?,
        };
        let path = dir.path().join(format!("{stem}-{n}"));
        *kept = Some(dir);
        Ok(ScratchPath(path))
    }
}

/// A path handed to one step. Whatever the step left there is removed on drop.
#[derive(Debug)]
pub(super) struct ScratchPath(PathBuf);

impl ScratchPath {
    /// The path.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchPath {
    fn drop(&mut self) {
        // Most steps declare no outputs and never created the file: NotFound is normal.
        let _ = std::fs::remove_file(&self.0);
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
        let dir = first.path().parent().unwrap().to_path_buf();
        assert_eq!(second.path().parent(), Some(dir.as_path()));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");

        std::fs::write(first.path(), "x=1\n").unwrap();
        let written = first.path().to_path_buf();
        drop(first);
        assert!(!written.exists());
        drop(second);
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn a_directory_cleaned_away_is_made_again() {
        let scratch = ScratchDir::default();
        let dir = scratch
            .fresh_path("output")
            .unwrap()
            .path()
            .parent()
            .unwrap()
            .to_path_buf();
        std::fs::remove_dir(&dir).unwrap();
        let again = scratch.fresh_path("output").unwrap();
        std::fs::write(again.path(), "x=1\n").unwrap();
    }
}
