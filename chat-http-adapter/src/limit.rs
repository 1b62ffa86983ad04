//! Token-bucket rate limits: one bucket per WebSocket connection, and one per principal for
//! the REST endpoints (a bounded map).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chat_core::{TenantId, UserId};

use crate::config::RateLimit;

/// A token bucket.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            tokens: f64::from(rate.burst),
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(self.rate.per_second))
            .min(f64::from(self.rate.burst));
        self.updated = now;
    }

    /// Takes one token; when none is left, returns how long until one is.
    pub(crate) fn take(&mut self) -> Result<(), Duration> {
        self.refill(Instant::now());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(
                missing / f64::from(self.rate.per_second),
            ))
        }
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.rate.burst)
    }
}

/// Buckets per principal, at most `max_keys` of them.
#[derive(Debug)]
pub(crate) struct KeyedLimiter {
    rate: RateLimit,
    max_keys: usize,
    buckets: Mutex<HashMap<(TenantId, UserId), TokenBucket>>,
}

impl KeyedLimiter {
    pub(crate) fn new(rate: RateLimit, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from the principal's bucket. When the map is full, buckets that refilled
    /// completely (principals idle long enough) are forgotten first; if none can be, the call
    /// is refused too, so that the limiter's memory stays bounded.
    pub(crate) fn take(&self, tenant: &TenantId, user: &UserId) -> Result<(), Duration> {
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (tenant.clone(), user.clone());
        if !buckets.contains_key(&key) && buckets.len() >= self.max_keys {
            let now = Instant::now();
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= self.max_keys {
                return Err(Duration::from_secs(1));
            }
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(self.rate))
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refuses_with_a_wait() {
        let mut bucket = TokenBucket::new(RateLimit::new(10, 3));
        for _ in 0..3 {
            assert!(bucket.take().is_ok());
        }
        let wait = bucket.take().unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
    }

    #[test]
    fn keyed_limiter_separates_principals_and_stays_bounded() {
        let limiter = KeyedLimiter::new(RateLimit::new(1, 1), 2);
        let t = TenantId::new("t").unwrap();
        let (a, b, c) = (
            UserId::new("a").unwrap(),
            UserId::new("b").unwrap(),
            UserId::new("c").unwrap(),
        );
        assert!(limiter.take(&t, &a).is_ok());
        assert!(limiter.take(&t, &a).is_err());
        assert!(limiter.take(&t, &b).is_ok());
        // Map full with two busy principals: a third is refused rather than growing the map.
        assert!(limiter.take(&t, &c).is_err());
    }
}
