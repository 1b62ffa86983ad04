//! Politeness: robots.txt (parsed by texting_robots, cached per origin) and the per-host rate
//! limit with robots.txt `Crawl-delay`.
//!
//! robots.txt rules (the usual ones, as in RFC 9309 and the big crawlers): a 2xx answer is
//! parsed (an unparsable file allows everything); redirects are followed up to five hops;
//! 4xx means there are no rules (allow all); 429, 5xx and an unreachable server mean
//! "disallow everything" for `robots_error_ttl`; only the first `max_robots_bytes` are read.
//! A robots.txt refused by the SSRF guard fails the fetch with the guard's error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use texting_robots::Robot;
use tokio::time::Instant;
use url::{Position, Url};

use super::client::{Body, HttpClient, read_body};
use super::config::WebConfig;
use super::error::WebError;
use super::validate::{check_parsed, origin_key};

/// Most origins remembered by the robots cache and the rate limiter before old entries go.
const MAX_TRACKED_ORIGINS: usize = 10_000;

#[derive(Debug, Clone)]
enum Rules {
    AllowAll,
    DisallowAll,
    Parsed(Arc<Robot>),
}

#[derive(Debug, Clone)]
struct CachedRobots {
    rules: Rules,
    expires: Instant,
}

/// What robots.txt says about one URL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RobotsVerdict {
    pub(crate) allowed: bool,
    pub(crate) crawl_delay: Option<Duration>,
}

/// robots.txt per origin, with expiry.
#[derive(Debug, Default)]
pub(crate) struct RobotsCache {
    entries: Mutex<HashMap<String, CachedRobots>>,
}

impl RobotsCache {
    /// What robots.txt of the URL's origin says about it, fetching robots.txt when it is not
    /// cached or expired.
    ///
    /// Errors: the guard's errors for the robots.txt URL; `Timeout` past `deadline`.
    pub(crate) async fn verdict(
        &self,
        client: &HttpClient,
        config: &WebConfig,
        url: &Url,
        deadline: Instant,
    ) -> Result<RobotsVerdict, WebError> {
        let key = origin_key(url);
        let cached = self
            .lock()
            .get(&key)
            .filter(|c| c.expires > Instant::now())
            .map(|c| c.rules.clone());
        let rules = match cached {
            Some(rules) => rules,
            None => {
                let (rules, ttl) = fetch_rules(client, config, url, deadline).await?;
                let mut entries = self.lock();
                if entries.len() >= MAX_TRACKED_ORIGINS {
                    let now = Instant::now();
                    entries.retain(|_, c| c.expires > now);
                }
                entries.insert(
                    key,
                    CachedRobots {
                        rules: rules.clone(),
                        expires: Instant::now() + ttl,
                    },
                );
                rules
            }
        };
        let target = &url[Position::BeforePath..Position::AfterQuery];
        Ok(match rules {
            Rules::AllowAll => RobotsVerdict {
                allowed: true,
                crawl_delay: None,
            },
            Rules::DisallowAll => RobotsVerdict {
                allowed: false,
                crawl_delay: None,
            },
            Rules::Parsed(robot) => RobotsVerdict {
                allowed: robot.allowed(target),
                crawl_delay: robot
                    .delay
                    .filter(|d| d.is_finite() && *d > 0.0)
                    .map(|d| Duration::from_secs_f32(d).min(config.max_crawl_delay)),
            },
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedRobots>> {
        // A poisoned lock only means another task panicked while holding it; the map is
        // still consistent (every update is a single insert or retain).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Fetches and interprets robots.txt of the URL's origin; returns the rules and how long to
/// keep them.
async fn fetch_rules(
    client: &HttpClient,
    config: &WebConfig,
    url: &Url,
    deadline: Instant,
) -> Result<(Rules, Duration), WebError> {
    let mut current = url
        .join("/robots.txt")
        .map_err(|e| WebError::InvalidUrl(e.to_string()))?;
    let unreachable = Ok((Rules::DisallowAll, config.robots_error_ttl));
    for _ in 0..=config.max_redirects {
        let response = match tokio::time::timeout_at(deadline, client.get(&current, &[])).await {
            Err(_) => {
                return Err(WebError::Timeout {
                    phase: "fetch",
                    after: config.total_timeout,
                });
            }
            Ok(Err(err @ (WebError::BlockedAddress { .. } | WebError::GateRefused(_)))) => {
                return Err(err);
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, url = %current, "robots.txt unreachable; disallowing for a while");
                return unreachable;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status;
        if status.is_redirection() {
            let Some(next) = response
                .header(http::header::LOCATION)
                .and_then(|l| current.join(&l).ok())
            else {
                return Ok((Rules::AllowAll, config.robots_ttl));
            };
            current = check_parsed(next, config, client.policy())?;
            continue;
        }
        if status.is_success() {
            let body = match tokio::time::timeout_at(
                deadline,
                read_body(response, config.max_robots_bytes),
            )
            .await
            {
                Ok(Ok(Body::Complete(b) | Body::Truncated(b))) => b,
                Ok(Err(_)) => return unreachable,
                Err(_) => {
                    return Err(WebError::Timeout {
                        phase: "fetch",
                        after: config.total_timeout,
                    });
                }
            };
            return Ok(match Robot::new(&config.user_agent, &body) {
                Ok(robot) => (Rules::Parsed(Arc::new(robot)), config.robots_ttl),
                Err(_) => (Rules::AllowAll, config.robots_ttl),
            });
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return unreachable;
        }
        return Ok((Rules::AllowAll, config.robots_ttl));
    }
    // Too many redirects: treated like a missing file.
    Ok((Rules::AllowAll, config.robots_ttl))
}

/// Per-origin spacing of requests.
#[derive(Debug, Default)]
pub(crate) struct HostRateLimiter {
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl HostRateLimiter {
    /// Waits for the origin's next free slot (`interval` after the previous request) and takes
    /// it.
    ///
    /// Errors: `RateLimited` when the slot comes after `deadline` (nothing is waited then).
    pub(crate) async fn acquire(
        &self,
        url: &Url,
        interval: Duration,
        deadline: Instant,
    ) -> Result<(), WebError> {
        let key = origin_key(url);
        let slot = {
            let mut slots = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            if slots.len() >= MAX_TRACKED_ORIGINS {
                slots.retain(|_, t| *t > now);
            }
            let slot = slots.get(&key).copied().filter(|t| *t > now).unwrap_or(now);
            if slot > deadline {
                return Err(WebError::RateLimited {
                    host: super::validate::host_label(url),
                    retry_after: slot - now,
                });
            }
            slots.insert(key, slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
    }
}
