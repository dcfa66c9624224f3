//! Replay at open: read the log front to back, keep the last record per key, cut a torn tail.
//!
//! The log is read in chunks (memory stays near one chunk plus the live table); one thread
//! reads, checks and copies frames while a second keeps the table, so replay of a million
//! records takes well under a second. When the frames stop being valid at some offset, the
//! rest of the file decides what that is:
//! - no valid frame anywhere after it: the tail of a write that a crash cut short. The file is
//!   truncated to the last good frame and opening goes on;
//! - a valid frame after it: damage in the middle. Opening stops with
//!   [`StoreError::Corrupt`], changing nothing, because cutting there would throw away good
//!   records; `herd repair` salvages them.

use super::config::Supersedes;
use std::fs::{File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashTable;

use super::durable;
use super::error::StoreError;
use super::format::{self, Decoded, HeaderCheck, HEADER_LEN};

/// Size of the read buffer; it grows only for a frame larger than this.
const CHUNK: usize = 1 << 20;
/// Most keys the replay table reserves room for up front.
const MAX_RESERVE: u64 = 1 << 24;

/// What [`Store::open`](super::Store::open) found in the log.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The live table: the last record appended for each key, one entry per key, in no
    /// particular order. Each key and payload is its own allocation.
    pub entries: Vec<(Bytes, Bytes)>,
    /// How the replay went.
    pub stats: RecoveryStats,
}

/// Numbers about one replay, for the startup log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Valid records read, superseded ones included.
    pub records_read: u64,
    /// Bytes of the log kept after replay, header included.
    pub bytes_read: u64,
    /// Records in the live table (one per key).
    pub live_records: u64,
    /// Size on disk of the live records' frames (what a compacted log would hold, less header).
    pub live_bytes: u64,
    /// Bytes of a torn last write that were cut off (0 after a clean shutdown).
    pub torn_bytes_cut: u64,
    /// Wall time the replay took.
    pub elapsed: Duration,
}

/// An open log, replayed and ready to append to.
pub(crate) struct OpenLog {
    /// The log file, opened for reading and writing.
    pub file: File,
    /// Offset just past the last good frame: where the next append goes.
    pub end: u64,
    /// The replayed table and its numbers.
    pub recovered: Recovered,
}

/// Opens (creating if needed) the log in `dir` and replays it.
///
/// # Errors
/// [`StoreError::Corrupt`] for damage with valid records after it, [`StoreError::NotALog`] or
/// [`StoreError::UnsupportedVersion`] for a foreign header, [`StoreError::Io`] otherwise.
pub(crate) fn open_log(dir: &Path, supersedes: Supersedes) -> Result<OpenLog, StoreError> {
    open_log_with(dir, |path, file, recovered| {
        let (end, table) = build_table(dir, path, file, &mut recovered.stats, supersedes)?;
        recovered.entries = table.entries.into_iter().collect();
        recovered.stats.live_records = recovered.entries.len() as u64;
        recovered.stats.live_bytes = recovered
            .entries
            .iter()
            .map(|(k, v)| format::frame_len(k.len(), v.len()) as u64)
            .sum();
        Ok(end)
    })
}

/// Opens (creating if needed) the log in `dir` and hands every valid record to `visit`, in
/// log order, superseded ones included, building no table: for a caller whose own table keeps
/// the newest record per key. The stats then leave `live_records` and `live_bytes` at 0 (only
/// the caller's table knows them). Damage is handled as by [`open_log`].
///
/// # Errors
/// As [`open_log`].
pub(crate) fn open_log_each(
    dir: &Path,
    visit: impl FnMut(&[u8], &[u8]),
) -> Result<OpenLog, StoreError> {
    open_log_with(dir, |path, file, recovered| {
        replay(dir, path, file, &mut recovered.stats, visit)
    })
}

/// Opens the log in `dir` and lets `read` replay it (from after the header) into the
/// recovered table and stats; `read` returns the offset past the last good frame.
fn open_log_with(
    dir: &Path,
    read: impl FnOnce(&Path, &mut File, &mut Recovered) -> Result<u64, StoreError>,
) -> Result<OpenLog, StoreError> {
    let started = Instant::now();
    let (path, mut file) = open_file(dir)?;
    let mut recovered = Recovered::default();
    let end = read(&path, &mut file, &mut recovered)?;
    recovered.stats.bytes_read = end;
    recovered.stats.elapsed = started.elapsed();
    Ok(OpenLog {
        file,
        end,
        recovered,
    })
}

