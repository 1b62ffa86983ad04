//! One simulated WebSocket client of the load generator, and the counters and latency
//! histograms all clients share.
//!
//! A client connects to `/api/v1/ws?token=`, joins its session from `after_seq` 0, waits for
//! `joined`, then sends `send` frames at its rate until told to stop. The `client_msg_id` of
//! every message carries the sending connection and the send time (microseconds since the
//! generator's epoch), so whoever receives the `message_created` event computes the
//! send-to-delivery latency without any clock but the generator's own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::BoxError;

/// Read buffer of each generated client (the default 128 KiB would cost the generator 1.3 GB
/// at 10,000 connections).
const CLIENT_READ_BUFFER: usize = 4 * 1024;
/// Longest wait for the handshake and the `joined` frame (retries included).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Handshakes retried after a 429.
const HANDSHAKE_RETRIES: u32 = 10;
/// Shards of the latency histograms (fewer lock collisions between worker threads).
const SHARDS: usize = 16;
/// Largest latency recorded, in microseconds (longer ones are clamped).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Connecting and joining; nothing is sent.
    Connect,
    /// Sending; nothing is measured yet.
    Warmup,
    /// Sending and measuring.
    Measure,
    /// Not sending; late deliveries of measured messages still count.
    Drain,
    /// Closing.
    Stop,
}

/// Counters and histograms shared by every client.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Time origin of the `client_msg_id` timestamps.
    pub(crate) epoch: Instant,
    /// Start and end of the measurement window, in microseconds since `epoch` (0: not yet).
    pub(crate) window_start_us: AtomicU64,
    pub(crate) window_end_us: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) connect_failed: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) sent_in_window: AtomicU64,
    pub(crate) acked_in_window: AtomicU64,
    pub(crate) delivered_in_window: AtomicU64,
    pub(crate) send_failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) errors: Mutex<BTreeMap<String, u64>>,
    delivery: Vec<Mutex<Histogram<u64>>>,
    ack: Vec<Mutex<Histogram<u64>>>,
}

impl Stats {
    pub(crate) fn new() -> Result<Self, BoxError> {
        let shards = || -> Result<Vec<Mutex<Histogram<u64>>>, BoxError> {
            (0..SHARDS)
                .map(|_| {
                    Ok(Mutex::new(Histogram::new_with_bounds(
                        1,
                        MAX_LATENCY_US,
                        3,
                    )?))
                })
                .collect()
        };
        Ok(Self {
            epoch: Instant::now(),
            window_start_us: AtomicU64::new(0),
            window_end_us: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            sent_in_window: AtomicU64::new(0),
            acked_in_window: AtomicU64::new(0),
            delivered_in_window: AtomicU64::new(0),
            send_failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            delivery: shards()?,
            ack: shards()?,
        })
    }

    pub(crate) fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn in_window(&self, sent_us: u64) -> bool {
        let start = self.window_start_us.load(Ordering::Relaxed);
        let end = self.window_end_us.load(Ordering::Relaxed);
        start != 0 && sent_us >= start && (end == 0 || sent_us < end)
    }

    fn error(&self, what: impl Into<String>) {
        *self
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(what.into())
            .or_default() += 1;
    }

    fn record(shards: &[Mutex<Histogram<u64>>], shard: usize, micros: u64) {
        shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(micros.clamp(1, MAX_LATENCY_US));
    }

    /// The merged send-to-delivery histogram.
    pub(crate) fn delivery(&self) -> Result<Histogram<u64>, BoxError> {
        merged(&self.delivery)
    }

    /// The merged send-to-ack histogram.
    pub(crate) fn ack(&self) -> Result<Histogram<u64>, BoxError> {
        merged(&self.ack)
    }
}

fn merged(shards: &[Mutex<Histogram<u64>>]) -> Result<Histogram<u64>, BoxError> {
    let mut all = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    for shard in shards {
        all.add(&*shard.lock().unwrap_or_else(PoisonError::into_inner))?;
    }
    Ok(all)
}

/// What one client needs.
#[derive(Debug, Clone)]
pub(crate) struct ClientPlan {
    /// Connection number (unique in the run).
    pub(crate) index: usize,
    pub(crate) url: String,
    pub(crate) session_id: String,
    /// Interval between two sends; none for an idle client.
    pub(crate) period: Option<Duration>,
    pub(crate) padding: String,
    /// When the only participant: its own messages count as deliveries.
    pub(crate) alone: bool,
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    client_msg_id: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    event: Option<Event>,
}

#[derive(Deserialize)]
struct Event {
    kind: String,
    #[serde(default)]
    message: Option<EventMessage>,
}

#[derive(Deserialize)]
struct EventMessage {
    #[serde(default)]
    client_msg_id: Option<String>,
}

/// The sender's connection number and send time of a generator's `client_msg_id`
/// (`lg-<connection>-<n>-<micros>`).
fn parse_id(id: &str) -> Option<(usize, u64)> {
    let mut parts = id.strip_prefix("lg-")?.split('-');
    let connection = parts.next()?.parse().ok()?;
    let _n = parts.next()?;
    let micros = parts.next()?.parse().ok()?;
    Some((connection, micros))
}

