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

/// How far a lease reaches past the last number when that number is already ahead of the
/// clock (right after a restart, the first number is above the lease read back, which may be
/// up to [`LEASE_AHEAD`] past the clock): a tenth of a second of numbers, so restarts in quick
/// succession push the counter ahead of the clock by this much each, not by a whole
/// [`LEASE_AHEAD`]. (While it is ahead, numbers grow by one per record, so such a lease still
/// covers a hundred thousand records.)
pub const LEASE_AHEAD_OF_CLOCK: u64 = LEASE_AHEAD / 100;

/// How far past a receiving server's clock (in microseconds) a sane server's number can be:
/// its numbers are at most its lease, which is at most [`LEASE_AHEAD`] past its own clock
/// plus [`LEASE_AHEAD_OF_CLOCK`] per restart faster than its clock moved; the rest of these
/// ten minutes is room for clocks of the herd that disagree (NTP keeps them within
/// milliseconds). A neighbour's number beyond it is refused: taken, it would lift a watermark
/// (or, before, a counter) past every number the origin will give for a long time, and
/// switch catch-up of that origin off until then (see ALGORITHM.md, "Trust").
pub const NUMBER_HORIZON: u64 = 60 * LEASE_AHEAD;

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
            let lease = now_micros
                .saturating_add(LEASE_AHEAD)
                .max(seq.saturating_add(LEASE_AHEAD_OF_CLOCK));
            return Err(NeedLease { lease });
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
        assert_eq!(need.lease, 10 + LEASE_AHEAD);
        n.lease_stored(need.lease);
        assert_eq!(n.next(10), Ok(1_001));
    }

    #[test]
    fn restarts_in_quick_succession_push_numbers_ahead_of_the_clock_by_a_little_each() {
        // Every restart finds the lease the last life stored, with the clock standing still.
        let mut lease = 0;
        for _ in 0..1_000 {
            let mut n = Numbers::default();
            n.restore_lease(lease);
            let need = n.next(5).unwrap_err();
            n.lease_stored(need.lease);
            n.next(5).unwrap();
            lease = need.lease;
        }
        // A thousand restarts: the first lease, then a tenth of a second of numbers each.
        assert!(lease <= 5 + LEASE_AHEAD + 1_000 * (LEASE_AHEAD_OF_CLOCK + 1));
        assert!(lease < NUMBER_HORIZON);
    }
}
