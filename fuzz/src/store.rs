//! Targets `store_frames` and `store_recover`: the store's on-disk format and what opening
//! and repairing a damaged log do with it.
//!
//! `store_frames` (input: any bytes) calls the pure functions of herd_store::format:
//! - a decoded frame re-encodes to exactly its bytes, its key and payload are slices at the
//!   right offsets, and one byte less is `Incomplete`;
//! - `Incomplete` only when the frame needs more bytes than there are, and `Invalid` is final:
//!   no further bytes make it valid (replay relies on this to tell a torn tail from damage);
//! - `find_next_frame` lands on a frame; the header check matches the header's definition;
//! - any key and payload (the input, cut where its first byte says) encode to a frame that
//!   decodes to them, and every cut of that frame is `Incomplete`.
//!
//! `store_recover` (input: the bytes of `records.log`) opens the real store on them, in a
//! directory on tmpfs when there is one, with the server's replay order (`stored_is_newer`):
//! - the result is what a model built from the pure functions says: `NotALog`,
//!   `UnsupportedVersion`, `Corrupt` naming the offset of the damage and of the next valid
//!   frame (with the file left as it was), or the live table, record count and size after
//!   cutting a torn tail;
//! - every recovered entry decode-encode round-trips, and a second open cuts nothing and
//!   gives the same table;
//! - the server's way to open, `Store::open_replaying` (every record handed over in log
//!   order), gives the same outcome, the records folded newer-wins are the modelled table,
//!   and `Restoring` them on two worker threads gives the table, own numbers and count of
//!   unreadable entries that `Replica::restore` one by one gives;
//! - `repair` on the same bytes never panics, fails only on a foreign version, and leaves a
//!   log that opens cleanly with exactly the records it reported keeping.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use herd_core::record::stored_is_newer;
use herd_core::replica::{Replica, Restoring};
use herd_store::format::{self, Decoded, HeaderCheck, FRAME_OVERHEAD, HEADER_LEN, MAGIC};
use herd_store::{repair, Fsync, Recovered, Store, StoreConfig, StoreError};
use tokio::runtime::Runtime;

use super::is_slice_of;

/// The frame-format target: see the module documentation.
pub fn store_frames(data: &[u8]) {
    match format::decode(data) {
        Decoded::Record {
            key,
            payload,
            frame_len,
        } => {
            assert_eq!(frame_len, format::frame_len(key.len(), payload.len()));
            assert!(frame_len <= data.len());
            assert!(format::fits(key.len(), payload.len()));
            assert!(is_slice_of(key, data) && is_slice_of(payload, data));
            assert_eq!(
                key.as_ptr() as usize - data.as_ptr() as usize,
                FRAME_OVERHEAD
            );
            let mut again = Vec::new();
            format::encode(&mut again, key, payload);
            assert_eq!(again, &data[..frame_len], "a frame re-encodes differently");
            assert_eq!(format::decode(&data[..frame_len - 1]), Decoded::Incomplete);
            assert_eq!(format::find_next_frame(data), Some(0));
        }
        Decoded::Incomplete => {
            assert!(data.len() < 4 || data.len() < 8 + u32_at(data, 0) as usize);
        }
        Decoded::Invalid => {
            let mut longer = data.to_vec();
            longer.extend_from_slice(data);
            longer.extend_from_slice(&[0; 16]);
            assert_eq!(
                format::decode(&longer),
                Decoded::Invalid,
                "more bytes made an invalid frame valid"
            );
        }
    }
    if let Some(at) = format::find_next_frame(data) {
        assert!(matches!(
            format::decode(&data[at..]),
            Decoded::Record { .. }
        ));
    }
    check_header(data);

    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (key, payload) = data.split_at(cut);
    let mut frame = Vec::new();
    format::encode(&mut frame, key, payload);
    assert_eq!(
        format::decode(&frame),
        Decoded::Record {
            key,
            payload,
            frame_len: frame.len()
        }
    );
    for end in 0..frame.len() {
        assert_eq!(
            format::decode(&frame[..end]),
            Decoded::Incomplete,
            "cut {end}"
        );
    }
}

