//! The outbox of one link: records waiting to be sent to a neighbour.
//!
//! It keeps only the newest pending record per client, so a slow or dead neighbour costs at
//! most one record per client however many updates arrive, and it has a ceiling in bytes on
//! top (`[herd] link_outbox_bytes`). A record that finds it full is not queued but counted: the
//! link then repairs what its neighbour missed with a catch-up round (see `link`). Pushing
//! never waits; the link's writer takes what is pending in batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use herd_core::record::Record;

/// What one waiting record costs beyond its bytes: its map entry and the record's handles.
const ENTRY_OVERHEAD: usize = 96;

/// Records waiting for one neighbour.
pub struct Outbox {
    /// Client ID → the newest record not yet sent, and what they cost.
    pending: Mutex<Pending>,
    /// Wakes the link's writer when something was pushed, or refused.
    ready: Notify,
    /// The most bytes that may wait at once.
    max_bytes: usize,
    /// Records refused because the outbox was full, since start.
    overflowed: AtomicU64,
}

/// The records waiting, with their cost.
#[derive(Default)]
struct Pending {
    /// Client ID → the newest record not yet sent.
    by_client: HashMap<Bytes, Record>,
    /// What they cost, by [`cost`].
    bytes: usize,
}

/// What `record` costs while it waits.
fn cost(record: &Record) -> usize {
    record.wire().len() + ENTRY_OVERHEAD
}

impl Outbox {
    /// An empty outbox holding at most `max_bytes` of records.
    pub fn new(max_bytes: usize) -> Outbox {
        Outbox {
            pending: Mutex::new(Pending::default()),
            ready: Notify::new(),
            max_bytes,
            overflowed: AtomicU64::new(0),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `record`, replacing an older pending record of the same client. When it does
    /// not fit, it is counted as overflowed instead (and an older one of the same client
    /// is dropped with it, since it is stale).
    pub fn push(&self, record: Record) {
        {
            let mut p = self.pending();
            let Pending { by_client, bytes } = &mut *p;
            let queued = by_client.get(record.client_bytes());
            if queued.is_some_and(|q| !record.is_newer_than(q)) {
                return;
            }
            let freed = queued.map_or(0, cost);
            if *bytes - freed + cost(&record) > self.max_bytes {
                if let Some(old) = by_client.remove(record.client_bytes()) {
                    *bytes -= cost(&old);
                }
                self.overflowed.fetch_add(1, Ordering::Relaxed);
            } else {
                *bytes += cost(&record);
                if let Some(old) = by_client.insert(record.client(), record) {
                    *bytes -= cost(&old);
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
        let mut p = self.pending();
        let taken: Vec<Record> = if p.by_client.len() <= limit {
            p.by_client.drain().map(|(_, r)| r).collect()
        } else {
            let keys: Vec<Bytes> = p.by_client.keys().take(limit).cloned().collect();
            keys.iter().filter_map(|k| p.by_client.remove(k)).collect()
        };
        p.bytes -= taken.iter().map(cost).sum::<usize>();
        taken
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
        self.pending().by_client.len()
    }

    /// How many bytes wait, as counted against the ceiling.
    pub fn bytes(&self) -> usize {
        self.pending().bytes
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many records were refused for lack of room, since start.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(client: &str, time: u64) -> Record {
        herd_core::record::sample(client, time)
    }

    #[test]
    fn keeps_only_the_newest_per_client() {
        let o = Outbox::new(1 << 20);
        o.push(rec("a", 1));
        o.push(rec("a", 3));
        o.push(rec("a", 2));
        o.push(rec("b", 1));
        assert_eq!(o.overflowed(), 0);
        assert_eq!(o.bytes(), cost(&rec("a", 3)) + cost(&rec("b", 1)));
        let mut taken = o.take();
        taken.sort_by(|x, y| x.client_bytes().cmp(y.client_bytes()));
        assert_eq!(taken, [rec("a", 3), rec("b", 1)]);
        assert!(o.is_empty());
        assert_eq!(o.bytes(), 0);
    }

    #[test]
    fn a_record_beyond_the_ceiling_in_bytes_is_counted_not_queued() {
        let one = cost(&rec("a", 1));
        let o = Outbox::new(2 * one);
        o.push(rec("a", 1));
        o.push(rec("b", 1));
        o.push(rec("c", 1));
        assert_eq!(o.overflowed(), 1);
        assert_eq!(o.len(), 2);
        assert!(o.bytes() <= 2 * one);
        // A newer record of a waiting client replaces it in place.
        o.push(rec("a", 2));
        assert_eq!(o.overflowed(), 1);
        let taken = o.take_up_to(1);
        assert_eq!(taken.len(), 1);
        assert_eq!(o.bytes(), one);
        o.push(rec("c", 1));
        assert_eq!((o.len(), o.overflowed()), (2, 1));
    }

    #[test]
    fn a_newer_record_that_does_not_fit_drops_the_stale_one_too() {
        let o = Outbox::new(cost(&rec("a", 1)));
        o.push(rec("a", 1));
        o.push(rec("a", 123_456_789));
        assert_eq!(o.overflowed(), 1);
        assert!(o.is_empty());
        assert_eq!(o.bytes(), 0);
    }
}
