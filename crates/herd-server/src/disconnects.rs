//! Client connections the server closed itself, and why: a client that stops reading, one
//! whose unsent answers pass their ceiling, one that stays silent too long, and those still
//! open when a stopping server's grace ran out.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the server closed a client connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Answers were pending and the socket took nothing for `[herd] client_write_timeout`.
    WriteTimeout,
    /// The answers the socket had not taken passed `[herd] client_output_limit` bytes.
    OutputLimit,
    /// The client sent nothing for `[herd] client_idle_timeout`.
    Idle,
    /// The connection was still open when the server's `[herd] shutdown_grace` ran out.
    Shutdown,
}

/// How many connections were closed for each [`Cut`], since the server started.
#[derive(Debug, Default)]
pub struct Disconnects {
    /// [`Cut::WriteTimeout`].
    write_timeout: AtomicU64,
    /// [`Cut::OutputLimit`].
    output_limit: AtomicU64,
    /// [`Cut::Idle`].
    idle: AtomicU64,
    /// [`Cut::Shutdown`].
    shutdown: AtomicU64,
}

impl Disconnects {
    /// Counts one connection closed for `why`.
    pub fn count(&self, why: Cut) {
        let counter = match why {
            Cut::WriteTimeout => &self.write_timeout,
            Cut::OutputLimit => &self.output_limit,
            Cut::Idle => &self.idle,
            Cut::Shutdown => &self.shutdown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn counts(&self) -> DisconnectCounts {
        DisconnectCounts {
            write_timeout: self.write_timeout.load(Ordering::Relaxed),
            output_limit: self.output_limit.load(Ordering::Relaxed),
            idle: self.idle.load(Ordering::Relaxed),
            shutdown: self.shutdown.load(Ordering::Relaxed),
        }
    }
}

/// A reading of [`Disconnects`], shown as one log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DisconnectCounts {
    /// Closed for [`Cut::WriteTimeout`].
    pub write_timeout: u64,
    /// Closed for [`Cut::OutputLimit`].
    pub output_limit: u64,
    /// Closed for [`Cut::Idle`].
    pub idle: u64,
    /// Closed for [`Cut::Shutdown`].
    pub shutdown: u64,
}

impl DisconnectCounts {
    /// All connections the server closed itself.
    pub fn total(&self) -> u64 {
        self.write_timeout + self.output_limit + self.idle + self.shutdown
    }
}

impl fmt::Display for DisconnectCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clients disconnected: {} (write timeout {}, output limit {}, idle {}, at shutdown {})",
            self.total(),
            self.write_timeout,
            self.output_limit,
            self.idle,
            self.shutdown
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_is_counted_and_shown() {
        let d = Disconnects::default();
        d.count(Cut::WriteTimeout);
        d.count(Cut::OutputLimit);
        d.count(Cut::OutputLimit);
        d.count(Cut::Shutdown);
        assert_eq!(
            d.counts().to_string(),
            "clients disconnected: 4 (write timeout 1, output limit 2, idle 0, at shutdown 1)"
        );
    }
}