fn check_header(data: &[u8]) {
    let header = format::header();
    assert_eq!(&header[..8], &MAGIC);
    let want = if data.len() < HEADER_LEN {
        if header.starts_with(data) {
            HeaderCheck::Partial
        } else {
            HeaderCheck::BadMagic
        }
    } else if data[..8] != MAGIC {
        HeaderCheck::BadMagic
    } else if u32_at(data, 8) != format::VERSION {
        HeaderCheck::UnsupportedVersion(u32_at(data, 8))
    } else {
        HeaderCheck::Valid
    };
    assert_eq!(format::check_header(data), want);
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("four bytes"))
}

/// What opening a log should do, from the pure functions alone.
#[derive(Debug)]
enum Model {
    NotALog,
    UnsupportedVersion(u32),
    Corrupt {
        offset: u64,
        next_valid: u64,
        reason: &'static str,
    },
    Opens {
        table: HashMap<Vec<u8>, Vec<u8>>,
        records_read: u64,
        /// The log's length after opening.
        end: u64,
        torn_bytes_cut: u64,
    },
}

fn model(data: &[u8]) -> Model {
    match format::check_header(data) {
        HeaderCheck::BadMagic => return Model::NotALog,
        HeaderCheck::UnsupportedVersion(v) => return Model::UnsupportedVersion(v),
        HeaderCheck::Partial => {
            return Model::Opens {
                table: HashMap::new(),
                records_read: 0,
                end: HEADER_LEN as u64,
                torn_bytes_cut: 0,
            }
        }
        HeaderCheck::Valid => {}
    }
    let mut table: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut records_read = 0;
    let mut at = HEADER_LEN;
    let stop = loop {
        match format::decode(&data[at..]) {
            Decoded::Record {
                key,
                payload,
                frame_len,
            } => {
                match table.get_mut(key) {
                    Some(kept) if stored_is_newer(payload, kept) => *kept = payload.to_vec(),
                    Some(_) => {}
                    None => {
                        table.insert(key.to_vec(), payload.to_vec());
                    }
                }
                records_read += 1;
                at += frame_len;
            }
            decoded => break (at, decoded == Decoded::Invalid),
        }
    };
    let (stop, invalid) = stop;
    if stop < data.len() {
        if let Some(next) = format::find_next_frame(&data[stop + 1..]) {
            return Model::Corrupt {
                offset: stop as u64,
                next_valid: (stop + 1 + next) as u64,
                reason: if invalid {
                    "bad length or checksum"
                } else {
                    "frame runs past the end of the file"
                },
            };
        }
    }
    Model::Opens {
        table,
        records_read,
        end: stop as u64,
        torn_bytes_cut: (data.len() - stop) as u64,
    }
}

/// A runtime and a scratch directory, made once per thread.
struct Scratch {
    rt: Runtime,
    /// Removed when the thread ends.
    _root: tempfile::TempDir,
    /// The store directory, made afresh for each input.
    dir: PathBuf,
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

impl Scratch {
    fn new() -> Scratch {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // tmpfs keeps the store's fsyncs cheap.
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("herd-fuzz-")
                .tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("herd-fuzz-").tempdir()
        }
        .expect("a scratch directory");
        let dir = root.path().join("store");
        Scratch {
            rt,
            _root: root,
            dir,
        }
    }

    /// An empty store directory holding `bytes` as its log.
    fn lay_out(&self, bytes: &[u8]) -> PathBuf {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("clearing {}: {e}", self.dir.display()),
        }
        std::fs::create_dir(&self.dir).expect("making the store directory");
        let log = self.dir.join("records.log");
        std::fs::write(&log, bytes).expect("writing the log");
        log
    }

    fn open(&self) -> Result<(Store, Recovered), StoreError> {
        let config = StoreConfig {
            fsync: Fsync::Never,
            supersedes: stored_is_newer,
            ..StoreConfig::default()
        };
        self.rt.block_on(Store::open_with(&self.dir, config))
    }

    fn close(&self, store: Store) {
        self.rt.block_on(store.close()).expect("closing the store");
    }
}

