//! Measures the record store: replay time, compaction sizes, append throughput per fsync mode.
//!
//! ```text
//! cargo run --release --example store_bench -- [RECORDS] [KEYS] [SECONDS_PER_MODE]
//! ```
//! Defaults: 1,000,000 records over 1,000,000 keys (~40-byte keys, ~100-byte payloads), and
//! 3 seconds of 50 concurrent appenders per fsync mode. Works in a temporary directory
//! (`TMPDIR` chooses the disk).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herd_store::{record_size, Fsync, Store};

/// A ~40-byte client ID.
fn key(i: u64) -> Bytes {
    Bytes::from(format!("client-{i:010}.kiwi.cs.ucla.edu.example"))
}

/// A ~100-byte payload shaped like a stored AT line.
fn payload(i: u64) -> Bytes {
    Bytes::from(format!(
        "AT Clark +0.263873386 client-{i:010} +34.068930-118.445127 {}.959498503 v{i}",
        1_621_464_827 + i
    ))
}

/// CPU seconds (user + system) this process has used, from /proc (Linux, 100 ticks/s); the
/// machine may be shared, so wall time alone overstates the cost.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat(5); after the name, state is index 0, so they are 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.replace('_', "").parse())
        .collect::<Result<_, _>>()?;
    let records = args.first().copied().unwrap_or(1_000_000);
    let keys = args.get(1).copied().unwrap_or(records).max(1);
    let seconds = args.get(2).copied().unwrap_or(3);

    // STORE_BENCH_DIR keeps the filled log between runs (to profile the replay alone).
    let temp = tempfile::tempdir()?;
    let dir = std::env::var_os("STORE_BENCH_DIR").map_or(temp.path().to_path_buf(), Into::into);
    println!("store bench in {}", dir.display());

    if !dir.join("records.log").exists() {
        let started = Instant::now();
        let (store, _) = Store::open(&dir, Fsync::Never).await?;
        for i in 0..records {
            store.append(key(i % keys), payload(i)).await?;
        }
        store.close().await?;
        let fill = started.elapsed();
        println!(
            "fill: {records} records over {keys} keys in {:.2?} ({:.0} appends/s, one appender)",
            fill,
            records as f64 / fill.as_secs_f64()
        );
    }

    // Replay.
    let cpu = cpu_seconds();
    let (store, recovered) = Store::open(&dir, Fsync::Never).await?;
    let cpu = cpu_seconds() - cpu;
    let s = &recovered.stats;
    println!(
        "recovery: {} records, {} live, {:.1} MiB read in {:.2?} wall, {cpu:.2} s CPU \
         ({:.2} M records/s wall)",
        s.records_read,
        s.live_records,
        s.bytes_read as f64 / 1048576.0,
        s.elapsed,
        s.records_read as f64 / s.elapsed.as_secs_f64() / 1e6
    );

    if std::env::var_os("STORE_BENCH_REPLAY_ONLY").is_some() {
        std::process::exit(0);
    }

    // Compaction.
    let live: u64 = recovered
        .entries
        .iter()
        .map(|(k, p)| record_size(k, p))
        .sum();
    let report = store.compact(|| recovered.entries).await?;
    println!(
        "compaction: {:.1} MiB -> {:.1} MiB (live frames {:.1} MiB) in {:.2?}",
        report.bytes_before as f64 / 1048576.0,
        report.bytes_after as f64 / 1048576.0,
        live as f64 / 1048576.0,
        report.elapsed
    );
    store.close().await?;

    // Throughput with 50 concurrent appenders per mode.
    for mode in [Fsync::Never, Fsync::Batch, Fsync::Always] {
        let dir = tempfile::tempdir()?;
        let (store, _) = Store::open(dir.path(), mode).await?;
        let count = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for task in 0..50u64 {
            let (store, count) = (store.clone(), Arc::clone(&count));
            tasks.push(tokio::spawn(async move {
                let mut i = task;
                while Instant::now() < deadline {
                    store.append(key(i % 100_000), payload(i)).await?;
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 50;
                }
                Ok::<_, herd_store::StoreError>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let elapsed = started.elapsed();
        let syncs = store.stats().syncs;
        store.close().await?;
        let n = count.load(Ordering::Relaxed);
        println!(
            "appends, fsync={mode}, 50 appenders: {n} in {elapsed:.2?} = {:.0}/s, {syncs} fsyncs",
            n as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}
