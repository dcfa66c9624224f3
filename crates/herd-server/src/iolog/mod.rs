//! The I/O log: every input line, output line and link event of one server, with timestamps.
//!
//! Written off the async workers: callers push entries into a queue bounded in bytes and
//! never wait; one writer thread formats them and does all the file work. Modules:
//! - this one: the [`IoLog`] handle (push, counters) and the byte bound of its queue;
//! - `writer`: the writer thread (batches, rotation points, reports of its counters);
//! - `file`: `herd.log` itself (0600, reopen when lost, rotation, retry with backoff);
//! - `stamps`: timestamps formatted once a second.
//!
//! Answering never depends on the log. An entry that does not fit in the queue (a slow, full
//! or failing disk) is dropped; so are the lines the writer cannot write. Both are counted,
//! the counters are warned about on stderr when they change and written into the log once it
//! works again, and [`IoLog::counters`] shows them.
//!
//! An entry holds its own copy of the line, never a slice of a caller's buffer: a slice of a
//! 64 KiB read buffer would keep all of it alive while queued, and the byte bound would then
//! count only a sliver of the memory held.

mod file;
mod stamps;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::config::StorageConfig;

/// What an entry costs in the queue beyond its text: its share of the channel's slot (the
/// message and the slot's state), its place in the writer's batch and the allocator's
/// overhead.
const ENTRY_COST: usize = std::mem::size_of::<Message>() + 32;
/// How long [`IoLogWriter::finish`] waits for the writer (a hung disk must not hang shutdown).
const FINISH_DEADLINE: Duration = Duration::from_secs(5);

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A line received from a client (`<`).
    Input,
    /// An answer sent to a client (`>`).
    Output,
    /// A link or server event (`*`).
    Event,
}

/// How much one log may hold: in memory (its queue) and on disk (its files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Bytes of entries waiting for the writer, at most; an entry that does not fit is dropped.
    pub queue_bytes: usize,
    /// The size at which `herd.log` is rotated.
    pub max_file_bytes: u64,
    /// Rotated files kept (`herd.log.1` .. `herd.log.N`); 0 removes a full log.
    pub keep: usize,
}

impl Default for LogLimits {
    /// The `[storage]` defaults: 64 MiB of queue, 64 MiB files, 3 rotated files.
    fn default() -> Self {
        LogLimits::from(&StorageConfig::default())
    }
}

impl From<&StorageConfig> for LogLimits {
    fn from(storage: &StorageConfig) -> Self {
        LogLimits {
            queue_bytes: storage.log_queue_bytes,
            max_file_bytes: storage.log_max_bytes,
            keep: storage.log_keep,
        }
    }
}

/// What the log has lost and done so far, for warnings and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoLogCounters {
    /// Lines not in the file: dropped because the queue was full, or not written because the
    /// file could not be opened, rotated or written.
    pub lines_dropped: u64,
    /// Failed attempts to open, write or rotate the file.
    pub write_errors: u64,
    /// Times the file was rotated.
    pub rotations: u64,
    /// Bytes the queue holds now (at most [`LogLimits::queue_bytes`]).
    pub queued_bytes: usize,
}

/// The entries of one [`LogBatch`]: their texts one after another, where each ends, their
/// kinds, one time for all, and what they count against the queue's bound. The writer keeps
/// them so until they are written (an entry costs it no handle of its own on the text).
struct Lot {
    /// When the first was pushed.
    at: SystemTime,
    /// The texts, one after another.
    text: Bytes,
    /// Each entry's kind and where its text ends in `text`.
    ends: Vec<(Kind, usize)>,
    /// What the lot counts against the queue's bound, given back once it is written.
    cost: usize,
}

/// What the writer thread receives.
enum Message {
    /// Entries gathered by a [`LogBatch`].
    Entries(Lot),
    /// Write what is queued, then stop.
    Close,
}

/// What pushers and the writer share: the queue's byte count and the counters.
struct Shared {
    /// Bytes queued now.
    queued: AtomicUsize,
    /// The most bytes that may be queued.
    limit: usize,
    /// See [`IoLogCounters::lines_dropped`].
    lines_dropped: AtomicU64,
    /// See [`IoLogCounters::write_errors`].
    write_errors: AtomicU64,
    /// See [`IoLogCounters::rotations`].
    rotations: AtomicU64,
}

impl Shared {
    fn new(limit: usize) -> Shared {
        Shared {
            queued: AtomicUsize::new(0),
            limit,
            lines_dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
        }
    }

    /// Counts `cost` bytes as queued if they fit under the limit.
    fn reserve(&self, cost: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued.checked_add(cost).filter(|&q| q <= self.limit)
            })
            .is_ok()
    }

    /// Gives back `cost` bytes the writer has taken out of the queue.
    fn release(&self, cost: usize) {
        self.queued.fetch_sub(cost, Ordering::AcqRel);
    }

    /// Counts the lines of `text` as dropped.
    fn dropped(&self, text: &[u8]) {
        self.lines_dropped
            .fetch_add(lines(text).count() as u64, Ordering::Relaxed);
    }

    /// Counts the lines of a batch's entries (texts in `text`, ending at `ends`) as dropped.
    fn dropped_entries(&self, text: &[u8], ends: &[(Kind, usize)]) {
        let mut start = 0;
        for &(_, end) in ends {
            self.dropped(&text[start..end]);
            start = end;
        }
    }

    fn counters(&self) -> IoLogCounters {
        IoLogCounters {
            lines_dropped: self.lines_dropped.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            queued_bytes: self.queued.load(Ordering::Acquire),
        }
    }
}