/// The recovery target: see the module documentation.
pub fn store_recover(data: &[u8]) {
    SCRATCH.with(|cell| {
        let mut cell = cell.borrow_mut();
        let scratch = cell.get_or_insert_with(Scratch::new);
        recover_as_modelled(scratch, data);
        replay_as_modelled(scratch, data);
        repair_and_reopen(scratch, data);
    });
}

/// The server's way to open: `Store::open_replaying` hands over every record in log order,
/// and `Restoring` tables them on worker threads.
fn replay_as_modelled(scratch: &Scratch, data: &[u8]) {
    let log = scratch.lay_out(data);
    let want = model(data);
    let config = StoreConfig {
        fsync: Fsync::Never,
        supersedes: stored_is_newer,
        ..StoreConfig::default()
    };
    let opened = scratch.rt.block_on(Store::open_replaying(
        &scratch.dir,
        config,
        Vec::new(),
        |seen: &mut Vec<(Vec<u8>, Vec<u8>)>, key: &[u8], payload: &[u8]| {
            seen.push((key.to_vec(), payload.to_vec()));
        },
    ));
    let (store, stats, seen) = match (&want, opened) {
        (
            Model::Opens {
                table,
                records_read,
                end,
                torn_bytes_cut,
            },
            Ok((store, stats, seen)),
        ) => {
            // Folded newer-wins, what was handed over is the modelled table.
            let mut folded: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for (key, payload) in &seen {
                match folded.get_mut(key) {
                    Some(kept) if !stored_is_newer(payload, kept) => {}
                    _ => {
                        folded.insert(key.clone(), payload.clone());
                    }
                }
            }
            assert!(&folded == table, "the replay handed over another table");
            assert_eq!(seen.len() as u64, *records_read);
            assert_eq!(
                (stats.records_read, stats.bytes_read, stats.torn_bytes_cut),
                (*records_read, *end, *torn_bytes_cut)
            );
            (store, stats, seen)
        }
        (_, Ok(_)) => panic!("a replaying open took a log the model says fails: {want:?}"),
        (_, Err(e)) => {
            let same = matches!(
                (&want, &e),
                (Model::NotALog, StoreError::NotALog(_))
                    | (
                        Model::UnsupportedVersion(_),
                        StoreError::UnsupportedVersion { .. }
                    )
                    | (Model::Corrupt { .. }, StoreError::Corrupt { .. })
            );
            assert!(same, "a replaying open gave `{e}`; the model says {want:?}");
            assert_eq!(std::fs::read(&log).expect("reading the log"), data);
            return;
        }
    };
    scratch.close(store);
    assert_eq!(stats.live_records, 0);
    restore_as_one_by_one(&seen);
}

/// Restoring `entries` (in log order) on worker threads gives the table, numbers and count of
/// unreadable entries that restoring them one by one gives.
fn restore_as_one_by_one(entries: &[(Vec<u8>, Vec<u8>)]) {
    // Named as the origin of the seed corpus's records: their numbers are its own, which the
    // restore must observe.
    let replica = || Replica::new("Clark", 0, true);
    let mut one = replica();
    let mut bad_one = 0;
    for (key, payload) in entries {
        bad_one += usize::from(one.restore(key, Bytes::copy_from_slice(payload)).is_err());
    }
    let mut restoring = Restoring::new(replica(), 2);
    for (key, payload) in entries {
        restoring.record(key, payload);
    }
    let (many, bad_many) = restoring.finish();
    assert_eq!(bad_many, bad_one, "another count of unreadable entries");
    let lines = |r: &Replica| {
        let mut lines = Vec::new();
        r.table().for_each(|s| lines.push(s.wire().to_vec()));
        lines.sort();
        lines
    };
    assert!(
        lines(&many) == lines(&one),
        "restoring on threads gave another table"
    );
    assert_eq!(many.lease(), one.lease());
    assert_eq!(many.watermarks(), one.watermarks());
}

