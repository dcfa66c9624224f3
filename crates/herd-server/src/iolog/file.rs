//! The log file itself: opened private (0600), reopened when it is deleted or replaced,
//! rotated by size, and retried with a bounded backoff while it cannot be opened or written.
//!
//! Every call here blocks on the file system; only the writer thread makes them.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::LogLimits;

/// How often an open file is checked for having been deleted or replaced.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The first wait before retrying a file that failed; it doubles per failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between retries: a repaired disk is back in the log within this.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Who may read and write the log: its owner only, since it holds every client's location.
const MODE: u32 = 0o600;

/// `herd.log`, open or waiting to be retried, and its rotated predecessors.
pub(super) struct LogFile {
    /// Where the log is written (`dir/NAME/herd.log`).
    path: PathBuf,
    /// The size at which the file is rotated.
    max_bytes: u64,
    /// How many rotated files (`herd.log.1` newest .. `herd.log.N`) are kept.
    keep: usize,
    /// The open file, `None` while it cannot be opened or after it failed.
    file: Option<File>,
    /// Device and inode of the open file, to notice the path now names another file.
    identity: (u64, u64),
    /// Bytes in the open file: what it had when opened plus what was written since.
    size: u64,
    /// When the open file was last checked against the path.
    checked_at: Instant,
    /// When a closed file is tried again.
    retry_at: Instant,
    /// The wait after the next failure.
    backoff: Duration,
}

impl LogFile {
    /// A log at `path` with the file limits of `limits`, not opened yet (the first
    /// [`LogFile::maintain`] opens it).
    pub(super) fn new(path: PathBuf, limits: &LogLimits) -> LogFile {
        let now = Instant::now();
        LogFile {
            path,
            max_bytes: limits.max_file_bytes,
            keep: limits.keep,
            file: None,
            identity: (0, 0),
            size: 0,
            checked_at: now,
            retry_at: now,
            backoff: FIRST_BACKOFF,
        }
    }

    /// The path of the current file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether lines can be written now.
    pub(super) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Bytes in the open file.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Rotated files kept.
    pub(super) fn keep(&self) -> usize {
        self.keep
    }

    /// The size at which the file is rotated.
    pub(super) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// How long the writer may sleep before [`LogFile::maintain`] has work to do.
    pub(super) fn idle_wait(&self, now: Instant) -> Duration {
        let due = if self.file.is_some() {
            self.checked_at + CHECK_EVERY
        } else {
            self.retry_at
        };
        due.saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    /// Opens the file when it is closed and its retry is due, and reopens it when the path
    /// no longer names the open file (deleted, moved away, replaced; checked once per
    /// [`CHECK_EVERY`]).
    ///
    /// # Errors
    /// The error of a failed (re)open; the file is then closed and retried after a backoff.
    pub(super) fn maintain(&mut self, now: Instant) -> io::Result<()> {
        if self.file.is_some() {
            if now < self.checked_at + CHECK_EVERY {
                return Ok(());
            }
            self.checked_at = now;
            let same =
                std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
            if same {
                return Ok(());
            }
            self.file = None;
        } else if now < self.retry_at {
            return Ok(());
        }
        self.open().inspect_err(|_| self.failed(now))
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    /// The write's error; the file is then closed and retried after a backoff.
    pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(file) = &mut self.file else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the log is not open",
            ));
        };
        match file.write_all(bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                self.backoff = FIRST_BACKOFF;
                Ok(())
            }
            Err(e) => {
                self.failed(Instant::now());
                Err(e)
            }
        }
    }

    /// Moves the file to `herd.log.1` (shifting older ones up and dropping the oldest past
    /// `keep`; with `keep` 0 it is removed) and opens a new one.
    ///
    /// # Errors
    /// The first rename, removal or open that failed; the file is then closed and retried
    /// after a backoff, and rotated before anything more is written to it.
    pub(super) fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        self.shift()
            .and_then(|()| self.open())
            .inspect_err(|_| self.failed(Instant::now()))
    }

    /// The renames (or removal) of a rotation.
    fn shift(&self) -> io::Result<()> {
        if self.keep == 0 {
            return ignore_missing(std::fs::remove_file(&self.path));
        }
        for n in (1..self.keep).rev() {
            ignore_missing(std::fs::rename(self.rotated(n), self.rotated(n + 1)))?;
        }
        ignore_missing(std::fs::rename(&self.path, self.rotated(1)))
    }

    /// The path of the `n`th rotated file (`herd.log.n`).
    pub(super) fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Opens the file for appending, creating its folder and the file (mode 0600); a
    /// regular file that others could read (left by an older version) is made private, and
    /// one that cannot be is not written (an error, retried like any other).
    fn open(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(MODE)
            .open(&self.path)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.permissions().mode() & 0o777 != MODE {
            file.set_permissions(Permissions::from_mode(MODE))?;
        }
        self.identity = (meta.dev(), meta.ino());
        self.size = meta.len();
        self.checked_at = Instant::now();
        self.file = Some(file);
        Ok(())
    }

    /// Closes the file and schedules the next try.
    fn failed(&mut self, now: Instant) {
        self.file = None;
        self.retry_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// `result`, with "not found" counted as done (a rotated file that does not exist yet).
fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
