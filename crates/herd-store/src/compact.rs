//! Compaction: rewrite the log down to the live records while appends go on (the protocol is
//! described in the [module docs](super)).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::error::StoreError;
use super::writer::Command;
use super::{durable, format, Store};

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// Log size before.
    pub bytes_before: u64,
    /// Log size after (snapshot plus the appends carried over).
    pub bytes_after: u64,
    /// Records in the snapshot.
    pub snapshot_records: u64,
    /// Appends that arrived while the snapshot was written and were carried over.
    pub carried_over: u64,
    /// Wall time, snapshot to switch.
    pub elapsed: Duration,
}

impl Store {
    /// Rewrites the log to hold only the live records, without stopping appends.
    ///
    /// `snapshot` is called once, after the writer has started keeping a copy of new appends;
    /// it must return the caller's whole live table (the last payload per key). Every record
    /// appended before the call must be in the table by then, which holds when the caller
    /// updates its table before appending. One compaction runs at a time; a second call waits.
    ///
    /// # Errors
    /// [`StoreError::Io`] when writing the new file fails, or
    /// [`StoreError::CompactionAbandoned`]; in both cases the old log stays in use and nothing
    /// is lost. [`StoreError::Closed`] if the store is closed.
    pub async fn compact<F, I>(&self, snapshot: F) -> Result<CompactReport, StoreError>
    where
        F: FnOnce() -> I,
        I: IntoIterator<Item = (Bytes, Bytes)>,
    {
        let _one_at_a_time = self.inner.compaction.lock().await;
        let started = Instant::now();
        // Dropping `_alive` (this future cancelled) tells the writer to stop copying appends.
        let (alive, _alive) = oneshot::channel::<()>();
        let (done, begun) = oneshot::channel();
        self.send(Command::BeginCompaction { alive, done }).await?;
        begun.await.map_err(|_| StoreError::Closed)?;
        // Every earlier append is written now, so this is the size being compacted.
        let bytes_before = self.inner.counters.file_bytes.load(Ordering::Relaxed);

        let live: Vec<(Bytes, Bytes)> = snapshot()
            .into_iter()
            .filter(|(k, p)| format::fits(k.len(), p.len()))
            .collect();
        let snapshot_records = live.len() as u64;
        let live_bytes: u64 = live
            .iter()
            .map(|(k, p)| format::frame_len(k.len(), p.len()) as u64)
            .sum();
        let tmp = self.inner.dir.join(durable::COMPACT_TMP);
        let (file, len) = {
            let target = tmp.clone();
            tokio::task::spawn_blocking(move || write_snapshot(&target, &live))
                .await
                .map_err(|e| StoreError::io("compacting", &tmp, std::io::Error::other(e)))??
        };

        let (done, installed) = oneshot::channel();
        self.send(Command::FinishCompaction {
            file,
            tmp,
            len,
            done,
        })
        .await?;
        let (bytes_after, carried_over) = installed.await.map_err(|_| StoreError::Closed)??;
        self.inner
            .counters
            .live_bytes_at_rewrite
            .store(live_bytes, Ordering::Relaxed);
        let report = CompactReport {
            bytes_before,
            bytes_after,
            snapshot_records,
            carried_over,
            elapsed: started.elapsed(),
        };
        tracing::info!(?report, "store log compacted");
        Ok(report)
    }
}

/// Writes the header and the snapshot's frames to `tmp` and fsyncs it; returns the file and
/// its length.
fn write_snapshot(tmp: &Path, live: &[(Bytes, Bytes)]) -> Result<(File, u64), StoreError> {
    let io = |e| StoreError::io("writing", tmp, e);
    let file = durable::create_tmp_log(tmp).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut frame = Vec::with_capacity(256);
    let mut len = format::HEADER_LEN as u64;
    for (key, payload) in live {
        frame.clear();
        format::encode(&mut frame, key, payload);
        out.write_all(&frame).map_err(io)?;
        len += frame.len() as u64;
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all()
        .map_err(|e| StoreError::io("syncing", tmp, e))?;
    Ok((file, len))
}
