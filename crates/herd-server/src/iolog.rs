//! The I/O log: every input line, output line and link event of one server, with timestamps.
//!
//! Written off the hot path: callers push entries into a bounded queue and never wait; one
//! writer task formats and writes them. When the queue is full (a slow or full disk), entries
//! are dropped and counted, and the log says how many once it recovers. When the file is lost
//! (deleted, moved away by rotation, or the disk fails) the writer reopens it; answering never
//! depends on the log.
//!
//! Pushing costs no copy when the caller has the line as [`Bytes`] already (a framed input
//! line, a record's AT line), and the writer formats a timestamp's date and time once a second.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;

/// How many entries may wait for the writer before new ones are dropped.
const QUEUE: usize = 65_536;

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

struct Entry {
    at: SystemTime,
    kind: Kind,
    text: Bytes,
}

/// A handle to a server's log. Cloning shares the writer; pushing never blocks.
#[derive(Clone)]
pub struct IoLog {
    /// The queue to the writer task (None for a log that discards everything).
    queue: Option<mpsc::Sender<Entry>>,
    /// Entries dropped because the queue was full, not yet reported in the log.
    dropped: Arc<AtomicU64>,
}

/// The writer side, to be awaited at shutdown so the last entries reach the file.
pub struct IoLogWriter {
    /// The writer task.
    task: tokio::task::JoinHandle<()>,
    /// Tells the writer to write what is queued and stop.
    close: tokio_util::sync::CancellationToken,
}

impl IoLogWriter {
    /// Writes and flushes every entry pushed so far, then stops the writer.
    pub async fn finish(self) {
        self.close.cancel();
        let _ = self.task.await;
    }
}

impl IoLog {
    /// Opens (appending) the log file at `path`, creating its folder, and starts the writer.
    /// A file that cannot be opened now is retried by the writer; answering goes on.
    pub fn open(path: &Path) -> (IoLog, IoLogWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let close = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(write_loop(
            path.to_path_buf(),
            rx,
            dropped.clone(),
            close.clone(),
        ));
        (
            IoLog {
                queue: Some(tx),
                dropped,
            },
            IoLogWriter { task, close },
        )
    }

    /// A log that writes nothing (for tools and tests that do not want a file).
    pub fn discard() -> IoLog {
        IoLog {
            queue: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records a line received from a client (`Bytes` from the framer: no copy).
    pub fn input(&self, line: Bytes) {
        self.push(Kind::Input, line);
    }

    /// Records an answer sent to a client (one entry per line of it; a last `\n` is
    /// optional).
    pub fn output(&self, answer: Bytes) {
        self.push(Kind::Output, answer);
    }

    /// Records an event such as a link coming up.
    pub fn event(&self, text: impl Into<String>) {
        self.push(Kind::Event, Bytes::from(text.into()));
    }

    fn push(&self, kind: Kind, text: Bytes) {
        if let Some(queue) = &self.queue {
            let entry = Entry {
                at: SystemTime::now(),
                kind,
                text,
            };
            if queue.try_send(entry).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The open file and the identity it had when opened, to notice it being replaced.
struct Sink {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    last_check: std::time::Instant,
}

impl Sink {
    fn open(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        self.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map(|f| std::io::BufWriter::with_capacity(64 * 1024, f))
            .map_err(|e| tracing::warn!("cannot open log {}: {e}", self.path.display()))
            .ok();
    }

    /// Reopens the file when it was deleted or moved away (checked at most once a second).
    fn check(&mut self) {
        if self.last_check.elapsed() < Duration::from_secs(1) && self.file.is_some() {
            return;
        }
        self.last_check = std::time::Instant::now();
        if self.file.is_none() || !self.path.exists() {
            if let Some(f) = &mut self.file {
                let _ = f.flush();
            }
            self.open();
        }
    }

    fn write(&mut self, bytes: &[u8]) -> bool {
        match &mut self.file {
            Some(f) => f.write_all(bytes).is_ok(),
            None => false,
        }
    }

    fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            if f.flush().is_err() {
                // A failing disk: drop the handle and reopen on the next check.
                self.file = None;
            }
        }
    }
}

async fn write_loop(
    path: PathBuf,
    mut rx: mpsc::Receiver<Entry>,
    dropped: Arc<AtomicU64>,
    close: tokio_util::sync::CancellationToken,
) {
    let mut sink = Sink {
        path,
        file: None,
        last_check: std::time::Instant::now(),
    };
    sink.open();
    let mut batch = Vec::with_capacity(1024);
    let mut text = Vec::with_capacity(64 * 1024);
    let mut stamps = Stamps::default();
    let mut lost: u64 = 0;
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, 1024) => n,
            _ = close.cancelled() => {
                while let Ok(entry) = rx.try_recv() {
                    batch.push(entry);
                }
                if batch.is_empty() {
                    break;
                }
                batch.len()
            }
        };
        if received == 0 {
            break;
        }
        sink.check();
        text.clear();
        let missed = dropped.swap(0, Ordering::Relaxed) + lost;
        if missed > 0 {
            stamps.format_entry(
                SystemTime::now(),
                Kind::Event,
                format!("log: {missed} entries were dropped (queue full or disk failing)")
                    .as_bytes(),
                &mut text,
            );
        }
        let entries = batch.len() as u64;
        for entry in batch.drain(..) {
            stamps.format_entry(entry.at, entry.kind, &entry.text, &mut text);
        }
        lost = if sink.write(&text) {
            0
        } else {
            missed + entries
        };
        if rx.is_empty() {
            sink.flush();
        }
    }
    sink.flush();
}

