//! What a server takes at most from its clients and neighbours, and the count of what it
//! refused.
//!
//! The limits are the same at every server of a herd (`[herd]` in the config), and each check
//! reads only what travels with a record, so a record one server takes is taken by all: a
//! neighbour's record is checked against its own time difference (the origin's clock), never
//! against the receiving server's clock, which may be a little off. The one exception is the
//! table's size, which depends on what a server holds (see ALGORITHM.md, "Limits").

use std::fmt;
use std::time::Duration;

use crate::protocol::number::MAX_TIME_DIGITS;

/// The limits on what a server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How far a client's time may be ahead of the clock of the server that receives the
    /// report (`None`: any distance): a time further ahead would win newer-wins against every
    /// honest report after it.
    pub max_clock_ahead: Option<Duration>,
    /// The longest client ID, in bytes.
    pub max_client_id: usize,
    /// The most clients the table holds; a report or record for a new client beyond it is
    /// refused, while known clients still move.
    pub max_clients: usize,
}

impl Limits {
    /// No limits at all.
    pub const NONE: Limits = Limits {
        max_clock_ahead: None,
        max_client_id: usize::MAX,
        max_clients: usize::MAX,
    };

    /// True when a time difference (receive time minus client time, nanoseconds) is within
    /// the bound: the client's time is at most `max_clock_ahead` ahead of the server's clock.
    pub fn difference_allowed(&self, difference_nanos: i128) -> bool {
        self.max_clock_ahead.is_none_or(|ahead| {
            // At most 1.8e28: a `Duration` is below 2^64 seconds.
            let ahead = i128::try_from(ahead.as_nanos()).unwrap_or(i128::MAX);
            difference_nanos >= -ahead
        })
    }
}

/// Why a client's report or a neighbour's record was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The time is not a decimal with at most [`MAX_TIME_DIGITS`] digits before its point.
    #[error("the time is not a decimal with at most {MAX_TIME_DIGITS} digits before its point")]
    Time,
    /// The client's time is more than `max_clock_ahead` ahead of the receiving server's clock.
    #[error("the client's time is more than max_clock_ahead ahead of the server's clock")]
    ClockAhead,
    /// The client ID is longer than `max_client_id`.
    #[error("the client ID is longer than max_client_id")]
    ClientIdTooLong,
    /// The table holds `max_clients` clients and this client is new.
    #[error("the table is full (max_clients) and the client is new")]
    TableFull,
    /// A neighbour's line that is not a neighbour line (or is longer than a link's limit).
    #[error("a neighbour's line is not understood")]
    BadLine,
    /// A neighbour's record or mark names an origin that is not a server of the herd.
    #[error("the origin is not a server of the herd")]
    UnknownOrigin,
    /// A neighbour's number is beyond what any server could have given by now
    /// ([`NUMBER_HORIZON`](super::numbers::NUMBER_HORIZON) past this server's clock).
    #[error("the number is beyond what any server could have given yet")]
    NumberAhead,
    /// A neighbour's mark about this server's own numbers is above the last it gave.
    #[error("a mark of this server's own numbers is above the last it gave")]
    OwnNumberNotGiven,
}

impl Refusal {
    /// Every reason, in the order counts are shown.
    const ALL: [Refusal; 8] = [
        Refusal::Time,
        Refusal::ClockAhead,
        Refusal::ClientIdTooLong,
        Refusal::TableFull,
        Refusal::BadLine,
        Refusal::UnknownOrigin,
        Refusal::NumberAhead,
        Refusal::OwnNumberNotGiven,
    ];

    /// A short name, for counts in the log.
    fn name(self) -> &'static str {
        match self {
            Refusal::Time => "time",
            Refusal::ClockAhead => "clock ahead",
            Refusal::ClientIdTooLong => "client id too long",
            Refusal::TableFull => "table full",
            Refusal::BadLine => "not understood",
            Refusal::UnknownOrigin => "unknown origin",
            Refusal::NumberAhead => "number ahead",
            Refusal::OwnNumberNotGiven => "own number not given",
        }
    }
}

/// How many were refused, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// The count of each reason, indexed by the reason's place in [`Refusal::ALL`].
    counts: [u64; Refusal::ALL.len()],
}

impl Tally {
    /// How many were refused for `why`.
    pub fn of(&self, why: Refusal) -> u64 {
        self.counts[why as usize]
    }

    /// How many were refused in all.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Counts one refusal for `why`.
    pub(crate) fn count(&mut self, why: Refusal) {
        self.counts[why as usize] += 1;
    }
}

/// `0`, or `5 (clock ahead 2, table full 3)`.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.total())?;
        let mut sep = " (";
        for why in Refusal::ALL.into_iter().filter(|&w| self.of(w) > 0) {
            write!(f, "{sep}{} {}", why.name(), self.of(why))?;
            sep = ", ";
        }
        if sep == ", " {
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// What a server refused since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Client IAMATs answered `?`.
    pub clients: Tally,
    /// Neighbours' records dropped (for the limits, or because they are not trusted).
    pub records: Tally,
    /// Neighbours' lines not trusted: lines not understood, and the marks of `WM` and
    /// `CAUGHT` lines left out (an unknown origin, a number ahead; records are in `records`).
    pub untrusted: Tally,
}

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IAMATs refused: {}; neighbour records dropped: {}",
            self.clients, self.records
        )?;
        // Only a broken or hostile neighbour sends these: say nothing of them until one did.
        if self.untrusted.total() > 0 {
            write!(f, "; neighbour lines not trusted: {}", self.untrusted)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_on_the_difference_and_inclusive() {
        let limits = Limits {
            max_clock_ahead: Some(Duration::from_secs(10)),
            ..Limits::NONE
        };
        assert!(limits.difference_allowed(5));
        assert!(limits.difference_allowed(-10_000_000_000));
        assert!(!limits.difference_allowed(-10_000_000_001));
        assert!(Limits::NONE.difference_allowed(-(10i128.pow(30))));
    }

    #[test]
    fn counts_show_only_what_happened() {
        let mut refusals = Refusals::default();
        assert_eq!(
            refusals.to_string(),
            "IAMATs refused: 0; neighbour records dropped: 0"
        );
        refusals.clients.count(Refusal::TableFull);
        refusals.clients.count(Refusal::ClockAhead);
        refusals.clients.count(Refusal::TableFull);
        assert_eq!(refusals.clients.of(Refusal::TableFull), 2);
        assert_eq!(
            refusals.to_string(),
            "IAMATs refused: 3 (clock ahead 1, table full 2); neighbour records dropped: 0"
        );
    }
}
