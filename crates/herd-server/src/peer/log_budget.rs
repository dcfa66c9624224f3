//! A budget for log lines that a stranger can cause: handshakes refused, catch-ups reported.
//!
//! Anyone who reaches a peer port can send HELLO after HELLO, and each refusal is worth a log
//! line; without a bound, a loop fills the disk (the log rotates, so it would rather wash out
//! every line worth keeping). So each kind of line gets [`LINES_PER_WINDOW`] lines per
//! [`WINDOW`]; past that, lines of that kind are counted instead, and one line says how many
//! were left out once the window is over (or at shutdown).
//!
//! A fixed window with a counter, rather than `governor` (a dependency of the places
//! provider): governor says yes or no to each line, but the summary needs to know how many it
//! said no to and when a window ended, which is this whole module; and a handful of kinds
//! need no more than a small map behind a lock that is only taken on these rare lines.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many lines of one kind are written per window.
pub const LINES_PER_WINDOW: u32 = 10;

/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// One kind's window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When it started.
    started: Instant,
    /// Lines written in it.
    written: u32,
    /// Lines left out in it.
    suppressed: u64,
}

/// The budget of a server's lines of a few kinds.
#[derive(Debug, Default)]
pub struct LogBudget {
    /// The current window of each kind that had a line.
    windows: Mutex<BTreeMap<&'static str, Window>>,
}

/// What to write for one line.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The summary of the kind's last window, to write first, if lines were left out in it.
    pub summary: Option<String>,
    /// Whether the line itself is written.
    pub write: bool,
}

impl LogBudget {
    /// Decides about one line of `kind` at `now`.
    pub fn admit(&self, kind: &'static str, now: Instant) -> Verdict {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut summary = None;
        let window = windows.entry(kind).or_insert(Window {
            started: now,
            written: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(window.started) >= WINDOW {
            summary = summarise(kind, window);
            *window = Window {
                started: now,
                written: 0,
                suppressed: 0,
            };
        }
        let write = window.written < LINES_PER_WINDOW;
        if write {
            window.written += 1;
        } else {
            window.suppressed += 1;
        }
        Verdict { summary, write }
    }

    /// The summaries of windows that ended by `now` with lines left out (all of them, ended
    /// or not, when `now` is `None`: at shutdown).
    pub fn ended(&self, now: Option<Instant>) -> Vec<String> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (kind, window) in windows.iter_mut() {
            let over =
                now.is_none_or(|now| now.saturating_duration_since(window.started) >= WINDOW);
            if over {
                out.extend(summarise(kind, window));
                window.suppressed = 0;
            }
        }
        out
    }
}

/// `K "kind" lines left out in the last 10 s`, if any were.
fn summarise(kind: &str, window: &Window) -> Option<String> {
    (window.suppressed > 0).then(|| {
        format!(
            "{} more \"{kind}\" lines suppressed (at most {LINES_PER_WINDOW} per {} s)",
            window.suppressed,
            WINDOW.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gets_its_lines_per_window_then_one_summary() {
        let budget = LogBudget::default();
        let t0 = Instant::now();
        let written = (0..1_000)
            .filter(|_| budget.admit("handshake refused", t0).write)
            .count();
        assert_eq!(written, LINES_PER_WINDOW as usize);
        // Another kind has its own budget.
        assert!(budget.admit("not a neighbour", t0).write);
        assert!(budget.ended(Some(t0 + WINDOW / 2)).is_empty());
        // The next window starts with the summary of the last.
        let next = budget.admit("handshake refused", t0 + WINDOW);
        assert!(next.write);
        assert_eq!(
            next.summary.as_deref(),
            Some("990 more \"handshake refused\" lines suppressed (at most 10 per 10 s)")
        );
        // Housekeeping and shutdown say what is left out when no line comes to say it.
        for _ in 0..LINES_PER_WINDOW {
            budget.admit("handshake refused", t0 + WINDOW);
        }
        let ended = budget.ended(Some(t0 + 2 * WINDOW));
        assert_eq!(ended.len(), 1);
        assert!(ended[0].starts_with("1 more \"handshake refused\""));
        assert!(budget.ended(None).is_empty(), "said once");
    }
}
