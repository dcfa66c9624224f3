//! A durable, append-only record store: one newest payload per key, kept in a log file.
//!
//! The store keeps opaque `(key, payload)` records in `DIR/records.log`. The caller appends a
//! record each time a key gets a new value; replaying the log with "the last append per key
//! wins" gives back the table. The store never interprets payloads.
//!
//! Modules, one concept each:
//! - `append`: [`Store::append`], and permits that fix the order of appends (see below);
//! - [`config`]: fsync modes and the compaction policy; [`error`]: what can go wrong;
//! - [`format`](mod@format): the header and the checksummed frame around each record (pure functions);
//! - `recover`: replay at open, cutting a torn tail and refusing damage in the middle;
//! - [`repair`](mod@repair): salvage every valid record around damage into a clean log;
//! - `writer` and `sink`: the task that owns the file, batching appends (group commit) and
//!   retrying failed writes, and its blocking file half;
//! - `compact`: rewriting the log down to the live records while appends go on;
//! - `durable`: the directory lock and atomic file replacement.
//!
//! # Compaction and concurrent appends
//! [`Store::compact`] asks the writer to start copying every append it handles (a cheap
//! reference-counted copy), and only after the writer confirms does it call the caller's
//! snapshot closure. So every append is in the snapshot (the caller updates its table before
//! appending, so an append handled before the confirmation is already in the table) or in the
//! copy (handled after). The snapshot is written to a temporary file on a blocking thread while
//! the writer keeps appending to the old log. Then the writer, between two batches, appends the
//! copied records to the new file, fsyncs it, renames it over the log, fsyncs the directory and
//! carries on in the new file. Appends pause only for that last step.
//!
//! # Order of appends
//! Replay keeps the *last appended* record per key, so the log's order must match the order in
//! which the caller's table changed. Two tasks that update the same key and then call
//! [`Store::append`] could reach the writer in the other order. When that can happen, take an
//! [`AppendPermit`] first (`store.reserve().await`), then, under the table's lock, decide
//! newer-wins and send with [`AppendPermit::append`], which is synchronous and fixes the order;
//! await the returned [`Durable`] after releasing the lock.
//!
//! # Durability
//! See [`Fsync`]. A record whose `append` returned in `Fsync::Always` survives a crash. The
//! store holds an exclusive lock on `DIR/LOCK` while open.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod append;
mod compact;
pub mod config;
mod durable;
pub mod error;
pub mod format;
mod recover;
pub mod repair;
mod sink;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

pub use append::{AppendPermit, Durable};
pub use compact::CompactReport;
pub use config::{CompactionPolicy, Fsync, StoreConfig, Supersedes, UnknownFsync};
pub use error::StoreError;
pub use recover::{Recovered, RecoveryStats};
pub use repair::{repair, RepairReport};

use sink::{Counters, LogSink};
use writer::{Command, Writer};

/// A cheap, cloneable handle to an open store; the writer task stops when the last handle is
/// dropped (after flushing) or when [`Store::close`] is called.
#[derive(Clone)]
pub struct Store {
    /// Shared by all clones.
    inner: Arc<Inner>,
}

/// The state behind a [`Store`] handle.
struct Inner {
    /// Commands to the writer task.
    tx: mpsc::Sender<Command>,
    /// The store directory.
    dir: PathBuf,
    /// How the store was opened.
    config: StoreConfig,
    /// Counters the writer keeps.
    counters: Arc<Counters>,
    /// Serialises compactions.
    compaction: Mutex<()>,
}

/// A snapshot of the store's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Current size of the log file.
    pub file_bytes: u64,
    /// Size of the live records at the last open or compaction: the size a compaction would
    /// give then. The caller knows the live size now; see [`record_size`].
    pub live_bytes_at_rewrite: u64,
    /// Records written since open.
    pub records_written: u64,
    /// Failed writes or syncs since open (each is retried).
    pub write_errors: u64,
    /// Records given up after failures filled the retry queue.
    pub records_lost: u64,
    /// Compactions completed since open.
    pub compactions: u64,
    /// Fsyncs of the log since open (fewer than appends in `Fsync::Always` when appends
    /// share them).
    pub syncs: u64,
}

/// Bytes one record takes in the log; sum it over the live table for `needs_compaction`.
#[must_use]
pub fn record_size(key: &[u8], payload: &[u8]) -> u64 {
    format::frame_len(key.len(), payload.len()) as u64
}

impl Store {
    /// Opens the store in `dir` with default settings and the given fsync mode.
    ///
    /// # Errors
    /// As [`Store::open_with`].
    pub async fn open(dir: &Path, fsync: Fsync) -> Result<(Store, Recovered), StoreError> {
        let config = StoreConfig {
            fsync,
            ..StoreConfig::default()
        };
        Store::open_with(dir, config).await
    }

    /// Opens the store in `dir` (creating it), replays the log and starts the writer task.
    ///
    /// Must be called inside a tokio runtime. A torn last record is cut off.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for damage in the middle of the log (run [`repair()`]),
    /// [`StoreError::Locked`] when another store has the directory open,
    /// [`StoreError::NotALog`] / [`StoreError::UnsupportedVersion`] for a foreign file, and
    /// [`StoreError::Io`] for file-system failures.
    pub async fn open_with(
        dir: &Path,
        config: StoreConfig,
    ) -> Result<(Store, Recovered), StoreError> {
        let supersedes = config.supersedes;
        let (store, recovered, ()) = Store::open_by(dir, config, move |dir| {
            Ok((recover::open_log(dir, supersedes)?, ()))
        })
        .await?;
        Ok((store, recovered))
    }

