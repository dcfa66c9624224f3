//! Waiting for a client that is not in the table yet: a WHATSAT may ask here right after
//! another server answered the client's IAMAT, while its record is still a hop or two away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use herd_core::record::Record;
use herd_core::table::LocationTable;

/// Who waits for a new client, so table changes only pay for a wake-up when someone waits.
#[derive(Default)]
pub struct Arrivals {
    /// How many callers wait now.
    waiting: AtomicUsize,
    /// Wakes them all.
    notify: tokio::sync::Notify,
}

impl Arrivals {
    /// Tells the waiters that the table changed (a no-op when nobody waits).
    pub fn changed(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// The newest record of `client` in `table`, waiting up to `grace` for it to arrive if it
    /// is unknown now.
    pub async fn wait_for(
        &self,
        table: &LocationTable,
        client: &[u8],
        grace: Duration,
    ) -> Option<Record> {
        if let Some(r) = table.get(client) {
            return Some(r);
        }
        if grace.is_zero() {
            return None;
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let deadline = tokio::time::Instant::now() + grace;
        let found = loop {
            let arrival = self.notify.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if let Some(r) = table.get(client) {
                break Some(r);
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                break table.get(client);
            }
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        found
    }
}
