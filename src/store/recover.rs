//! Replay at open: read the log front to back, keep the last record per key, cut a torn tail.
//!
//! The log is read in chunks (memory stays near one chunk plus the live table). When the
//! frames stop being valid at some offset, the rest of the file decides what that is:
//! - no valid frame anywhere after it: the tail of a write that a crash cut short. The file is
//!   truncated to the last good frame and opening goes on;
//! - a valid frame after it: damage in the middle. Opening stops with
//!   [`StoreError::Corrupt`], changing nothing, because cutting there would throw away good
//!   records; `herd repair` salvages them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::durable;
use super::error::StoreError;
use super::format::{self, Decoded, HeaderCheck, HEADER_LEN};

/// Size of the read buffer; it grows only for a frame larger than this.
const CHUNK: usize = 1 << 20;

/// What [`Store::open`](super::Store::open) found in the log.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The live table: the last record appended for each key.
    pub entries: HashMap<Bytes, Bytes>,
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
pub(crate) fn open_log(dir: &Path) -> Result<OpenLog, StoreError> {
    let started = Instant::now();
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
            tracing::warn!(path = %path.display(), "log header was cut short; starting an empty log");
            durable::create_log(dir, &path)?;
            file = reopen(&path)?;
        }
        HeaderCheck::BadMagic => return Err(StoreError::NotALog(path)),
        HeaderCheck::UnsupportedVersion(version) => {
            return Err(StoreError::UnsupportedVersion { path, version })
        }
    }
    let mut recovered = Recovered::default();
    let end = replay(dir, &path, &mut file, &mut recovered)?;
    recovered.stats.live_records = recovered.entries.len() as u64;
    recovered.stats.live_bytes = recovered
        .entries
        .iter()
        .map(|(k, v)| format::frame_len(k.len(), v.len()) as u64)
        .sum();
    recovered.stats.bytes_read = end;
    recovered.stats.elapsed = started.elapsed();
    Ok(OpenLog {
        file,
        end,
        recovered,
    })
}

/// Opens an existing log for reading and writing.
fn reopen(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io("opening", path, e))
}

/// Replays the frames after the header into `out`; returns the offset past the last good one.
fn replay(
    dir: &Path,
    path: &Path,
    file: &mut File,
    out: &mut Recovered,
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
                let payload = Bytes::copy_from_slice(payload);
                match out.entries.get_mut(key) {
                    Some(slot) => *slot = payload,
                    None => {
                        out.entries.insert(Bytes::copy_from_slice(key), payload);
                    }
                }
                out.stats.records_read += 1;
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
                return cut_or_refuse(dir, path, file, stop, reason, out);
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
    out: &mut Recovered,
) -> Result<u64, StoreError> {
    let read_err = |e| StoreError::io("reading", path, e);
    file.seek(SeekFrom::Start(stop)).map_err(read_err)?;
    let mut rest = Vec::new();
    file.read_to_end(&mut rest).map_err(read_err)?;
    if let Some(at) = format::find_next_frame(&rest[1..]) {
        return Err(StoreError::Corrupt {
            file: path.to_path_buf(),
            dir: dir.to_path_buf(),
            offset: stop,
            next_valid: stop + 1 + at as u64,
            reason,
        });
    }
    tracing::warn!(
        path = %path.display(),
        offset = stop,
        bytes = rest.len(),
        "cutting off a torn last write"
    );
    file.set_len(stop)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("truncating a torn tail of", path, e))?;
    out.stats.torn_bytes_cut = rest.len() as u64;
    Ok(stop)
}
