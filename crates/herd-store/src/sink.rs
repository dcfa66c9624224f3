//! The blocking half of the writer: the log file, what is queued for it, what is written but
//! not yet synced, and how a failed write or sync is undone so it can be retried.
//!
//! Invariants: the file holds valid frames up to `len`; everything before `synced_len` was
//! fsynced; `unsynced` is a copy of the bytes in `synced_len..len` (kept only when syncing);
//! `pending` holds frames not yet written. After a failed write the bytes past `len` are
//! unknown, so the file is cut back to `len` before the next write. After a failed fsync the
//! kernel may have dropped the dirty pages, so the unsynced bytes move back to `pending` and are
//! written again: a retry never leaves a hole or a half frame in the middle of the log.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::durable;
use super::error::StoreError;
use super::format;

/// Queued bytes above which a writer that keeps failing drops them rather than grow memory.
const PENDING_CAP: usize = 64 << 20;

/// Counters the writer updates and [`Store::stats`](super::Store::stats) reads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Current log size in bytes.
    pub file_bytes: AtomicU64,
    /// Size of the live frames at the last open or compaction.
    pub live_bytes_at_rewrite: AtomicU64,
    /// Records written since open.
    pub records_written: AtomicU64,
    /// Failed writes or syncs since open.
    pub write_errors: AtomicU64,
    /// Records dropped after failures filled the retry queue.
    pub records_lost: AtomicU64,
    /// Compactions completed since open.
    pub compactions: AtomicU64,
    /// Successful fsyncs of the log since open.
    pub syncs: AtomicU64,
}

/// The log file and the writer's view of it.
pub(crate) struct LogSink {
    /// The open log.
    file: File,
    /// Its path, for renames and error messages.
    path: PathBuf,
    /// The store directory, fsynced after renames.
    dir: PathBuf,
    /// Bytes known to be written (all valid frames).
    len: u64,
    /// Bytes known to be fsynced.
    synced_len: u64,
    /// Frames queued but not written yet.
    pending: Vec<u8>,
    /// Records in `pending`.
    pending_records: u64,
    /// Copy of the written but unsynced bytes, to redo them after a failed fsync.
    unsynced: Vec<u8>,
    /// Whether `unsynced` is kept (not in `Fsync::Never`, which never syncs while running).
    keep_unsynced: bool,
    /// A failed write may have left bytes past `len`.
    dirty_tail: bool,
    /// A rename happened whose directory fsync failed; retried with the next sync.
    dir_unsynced: bool,
    /// Shared counters.
    counters: Arc<Counters>,
    /// The directory lock, held as long as the writer lives.
    _lock: File,
}

impl LogSink {
    /// Wraps a replayed log whose valid frames end at `end`.
    pub fn new(
        file: File,
        dir: &Path,
        end: u64,
        keep_unsynced: bool,
        counters: Arc<Counters>,
        lock: File,
    ) -> Self {
        counters.file_bytes.store(end, Ordering::Relaxed);
        LogSink {
            file,
            path: dir.join(durable::LOG_NAME),
            dir: dir.to_path_buf(),
            len: end,
            synced_len: end,
            pending: Vec::new(),
            pending_records: 0,
            unsynced: Vec::new(),
            keep_unsynced,
            dirty_tail: false,
            dir_unsynced: false,
            counters,
            _lock: lock,
        }
    }

    /// Queues one record.
    pub fn push(&mut self, key: &[u8], payload: &[u8]) {
        format::encode(&mut self.pending, key, payload);
        self.pending_records += 1;
    }

    /// Whether anything is queued or written but not synced.
    pub fn has_unsynced(&self) -> bool {
        !self.pending.is_empty() || self.len != self.synced_len || self.dir_unsynced
    }

    /// Whether anything is queued and not written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes what is queued and, if `sync`, fsyncs everything written.
    ///
    /// # Errors
    /// The first I/O error; the records stay queued for the next call (see the module docs).
    pub fn flush(&mut self, sync: bool) -> io::Result<()> {
        let result = self
            .write_pending()
            .and_then(|()| if sync { self.sync() } else { Ok(()) });
        if let Err(e) = &result {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            let path = self.path.display();
            tracing::error!(path = %path, error = %e, "store write failed; will retry");
            if self.pending.len() > PENDING_CAP {
                tracing::error!(
                    records = self.pending_records,
                    "store retry queue is full; dropping queued records"
                );
                self.counters
                    .records_lost
                    .fetch_add(self.pending_records, Ordering::Relaxed);
                self.pending.clear();
                self.pending_records = 0;
            }
        }
        result
    }