/// Opens (creating if needed) the log file in `dir` and checks its header, starting an empty
/// log over a header cut short. Returns its path and the file, positioned after the header.
fn open_file(dir: &Path) -> Result<(PathBuf, File), StoreError> {
    let path = dir.join(durable::LOG_NAME);
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            durable::create_log(dir, &path)?;
            reopen(&path)?
        }
        Err(e) => return Err(StoreError::io("opening", &path, e)),
    };
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::io("reading", &path, e))?;
    match format::check_header(&head) {
        HeaderCheck::Valid => {}
        HeaderCheck::Partial => {
            tracing::warn!(path = %path.display(), "log header cut short; starting an empty log");
            durable::create_log(dir, &path)?;
            file = reopen(&path)?;
        }
        HeaderCheck::BadMagic => return Err(StoreError::NotALog(path)),
        HeaderCheck::UnsupportedVersion(version) => {
            return Err(StoreError::UnsupportedVersion { path, version })
        }
    }
    Ok((path, file))
}

/// Opens an existing log for reading and writing.
fn reopen(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io("opening", path, e))
}

/// The table built during replay: the last payload per key.
///
/// Keys come from the network, so the hasher is seeded per process (foldhash resists simple
/// flooding and is much faster than `SipHash`). Each key is hashed once, by the reading thread.
struct Table {
    /// `(key, payload)` pairs, one per key.
    entries: HashTable<(Bytes, Bytes)>,
    /// The seeded hasher, shared with the reading thread.
    hasher: foldhash::fast::RandomState,
    /// Whether a later payload of a key replaces the one kept so far.
    supersedes: Supersedes,
}

impl Table {
    /// Makes room for about `n` keys, sparing the rehashes of a growing table.
    fn reserve(&mut self, n: usize) {
        let hasher = &self.hasher;
        self.entries
            .reserve(n, |(k, _)| hasher.hash_one(k.as_ref()));
    }

    /// Sets the payload of `key`, whose hash is `hash`.
    fn upsert(&mut self, hash: u64, key: Bytes, payload: Bytes) {
        if let Some(slot) = self.entries.find_mut(hash, |(k, _)| *k == key) {
            if (self.supersedes)(&payload, &slot.1) {
                slot.1 = payload;
            }
            return;
        }
        let hasher = &self.hasher;
        self.entries
            .insert_unique(hash, (key, payload), |(k, _)| hasher.hash_one(k.as_ref()));
    }
}

/// What the reading thread hands to the table thread.
enum Handoff {
    /// Room to reserve, guessed from the file size and the first frame.
    Reserve(usize),
    /// Records in log order, each with its key's hash.
    Records(Vec<(u64, Bytes, Bytes)>),
}

/// Records per [`Handoff::Records`].
const HANDOFF_BATCH: usize = 4096;

/// Replays the log into a table, on two threads: this one reads, checks and copies frames
/// and hashes keys; a second one keeps the table (the part bound by memory latency). Returns
/// the offset past the last good frame and the table.
fn build_table(
    dir: &Path,
    path: &Path,
    file: &mut File,
    stats: &mut RecoveryStats,
    supersedes: Supersedes,
) -> Result<(u64, Table), StoreError> {
    let file_len = file
        .metadata()
        .map_err(|e| StoreError::io("reading", path, e))?
        .len();
    let hasher = foldhash::fast::RandomState::default();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Handoff>(4);
    std::thread::scope(|scope| {
        let keeper = {
            let hasher = hasher.clone();
            scope.spawn(move || {
                let mut table = Table {
                    entries: HashTable::new(),
                    hasher,
                    supersedes,
                };
                for handoff in rx {
                    match handoff {
                        Handoff::Reserve(n) => table.reserve(n),
                        Handoff::Records(batch) => {
                            for (hash, key, payload) in batch {
                                table.upsert(hash, key, payload);
                            }
                        }
                    }
                }
                table
            })
        };
        let mut batch = Vec::with_capacity(HANDOFF_BATCH);
        let mut first = true;
        // A failed send means the table thread is gone; joining it below reports why.
        let result = replay(dir, path, file, stats, |key, payload| {
            if first {
                first = false;
                // Superseded records make this an overestimate, bounded by the file size.
                let guess = file_len / format::frame_len(key.len(), payload.len()) as u64;
                let guess = usize::try_from(guess.min(MAX_RESERVE)).unwrap_or(0);
                let _ = tx.send(Handoff::Reserve(guess));
            }
            let hash = hasher.hash_one(key);
            batch.push((
                hash,
                Bytes::copy_from_slice(key),
                Bytes::copy_from_slice(payload),
            ));
            if batch.len() == HANDOFF_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(HANDOFF_BATCH));
                let _ = tx.send(Handoff::Records(full));
            }
        });
        if !batch.is_empty() {
            let _ = tx.send(Handoff::Records(batch));
        }
        drop(tx);
        let table = keeper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        result.map(|end| (end, table))
    })
}