fn recover_as_modelled(scratch: &Scratch, data: &[u8]) {
    let log = scratch.lay_out(data);
    let want = model(data);
    let opened = scratch.open();
    let on_disk = std::fs::read(&log).expect("reading the log back");
    match (&want, opened) {
        (Model::NotALog, Err(StoreError::NotALog(path))) => assert_eq!(path, log),
        (Model::UnsupportedVersion(v), Err(StoreError::UnsupportedVersion { version, .. })) => {
            assert_eq!(*v, version);
        }
        (
            Model::Corrupt {
                offset,
                next_valid,
                reason,
            },
            Err(StoreError::Corrupt {
                offset: o,
                next_valid: n,
                reason: r,
                ..
            }),
        ) => assert_eq!((*offset, *next_valid, *reason), (o, n, r)),
        (
            Model::Opens {
                table,
                records_read,
                end,
                torn_bytes_cut,
            },
            Ok((store, recovered)),
        ) => {
            let got = as_table(&recovered);
            assert!(&got == table, "recovered a different table");
            let stats = &recovered.stats;
            assert_eq!(stats.records_read, *records_read);
            assert_eq!(stats.bytes_read, *end);
            assert_eq!(stats.torn_bytes_cut, *torn_bytes_cut);
            assert_eq!(stats.live_records, table.len() as u64);
            assert_eq!(
                on_disk.len() as u64,
                *end,
                "the log was not cut where it should be"
            );
            if data.len() >= HEADER_LEN {
                assert_eq!(on_disk, &data[..*end as usize]);
            } else {
                assert_eq!(on_disk, format::header());
            }
            scratch.close(store);
            let (store, again) = scratch.open().expect("opening a recovered log again");
            assert_eq!(again.stats.torn_bytes_cut, 0, "a second open cut bytes");
            assert!(
                as_table(&again) == got,
                "a second open gave a different table"
            );
            scratch.close(store);
            return;
        }
        (want, Ok(_)) => panic!("the store opened a log the model says fails: {want:?}"),
        (want, Err(e)) => panic!("opening gave `{e}`; the model says {want:?}"),
    }
    assert_eq!(on_disk, data, "a refused log was changed");
}

/// The recovered entries as a map; each entry's frame round-trips and no key comes twice.
fn as_table(recovered: &Recovered) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut table = HashMap::new();
    for (key, payload) in &recovered.entries {
        let mut frame = Vec::new();
        format::encode(&mut frame, key, payload);
        assert_eq!(
            format::decode(&frame),
            Decoded::Record {
                key,
                payload,
                frame_len: frame.len()
            }
        );
        let before = table.insert(key.to_vec(), payload.to_vec());
        assert!(before.is_none(), "a key was recovered twice");
    }
    table
}

fn repair_and_reopen(scratch: &Scratch, data: &[u8]) {
    scratch.lay_out(data);
    let report = match repair(&scratch.dir) {
        Ok(report) => report,
        Err(StoreError::UnsupportedVersion { .. }) => {
            assert!(matches!(model(data), Model::UnsupportedVersion(_)));
            return;
        }
        Err(e) => panic!("repair failed: {e}"),
    };
    assert_eq!(report.bytes_before, data.len() as u64);
    if matches!(
        model(data),
        Model::Opens {
            torn_bytes_cut: 0,
            ..
        }
    ) && data.len() >= HEADER_LEN
    {
        assert_eq!(
            report.damaged_regions, 0,
            "repair found damage in a clean log"
        );
    }
    assert_eq!(report.damaged_regions == 0, report.backup.is_none());
    let (store, recovered) = scratch
        .open()
        .unwrap_or_else(|e| panic!("a repaired log does not open: {e} (repair said {report:?})"));
    let stats = &recovered.stats;
    assert_eq!(stats.torn_bytes_cut, 0, "a repaired log had a torn tail");
    assert_eq!(stats.records_read, report.records_kept);
    assert_eq!(stats.bytes_read, report.bytes_after);
    as_table(&recovered);
    scratch.close(store);
}
