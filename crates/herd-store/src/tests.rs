//! Store scenarios: truncation, damage and repair, crash in `Always`, compaction under load,
//! and a model-based property test.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex as SyncMutex};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

/// Bytes from anything byte-like.
fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

/// Appends `records` to a fresh store in `dir`, closes it, and returns the end offset of each
/// record's frame.
async fn write_log(dir: &Path, records: &[(Bytes, Bytes)]) -> Vec<u64> {
    let (store, _) = Store::open(dir, Fsync::Never).await.unwrap();
    let mut ends = Vec::new();
    let mut end = format::HEADER_LEN as u64;
    for (k, p) in records {
        store.append(k.clone(), p.clone()).await.unwrap();
        end += record_size(k, p);
        ends.push(end);
    }
    store.close().await.unwrap();
    ends
}

/// The recovered table as a map.
fn as_map(rec: &Recovered) -> HashMap<Bytes, Bytes> {
    let map: HashMap<_, _> = rec.entries.iter().cloned().collect();
    assert_eq!(map.len(), rec.entries.len(), "a key was recovered twice");
    map
}

/// Last payload per key of a sequence of appends.
fn model(records: &[(Bytes, Bytes)]) -> HashMap<Bytes, Bytes> {
    records.iter().cloned().collect()
}

fn sample_records() -> Vec<(Bytes, Bytes)> {
    vec![
        (
            b("kiwi"),
            b("AT Clark +0.26 kiwi +34.06-118.44 1621464827.95"),
        ),
        (b("apple"), b("x")),
        (b("kiwi"), b("newer")),
        (b(""), b("empty key")),
        (b("pear"), b("")),
        (b("apple"), b("y".repeat(40))),
    ]
}

/// The sample records, the end offset of each one's frame, and the bytes of a log of them.
async fn sample_log() -> (Vec<(Bytes, Bytes)>, Vec<u64>, Vec<u8>) {
    let records = sample_records();
    let src = tempfile::tempdir().unwrap();
    let ends = write_log(src.path(), &records).await;
    let log = std::fs::read(src.path().join("records.log")).unwrap();
    (records, ends, log)
}

#[tokio::test]
async fn truncation_at_every_offset_recovers_exactly_the_whole_records() {
    let (records, ends, log) = sample_log().await;
    assert_eq!(log.len() as u64, *ends.last().unwrap());

    for cut in 0..=log.len() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("records.log"), &log[..cut]).unwrap();
        let (store, rec) = Store::open(dir.path(), Fsync::Never)
            .await
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = ends.iter().filter(|&&e| e <= cut as u64).count();
        assert_eq!(as_map(&rec), model(&records[..whole]), "cut at {cut}");
        assert_eq!(rec.stats.records_read, whole as u64, "cut at {cut}");
        let good = if whole == 0 {
            format::HEADER_LEN as u64
        } else {
            ends[whole - 1]
        };
        if cut >= format::HEADER_LEN {
            assert_eq!(rec.stats.torn_bytes_cut, cut as u64 - good, "cut at {cut}");
        }
        // The store stays usable: a new record lands right after the last good one. (Checked
        // at every fifth cut: each check costs fsyncs.)
        if cut % 5 != 0 {
            continue;
        }
        store.append(b("after"), b("cut")).await.unwrap();
        store.close().await.unwrap();
        let (_, again) = Store::open(dir.path(), Fsync::Never).await.unwrap();
        assert_eq!(again.stats.torn_bytes_cut, 0);
        assert_eq!(as_map(&again).len(), as_map(&rec).len() + 1, "cut at {cut}");
    }
}

