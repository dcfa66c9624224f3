//! Restoring a replica from its store while the store's log is read.
//!
//! The store hands over every record of its log in log order, superseded ones included
//! (`herd_store::Store::open_replaying`); [`Restoring`] decodes them and offers them to the
//! table on worker threads, so the log is read, checked, decoded and tabled at once and each
//! record is held once: no second table of the store's, no list of entries in between.
//!
//! Offering in log order gives what the store's own replay would keep (the table keeps the
//! newer record, and the first of two equally new ones, as the store does), so each client
//! must reach one worker, in order: clients are split by the table shard they fall in, which
//! also means the workers never wait for each other's shard locks. The lease is read on the
//! caller's thread (it is a few records at most).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};

use super::{Replica, SEQ_LEASE_KEY};
use crate::record::Record;
use crate::table::{LocationTable, SHARDS};

/// Bytes of records a lane gathers before handing them to its worker.
const BATCH_BYTES: usize = 64 * 1024;
/// Batches a lane may have in flight before the reading thread waits for its worker.
const BATCHES_IN_FLIGHT: usize = 4;

/// A replica being restored: feed it the stored records with [`Restoring::record`], then take
/// it back with [`Restoring::finish`].
pub struct Restoring {
    /// The replica; its table is shared with the workers, which are the only ones to write it.
    replica: Replica,
    /// Which lane each table shard's clients go to.
    lane_of_shard: [usize; SHARDS],
    /// One per worker.
    lanes: Vec<Lane>,
    /// Lease entries that did not read back.
    bad_leases: usize,
}

/// Records gathered for one worker.
struct Lane {
    /// The records' lines, one after another.
    bytes: BytesMut,
    /// Where each record ends in `bytes`.
    ends: Vec<usize>,
    /// To the worker.
    tx: SyncSender<Batch>,
    /// The worker: how many records did not read back, and this server's highest number.
    worker: JoinHandle<(usize, u64)>,
}

/// Records handed to a worker: their lines one after another, and where each ends.
type Batch = (Bytes, Vec<usize>);

impl Restoring {
    /// Starts restoring `replica` (normally a new one) with `threads` workers (at least one).
    pub fn new(replica: Replica, threads: usize) -> Restoring {
        let threads = threads.clamp(1, SHARDS);
        let lanes = (0..threads)
            .map(|_| {
                let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT);
                let table = replica.table.clone();
                let me = replica.me.clone().into_bytes();
                Lane {
                    bytes: BytesMut::with_capacity(BATCH_BYTES),
                    ends: Vec::new(),
                    tx,
                    worker: std::thread::spawn(move || work(&table, &me, &rx)),
                }
            })
            .collect();
        Restoring {
            replica,
            lane_of_shard: std::array::from_fn(|shard| shard % threads),
            lanes,
            bad_leases: 0,
        }
    }

    /// Takes one stored entry, in the order of the log: a record under its client's key, or
    /// the sequence lease. As [`Replica::restore`], but a record's worker decodes it.
    pub fn record(&mut self, key: &[u8], payload: &[u8]) {
        if key == SEQ_LEASE_KEY {
            let lease = Bytes::copy_from_slice(payload);
            self.bad_leases += usize::from(self.replica.restore(key, lease).is_err());
            return;
        }
        let shard = self.replica.table.shard_index(key);
        let lane = &mut self.lanes[self.lane_of_shard[shard]];
        lane.bytes.extend_from_slice(payload);
        lane.ends.push(lane.bytes.len());
        if lane.bytes.len() >= BATCH_BYTES {
            lane.hand_over();
        }
    }

    /// Waits for the workers and returns the restored replica, with how many entries did not
    /// read back.
    pub fn finish(self) -> (Replica, usize) {
        let Restoring {
            mut replica,
            lanes,
            bad_leases,
            ..
        } = self;
        let mut unreadable = bad_leases;
        for mut lane in lanes {
            lane.hand_over();
            drop(lane.tx);
            let (bad, own) = lane
                .worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            unreadable += bad;
            replica.numbers.observe(own);
            replica.own_floor = replica.own_floor.max(own);
        }
        (replica, unreadable)
    }
}

impl Lane {
    /// Sends the gathered records to the worker (nothing if none). A worker that is gone
    /// panicked; `finish` reports it.
    fn hand_over(&mut self) {
        if self.ends.is_empty() {
            return;
        }
        let bytes = std::mem::replace(&mut self.bytes, BytesMut::with_capacity(BATCH_BYTES));
        let ends = std::mem::take(&mut self.ends);
        let _ = self.tx.send((bytes.freeze(), ends));
    }
}

/// A worker: decodes each record it is handed and offers it to `table`. Returns how many did
/// not read back, and the highest number among those of origin `me`.
fn work(table: &LocationTable, me: &[u8], batches: &Receiver<Batch>) -> (usize, u64) {
    let (mut bad, mut own) = (0usize, 0u64);
    for (bytes, ends) in batches {
        let mut start = 0;
        for end in ends {
            match Record::decode(bytes.slice(start..end)) {
                Ok(record) => {
                    if record.origin() == me {
                        own = own.max(record.seq());
                    }
                    table.offer(&record);
                }
                Err(_) => bad += 1,
            }
            start = end;
        }
    }
    (bad, own)
}
