//! A circuit breaker per provider: closed while calls succeed, open after
//! `failure_threshold` consecutive failures, half-open after `cool_down` with a single probe
//! call whose outcome closes or reopens it. Time is tokio's clock, so tests pause it instead
//! of sleeping.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// The cool-down ended: one probe call may go through.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive_failures: u32,
}

/// The breaker of one provider.
#[derive(Debug)]
pub(crate) struct Breaker {
    inner: Mutex<Inner>,
    failure_threshold: u32,
    cool_down: Duration,
}

/// Leave to make one call; report its outcome with [`Permit::success`] or [`Permit::failure`].
/// A probe permit dropped without a report frees the probe slot (the call was abandoned).
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Arc<Breaker>,
    probe: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(failure_threshold: u32, cool_down: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive_failures: 0,
            }),
            failure_threshold: failure_threshold.max(1),
            cool_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state now (an open breaker whose cool-down ended reads as half-open).
    pub(crate) fn state(&self) -> BreakerState {
        match self.lock().state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A permit, or `None` while open (or while a half-open probe is out).
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut inner = self.lock();
        let probe = match inner.state {
            State::Closed => false,
            State::Open { until } if Instant::now() < until => return None,
            State::Open { .. } | State::HalfOpen { probing: false } => {
                inner.state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return None,
        };
        Some(Permit {
            breaker: Arc::clone(self),
            probe,
            reported: false,
        })
    }

    fn record_success(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        inner.state = State::Closed;
    }

    fn record_failure(&self, probe: bool) {
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let reopen = probe || matches!(inner.state, State::HalfOpen { .. });
        if reopen || inner.consecutive_failures >= self.failure_threshold {
            inner.state = State::Open {
                until: Instant::now() + self.cool_down,
            };
        }
    }
}

impl Permit {
    /// The call worked: the breaker closes.
    pub(crate) fn success(mut self) {
        self.reported = true;
        self.breaker.record_success();
    }
    /// The call failed: one more consecutive failure (a failed probe reopens at once).
    pub(crate) fn failure(mut self) {
        self.reported = true;
        self.breaker.record_failure(self.probe);
    }
    /// The call ended for a reason that says nothing about the provider (a request no
    /// provider accepts): the breaker is left as it was.
    pub(crate) fn neutral(mut self) {
        self.reported = true;
        self.release_probe();
    }
    fn release_probe(&self) {
        if self.probe {
            let mut inner = self.breaker.lock();
            if matches!(inner.state, State::HalfOpen { probing: true }) {
                inner.state = State::HalfOpen { probing: false };
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.reported {
            self.release_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes_once_after_cool_down() {
        let b = Arc::new(Breaker::new(3, Duration::from_secs(30)));
        for _ in 0..2 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "two failures stay under the threshold"
        );
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_none());

        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_none(), "a single probe at a time");
        probe.failure();
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a failed probe reopens at once"
        );

        tokio::time::advance(Duration::from_secs(30)).await;
        b.try_acquire().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().unwrap().failure();
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "the count restarted after the success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_frees_the_slot() {
        let b = Arc::new(Breaker::new(1, Duration::from_secs(5)));
        b.try_acquire().unwrap().failure();
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(b.try_acquire().unwrap());
        assert!(b.try_acquire().is_some(), "another probe may go");
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_consecutive_count() {
        let b = Arc::new(Breaker::new(2, Duration::from_secs(5)));
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().success();
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
    }
}