/// Formats timestamps, reusing the date and time of the last second formatted.
#[derive(Default)]
struct Stamps {
    /// The whole second of `prefix`, in seconds since the epoch.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS.` of `second` (empty before the first entry).
    prefix: Vec<u8>,
    /// The stamp of the entry being formatted, written once per entry, copied per line.
    stamp: Vec<u8>,
}

impl Stamps {
    /// Writes `at` as RFC 3339 with microseconds, as `humantime::format_rfc3339_micros` does.
    fn stamp(&mut self, at: SystemTime) {
        self.stamp.clear();
        let Ok(since) = at.duration_since(UNIX_EPOCH) else {
            let text = humantime::format_rfc3339_micros(at).to_string();
            self.stamp.extend_from_slice(text.as_bytes());
            return;
        };
        if self.prefix.is_empty() || since.as_secs() != self.second {
            self.second = since.as_secs();
            let whole = UNIX_EPOCH + Duration::from_secs(self.second);
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            self.prefix.clear();
            self.prefix
                .extend_from_slice(text.strip_suffix('Z').unwrap_or(&text).as_bytes());
            self.prefix.push(b'.');
        }
        self.stamp.extend_from_slice(&self.prefix);
        let mut digits = [b'0'; 6];
        let mut micros = since.subsec_micros();
        for d in digits.iter_mut().rev() {
            *d = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        self.stamp.extend_from_slice(&digits);
        self.stamp.push(b'Z');
    }

    /// Appends one log line per line of `text`, each `stamp mark line`.
    fn format_entry(&mut self, at: SystemTime, kind: Kind, text: &[u8], out: &mut Vec<u8>) {
        self.stamp(at);
        let mark = match kind {
            Kind::Input => b'<',
            Kind::Output => b'>',
            Kind::Event => b'*',
        };
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        for line in body.split(|&b| b == b'\n') {
            out.extend_from_slice(&self.stamp);
            out.extend_from_slice(&[b' ', mark, b' ']);
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_every_line_with_a_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/log.txt");
        let (log, writer) = IoLog::open(&path);
        log.input(Bytes::from_static(b"IAMAT a +1+1 1"));
        log.output(Bytes::from_static(b"AT S +0.1 a +1+1 1\n"));
        log.event("link B connected");
        drop(log);
        writer.finish().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("Z < IAMAT a +1+1 1"));
        assert!(lines[1].ends_with("Z > AT S +0.1 a +1+1 1"));
        assert!(lines[2].ends_with("Z * link B connected"));
        assert!(lines[0].starts_with("20"));
    }

    #[tokio::test]
    async fn a_deleted_log_file_comes_back_and_answers_never_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/log.txt");
        let (log, writer) = IoLog::open(&path);
        log.event("before");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains("before")) {
            assert!(
                std::time::Instant::now() < deadline,
                "the first entry never reached the file"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::fs::remove_dir_all(dir.path().join("s")).unwrap();
        // Keep logging: the writer notices the file is gone and opens a new one.
        let mut i = 0;
        while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains("after")) {
            assert!(
                std::time::Instant::now() < deadline,
                "the log file never came back"
            );
            log.event(format!("after {i}"));
            i += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(log);
        writer.finish().await;
    }

    #[test]
    fn cached_stamps_match_humantime() {
        let mut stamps = Stamps::default();
        let base = UNIX_EPOCH + Duration::from_secs(1_763_769_600);
        for offset_us in [
            0u64,
            1,
            999_999,
            1_000_000,
            1_000_001,
            59_999_999,
            86_400_000_007,
        ] {
            let at = base + Duration::from_micros(offset_us) + Duration::from_nanos(999);
            stamps.stamp(at);
            let expected = humantime::format_rfc3339_micros(at).to_string();
            assert_eq!(std::str::from_utf8(&stamps.stamp).unwrap(), expected);
        }
    }
}
