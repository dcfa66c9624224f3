//! What can go wrong in the store, and whether stored state was affected.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// An error from the record store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed; nothing stored was changed by the failed step.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the store was doing, e.g. "opening".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The writer could not write or sync a batch. The records stay queued and the writer keeps
    /// retrying, so they may still become durable; they are not known to be durable yet.
    #[error("the store could not make the record durable (the writer keeps retrying): {0}")]
    Write(#[source] Arc<io::Error>),
    /// A record in the middle of the log is damaged and valid records follow it. Nothing was
    /// changed; the log stays as found until `herd repair` salvages it.
    #[error(
        "store log {} is damaged at byte offset {offset} ({reason}), and valid records follow \
         at byte offset {next_valid}; run `herd repair` on {} to salvage them",
        file.display(),
        dir.display()
    )]
    Corrupt {
        /// The damaged log file.
        file: PathBuf,
        /// The store directory, the argument `herd repair` needs.
        dir: PathBuf,
        /// Byte offset of the first damaged frame.
        offset: u64,
        /// Byte offset of the next valid frame after the damage.
        next_valid: u64,
        /// What is wrong at `offset`.
        reason: &'static str,
    },
    /// The file does not start with a herd store header.
    #[error(
        "{} is not a herd store log (bad header); move it away or run `herd repair`",
        .0.display()
    )]
    NotALog(PathBuf),
    /// The log was written by a format version this build cannot read.
    #[error(
        "{} has store format version {version}, this build reads version {}",
        path.display(),
        super::format::VERSION
    )]
    UnsupportedVersion {
        /// The log file.
        path: PathBuf,
        /// The version found in its header.
        version: u32,
    },
    /// Another store (in this or another process) holds the directory.
    #[error("store directory {} is in use by another herd process", .0.display())]
    Locked(PathBuf),
    /// A record's key and payload together exceed the frame limit.
    #[error("record of {len} bytes exceeds the store limit of {max} bytes")]
    RecordTooLarge {
        /// Key plus payload length of the refused record.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The store was closed (or its writer stopped); nothing was written.
    #[error("the store is closed")]
    Closed,
    /// A compaction gave up; the old log is still in use, nothing was lost.
    #[error("compaction abandoned: {0}")]
    CompactionAbandoned(&'static str),
}

impl StoreError {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