    /// Writes `pending` at `len`, cutting off what a failed write left there first.
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.dirty_tail {
            self.file.set_len(self.len)?;
            self.dirty_tail = false;
        }
        if let Err(e) = self.file.write_all_at(&self.pending, self.len) {
            self.dirty_tail = true;
            return Err(e);
        }
        self.len += self.pending.len() as u64;
        if self.keep_unsynced {
            self.unsynced.extend_from_slice(&self.pending);
        }
        self.counters
            .records_written
            .fetch_add(self.pending_records, Ordering::Relaxed);
        self.counters.file_bytes.store(self.len, Ordering::Relaxed);
        self.pending.clear();
        self.pending_records = 0;
        Ok(())
    }

    /// Fsyncs what was written; on failure, queues the unsynced bytes to be written again.
    fn sync(&mut self) -> io::Result<()> {
        if self.dir_unsynced {
            durable::sync_dir(&self.dir)?;
            self.dir_unsynced = false;
        }
        if self.len == self.synced_len {
            return Ok(());
        }
        if let Err(e) = self.file.sync_data() {
            if self.keep_unsynced {
                let mut redo = std::mem::take(&mut self.unsynced);
                redo.extend_from_slice(&self.pending);
                self.pending = redo;
                self.len = self.synced_len;
                self.dirty_tail = true;
                self.counters.file_bytes.store(self.len, Ordering::Relaxed);
            }
            return Err(e);
        }
        self.synced_len = self.len;
        self.unsynced.clear();
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Finishes a compaction: appends the records that arrived since its snapshot to the new
    /// file, makes it the log (fsync, rename, fsync directory) and switches to it.
    ///
    /// Every queued or unsynced record is either in the snapshot (it was appended before the
    /// snapshot was taken) or in `since_snapshot`, so both are dropped once the switch is made.
    ///
    /// # Errors
    /// The failed step; the old log stays in use, unchanged. (A failed directory sync after
    /// the rename is logged and retried with the next sync, not returned.)
    pub fn install(
        &mut self,
        file: File,
        tmp: &Path,
        mut len: u64,
        since_snapshot: &[(Bytes, Bytes)],
    ) -> Result<u64, StoreError> {
        let mut tail = Vec::new();
        for (key, payload) in since_snapshot {
            format::encode(&mut tail, key, payload);
        }
        file.write_all_at(&tail, len)
            .map_err(|e| StoreError::io("writing", tmp, e))?;
        len += tail.len() as u64;
        file.sync_all()
            .map_err(|e| StoreError::io("syncing", tmp, e))?;
        std::fs::rename(tmp, &self.path)
            .map_err(|e| StoreError::io("renaming into place", tmp, e))?;
        self.file = file;
        self.len = len;
        self.synced_len = len;
        self.pending.clear();
        self.pending_records = 0;
        self.unsynced.clear();
        self.dirty_tail = false;
        self.counters.file_bytes.store(len, Ordering::Relaxed);
        if let Err(e) = durable::sync_dir(&self.dir) {
            // The switch is made; the directory sync is retried with the next sync.
            tracing::error!(dir = %self.dir.display(), error = %e, "cannot sync store directory");
            self.dir_unsynced = true;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use super::*;

    /// A sink whose file refuses writes (opened read-only) keeps its records and, once the file
    /// works again, writes each of them exactly once with no garbage in between.
    #[test]
    fn failed_writes_are_retried_without_holes_or_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(durable::LOG_NAME);
        std::fs::write(&path, format::header()).unwrap();
        let lock = durable::lock_dir(dir.path()).unwrap();
        let read_only = File::open(&path).unwrap();
        let counters = Arc::new(Counters::default());
        let end = format::HEADER_LEN as u64;
        let mut sink = LogSink::new(
            read_only,
            dir.path(),
            end,
            true,
            Arc::clone(&counters),
            lock,
        );

        sink.push(b"a", b"1");
        assert!(sink.flush(true).is_err());
        sink.push(b"b", b"2");
        assert!(sink.flush(true).is_err());
        assert_eq!(counters.write_errors.load(Ordering::Relaxed), 2);
        assert!(sink.has_pending());

        sink.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        sink.push(b"a", b"3");
        sink.flush(true).unwrap();
        assert!(!sink.has_unsynced());

        let mut expected = format::header().to_vec();
        format::encode(&mut expected, b"a", b"1");
        format::encode(&mut expected, b"b", b"2");
        format::encode(&mut expected, b"a", b"3");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert_eq!(counters.records_written.load(Ordering::Relaxed), 3);
        assert_eq!(
            counters.file_bytes.load(Ordering::Relaxed),
            expected.len() as u64
        );
    }
}
