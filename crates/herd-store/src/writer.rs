//! The writer task: the only owner of the log file.
//!
//! Appends arrive on a bounded channel. The writer takes the first command and everything else
//! already queued (up to [`MAX_BATCH`]), encodes the appends into one buffer and writes it with
//! one `write` on a blocking thread; meanwhile new appends queue up for the next batch. That is
//! group commit: in `Fsync::Always` one fsync covers a whole batch, and each appender's reply is
//! sent only after it. In `Fsync::Batch` the first unsynced write starts a 10 ms timer and the
//! writer syncs when it fires (or at the next batch after it). Control commands (sync, compaction
//! steps, close) are handled in channel order, after the appends queued before them are flushed.
//!
//! Failures never panic or stop the writer: it logs them, answers waiting appenders with
//! [`StoreError::Write`], keeps the records queued and retries with a growing delay.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::error::StoreError;
use super::format;
use super::sink::{Counters, LogSink};
use super::Fsync;

/// Most commands taken from the channel into one batch.
const MAX_BATCH: usize = 4096;
/// Longest time data stays unsynced in `Fsync::Batch`.
const BATCH_SYNC_DELAY: Duration = Duration::from_millis(10);
/// In `Fsync::Batch`, how long the writer lets appends gather after writing a batch before it
/// looks at its queue again. While it sleeps it is not waiting on the queue, so an append
/// costs the appender no wake-up of the writer, and the writer hands one write to a blocking
/// thread per millisecond instead of one per handful of records (perf of a server at 50
/// connections × depth 1: handing writes to blocking threads and back took 7.6 % of its
/// time, the writes themselves 4.7 %). It stays well inside what `Batch` promises (a sync at
/// most [`BATCH_SYNC_DELAY`] after a write); `Always` (appenders wait) and `Never` (nothing
/// is held back from the kernel) do not gather.
const GATHER: Duration = Duration::from_millis(1);
/// First delay before retrying a failed write; it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Longest delay between retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Bytes of appends a compaction may hold in memory before it is abandoned.
const RECORDING_CAP: usize = 64 << 20;

/// A reply channel for a result.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What the [`Store`](super::Store) handle asks of the writer.
pub(crate) enum Command {
    /// Append one record; `done` (only in `Fsync::Always`) is answered once it is durable.
    Append {
        /// The record's key.
        key: Bytes,
        /// The record's payload.
        payload: Bytes,
        /// Where to report durability, if the caller waits for it.
        done: Option<Reply<()>>,
    },
    /// Append records in this order, as one command; `done` as for `Append`, for all of them.
    AppendMany {
        /// The records' keys and payloads.
        records: Vec<(Bytes, Bytes)>,
        /// Where to report durability, if the caller waits for it.
        done: Option<Reply<()>>,
    },
    /// Start keeping a copy of every append, for the compaction about to take its snapshot.
    BeginCompaction {
        /// Dropped by the compaction if it is abandoned; the writer then stops copying.
        alive: oneshot::Sender<()>,
        /// Answered once every earlier append is handled: the snapshot may be taken after it.
        done: oneshot::Sender<()>,
    },
    /// Make the written snapshot file the log, adding the appends copied since the snapshot.
    FinishCompaction {
        /// The snapshot file, synced, holding the header and the snapshot's frames.
        file: File,
        /// Its temporary path.
        tmp: PathBuf,
        /// Its length.
        len: u64,
        /// Answered with the new log's size and the number of appends carried over.
        done: Reply<(u64, u64)>,
    },
    /// Flush and sync everything handled so far.
    Sync {
        /// Answered once everything is synced (or failed to be).
        done: Reply<()>,
    },
    /// Flush, sync and stop.
    Close {
        /// Answered once everything is synced (or failed to be).
        done: Reply<()>,
    },
}

/// The appends seen since a compaction's snapshot.
struct Recording {
    /// Closed when the compaction was dropped.
    alive: oneshot::Sender<()>,
    /// Copies (cheap: reference-counted) of the appends, in order.
    records: Vec<(Bytes, Bytes)>,
    /// Their frame size, bounded by [`RECORDING_CAP`].
    bytes: usize,
    /// The cap was passed: the compaction will be abandoned.
    overflowed: bool,
}

