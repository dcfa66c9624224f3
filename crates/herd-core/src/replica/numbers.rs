//! The sequence numbers a server gives the records it originates, and the stored lease that
//! keeps them from ever repeating.
//!
//! A new number is `max(previous + 1, now in microseconds)`, so numbers keep growing across a
//! restart that lost the last few. That alone fails when the clock steps back across a
//! restart, so a number is only given out when it is at most the *lease*: a bound stored (and
//! synced) before any number past the previous bound is used. After a restart the lease read
//! back bounds every number given before, and the first new number is above it.

/// How far ahead a lease reaches: ten seconds of microsecond numbers, so a busy server renews
/// (one synced write) about every ten seconds.
pub const LEASE_AHEAD: u64 = 10_000_000;

/// The store key of the sequence lease: it holds a space, so no client ID can be it.
pub const SEQ_LEASE_KEY: &[u8] = b" seq-lease";

/// The next number would pass the stored lease: store `lease` (synced), then report it with
/// [`Numbers::lease_stored`] and ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sequence lease must be renewed up to {lease} first")]
pub struct NeedLease {
    /// The lease to store.
    pub lease: u64,
}

/// A server's counter and lease.
#[derive(Debug, Default, Clone)]
pub struct Numbers {
    /// The last number given (or read back, or learned from a neighbour).
    last: u64,
    /// Every number given is at most this; it is durable before a number above the previous
    /// lease is used.
    lease: u64,
}

impl Numbers {
    /// The next number, at least `now_micros`, without giving it yet.
    fn candidate(&self, now_micros: u64) -> u64 {
        self.last.saturating_add(1).max(now_micros)
    }

    /// Gives the next number.
    ///
    /// # Errors
    /// [`NeedLease`] when the number would pass the stored lease; nothing changes then.
    pub fn next(&mut self, now_micros: u64) -> Result<u64, NeedLease> {
        let seq = self.candidate(now_micros);
        if seq > self.lease {
            return Err(NeedLease {
                lease: seq.saturating_add(LEASE_AHEAD),
            });
        }
        self.last = seq;
        Ok(seq)
    }

    /// The lease `lease` is durable now.
    pub fn lease_stored(&mut self, lease: u64) {
        self.lease = self.lease.max(lease);
    }

    /// A lease read back from storage: numbers up to it may have been given before a crash,
    /// so every later number is above it, and it is the lease in force.
    pub fn restore_lease(&mut self, lease: u64) {
        self.last = self.last.max(lease);
        self.lease = self.lease.max(lease);
    }

    /// Some record numbered `seq` exists (read back, or held by a neighbour): never give it
    /// again.
    pub fn observe(&mut self, seq: u64) {
        self.last = self.last.max(seq);
    }

    /// The last number given or observed.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The lease in force.
    pub fn lease(&self) -> u64 {
        self.lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_grow_with_the_clock_and_never_pass_the_lease() {
        let mut n = Numbers::default();
        assert_eq!(
            n.next(5),
            Err(NeedLease {
                lease: 5 + LEASE_AHEAD
            })
        );
        n.lease_stored(5 + LEASE_AHEAD);
        assert_eq!(n.next(5), Ok(5));
        assert_eq!(n.next(0), Ok(6));
        assert_eq!(n.next(100), Ok(100));
        assert!(n.next(LEASE_AHEAD + 6).is_err());
    }

    #[test]
    fn a_restored_lease_puts_every_new_number_above_it_even_with_the_clock_behind() {
        let mut n = Numbers::default();
        n.restore_lease(1_000);
        let need = n.next(10).unwrap_err();
        assert_eq!(need.lease, 1_001 + LEASE_AHEAD);
        n.lease_stored(need.lease);
        assert_eq!(n.next(10), Ok(1_001));
    }
}