/// Runs one client until the phase reaches [`Phase::Stop`]. Connection failures and drops
/// are counted, not returned.
pub(crate) async fn run(
    plan: ClientPlan,
    stats: Arc<Stats>,
    handshakes: Arc<Semaphore>,
    mut phase: watch::Receiver<Phase>,
) {
    let permit = handshakes.acquire().await;
    let joined = tokio::time::timeout(JOIN_TIMEOUT, connect_with_retry(&plan)).await;
    drop(permit);
    let mut ws = match joined {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            stats.connect_failed.fetch_add(1, Ordering::Relaxed);
            stats.error(format!("connect: {err}"));
            return;
        }
        Err(_) => {
            stats.connect_failed.fetch_add(1, Ordering::Relaxed);
            stats.error("connect: timed out");
            return;
        }
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);

    let mut ticker: Option<tokio::time::Interval> = None;
    let mut sent_count: u64 = 0;
    loop {
        let current = *phase.borrow();
        if current == Phase::Stop {
            break;
        }
        let sending = matches!(current, Phase::Warmup | Phase::Measure);
        if sending && ticker.is_none() {
            // Made when sending starts (an interval made earlier would fire every missed tick
            // at once, and all clients would stay in step), with the first sends of all
            // clients spread evenly over one period (golden-ratio sequence).
            ticker = plan.period.map(|period| {
                let offset = (plan.index as f64 * 0.618_033_988_749_895).fract();
                let first = tokio::time::Instant::now() + period.mul_f64(offset);
                let mut ticker = tokio::time::interval_at(first, period);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker
            });
        }
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = async { match ticker.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } }, if sending => {
                sent_count += 1;
                let now = stats.now_us();
                let frame = serde_json::json!({
                    "type": "send",
                    "session_id": plan.session_id,
                    "content": plan.padding,
                    "client_msg_id": format!("lg-{}-{}-{}", plan.index, sent_count, now),
                });
                stats.sent.fetch_add(1, Ordering::Relaxed);
                if stats.in_window(now) {
                    stats.sent_in_window.fetch_add(1, Ordering::Relaxed);
                }
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    stats.send_failed.fetch_add(1, Ordering::Relaxed);
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            incoming = ws.next() => {
                match incoming {
                    Some(Ok(Message::Text(text))) => handle(&plan, &stats, text.as_str()),
                    Some(Ok(Message::Close(_))) | None => {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        stats.error("closed by the server");
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        stats.error(format!("read: {err}"));
                        return;
                    }
                }
            }
        }
    }
    let _ = ws.close(None).await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and joins, retrying when the server answers the handshake with 429 (its
/// per-principal rate limit) after the time it asks for.
async fn connect_with_retry(plan: &ClientPlan) -> Result<Socket, BoxError> {
    let mut attempt = 0;
    loop {
        match connect_and_join(plan).await {
            Err(ConnectError::RateLimited(wait)) if attempt < HANDSHAKE_RETRIES => {
                attempt += 1;
                tokio::time::sleep(wait).await;
            }
            Err(ConnectError::RateLimited(_)) => return Err("handshake rate limited (429)".into()),
            Err(ConnectError::Other(err)) => return Err(err),
            Ok(ws) => return Ok(ws),
        }
    }
}

enum ConnectError {
    RateLimited(Duration),
    Other(BoxError),
}

impl<E: Into<BoxError>> From<E> for ConnectError {
    fn from(err: E) -> Self {
        let err = err.into();
        match err.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            Some(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status().as_u16() == 429 =>
            {
                let secs = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Self::RateLimited(Duration::from_secs(secs))
            }
            _ => Self::Other(err),
        }
    }
}

async fn connect_and_join(plan: &ClientPlan) -> Result<Socket, ConnectError> {
    let config = WebSocketConfig::default()
        .read_buffer_size(CLIENT_READ_BUFFER)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(plan.url.as_str(), Some(config), true).await?;
    let join = serde_json::json!({"type": "join", "session_id": plan.session_id, "after_seq": 0});
    ws.send(Message::text(join.to_string())).await?;
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message? {
            let frame: Frame = serde_json::from_str(text.as_str())?;
            match frame.kind.as_str() {
                "joined" => return Ok(ws),
                "error" => {
                    let refused: BoxError =
                        format!("join refused: {}", frame.code.unwrap_or_default()).into();
                    return Err(ConnectError::Other(refused));
                }
                _ => {}
            }
        }
    }
    Err(ConnectError::Other("closed before joined".into()))
}

fn handle(plan: &ClientPlan, stats: &Stats, text: &str) {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        stats.error("unparsable frame");
        return;
    };
    let now = stats.now_us();
    match frame.kind.as_str() {
        "ack" => {
            if let Some((_, sent)) = frame.client_msg_id.as_deref().and_then(parse_id)
                && stats.in_window(sent)
            {
                stats.acked_in_window.fetch_add(1, Ordering::Relaxed);
                Stats::record(&stats.ack, plan.index, now.saturating_sub(sent));
            }
        }
        "event" => {
            let Some(event) = frame.event else { return };
            if event.kind != "message_created" {
                return;
            }
            let id = event.message.and_then(|m| m.client_msg_id);
            if let Some((from, sent)) = id.as_deref().and_then(parse_id)
                && (from != plan.index || plan.alone)
                && stats.in_window(sent)
            {
                stats.delivered_in_window.fetch_add(1, Ordering::Relaxed);
                Stats::record(&stats.delivery, plan.index, now.saturating_sub(sent));
            }
        }
        "error" => stats.error(format!(
            "error frame: {}",
            frame.code.unwrap_or_else(|| "?".into())
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_connection_and_time() {
        assert_eq!(parse_id("lg-12-3-456789"), Some((12, 456_789)));
        assert_eq!(parse_id("web-12-3-4"), None);
        assert_eq!(parse_id("lg-x-3-4"), None);
        assert_eq!(parse_id("lg-1-2"), None);
    }
}
