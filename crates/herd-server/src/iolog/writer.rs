//! The writer thread: takes queued entries in batches, formats one `stamp mark line` per
//! line, and writes them through the [`LogFile`], rotating between lines so that no file grows
//! past its limit. It owns the file, so all blocking file work happens on this one thread.
//!
//! Losses are never silent: lines that cannot be written are counted, every counter that
//! changed is warned about on stderr (at most once a second, and once more at the end), and
//! the counts are written into the log as soon as it can be written again.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::file::LogFile;
use super::stamps::Stamps;
use super::{lines, Kind, LogLimits, Lot, Message, Shared};

/// Entries taken from the queue per write.
const BATCH: usize = 1024;
/// Formatted bytes gathered before they are written (one `write` per chunk).
const WRITE_CHUNK: usize = 64 * 1024;
/// The least time between two warnings on stderr about the same counters.
const WARN_EVERY: Duration = Duration::from_secs(1);
/// How long the writer lets entries gather after writing a batch, before it looks at the
/// queue again. While it sleeps it is not waiting on the queue, so pushing an entry costs the
/// serving threads no wake-up (a futex call and a context switch per line, measured as the
/// largest cost of a busy server when the writer woke for every entry); under load it then
/// writes what a millisecond brought in one go. An idle log is not polled: once a look finds
/// the queue empty, the writer blocks until the next entry.
const GATHER: Duration = Duration::from_millis(1);
/// Marks a line that was cut to fit in one file.
const CUT: &[u8] = b"...";

/// Starts the writer thread for the log at `path`; `done` is sent when it has stopped. If no
/// thread can be started, the queue's receiver is dropped with it, so every entry pushed is
/// counted as dropped.
pub(super) fn spawn(
    path: PathBuf,
    limits: LogLimits,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let shown = path.display().to_string();
    let writer = Writer::new(LogFile::new(path, &limits), shared);
    let started = std::thread::Builder::new()
        .name("herd-iolog".into())
        .spawn(move || {
            writer.run(queue);
            let _ = done.send(());
        });
    if let Err(e) = started {
        tracing::warn!(
            "cannot start the writer of the I/O log {shown}: {e}; nothing will be logged"
        );
    }
}

/// The state of the writer thread.
struct Writer {
    /// The file and its rotation.
    file: LogFile,
    /// The queue's byte count and the counters.
    shared: Arc<Shared>,
    /// Timestamps, the date and time formatted once a second.
    stamps: Stamps,
    /// Lines formatted and not yet written.
    text: Vec<u8>,
    /// How many lines of entries `text` holds, counted as dropped if its write fails.
    text_lines: u64,
    /// Lines dropped and write errors as last written into the file.
    in_file: (u64, u64),
    /// Lines dropped and write errors as last warned about on stderr.
    warned: (u64, u64),
    /// When the last warning was given.
    warned_at: Option<Instant>,
    /// The last error, for the warnings.
    last_error: Option<String>,
}

impl Writer {
    fn new(file: LogFile, shared: Arc<Shared>) -> Writer {
        Writer {
            file,
            shared,
            stamps: Stamps::default(),
            text: Vec::with_capacity(WRITE_CHUNK),
            text_lines: 0,
            in_file: (0, 0),
            warned: (0, 0),
            warned_at: None,
            last_error: None,
        }
    }

    /// Writes batches until told to close (or every handle is gone), then what is still
    /// queued. Wakes at least once a second when idle, to notice a lost file, retry a broken
    /// one and report counters.
    fn run(mut self, queue: Receiver<Message>) {
        let mut batch = Batch::default();
        // Open the file now rather than at the first entry.
        self.write(&mut batch);
        let mut closing = false;
        while !closing {
            match queue.recv_timeout(self.file.idle_wait(Instant::now())) {
                Ok(message) => closing = batch.take(message),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closing = true,
            }
            while !closing && !batch.is_full() {
                match queue.try_recv() {
                    Ok(message) => closing = batch.take(message),
                    Err(_) => break,
                }
            }
            // A full batch means more is queued: write on without gathering (sleeping after
            // every batch capped the log at a batch a millisecond, and a busy server's lines
            // were dropped at depth 16).
            let gather = !batch.lots.is_empty() && !batch.is_full();
            self.write(&mut batch);
            if gather && !closing {
                std::thread::sleep(GATHER);
            }
        }
        loop {
            while !batch.is_full() {
                match queue.try_recv() {
                    Ok(message) => {
                        batch.take(message);
                    }
                    Err(_) => break,
                }
            }
            if batch.lots.is_empty() {
                break;
            }
            self.write(&mut batch);
        }
        self.warn_if_changed(true);
    }

    /// Writes `batch` (emptying it and giving its bytes back to the queue), first opening or
    /// reopening the file if due and noting in it what was lost since it last could.
    fn write(&mut self, batch: &mut Batch) {
        if let Err(e) = self.file.maintain(Instant::now()) {
            let what = format!("cannot open {}: {e}", self.file.path().display());
            self.error(what);
        }
        if self.file.is_open() {
            self.note_losses();
        }
        let mut cost = 0;
        for lot in batch.lots.drain(..) {
            cost += lot.cost;
            self.stamps.stamp(lot.at);
            let mut start = 0;
            for &(kind, end) in &lot.ends {
                for line in lines(&lot.text[start..end]) {
                    self.line(mark(kind), line, true);
                }
                start = end;
            }
        }
        batch.entries = 0;
        self.flush();
        self.shared.release(cost);
        self.warn_if_changed(false);
    }