/// A handle to a server's log. Cloning shares the writer; pushing never blocks.
#[derive(Clone)]
pub struct IoLog {
    /// The queue to the writer thread (None for a log that discards everything).
    queue: Option<mpsc::Sender<Message>>,
    /// The queue's byte count and the counters.
    shared: Arc<Shared>,
}

/// The writer side, to be finished at shutdown so the last entries reach the file.
pub struct IoLogWriter {
    /// Where `Close` is sent.
    queue: mpsc::Sender<Message>,
    /// Resolves when the writer thread has written everything and stopped.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl IoLogWriter {
    /// Writes every entry pushed so far, then stops the writer. Gives up after a few seconds
    /// on a disk that hangs, so that shutdown always ends.
    pub async fn finish(mut self) {
        let _ = self.queue.send(Message::Close);
        if let Some(done) = self.done.take() {
            if tokio::time::timeout(FINISH_DEADLINE, done).await.is_err() {
                tracing::warn!(
                    "the I/O log writer did not finish within {FINISH_DEADLINE:?}; its last lines may be lost"
                );
            }
        }
    }
}

impl Drop for IoLogWriter {
    /// A writer dropped without [`IoLogWriter::finish`] still writes what is queued and stops.
    fn drop(&mut self) {
        if self.done.is_some() {
            let _ = self.queue.send(Message::Close);
        }
    }
}

impl IoLog {
    /// Starts the writer thread of the log at `path` (appending; its folder and the file are
    /// created). A file that cannot be opened now is retried by the writer; answering goes on.
    pub fn open(path: &Path, limits: LogLimits) -> (IoLog, IoLogWriter) {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::new(limits.queue_bytes));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        writer::spawn(path.to_path_buf(), limits, rx, shared.clone(), done_tx);
        (
            IoLog {
                queue: Some(tx.clone()),
                shared,
            },
            IoLogWriter {
                queue: tx,
                done: Some(done_rx),
            },
        )
    }

    /// A log that writes nothing (for tools and tests that do not want a file).
    pub fn discard() -> IoLog {
        IoLog {
            queue: None,
            shared: Arc::new(Shared::new(0)),
        }
    }

    /// Records a line received from a client (copied: see the module's notes).
    pub fn input(&self, line: Bytes) {
        self.batch().push(Kind::Input, &line);
    }

    /// Records an answer sent to a client (one entry per line of it; a last `\n` is
    /// optional).
    pub fn output(&self, answer: Bytes) {
        self.batch().push(Kind::Output, &answer);
    }

    /// A batch that gathers entries and queues them together when flushed or dropped: one
    /// message and one clock reading for the lot, for a task that logs many lines at once.
    pub fn batch(&self) -> LogBatch<'_> {
        LogBatch {
            log: self,
            at: None,
            text: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Records an event such as a link coming up.
    pub fn event(&self, text: impl Into<String>) {
        self.batch().push(Kind::Event, text.into().as_bytes());
    }

    /// What the log has lost and done so far.
    pub fn counters(&self) -> IoLogCounters {
        self.shared.counters()
    }
}

/// Entries of one task, queued together (see [`IoLog::batch`]): they share the time of the
/// first, so flush before anything that may wait (an upstream call, a disk sync), and the lines
/// after it get a time of their own. Every entry reaches the writer this way (a single one is
/// a batch of one); each holds its own copy of its text (see the module's notes).
pub struct LogBatch<'a> {
    /// Where they go.
    log: &'a IoLog,
    /// When the first was pushed, once one was.
    at: Option<SystemTime>,
    /// Their texts, one after another.
    text: Vec<u8>,
    /// Each one's kind and where its text ends.
    ends: Vec<(Kind, usize)>,
}

/// Bytes of text a batch gathers before it queues them on its own.
const BATCH_TEXT: usize = 64 * 1024;

impl LogBatch<'_> {
    /// As [`IoLog::input`].
    pub fn input(&mut self, line: &[u8]) {
        self.push(Kind::Input, line);
    }

    /// As [`IoLog::output`].
    pub fn output(&mut self, answer: &[u8]) {
        self.push(Kind::Output, answer);
    }

    /// As [`IoLog::event`].
    pub fn event(&mut self, text: &str) {
        self.push(Kind::Event, text.as_bytes());
    }

    fn push(&mut self, kind: Kind, text: &[u8]) {
        if self.log.queue.is_none() {
            return;
        }
        self.at.get_or_insert_with(SystemTime::now);
        self.text.extend_from_slice(text);
        self.ends.push((kind, self.text.len()));
        if self.text.len() >= BATCH_TEXT {
            self.flush();
        }
    }

    /// Queues what was gathered (as one message), or counts it as dropped when it does not
    /// fit in the queue.
    pub fn flush(&mut self) {
        let Some(at) = self.at.take() else { return };
        let (Some(queue), ends) = (&self.log.queue, std::mem::take(&mut self.ends)) else {
            return;
        };
        let text = std::mem::take(&mut self.text);
        let shared = &self.log.shared;
        // Each entry counts as its text and [`ENTRY_COST`], alone or in a batch.
        let cost = text.len() + ends.len() * ENTRY_COST;
        if !shared.reserve(cost) {
            shared.dropped_entries(&text, &ends);
            return;
        }
        let message = Message::Entries(Lot {
            at,
            text: Bytes::from(text),
            ends,
            cost,
        });
        if let Err(mpsc::SendError(Message::Entries(Lot {
            text, ends, cost, ..
        }))) = queue.send(message)
        {
            shared.release(cost);
            shared.dropped_entries(&text, &ends);
        }
    }
}

impl Drop for LogBatch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The log lines of an entry's text: split at `\n`, a last `\n` not starting another line.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.split(|&b| b == b'\n')
}