    /// Opens the store in `dir` like [`Store::open_with`], but builds no table: every valid
    /// record of the log goes to `visit(&mut state, key, payload)`, in log order, superseded
    /// ones included, on a blocking thread; `state` is handed back when the log is read. For
    /// a caller whose own table keeps the newest record per key: a restart then holds each
    /// record once instead of twice. The returned stats have `live_records` and `live_bytes`
    /// at 0, and [`StoreStats::live_bytes_at_rewrite`] is 0 until the first compaction.
    ///
    /// # Errors
    /// As [`Store::open_with`].
    pub async fn open_replaying<S, V>(
        dir: &Path,
        config: StoreConfig,
        mut state: S,
        mut visit: V,
    ) -> Result<(Store, RecoveryStats, S), StoreError>
    where
        S: Send + 'static,
        V: FnMut(&mut S, &[u8], &[u8]) + Send + 'static,
    {
        let (store, recovered, state) = Store::open_by(dir, config, move |dir| {
            let log = recover::open_log_each(dir, |key, payload| visit(&mut state, key, payload))?;
            Ok((log, state))
        })
        .await?;
        Ok((store, recovered.stats, state))
    }

    /// Opens the store in `dir` (creating it) with `replay` reading the log, under the
    /// directory's lock on a blocking thread, then starts the writer task.
    async fn open_by<T: Send + 'static>(
        dir: &Path,
        config: StoreConfig,
        replay: impl FnOnce(&Path) -> Result<(recover::OpenLog, T), StoreError> + Send + 'static,
    ) -> Result<(Store, Recovered, T), StoreError> {
        let dir = dir.to_path_buf();
        let counters = Arc::new(Counters::default());
        let (sink, recovered, extra) = {
            let target = dir.clone();
            let counters = Arc::clone(&counters);
            tokio::task::spawn_blocking(move || {
                let dir = target;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StoreError::io("creating directory", &dir, e))?;
                let lock = durable::lock_dir(&dir)?;
                durable::remove_leftovers(&dir);
                let (log, extra) = replay(&dir)?;
                counters
                    .live_bytes_at_rewrite
                    .store(log.recovered.stats.live_bytes, Ordering::Relaxed);
                let keep_unsynced = config.fsync != Fsync::Never;
                let sink = LogSink::new(log.file, &dir, log.end, keep_unsynced, counters, lock);
                Ok::<_, StoreError>((sink, log.recovered, extra))
            })
            .await
            .map_err(|e| StoreError::io("opening", &dir, std::io::Error::other(e)))??
        };
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        tokio::spawn(Writer::new(sink, rx, config.fsync, Arc::clone(&counters)).run());
        let store = Store {
            inner: Arc::new(Inner {
                tx,
                dir,
                config,
                counters,
                compaction: Mutex::new(()),
            }),
        };
        Ok((store, recovered, extra))
    }

    /// Writes and fsyncs every record appended before this call, whatever the fsync mode.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the write or sync failed (the writer keeps retrying),
    /// [`StoreError::Closed`] after `close`.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let (done, synced) = oneshot::channel();
        self.send(Command::Sync { done }).await?;
        synced.await.map_err(|_| StoreError::Closed)?
    }

    /// Flushes and fsyncs everything appended, then stops the writer; later appends fail with
    /// [`StoreError::Closed`].
    ///
    /// # Errors
    /// [`StoreError::Write`] when the final flush failed, [`StoreError::Closed`] if already
    /// closed.
    pub async fn close(&self) -> Result<(), StoreError> {
        let (done, closed) = oneshot::channel();
        self.send(Command::Close { done }).await?;
        closed.await.map_err(|_| StoreError::Closed)?
    }

    /// The store's counters now.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        StoreStats {
            file_bytes: c.file_bytes.load(Ordering::Relaxed),
            live_bytes_at_rewrite: c.live_bytes_at_rewrite.load(Ordering::Relaxed),
            records_written: c.records_written.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            records_lost: c.records_lost.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
        }
    }

    /// Whether the log is worth compacting, given the live records' size (the sum of
    /// [`record_size`] over the caller's table), by the store's [`CompactionPolicy`].
    #[must_use]
    pub fn needs_compaction(&self, live_bytes: u64) -> bool {
        let file = self.inner.counters.file_bytes.load(Ordering::Relaxed);
        self.inner.config.compaction.wants(file, live_bytes)
    }

    /// Whether an append waits until its record is fsynced (`Fsync::Always`).
    pub fn appends_wait_for_sync(&self) -> bool {
        self.inner.config.fsync == Fsync::Always
    }

    /// The store directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Sends a command to the writer.
    async fn send(&self, cmd: Command) -> Result<(), StoreError> {
        self.inner
            .tx
            .send(cmd)
            .await
            .map_err(|_| StoreError::Closed)
    }
}

#[cfg(test)]
mod tests;
