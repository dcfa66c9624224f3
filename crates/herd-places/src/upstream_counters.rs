//! How a Google provider has been doing: lock-free counters the server logs now and then.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// The failure statuses counted one by one; anything else counts as [`OTHER_STATUS`].
const STATUSES: [&str; 5] = [
    "INVALID_REQUEST",
    "OVER_QUERY_LIMIT",
    "REQUEST_DENIED",
    "UNKNOWN_ERROR",
    "NOT_FOUND",
];

/// The name under which unexpected failure statuses are counted.
pub const OTHER_STATUS: &str = "OTHER";

/// A snapshot of a provider's counters, for the server's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacesCounters {
    /// The provider these counters belong to (`google`, `google-legacy`).
    pub provider: &'static str,
    /// Questions asked of the provider (WHATSATs that reached it).
    pub requests: u64,
    /// Questions answered from the cache.
    pub cache_hits: u64,
    /// Questions that waited for an identical call already in flight instead of making one.
    pub coalesced: u64,
    /// Calls that went out to Google.
    pub calls: u64,
    /// Questions answered `OVER_QUERY_LIMIT` by the herd's own limits, without asking Google.
    pub local_refusals: u64,
    /// Calls to Google that failed, by the status answered (only statuses seen are listed).
    pub errors: BTreeMap<&'static str, u64>,
}

/// The live counters behind [`PlacesCounters`].
#[derive(Debug, Default)]
pub struct UpstreamCounters {
    /// See [`PlacesCounters::requests`].
    pub requests: AtomicU64,
    /// See [`PlacesCounters::cache_hits`].
    pub cache_hits: AtomicU64,
    /// See [`PlacesCounters::coalesced`].
    pub coalesced: AtomicU64,
    /// See [`PlacesCounters::calls`].
    pub calls: AtomicU64,
    /// See [`PlacesCounters::local_refusals`].
    pub local_refusals: AtomicU64,
    /// Failed calls, one counter per entry of [`STATUSES`] and a last one for the others.
    errors: [AtomicU64; STATUSES.len() + 1],
}

impl UpstreamCounters {
    /// Adds one to `counter` (relaxed: these are statistics, not synchronisation).
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed call by the status it answered.
    pub fn error(&self, status: &str) {
        let slot = STATUSES
            .iter()
            .position(|known| *known == status)
            .unwrap_or(STATUSES.len());
        Self::bump(&self.errors[slot]);
    }

    /// A snapshot of the counters, labelled with the provider's name.
    pub fn snapshot(&self, provider: &'static str) -> PlacesCounters {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let names = STATUSES.iter().copied().chain([OTHER_STATUS]);
        let errors = names
            .zip(&self.errors)
            .map(|(name, count)| (name, load(count)))
            .filter(|(_, count)| *count > 0)
            .collect();
        PlacesCounters {
            provider,
            requests: load(&self.requests),
            cache_hits: load(&self.cache_hits),
            coalesced: load(&self.coalesced),
            calls: load(&self.calls),
            local_refusals: load(&self.local_refusals),
            errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_status_and_unknown_ones_as_other() {
        let counters = UpstreamCounters::default();
        counters.error("REQUEST_DENIED");
        counters.error("REQUEST_DENIED");
        counters.error("SOMETHING_NEW");
        UpstreamCounters::bump(&counters.calls);
        let snapshot = counters.snapshot("google");
        assert_eq!(snapshot.calls, 1);
        assert_eq!(snapshot.errors.get("REQUEST_DENIED"), Some(&2));
        assert_eq!(snapshot.errors.get(OTHER_STATUS), Some(&1));
        assert_eq!(snapshot.errors.len(), 2);
    }
}
