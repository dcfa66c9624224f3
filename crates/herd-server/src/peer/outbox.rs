//! The outbox of one link: records waiting to be sent to a neighbour.
//!
//! It keeps only the newest pending record per client, so a slow or dead neighbour costs at
//! most one record per client however many updates arrive, and it has a hard cap on top.
//! Pushing never waits; the link's writer takes everything pending in one go and sends it as
//! one batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use herd_core::record::Record;

/// Records waiting for one neighbour.
pub struct Outbox {
    /// Client ID → the newest record not yet sent.
    pending: Mutex<HashMap<Bytes, Record>>,
    /// Wakes the link's writer when something was pushed.
    ready: Notify,
    /// The most clients that may wait at once.
    capacity: usize,
    /// Records refused because the outbox was full (catch-up repairs them on reconnect).
    overflowed: AtomicU64,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` clients.
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            pending: Mutex::new(HashMap::new()),
            ready: Notify::new(),
            capacity,
            overflowed: AtomicU64::new(0),
        }
    }

    /// Queues `record`, replacing an older pending record of the same client.
    pub fn push(&self, record: Record) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let full = pending.len() >= self.capacity;
            match pending.get_mut(record.client_bytes()) {
                Some(queued) => {
                    if record.is_newer_than(queued) {
                        *queued = record;
                    }
                }
                None if full => {
                    self.overflowed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                None => {
                    pending.insert(record.client(), record);
                }
            }
        }
        self.ready.notify_one();
    }

    /// Takes everything pending.
    pub fn take(&self) -> Vec<Record> {
        self.take_up_to(usize::MAX)
    }

    /// Takes at most `limit` pending records (any of them).
    pub fn take_up_to(&self, limit: usize) -> Vec<Record> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() <= limit {
            return pending.drain().map(|(_, r)| r).collect();
        }
        let keys: Vec<Bytes> = pending.keys().take(limit).cloned().collect();
        keys.iter().filter_map(|k| pending.remove(k)).collect()
    }

    /// Wakes the writer without pushing anything.
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Waits until something may be pending.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// How many clients wait.
    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many records were refused for lack of room, since the last call.
    pub fn take_overflowed(&self) -> u64 {
        self.overflowed.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(client: &str, time: u64) -> Record {
        herd_core::record::sample(client, time)
    }

    #[test]
    fn keeps_only_the_newest_per_client_and_a_cap() {
        let o = Outbox::new(2);
        o.push(rec("a", 1));
        o.push(rec("a", 3));
        o.push(rec("a", 2));
        o.push(rec("b", 1));
        o.push(rec("c", 1));
        assert_eq!(o.take_overflowed(), 1);
        let mut taken = o.take();
        taken.sort_by(|x, y| x.client_bytes().cmp(y.client_bytes()));
        assert_eq!(taken, [rec("a", 3), rec("b", 1)]);
        assert!(o.is_empty());
    }
}
