//! Offline repair: keep every valid record of a damaged log and write a clean one.
//!
//! The whole log is read into memory (repair is a rare, offline step). Frames are read in
//! order; at damage, every later byte position is tried until a valid frame starts, and
//! reading goes on from there. The salvaged records, in their original order, are written to
//! a temporary file that is fsynced and renamed over the log (then the directory is fsynced).
//! The damaged original is kept beside it as `records.log.damaged-<unix seconds>`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::durable;
use super::error::StoreError;
use super::format::{self, Decoded, HeaderCheck, HEADER_LEN};

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepairReport {
    /// Valid records kept.
    pub records_kept: u64,
    /// Separate damaged stretches stepped over (a torn tail counts as one).
    pub damaged_regions: u64,
    /// Bytes dropped in those stretches.
    pub bytes_dropped: u64,
    /// Size of the log before.
    pub bytes_before: u64,
    /// Size of the clean log.
    pub bytes_after: u64,
    /// Where the damaged original was kept (`None` when nothing was damaged and the log was
    /// left as it was).
    pub backup: Option<PathBuf>,
}

/// Salvages every valid record of the log in `dir` into a clean log.
///
/// Takes the directory lock, so it refuses to run while a server has the store open. A log
/// with no damage is left untouched.
///
/// # Errors
/// [`StoreError::Locked`] while the store is open elsewhere, [`StoreError::UnsupportedVersion`]
/// for a log of another version, [`StoreError::Io`] for file-system failures (the original log
/// is then unchanged).
pub fn repair(dir: &Path) -> Result<RepairReport, StoreError> {
    let _lock = durable::lock_dir(dir)?;
    let path = dir.join(durable::LOG_NAME);
    let data = match fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RepairReport::default());
        }
        Err(e) => return Err(StoreError::io("reading", &path, e)),
    };
    let mut report = RepairReport {
        bytes_before: data.len() as u64,
        ..RepairReport::default()
    };
    let mut at = match format::check_header(&data) {
        HeaderCheck::Valid => HEADER_LEN,
        HeaderCheck::UnsupportedVersion(version) => {
            return Err(StoreError::UnsupportedVersion { path, version })
        }
        HeaderCheck::Partial | HeaderCheck::BadMagic => {
            report.damaged_regions += 1;
            0
        }
    };
    let mut clean = format::header().to_vec();
    while at < data.len() {
        match format::decode(&data[at..]) {
            Decoded::Record {
                key,
                payload,
                frame_len,
            } => {
                format::encode(&mut clean, key, payload);
                report.records_kept += 1;
                at += frame_len;
            }
            Decoded::Incomplete | Decoded::Invalid => {
                report.damaged_regions += 1;
                let skip = format::find_next_frame(&data[at + 1..])
                    .map_or(data.len() - at, |next| next + 1);
                tracing::warn!(offset = at, bytes = skip, "skipping damaged bytes");
                report.bytes_dropped += skip as u64;
                at += skip;
            }
        }
    }
    report.bytes_after = clean.len() as u64;
    if report.damaged_regions == 0 {
        return Ok(report);
    }
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let backup = keep_copy(dir, &path, seconds)?;
    let tmp = dir.join(durable::REPAIR_TMP);
    let mut file = fs::File::create(&tmp).map_err(|e| StoreError::io("creating", &tmp, e))?;
    file.write_all(&clean)
        .map_err(|e| StoreError::io("writing", &tmp, e))?;
    durable::replace(&file, &tmp, &path)?;
    report.backup = Some(backup);
    Ok(report)
}

/// Hard-links the damaged log to a free `records.log.damaged-SECONDS[-N]` name.
fn keep_copy(dir: &Path, path: &Path, seconds: u64) -> Result<PathBuf, StoreError> {
    let base = format!("{}.damaged-{seconds}", durable::LOG_NAME);
    let mut n = 0u32;
    loop {
        let name = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let backup = dir.join(name);
        match fs::hard_link(path, &backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(StoreError::io("keeping a copy of", path, e)),
        }
    }
}