#[tokio::test]
async fn damage_in_the_middle_stops_open_and_repair_salvages_the_rest() {
    let records: Vec<_> = (0..10)
        .map(|i| {
            (
                b(format!("client-{i}")),
                b(format!("payload of client {i}")),
            )
        })
        .collect();
    // Damage the checksummed payload of record 4, then (separately) its length field.
    for field_offset in [20u64, 0] {
        let dir = tempfile::tempdir().unwrap();
        let ends = write_log(dir.path(), &records).await;
        let path = dir.path().join("records.log");
        let mut log = std::fs::read(&path).unwrap();
        let start = ends[3];
        log[(start + field_offset) as usize] ^= 0x40;
        std::fs::write(&path, &log).unwrap();

        let err = match Store::open(dir.path(), Fsync::Batch).await {
            Err(e) => e,
            Ok(_) => panic!("open accepted a damaged log"),
        };
        match &err {
            StoreError::Corrupt {
                file,
                offset,
                next_valid,
                ..
            } => {
                assert_eq!(file, &path);
                assert_eq!(*offset, start);
                assert_eq!(*next_valid, ends[4]);
            }
            other => panic!("expected Corrupt, got {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("offset {start}")), "{msg}");
        assert!(msg.contains("herd repair"), "{msg}");
        // Open changed nothing.
        assert_eq!(std::fs::read(&path).unwrap(), log);

        let report = repair(dir.path()).unwrap();
        assert_eq!(report.records_kept, 9);
        assert_eq!(report.damaged_regions, 1);
        assert_eq!(report.bytes_dropped, ends[4] - ends[3]);
        assert!(report.backup.as_ref().is_some_and(|p| p.exists()));

        let (_, rec) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
        let mut expected = model(&records);
        expected.remove(&b("client-4"));
        assert_eq!(as_map(&rec), expected);
    }
}

#[test]
fn always_mode_survives_a_crash_with_many_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        let (store, _) = Store::open(dir.path(), Fsync::Always).await.unwrap();
        let mut tasks = Vec::new();
        for task in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    let key = b(format!("client-{task}-{i}"));
                    store.append(key, b(format!("v{i}"))).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        store
    });
    let stats = store.stats();
    assert_eq!(stats.records_written, 1000);
    assert!(stats.syncs < 1000, "appends should share fsyncs: {stats:?}");
    // Crash: the runtime (and the writer task) dies without `close`, then the handle goes.
    drop(runtime);
    drop(store);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_, rec) = Store::open(dir.path(), Fsync::Always).await.unwrap();
        assert_eq!(as_map(&rec).len(), 1000);
        assert_eq!(as_map(&rec)[&b("client-49-19")], b("v19"));
    });
}

