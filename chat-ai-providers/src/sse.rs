//! The streamed body of a provider response: timeouts and limits on the bytes, SSE parsing by
//! `eventsource-stream`, and a per-vendor [`Decoder`] turning events into completion chunks.
//!
//! `eventsource-stream` (the SSE parser under `reqwest-eventsource`) implements the WHATWG
//! event-stream grammar: it buffers a line, an event or a UTF-8 character split across network
//! reads, accepts CR, LF and CRLF line ends (also split across reads), drops comments and
//! keep-alives, and joins multi-line `data:`. Around it this module adds what it leaves out:
//! time limits, a size limit, and an early error on invalid UTF-8 (the parser would otherwise
//! buffer everything after a bad byte until the end of the stream).

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chat_core::provider::{CompletionChunk, ProviderError, TimeoutPhase};
use eventsource_stream::{Event, EventStream, EventStreamError, Eventsource};
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// A raw body stream from the HTTP client.
pub(crate) type RawBody = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// Deadlines and limits of one body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// When the first body byte must have arrived.
    pub(crate) first_byte_deadline: Instant,
    /// Longest silence after that.
    pub(crate) between_chunks: Duration,
    /// When the whole call must be over.
    pub(crate) total_deadline: Instant,
    /// Most bytes accepted.
    pub(crate) max_bytes: usize,
}

/// The body bytes with the first-byte, between-chunks and total timeouts, the size limit and
/// UTF-8 validation applied. Ends after its first error.
pub(crate) struct BodyStream {
    inner: RawBody,
    idle: Pin<Box<Sleep>>,
    total: Pin<Box<Sleep>>,
    limits: BodyLimits,
    got_first: bool,
    received: usize,
    utf8_tail: Vec<u8>,
    done: bool,
}

impl BodyStream {
    pub(crate) fn new(inner: RawBody, limits: BodyLimits) -> Self {
        Self {
            inner,
            idle: Box::pin(tokio::time::sleep_until(limits.first_byte_deadline)),
            total: Box::pin(tokio::time::sleep_until(limits.total_deadline)),
            limits,
            got_first: false,
            received: 0,
            utf8_tail: Vec::new(),
            done: false,
        }
    }

    fn fail(&mut self, error: ProviderError) -> Poll<Option<Result<Bytes, ProviderError>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                // A server that never pauses must still end by the total deadline.
                if Instant::now() >= this.limits.total_deadline {
                    return this.fail(ProviderError::Timeout {
                        phase: TimeoutPhase::Total,
                    });
                }
                this.received = this.received.saturating_add(bytes.len());
                if this.received > this.limits.max_bytes {
                    let max = this.limits.max_bytes;
                    return this.fail(ProviderError::Protocol(format!(
                        "response larger than {max} bytes"
                    )));
                }
                if !check_utf8(&mut this.utf8_tail, &bytes) {
                    return this.fail(ProviderError::Protocol(
                        "response is not valid UTF-8".into(),
                    ));
                }
                this.got_first = true;
                let next = Instant::now() + this.limits.between_chunks;
                this.idle
                    .as_mut()
                    .reset(next.min(this.limits.total_deadline));
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => {
                let error = if e.is_timeout() {
                    ProviderError::Timeout {
                        phase: phase(&this.limits, this.got_first),
                    }
                } else {
                    ProviderError::Interrupted(format!("connection failed mid-stream: {e}"))
                };
                this.fail(error)
            }
            Poll::Ready(None) => {
                this.done = true;
                if this.utf8_tail.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(ProviderError::Interrupted(
                        "stream ended inside a UTF-8 character".into(),
                    ))))
                }
            }
            Poll::Pending => {
                if this.total.as_mut().poll(cx).is_ready() {
                    return this.fail(ProviderError::Timeout {
                        phase: TimeoutPhase::Total,
                    });
                }
                if this.idle.as_mut().poll(cx).is_ready() {
                    let phase = phase(&this.limits, this.got_first);
                    return this.fail(ProviderError::Timeout { phase });
                }
                Poll::Pending
            }
        }
    }
}

/// Which timeout a silence ran into.
fn phase(limits: &BodyLimits, got_first: bool) -> TimeoutPhase {
    if Instant::now() >= limits.total_deadline {
        TimeoutPhase::Total
    } else if got_first {
        TimeoutPhase::BetweenChunks
    } else {
        TimeoutPhase::FirstByte
    }
}

