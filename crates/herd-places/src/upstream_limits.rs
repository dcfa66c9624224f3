//! What keeps the herd from hammering Google: a cap on calls in flight, a rate limit, and a
//! back-off after Google says we asked too much.
//!
//! Every wait is bounded by the caller's deadline. A wait that cannot end before the deadline
//! is refused at once, and the caller answers `OVER_QUERY_LIMIT` itself without asking Google.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use thiserror::Error;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Why a call was not let through to Google.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Google refused recently and the pause it earned has not run out yet.
    #[error("backing off from Google for another {} ms after OVER_QUERY_LIMIT", .0.as_millis())]
    BackingOff(Duration),
    /// The local rate limit would not allow a call before the deadline.
    #[error("the herd's rate limit for Google allows no call before the timeout")]
    RateLimited,
    /// Too many calls were in flight until the deadline.
    #[error("too many calls to Google in flight until the timeout")]
    TooManyInFlight,
}

/// How long to stay away from Google after it says OVER_QUERY_LIMIT. Not in the config file:
/// the defaults suit production, and tests shorten or lengthen them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first pause; each further refusal doubles it.
    pub initial: Duration,
    /// The longest pause the back-off grows to.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    /// One second at first, a minute at most.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// The state of the back-off after OVER_QUERY_LIMIT.
#[derive(Debug)]
struct Backoff {
    /// No call goes out before this instant, if set.
    until: Option<Instant>,
    /// The pause the next refusal earns.
    next_pause: Duration,
}

/// The limits on calls to one upstream API.
#[derive(Debug)]
pub struct UpstreamLimits {
    /// One permit per call in flight.
    in_flight: Semaphore,
    /// Calls started per second.
    rate: DefaultDirectRateLimiter,
    /// Pause after OVER_QUERY_LIMIT; a std mutex, never held across an await.
    backoff: Mutex<Backoff>,
    /// The first pause, restored after a successful call.
    backoff_initial: Duration,
    /// The longest pause.
    backoff_max: Duration,
}

impl UpstreamLimits {
    /// Limits allowing `max_concurrent` calls in flight and `rate_per_sec` starts per second.
    pub fn new(
        max_concurrent: usize,
        rate_per_sec: NonZeroU32,
        backoff_initial: Duration,
        backoff_max: Duration,
    ) -> Self {
        Self {
            in_flight: Semaphore::new(max_concurrent),
            rate: RateLimiter::direct(Quota::per_second(rate_per_sec)),
            backoff: Mutex::new(Backoff {
                until: None,
                next_pause: backoff_initial,
            }),
            backoff_initial,
            backoff_max: backoff_max.max(backoff_initial),
        }
    }

    /// Waits until a call may go out, at most until `deadline`; the permit it returns is the
    /// call's place in flight and must live as long as the call.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the back-off is on or a limit cannot be met before `deadline`.
    pub async fn admit(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, Refusal> {
        self.check_backoff()?;
        while let Err(not_until) = self.rate.check() {
            let wait = not_until.wait_time_from(self.rate.clock().now());
            if Instant::now() + wait > deadline {
                return Err(Refusal::RateLimited);
            }
            tokio::time::sleep(wait).await;
        }
        let permit = tokio::time::timeout_at(deadline, self.in_flight.acquire())
            .await
            .map_err(|_| Refusal::TooManyInFlight)?
            .map_err(|_| Refusal::TooManyInFlight)?;
        // Google may have refused another call while this one waited.
        self.check_backoff()?;
        Ok(permit)
    }

    /// Records that Google said OVER_QUERY_LIMIT: no call goes out for a pause that doubles
    /// with each refusal. Calls that were already in flight do not stack their refusals.
    pub fn note_over_limit(&self) {
        let now = Instant::now();
        let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        if backoff.until.is_some_and(|until| until > now) {
            return;
        }
        backoff.until = Some(now + backoff.next_pause);
        backoff.next_pause = (backoff.next_pause * 2).min(self.backoff_max);
    }

    /// Records that Google answered normally: the next refusal starts from the first pause.
    pub fn note_success(&self) {
        let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        backoff.until = None;
        backoff.next_pause = self.backoff_initial;
    }

    /// Refuses while the back-off pause runs.
    fn check_backoff(&self) -> Result<(), Refusal> {
        let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        match backoff.until {
            Some(until) if until > Instant::now() => {
                Err(Refusal::BackingOff(until - Instant::now()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_concurrent: usize, rate: u32) -> UpstreamLimits {
        UpstreamLimits::new(
            max_concurrent,
            NonZeroU32::new(rate).expect("positive rate"),
            Duration::from_millis(100),
            Duration::from_millis(400),
        )
    }

    #[tokio::test]
    async fn refuses_while_backing_off_and_doubles_the_pause() {
        let limits = limits(4, 1000);
        let deadline = Instant::now() + Duration::from_secs(1);
        assert!(limits.admit(deadline).await.is_ok());
        limits.note_over_limit();
        assert!(matches!(
            limits.admit(deadline).await,
            Err(Refusal::BackingOff(_))
        ));
        // A second refusal during the pause does not stack.
        limits.note_over_limit();
        let next = limits.backoff.lock().unwrap().next_pause;
        assert_eq!(next, Duration::from_millis(200));
        limits.note_success();
        assert!(limits.admit(deadline).await.is_ok());
        assert_eq!(
            limits.backoff.lock().unwrap().next_pause,
            Duration::from_millis(100)
        );
    }

    #[tokio::test]
    async fn the_pause_stops_growing_at_the_maximum() {
        let limits = limits(4, 1000);
        for _ in 0..10 {
            limits.backoff.lock().unwrap().until = None;
            limits.note_over_limit();
        }
        assert_eq!(
            limits.backoff.lock().unwrap().next_pause,
            Duration::from_millis(400)
        );
    }

    #[tokio::test]
    async fn refuses_at_once_when_the_rate_allows_nothing_before_the_deadline() {
        let limits = limits(4, 1);
        let deadline = Instant::now() + Duration::from_millis(200);
        assert!(limits.admit(deadline).await.is_ok());
        assert_eq!(
            limits.admit(deadline).await.err(),
            Some(Refusal::RateLimited)
        );
    }

    #[tokio::test]
    async fn refuses_when_no_call_slot_frees_before_the_deadline() {
        let limits = limits(1, 1000);
        let deadline = Instant::now() + Duration::from_millis(50);
        let held = limits.admit(deadline).await.expect("first call admitted");
        assert_eq!(
            limits.admit(deadline).await.err(),
            Some(Refusal::TooManyInFlight)
        );
        drop(held);
        let later = Instant::now() + Duration::from_millis(50);
        assert!(limits.admit(later).await.is_ok());
    }
}