/// The writer task's state.
pub(crate) struct Writer {
    /// The log; `None` only while a blocking step has it, or after a blocking task died.
    sink: Option<LogSink>,
    /// Commands from the store handles.
    rx: mpsc::Receiver<Command>,
    /// When to sync.
    fsync: Fsync,
    /// Set while a compaction is between its snapshot and its switch.
    recording: Option<Recording>,
    /// In `Fsync::Batch`, when the unsynced data must be synced.
    sync_due: Option<Instant>,
    /// After a failure, when to try again.
    retry_at: Option<Instant>,
    /// The next retry delay.
    retry_delay: Duration,
    /// The latest write or sync failure, reported by `close`.
    last_error: Option<Arc<std::io::Error>>,
    /// Shared counters.
    counters: Arc<Counters>,
}

impl Writer {
    /// A writer for `sink`, reading commands from `rx`.
    pub fn new(
        sink: LogSink,
        rx: mpsc::Receiver<Command>,
        fsync: Fsync,
        counters: Arc<Counters>,
    ) -> Self {
        Writer {
            sink: Some(sink),
            rx,
            fsync,
            recording: None,
            sync_due: None,
            retry_at: None,
            retry_delay: FIRST_RETRY_DELAY,
            last_error: None,
            counters,
        }
    }

    /// Runs until closed, or until every handle is dropped (then it flushes and stops).
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(64);
        loop {
            let wake = match (self.sync_due, self.retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let first = match wake {
                Some(at) => tokio::select! {
                    cmd = self.rx.recv() => cmd,
                    () = tokio::time::sleep_until(at) => {
                        if !self.flush(Vec::new(), false).await {
                            return;
                        }
                        continue;
                    }
                },
                None => self.rx.recv().await,
            };
            let Some(first) = first else {
                let sync = self.fsync != Fsync::Never;
                self.flush(Vec::new(), sync).await;
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            let mut waiters = Vec::new();
            let appended = batch
                .iter()
                .any(|c| matches!(c, Command::Append { .. } | Command::AppendMany { .. }));
            for cmd in batch.drain(..) {
                let keep_going = match cmd {
                    Command::Append { key, payload, done } => {
                        if !self.take(&key, &payload) {
                            return;
                        }
                        waiters.extend(done);
                        true
                    }
                    Command::AppendMany { records, done } => {
                        for (key, payload) in &records {
                            if !self.take(key, payload) {
                                return;
                            }
                        }
                        waiters.extend(done);
                        true
                    }
                    control => {
                        self.flush(std::mem::take(&mut waiters), false).await
                            && self.control(control).await
                    }
                };
                if !keep_going {
                    return;
                }
            }
            if !self.flush(waiters, false).await {
                return;
            }
            if appended && self.fsync == Fsync::Batch {
                tokio::time::sleep(GATHER).await;
            }
        }
    }

    /// Handles a non-append command; returns false when the writer must stop.
    async fn control(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Append { .. } | Command::AppendMany { .. } => true,
            Command::BeginCompaction { alive, done } => {
                self.recording = Some(Recording {
                    alive,
                    records: Vec::new(),
                    bytes: 0,
                    overflowed: false,
                });
                let _ = done.send(());
                true
            }
            Command::FinishCompaction {
                file,
                tmp,
                len,
                done,
            } => self.finish_compaction(file, tmp, len, done).await,
            Command::Sync { done } => {
                let (alive, result) = self.sync_all().await;
                let _ = done.send(result);
                alive
            }
            Command::Close { done } => {
                let (_, result) = self.sync_all().await;
                // Release the file and the directory lock before answering, so the caller
                // may open the store again as soon as `close` returns.
                self.sink = None;
                let _ = done.send(result);
                false
            }
        }
    }