/// Validates `chunk` as the continuation of a UTF-8 text whose last incomplete character
/// (at most 3 bytes) is kept in `tail`. False on an invalid sequence.
fn check_utf8(tail: &mut Vec<u8>, chunk: &[u8]) -> bool {
    let mut rest = chunk;
    if !tail.is_empty() {
        // Complete the pending character with the first bytes of this chunk.
        while !rest.is_empty() {
            tail.push(rest[0]);
            rest = &rest[1..];
            match std::str::from_utf8(tail) {
                Ok(_) => {
                    tail.clear();
                    break;
                }
                Err(e) if e.error_len().is_some() => return false,
                Err(_) if tail.len() >= 4 => return false,
                Err(_) => {}
            }
        }
        if !tail.is_empty() {
            return true; // still incomplete, chunk used up
        }
    }
    match std::str::from_utf8(rest) {
        Ok(_) => true,
        Err(e) if e.error_len().is_some() => false,
        Err(e) => {
            tail.extend_from_slice(&rest[e.valid_up_to()..]);
            true
        }
    }
}

/// What a decoder says after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    Continue,
    /// The vendor's end marker: the answer is complete.
    Done,
}

/// A vendor's stream format.
pub(crate) trait Decoder: Send + Unpin + 'static {
    /// Handles one event, pushing the chunks it yields.
    fn event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<CompletionChunk>,
    ) -> Result<Flow, ProviderError>;
    /// The body ended (no more events). Ok when the vendor's format allows ending here.
    fn end(&mut self, out: &mut VecDeque<CompletionChunk>) -> Result<(), ProviderError>;
    /// The transport failed; a decoder whose answer was already complete may accept it.
    fn transport_error(
        &mut self,
        error: ProviderError,
        out: &mut VecDeque<CompletionChunk>,
    ) -> Result<(), ProviderError> {
        let _ = out;
        Err(error)
    }
}

/// The completion stream of an SSE response.
pub(crate) struct SseCompletion<D> {
    events: EventStream<BodyStream>,
    decoder: D,
    queue: VecDeque<CompletionChunk>,
    error: Option<ProviderError>,
    finished: bool,
}

impl<D: Decoder> SseCompletion<D> {
    pub(crate) fn new(body: BodyStream, decoder: D) -> Self {
        Self {
            events: body.eventsource(),
            decoder,
            queue: VecDeque::new(),
            error: None,
            finished: false,
        }
    }
}

impl<D: Decoder> Stream for SseCompletion<D> {
    type Item = Result<CompletionChunk, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(chunk) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            if let Some(error) = this.error.take() {
                return Poll::Ready(Some(Err(error)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            let outcome = match Pin::new(&mut this.events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => this.decoder.event(&event, &mut this.queue),
                Poll::Ready(Some(Err(EventStreamError::Transport(error)))) => this
                    .decoder
                    .transport_error(error, &mut this.queue)
                    .map(|()| Flow::Done),
                Poll::Ready(Some(Err(EventStreamError::Utf8(_)))) => Err(ProviderError::Protocol(
                    "event stream is not valid UTF-8".into(),
                )),
                Poll::Ready(Some(Err(EventStreamError::Parser(e)))) => Err(
                    ProviderError::Protocol(format!("malformed event stream: {e}")),
                ),
                Poll::Ready(None) => this.decoder.end(&mut this.queue).map(|()| Flow::Done),
            };
            match outcome {
                Ok(Flow::Continue) => {}
                Ok(Flow::Done) => this.finished = true,
                Err(error) => {
                    this.finished = true;
                    this.error = Some(error);
                }
            }
        }
    }
}

/// Parses an event's JSON data, naming the vendor in the error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    vendor: &str,
    data: &str,
) -> Result<T, ProviderError> {
    serde_json::from_str(data).map_err(|e| {
        ProviderError::Protocol(format!(
            "{vendor}: malformed event data ({e}): {}",
            crate::error::snippet(data)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_anywhere_is_accepted_and_bad_bytes_are_not() {
        let text = "aé世🎉z".as_bytes();
        for split in 0..=text.len() {
            let mut tail = Vec::new();
            assert!(check_utf8(&mut tail, &text[..split]), "split {split}");
            assert!(check_utf8(&mut tail, &text[split..]), "split {split}");
            assert!(tail.is_empty());
        }
        // One byte at a time.
        let mut tail = Vec::new();
        for b in text {
            assert!(check_utf8(&mut tail, std::slice::from_ref(b)));
        }
        assert!(tail.is_empty());
        assert!(!check_utf8(&mut Vec::new(), b"ok \xff no"));
        let mut tail = Vec::new();
        assert!(check_utf8(&mut tail, b"\xe4\xb8"));
        assert!(
            !check_utf8(&mut tail, b"A"),
            "an incomplete character followed by ASCII"
        );
    }
}