/// Reads the frames after the header in order, calling `on_record` with each record; returns
/// the offset past the last good one (after cutting a torn tail).
fn replay(
    dir: &Path,
    path: &Path,
    file: &mut File,
    stats: &mut RecoveryStats,
    mut on_record: impl FnMut(&[u8], &[u8]),
) -> Result<u64, StoreError> {
    let read_err = |e| StoreError::io("reading", path, e);
    file.seek(SeekFrom::Start(HEADER_LEN as u64))
        .map_err(read_err)?;
    let mut buf = vec![0u8; CHUNK];
    // buf[start..filled] holds unparsed bytes; buf[0] sits at file offset `base`.
    let (mut start, mut filled, mut base) = (0usize, 0usize, HEADER_LEN as u64);
    let mut eof = false;
    loop {
        match format::decode(&buf[start..filled]) {
            Decoded::Record {
                key,
                payload,
                frame_len,
            } => {
                on_record(key, payload);
                stats.records_read += 1;
                start += frame_len;
            }
            Decoded::Incomplete if !eof => {
                buf.copy_within(start..filled, 0);
                base += start as u64;
                filled -= start;
                start = 0;
                if filled == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
                let n = file.read(&mut buf[filled..]).map_err(read_err)?;
                eof = n == 0;
                filled += n;
            }
            Decoded::Incomplete | Decoded::Invalid => {
                let stop = base + start as u64;
                if start == filled {
                    return Ok(stop);
                }
                let reason = match format::decode(&buf[start..filled]) {
                    Decoded::Invalid => "bad length or checksum",
                    _ => "frame runs past the end of the file",
                };
                return cut_or_refuse(dir, path, file, stop, reason, stats);
            }
        }
    }
}

/// Decides what the bytes from `stop` to the end are: a torn tail (cut it) or damage with
/// valid records after it (refuse).
fn cut_or_refuse(
    dir: &Path,
    path: &Path,
    file: &mut File,
    stop: u64,
    reason: &'static str,
    stats: &mut RecoveryStats,
) -> Result<u64, StoreError> {
    let read_err = |e| StoreError::io("reading", path, e);
    if let Some(next_valid) = next_frame_after(file, stop + 1).map_err(read_err)? {
        return Err(StoreError::Corrupt {
            file: path.to_path_buf(),
            dir: dir.to_path_buf(),
            offset: stop,
            next_valid,
            reason,
        });
    }
    let file_len = file.metadata().map_err(read_err)?.len();
    tracing::warn!(
        path = %path.display(),
        offset = stop,
        bytes = file_len - stop,
        "cutting off a torn last write"
    );
    // No fsync needed: if the cut is lost in a crash, the same tail is cut again at the next
    // open, and the first synced append after it makes the new length durable anyway.
    file.set_len(stop)
        .map_err(|e| StoreError::io("truncating a torn tail of", path, e))?;
    stats.torn_bytes_cut = file_len - stop;
    Ok(stop)
}

/// File offset of the first valid frame at or after `from`, trying every byte position.
///
/// Reads in chunks, so memory stays near one chunk plus one frame however far the damage
/// reaches.
fn next_frame_after(file: &mut File, from: u64) -> std::io::Result<Option<u64>> {
    file.seek(SeekFrom::Start(from))?;
    // buf[0] sits at file offset `base`; `at` is the next candidate position in buf.
    let (mut buf, mut base, mut at, mut eof) = (Vec::new(), from, 0usize, false);
    loop {
        while at < buf.len() {
            match format::decode(&buf[at..]) {
                Decoded::Record { .. } => return Ok(Some(base + at as u64)),
                Decoded::Incomplete if !eof => break,
                Decoded::Incomplete | Decoded::Invalid => at += 1,
            }
        }
        if eof {
            return Ok(None);
        }
        buf.drain(..at);
        base += at as u64;
        at = 0;
        let n = (&mut *file).take(CHUNK as u64).read_to_end(&mut buf)?;
        eof = n == 0;
    }
}