#[tokio::test]
async fn batch_mode_syncs_soon_after_a_write_and_never_mode_waits_for_close() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
    store.append(b("k"), b("v")).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.stats().syncs == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no sync in batch mode"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    store.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Never).await.unwrap();
    store.append(b("k"), b("v")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert_eq!(store.stats().syncs, 0);
    assert_eq!(store.stats().records_written, 1);
    store.sync().await.unwrap();
    assert_eq!(store.stats().syncs, 1);
    store.sync().await.unwrap();
    assert_eq!(store.stats().syncs, 1, "nothing new to sync");
    store.append(b("k"), b("w")).await.unwrap();
    store.close().await.unwrap();
    assert_eq!(store.stats().syncs, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_last_per_key_shrinks_and_keeps_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
    let table = Arc::new(SyncMutex::new(HashMap::new()));
    for version in 0..50 {
        for key in 0..20 {
            let (k, p) = (
                b(format!("client-{key}")),
                b(format!("version {version:04}")),
            );
            table.lock().unwrap().insert(k.clone(), p.clone());
            store.append(k, p).await.unwrap();
        }
    }
    // Quiet compaction: the log becomes exactly the live records.
    let live: u64 = table
        .lock()
        .unwrap()
        .iter()
        .map(|(k, p)| record_size(k, p))
        .sum();
    let snapshot = table.lock().unwrap().clone();
    let report = store.compact(|| snapshot).await.unwrap();
    assert_eq!(report.bytes_after, format::HEADER_LEN as u64 + live);
    assert!(report.bytes_after * 40 < report.bytes_before, "{report:?}");
    assert_eq!(store.stats().file_bytes, report.bytes_after);
    assert_eq!(store.stats().live_bytes_at_rewrite, live);
    assert!(!store.needs_compaction(live));

    // A client keeps writing while the compaction runs; as the core does, it updates the
    // table before it appends.
    let writer = {
        let (store, table) = (store.clone(), Arc::clone(&table));
        tokio::spawn(async move {
            for i in 0..3000 {
                let (k, p) = (b(format!("late-{}", i % 500)), b(format!("{i}")));
                table.lock().unwrap().insert(k.clone(), p.clone());
                store.append(k, p).await.unwrap();
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // And appends sent right after the snapshot was taken must be carried over.
    let (late_done, late_finished) = tokio::sync::oneshot::channel();
    let report = store
        .compact(|| {
            let snapshot: Vec<_> = table
                .lock()
                .unwrap()
                .iter()
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect();
            let store = store.clone();
            let table = Arc::clone(&table);
            tokio::spawn(async move {
                for i in 0..10 {
                    let (k, p) = (b(format!("client-{i}")), b("after the snapshot"));
                    table.lock().unwrap().insert(k.clone(), p.clone());
                    store.append(k, p).await.unwrap();
                }
                let _ = late_done.send(());
            });
            snapshot
        })
        .await
        .unwrap();
    assert!(report.carried_over >= 10, "{report:?}");
    writer.await.unwrap();
    late_finished.await.unwrap();
    store.close().await.unwrap();

    let (_, rec) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
    assert_eq!(as_map(&rec), *table.lock().unwrap());
    assert_eq!(as_map(&rec)[&b("client-3")], b("after the snapshot"));
    assert_eq!(as_map(&rec)[&b("client-15")], b("version 0049"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permits_keep_the_log_in_table_order_under_contention() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Always).await.unwrap();
    // The caller's table and a version counter, changed only under one lock.
    let table = Arc::new(SyncMutex::new((HashMap::new(), 0u64)));
    let mut tasks = Vec::new();
    for task in 0..50u64 {
        let (store, table) = (store.clone(), Arc::clone(&table));
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let permit = store.reserve().await.unwrap();
                let durable = {
                    let mut guard = table.lock().unwrap();
                    let (map, version) = &mut *guard;
                    *version += 1;
                    let (k, p) = (b(format!("k{}", (task + i) % 5)), b(version.to_string()));
                    map.insert(k.clone(), p.clone());
                    permit.append(k, p).unwrap()
                };
                durable.wait().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    store.close().await.unwrap();
    let (_, rec) = Store::open(dir.path(), Fsync::Always).await.unwrap();
    assert_eq!(as_map(&rec), table.lock().unwrap().0);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Never).await.unwrap();
    assert!(matches!(
        Store::open(dir.path(), Fsync::Never).await,
        Err(StoreError::Locked(_))
    ));
    assert!(matches!(repair(dir.path()), Err(StoreError::Locked(_))));
    store.close().await.unwrap();
    assert!(matches!(
        store.append(b("k"), b("v")).await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test]
async fn foreign_files_and_oversized_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("records.log"), b"this is not a herd log").unwrap();
    assert!(matches!(
        Store::open(dir.path(), Fsync::Never).await,
        Err(StoreError::NotALog(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Never).await.unwrap();
    let huge = Bytes::from(vec![0u8; format::MAX_RECORD_LEN + 1]);
    assert!(matches!(
        store.append(b("k"), huge).await,
        Err(StoreError::RecordTooLarge { .. })
    ));
}

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    /// Append a payload to key `k{0}`.
    Append(u8, Vec<u8>),
    /// Compact with the model as the snapshot.
    Compact,
    /// Close and open again (clean restart).
    Reopen,
    /// Drop without close (the writer drains on its own).
    DropAndReopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (0u8..8, proptest::collection::vec(any::<u8>(), 0..48))
            .prop_map(|(k, p)| Op::Append(k, p)),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::DropAndReopen),
    ]
}

/// Opens `dir`, retrying while a dropped store's writer still holds the lock.
async fn open_when_free(dir: &Path, fsync: Fsync) -> (Store, Recovered) {
    loop {
        match Store::open(dir, fsync).await {
            Err(StoreError::Locked(_)) => tokio::task::yield_now().await,
            other => return other.unwrap(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn replay_equals_the_last_append_per_key(
        ops in proptest::collection::vec(op(), 1..80),
        mode in prop_oneof![Just(Fsync::Always), Just(Fsync::Batch), Just(Fsync::Never)],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut model: HashMap<Bytes, Bytes> = HashMap::new();
            let (mut store, _) = Store::open(dir.path(), mode).await.unwrap();
            for op in ops {
                match op {
                    Op::Append(k, p) => {
                        let (k, p) = (b(format!("k{k}")), Bytes::from(p));
                        model.insert(k.clone(), p.clone());
                        store.append(k, p).await.unwrap();
                    }
                    Op::Compact => {
                        let snapshot = model.clone();
                        store.compact(|| snapshot).await.unwrap();
                    }
                    Op::Reopen | Op::DropAndReopen => {
                        if matches!(op, Op::Reopen) {
                            store.close().await.unwrap();
                        }
                        drop(store);
                        let (s, rec) = open_when_free(dir.path(), mode).await;
                        assert_eq!(as_map(&rec), model);
                        store = s;
                    }
                }
            }
            store.close().await.unwrap();
            let (_, rec) = Store::open(dir.path(), mode).await.unwrap();
            assert_eq!(as_map(&rec), model);
        });
    }
}

#[tokio::test]
async fn a_zero_filled_tail_is_cut_and_repair_handles_tails_and_headers() {
    let records = sample_records();
    let dir = tempfile::tempdir().unwrap();
    let ends = write_log(dir.path(), &records).await;
    let path = dir.path().join("records.log");
    let clean = std::fs::read(&path).unwrap();

    // A crash can leave allocated but unwritten blocks: zeros after the last frame.
    let mut zeros = clean.clone();
    zeros.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &zeros).unwrap();
    let (store, rec) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
    assert_eq!(as_map(&rec), model(&records));
    assert_eq!(rec.stats.torn_bytes_cut, 4096);
    store.close().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), clean);

    // Repair treats a torn tail as one damaged region and keeps every record.
    let mut torn = clean.clone();
    torn.truncate(torn.len() - 3);
    std::fs::write(&path, &torn).unwrap();
    let report = repair(dir.path()).unwrap();
    assert_eq!(report.records_kept, records.len() as u64 - 1);
    assert_eq!(report.damaged_regions, 1);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        clean[..ends[ends.len() - 2] as usize]
    );

    // A damaged header is stepped over too, and a second repair keeps its own backup.
    let mut bad_header = clean.clone();
    bad_header[0] = b'X';
    std::fs::write(&path, &bad_header).unwrap();
    assert!(matches!(
        Store::open(dir.path(), Fsync::Batch).await,
        Err(StoreError::NotALog(_))
    ));
    let first = repair(dir.path()).unwrap();
    assert_eq!(first.records_kept, records.len() as u64);
    std::fs::write(&path, &bad_header).unwrap();
    let second = repair(dir.path()).unwrap();
    assert_ne!(first.backup, second.backup);
    assert_eq!(std::fs::read(&path).unwrap(), clean);

    // A clean log is left alone.
    let untouched = repair(dir.path()).unwrap();
    assert_eq!((untouched.damaged_regions, untouched.backup), (0, None));
}

#[tokio::test]
async fn an_abandoned_compaction_changes_nothing_and_the_next_one_works() {
    use futures::FutureExt;

    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
    let mut table = HashMap::new();
    for i in 0..100 {
        let (k, p) = (b(format!("k{}", i % 10)), b(format!("{i}")));
        table.insert(k.clone(), p.clone());
        store.append(k, p).await.unwrap();
    }
    // The snapshot closure panics after the writer started copying appends.
    let panicked = std::panic::AssertUnwindSafe(
        store.compact(|| -> Vec<(Bytes, Bytes)> { panic!("snapshot failed") }),
    )
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    for i in 100..120 {
        let (k, p) = (b(format!("k{}", i % 10)), b(format!("{i}")));
        table.insert(k.clone(), p.clone());
        store.append(k, p).await.unwrap();
    }
    let before = store.stats().file_bytes;
    let snapshot = table.clone();
    let report = store.compact(|| snapshot).await.unwrap();
    assert_eq!(
        report.carried_over, 0,
        "copies from the abandoned compaction leaked"
    );
    assert!(report.bytes_after < before);
    store.close().await.unwrap();
    let (_, rec) = Store::open(dir.path(), Fsync::Batch).await.unwrap();
    assert_eq!(as_map(&rec), table);
    assert_eq!(rec.stats.records_read, 10);
}

#[tokio::test]
async fn damage_longer_than_a_read_chunk_is_still_told_from_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    let mut log = format::header().to_vec();
    format::encode(&mut log, b"a", b"1");
    let damage_at = log.len() as u64;
    log.extend(std::iter::repeat_n(0xFFu8, 3 << 20));
    let next = log.len() as u64;
    format::encode(&mut log, b"b", b"2");
    std::fs::write(&path, &log).unwrap();
    match Store::open(dir.path(), Fsync::Never).await {
        Err(StoreError::Corrupt {
            offset, next_valid, ..
        }) => assert_eq!((offset, next_valid), (damage_at, next)),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got a store"),
    }

    log.truncate(next as usize);
    std::fs::write(&path, &log).unwrap();
    let (_, rec) = Store::open(dir.path(), Fsync::Never).await.unwrap();
    assert_eq!(rec.stats.torn_bytes_cut, 3 << 20);
    assert_eq!(as_map(&rec), model(&[(b("a"), b("1"))]));
}

/// Opens `dir` replaying into a list of every record the log hands over.
async fn open_replaying_all(
    dir: &Path,
) -> Result<(Store, RecoveryStats, Vec<(Bytes, Bytes)>), StoreError> {
    Store::open_replaying(
        dir,
        StoreConfig::default(),
        Vec::new(),
        |seen: &mut Vec<(Bytes, Bytes)>, key: &[u8], payload: &[u8]| {
            seen.push((b(key), b(payload)))
        },
    )
    .await
}

#[tokio::test]
async fn a_replaying_open_hands_over_every_record_in_log_order_and_handles_damage_as_open_does() {
    let (records, ends, log) = sample_log().await;

    // Whole, and cut inside the last record: superseded records included, in order; a torn
    // tail cut as by a plain open.
    for cut in [log.len(), log.len() - 3] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("records.log"), &log[..cut]).unwrap();
        let (store, stats, seen) = open_replaying_all(dir.path()).await.unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut as u64).count();
        assert_eq!(seen, records[..whole], "cut at {cut}");
        assert_eq!(stats.records_read, whole as u64);
        assert_eq!(stats.torn_bytes_cut, (cut as u64) - ends[whole - 1]);
        // The store appends after the last good record.
        store.append(b("after"), b("replay")).await.unwrap();
        store.close().await.unwrap();
        let (_, rec) = Store::open(dir.path(), Fsync::Never).await.unwrap();
        let mut expected = model(&records[..whole]);
        expected.insert(b("after"), b("replay"));
        assert_eq!(as_map(&rec), expected, "cut at {cut}");
    }

    // Damage in the middle: refused, the file unchanged.
    let dir = tempfile::tempdir().unwrap();
    let mut damaged = log.clone();
    damaged[ends[1] as usize + 20] ^= 0x40;
    let path = dir.path().join("records.log");
    std::fs::write(&path, &damaged).unwrap();
    match open_replaying_all(dir.path()).await {
        Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, ends[1]),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a replaying open accepted a damaged log"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), damaged);
}

#[tokio::test]
async fn many_records_through_one_permit_land_in_order_between_single_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), Fsync::Always).await.unwrap();
    store.append(b("a"), b("1")).await.unwrap();
    let batch = vec![(b("b"), b("2")), (b("a"), b("3")), (b("c"), b("4"))];
    let durable = store.reserve().await.unwrap().append_many(batch).unwrap();
    assert!(durable.waits());
    durable.wait().await.unwrap();
    store.append(b("c"), b("5")).await.unwrap();
    // One record too large: nothing of the batch is queued.
    let too_large = vec![
        (b("d"), b("6")),
        (b("e"), Bytes::from(vec![b'x'; format::MAX_RECORD_LEN + 1])),
    ];
    let refused = store.reserve().await.unwrap().append_many(too_large);
    assert!(matches!(refused, Err(StoreError::RecordTooLarge { .. })));
    store.close().await.unwrap();

    let (_, stats, seen) = open_replaying_all(dir.path()).await.unwrap();
    assert_eq!(
        seen,
        [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("c", "5")].map(|(k, p)| (b(k), b(p)))
    );
    assert_eq!(stats.records_read, 5);
}
