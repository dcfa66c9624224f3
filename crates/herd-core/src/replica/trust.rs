//! What a neighbour is not trusted with: names and numbers.
//!
//! A neighbour proved the herd's secret, but a proof says who sent a line, not that the line
//! is sane: a bug, a config being rolled out or a stolen secret can bring any line. What one
//! line can do is bounded here:
//!
//! - a record or mark whose origin is not a server of the herd is left out, so the marks map
//!   only ever holds the herd's names;
//! - a record or mark numbered beyond [`NUMBER_HORIZON`] past this server's clock is left out:
//!   no server could have given that number yet, and a mark at `u64::MAX` would switch
//!   catch-up of that origin off for good;
//! - a mark of this server's own numbers above the last it gave (or read back from its
//!   stored lease) is left out: merged, it would pin the counter at that number, and the
//!   lease would store it;
//! - records are checked like a client's report already (`Record::decode`: the location's
//!   range, the time's shape; the limits: `Replica::within_limits`).
//!
//! Each is counted ([`Refusals`](super::Refusals)), and so is every line that is not a
//! neighbour line at all. A neighbour that sends more than [`MAX_BAD_LINES`] such lines within
//! [`BAD_LINES_WINDOW`] is cut off ([`Action::DropLink`]).

use std::time::Duration;

use super::numbers::NUMBER_HORIZON;
use super::{Action, PeerId, Refusal, Replica, Watermarks};
use crate::record::Record;

/// How many lines a neighbour may send within [`BAD_LINES_WINDOW`] that are not trusted
/// before its link is dropped. A healthy herd sends none; a neighbour running a config whose
/// herd has a server this one does not know yet (while a change rolls out) sends a few per
/// link-up, far below this. A hundred is enough to say "broken or hostile" and, as each
/// costs one parse and one count, few enough that the flood costs nothing.
pub const MAX_BAD_LINES: u32 = 100;

/// The window over which [`MAX_BAD_LINES`] is counted.
pub const BAD_LINES_WINDOW: Duration = Duration::from_secs(10);

/// Lines not trusted from one neighbour in the current window (a fixed window: simpler than
/// a sliding one, and at worst it lets through twice the limit across a window's edge).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BadLineWindow {
    /// When the window started (the server's clock, nanoseconds).
    started: i128,
    /// Lines not trusted since.
    count: u32,
}

impl BadLineWindow {
    /// Counts one line at `now`; returns the count when it passes the limit (and starts a new
    /// window, so the next connection gets the whole limit again).
    fn count(&mut self, now: i128) -> Option<u32> {
        let window = i128::try_from(BAD_LINES_WINDOW.as_nanos()).unwrap_or(i128::MAX);
        if self.count == 0 || now.saturating_sub(self.started) >= window || now < self.started {
            *self = BadLineWindow {
                started: now,
                count: 0,
            };
        }
        self.count += 1;
        if self.count > MAX_BAD_LINES {
            let count = self.count;
            *self = BadLineWindow::default();
            return Some(count);
        }
        None
    }
}

impl Replica {
    /// Counts one line from `from` that was not trusted, and asks for its link to be dropped
    /// when that makes too many.
    pub(super) fn distrust(&mut self, from: PeerId, now_nanos: i128, actions: &mut Vec<Action>) {
        if let Some(bad_lines) = self
            .bad_lines
            .get_mut(from)
            .and_then(|w| w.count(now_nanos))
        {
            actions.push(Action::DropLink {
                peer: from,
                bad_lines,
            });
        }
    }

    /// One of `from`'s records was dropped although it may be true.
    pub(super) fn note_dropped(&mut self, from: PeerId) {
        if let Some(n) = self.dropped_from.get_mut(from) {
            *n += 1;
        }
    }

    /// The highest number any server could have given by `now_nanos`.
    fn horizon(now_nanos: i128) -> u64 {
        let now_micros = u64::try_from(now_nanos / 1000).unwrap_or(0);
        now_micros.saturating_add(NUMBER_HORIZON)
    }

    /// Checks a neighbour's record's origin and number (its fields were checked when it was
    /// read, its limits are checked when it is offered).
    pub(super) fn trusted_record(&self, record: &Record, now_nanos: i128) -> Result<(), Refusal> {
        let origin = std::str::from_utf8(record.origin()).unwrap_or("");
        if !self.herd.contains(origin) {
            return Err(Refusal::UnknownOrigin);
        }
        if record.seq() > Self::horizon(now_nanos) {
            return Err(Refusal::NumberAhead);
        }
        Ok(())
    }

    /// Checks one mark of a `WM` or `CAUGHT` line.
    fn trusted_mark(&self, origin: &str, seq: u64, now_nanos: i128) -> Result<(), Refusal> {
        if !self.herd.contains(origin) {
            return Err(Refusal::UnknownOrigin);
        }
        if origin == self.me && seq > self.numbers.last() {
            return Err(Refusal::OwnNumberNotGiven);
        }
        if seq > Self::horizon(now_nanos) {
            return Err(Refusal::NumberAhead);
        }
        Ok(())
    }

    /// The marks of a neighbour's `WM` or `CAUGHT` line that can be trusted; each one left
    /// out is counted, and the line counts once as not trusted. Also says whether any was
    /// left out.
    pub(super) fn trusted_marks(
        &mut self,
        from: PeerId,
        marks: Watermarks,
        now_nanos: i128,
        actions: &mut Vec<Action>,
    ) -> (Watermarks, bool) {
        let mut kept = Watermarks::new();
        let mut refused = false;
        for (origin, seq) in marks {
            match self.trusted_mark(&origin, seq, now_nanos) {
                Ok(()) => {
                    kept.insert(origin, seq);
                }
                Err(why) => {
                    self.refusals.untrusted.count(why);
                    refused = true;
                }
            }
        }
        if refused {
            self.distrust(from, now_nanos, actions);
        }
        (kept, refused)
    }
}