    /// Adds one line, stamped with the last stamp made. A line that would take the file past
    /// its limit first rotates it; one longer than a whole file is cut to fit. A line that
    /// cannot be written is counted as dropped if `counted` (the log's own notes are not: a
    /// note about losses that is lost would only inflate them).
    fn line(&mut self, mark: u8, line: &[u8], counted: bool) {
        let count = u64::from(counted);
        if !self.file.is_open() {
            self.shared
                .lines_dropped
                .fetch_add(count, Ordering::Relaxed);
            return;
        }
        let max = self.file.max_bytes();
        let head = self.stamps.current().len() + 3;
        let pending = self.file.size() + self.text.len() as u64;
        if pending > 0 && pending + (head + line.len() + 1) as u64 > max {
            self.flush();
            if self.file.is_open() {
                self.rotate();
            }
            if !self.file.is_open() {
                self.shared
                    .lines_dropped
                    .fetch_add(count, Ordering::Relaxed);
                return;
            }
        }
        // Only a line longer than a whole file is left not fitting: cut it to what is left.
        let pending = self.file.size() + self.text.len() as u64;
        let room = usize::try_from(max.saturating_sub(pending))
            .unwrap_or(usize::MAX)
            .saturating_sub(head + 1);
        let (line, cut) = if line.len() > room {
            (&line[..room.saturating_sub(CUT.len())], CUT)
        } else {
            (line, &b""[..])
        };
        self.text.extend_from_slice(self.stamps.current());
        self.text.extend_from_slice(&[b' ', mark, b' ']);
        self.text.extend_from_slice(line);
        self.text.extend_from_slice(cut);
        self.text.push(b'\n');
        self.text_lines += count;
        if self.text.len() >= WRITE_CHUNK {
            self.flush();
        }
    }

    /// Rotates the file and starts the new one with a line saying so.
    fn rotate(&mut self) {
        match self.file.rotate() {
            Ok(()) => {
                let n = self.shared.rotations.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(
                    "I/O log {} rotated ({n} so far)",
                    self.file.path().display()
                );
                let earlier = if self.file.keep() == 0 {
                    "earlier lines were removed (log_keep = 0)".to_owned()
                } else {
                    let name = self.file.rotated(1);
                    let name = name.file_name().unwrap_or_default().to_string_lossy();
                    format!("earlier lines are in {name}")
                };
                self.note(&format!("log: rotated ({n} so far); {earlier}"));
            }
            Err(e) => {
                let what = format!("cannot rotate {}: {e}", self.file.path().display());
                self.error(what);
            }
        }
    }

    /// Adds a line saying how many lines were dropped and writes failed, if that changed
    /// since the file last said it.
    fn note_losses(&mut self) {
        let c = self.shared.counters();
        let now = (c.lines_dropped, c.write_errors);
        if now == self.in_file {
            return;
        }
        self.in_file = now;
        let last = self
            .last_error
            .as_deref()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default();
        self.stamps.stamp(SystemTime::now());
        self.note(&format!(
            "log: {} lines dropped and {} write errors so far{last}",
            now.0, now.1
        ));
    }

    /// Adds an event line of the log's own, with the last stamp made.
    fn note(&mut self, text: &str) {
        self.line(mark(Kind::Event), text.as_bytes(), false);
    }

    /// Writes the formatted lines; if that fails they are counted as dropped.
    fn flush(&mut self) {
        if self.text.is_empty() {
            return;
        }
        if let Err(e) = self.file.write(&self.text) {
            self.shared
                .lines_dropped
                .fetch_add(self.text_lines, Ordering::Relaxed);
            let what = format!("cannot write {}: {e}", self.file.path().display());
            self.error(what);
        }
        self.text.clear();
        self.text_lines = 0;
    }

    /// Counts a failed open, write or rotation.
    fn error(&mut self, what: String) {
        self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
        self.last_error = Some(what);
    }

    /// Warns on stderr when lines were dropped or writes failed since the last warning; at
    /// most once per [`WARN_EVERY`] unless `now` (the end).
    fn warn_if_changed(&mut self, now: bool) {
        let c = self.shared.counters();
        let counts = (c.lines_dropped, c.write_errors);
        if counts == self.warned {
            return;
        }
        if !now && self.warned_at.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        self.warned = counts;
        self.warned_at = Some(Instant::now());
        let last = self.last_error.as_deref().unwrap_or("the queue was full");
        tracing::warn!(
            "I/O log {}: {} lines dropped and {} write errors so far (last: {last})",
            self.file.path().display(),
            counts.0,
            counts.1
        );
    }
}

/// What the writer has taken from the queue and not yet written.
#[derive(Default)]
struct Batch {
    /// The messages' entries, in order.
    lots: Vec<Lot>,
    /// How many entries they hold.
    entries: usize,
}

impl Batch {
    /// Adds `message`; true when it says to close.
    fn take(&mut self, message: Message) -> bool {
        match message {
            Message::Entries(lot) => {
                self.entries += lot.ends.len();
                self.lots.push(lot);
                false
            }
            Message::Close => true,
        }
    }

    /// Whether it holds enough entries for one write.
    fn is_full(&self) -> bool {
        self.entries >= BATCH
    }
}

/// The mark of a line of `kind` (`<`, `>`, `*`).
fn mark(kind: Kind) -> u8 {
    match kind {
        Kind::Input => b'<',
        Kind::Output => b'>',
        Kind::Event => b'*',
    }
}