    /// Writes and fsyncs everything; returns whether the writer still has its log, and how it
    /// went.
    async fn sync_all(&mut self) -> (bool, Result<(), StoreError>) {
        let alive = self.flush(Vec::new(), true).await;
        let clean = alive && !self.sink.as_ref().is_some_and(LogSink::has_unsynced);
        let result = match (clean, self.last_error.clone()) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(StoreError::Write(e)),
            (false, None) => Err(StoreError::Closed),
        };
        (alive, result)
    }

    /// Keeps a copy of an append while a compaction waits for it.
    /// Adds one appended record to the write buffer (and to a compaction's copy). False when
    /// the file is gone (the writer has closed).
    fn take(&mut self, key: &Bytes, payload: &Bytes) -> bool {
        self.copy_for_compaction(key, payload);
        match self.sink.as_mut() {
            Some(sink) => {
                sink.push(key, payload);
                true
            }
            None => false,
        }
    }

    fn copy_for_compaction(&mut self, key: &Bytes, payload: &Bytes) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        if rec.alive.is_closed() {
            self.recording = None;
            return;
        }
        if rec.overflowed {
            return;
        }
        rec.bytes += format::frame_len(key.len(), payload.len());
        if rec.bytes > RECORDING_CAP {
            rec.overflowed = true;
            rec.records = Vec::new();
        } else {
            rec.records.push((key.clone(), payload.clone()));
        }
    }

    /// Switches to the compacted file; returns false when the writer must stop.
    async fn finish_compaction(
        &mut self,
        file: File,
        tmp: PathBuf,
        len: u64,
        done: Reply<(u64, u64)>,
    ) -> bool {
        let records = match self.recording.take() {
            Some(rec) if !rec.overflowed => rec.records,
            Some(_) => {
                let _ = std::fs::remove_file(&tmp);
                let _ = done.send(Err(StoreError::CompactionAbandoned(
                    "too many appends arrived while it ran",
                )));
                return true;
            }
            None => {
                let _ = std::fs::remove_file(&tmp);
                let _ = done.send(Err(StoreError::CompactionAbandoned(
                    "the writer was not told when the snapshot was taken",
                )));
                return true;
            }
        };
        let carried = records.len() as u64;
        let outcome = self
            .on_sink(move |sink| {
                let result = sink.install(file, &tmp, len, &records);
                if result.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                result
            })
            .await;
        let Some(result) = outcome else {
            return false;
        };
        if result.is_ok() {
            self.counters.compactions.fetch_add(1, Ordering::Relaxed);
            self.sync_due = None;
            self.retry_at = None;
            self.retry_delay = FIRST_RETRY_DELAY;
        }
        let _ = done.send(result.map(|size| (size, carried)));
        true
    }

    /// Writes what is queued and syncs if the mode (or `force_sync`) says so, then answers
    /// `waiters`. Returns false when the writer lost its log and must stop.
    async fn flush(&mut self, waiters: Vec<Reply<()>>, force_sync: bool) -> bool {
        let now = Instant::now();
        let sync = force_sync
            || match self.fsync {
                Fsync::Always => true,
                Fsync::Batch => self.sync_due.is_some_and(|due| due <= now),
                Fsync::Never => false,
            };
        let Some(sink) = self.sink.as_ref() else {
            return false;
        };
        let work = sink.has_pending() || (sync && sink.has_unsynced());
        let result = if work {
            match self.on_sink(move |sink| sink.flush(sync)).await {
                Some(result) => result,
                None => return false,
            }
        } else {
            Ok(())
        };
        match result {
            Ok(()) => {
                for done in waiters {
                    let _ = done.send(Ok(()));
                }
                self.retry_at = None;
                self.retry_delay = FIRST_RETRY_DELAY;
                self.last_error = None;
                let unsynced = self.sink.as_ref().is_some_and(LogSink::has_unsynced);
                if self.fsync == Fsync::Batch && unsynced {
                    self.sync_due.get_or_insert(now + BATCH_SYNC_DELAY);
                } else {
                    self.sync_due = None;
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for done in waiters {
                    let _ = done.send(Err(StoreError::Write(Arc::clone(&e))));
                }
                self.retry_at = Some(Instant::now() + self.retry_delay);
                self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY_DELAY);
                self.last_error = Some(e);
            }
        }
        true
    }

    /// Runs `step` on the log on a blocking thread; `None` if that thread died.
    async fn on_sink<R, F>(&mut self, step: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut LogSink) -> R + Send + 'static,
    {
        let mut sink = self.sink.take()?;
        match tokio::task::spawn_blocking(move || {
            let result = step(&mut sink);
            (sink, result)
        })
        .await
        {
            Ok((sink, result)) => {
                self.sink = Some(sink);
                Some(result)
            }
            Err(e) => {
                tracing::error!(error = %e, "store writer lost its blocking task; stopping");
                None
            }
        }
    }
}
