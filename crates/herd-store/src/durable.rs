//! Crash-safe file-system steps: the store directory's lock, and replacing a file atomically
//! (write a temporary file, fsync it, rename it over the old one, fsync the directory).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::format;

/// Name of the log file inside the store directory.
pub const LOG_NAME: &str = "records.log";
/// Temporary file a compaction writes before renaming it over the log.
pub const COMPACT_TMP: &str = "records.log.compact";
/// Temporary file a repair writes before renaming it over the log.
pub const REPAIR_TMP: &str = "records.log.repair";
/// Temporary file the first header is written to.
pub const CREATE_TMP: &str = "records.log.new";
/// Name of the lock file that keeps two processes out of one directory.
const LOCK_NAME: &str = "LOCK";

/// Takes the directory's exclusive lock; it is held until the returned file is dropped.
///
/// # Errors
/// [`StoreError::Locked`] when another open store holds it, [`StoreError::Io`] when the lock
/// file cannot be opened.
pub fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("opening lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(StoreError::io("locking", path, e)),
    }
}

/// Fsyncs a directory so that renames and creations inside it survive a crash.
///
/// # Errors
/// The I/O error from opening or syncing the directory.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates (or truncates) a temporary log file holding just the header.
///
/// # Errors
/// The I/O error from creating or writing it.
pub fn create_tmp_log(path: &Path) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(&format::header())?;
    Ok(file)
}

/// Makes a fully written temporary file the log: fsync it, rename it over `dest`, fsync the
/// directory. After this returns, a crash finds either the old or the new file, whole.
///
/// # Errors
/// The I/O error of the step that failed; if the rename failed, `dest` is unchanged.
pub fn replace(file: &File, tmp: &Path, dest: &Path) -> Result<(), StoreError> {
    file.sync_all()
        .map_err(|e| StoreError::io("syncing", tmp, e))?;
    fs::rename(tmp, dest).map_err(|e| StoreError::io("renaming into place", tmp, e))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    sync_dir(dir).map_err(|e| StoreError::io("syncing directory", dir, e))
}

/// Writes a fresh, empty log at `dest` atomically.
///
/// # Errors
/// [`StoreError::Io`] naming the step that failed.
pub fn create_log(dir: &Path, dest: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(CREATE_TMP);
    let file = create_tmp_log(&tmp).map_err(|e| StoreError::io("creating", &tmp, e))?;
    replace(&file, &tmp, dest)
}

/// Removes temporary files an interrupted compaction, repair or creation left behind; the
/// rename is the commit point, so they are never needed.
pub fn remove_leftovers(dir: &Path) {
    for name in [COMPACT_TMP, REPAIR_TMP, CREATE_TMP] {
        let path: PathBuf = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed an unfinished temporary log"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove temporary log");
            }
        }
    }
}
