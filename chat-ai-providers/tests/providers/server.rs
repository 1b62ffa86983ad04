//! A loopback HTTP/1.1 server on a raw `TcpListener`, so each test decides exactly which bytes
//! go out in which TCP write: lines, events and UTF-8 characters split across writes, pauses,
//! and connections cut mid-body. Requests are parsed with `httparse` and recorded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One part of a response.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    /// Bytes written in one TCP write (one HTTP chunk when the body is chunked).
    Bytes(Vec<u8>),
    /// A pause before the next piece.
    Pause(Duration),
    /// Drop the connection now (no end of body).
    Cut,
}

/// A scripted response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// Wait before the status line (a slow first byte before the headers).
    pub(crate) head_delay: Duration,
    /// HTTP status.
    pub(crate) status: u16,
    /// Extra headers.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, piece by piece (chunked transfer encoding).
    pub(crate) pieces: Vec<Piece>,
}

impl Reply {
    /// A 200 event stream.
    pub(crate) fn sse(pieces: Vec<Piece>) -> Self {
        Self {
            head_delay: Duration::ZERO,
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            pieces,
        }
    }
    /// A JSON error response.
    pub(crate) fn error(status: u16, body: &str) -> Self {
        Self {
            head_delay: Duration::ZERO,
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            pieces: vec![Piece::Bytes(body.as_bytes().to_vec())],
        }
    }
    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Delays the status line.
    pub(crate) fn head_delay(mut self, delay: Duration) -> Self {
        self.head_delay = delay;
        self
    }
}

/// Splits a text into TCP writes of `size` bytes (cutting lines, events and characters), with a
/// short pause between writes so that they reach the client as separate reads.
pub(crate) fn split_every(text: &str, size: usize) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for chunk in text.as_bytes().chunks(size.max(1)) {
        pieces.push(Piece::Bytes(chunk.to_vec()));
        pieces.push(Piece::Pause(Duration::from_millis(1)));
    }
    pieces
}

/// A request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// Method.
    pub(crate) method: String,
    /// Path with query.
    pub(crate) target: String,
    /// Headers, names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    /// Body.
    pub(crate) body: Vec<u8>,
}

impl Received {
    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The server: replies are used in order, one per request, over any connection.
#[derive(Clone)]
pub(crate) struct MockServer {
    addr: SocketAddr,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl MockServer {
    /// Starts a server on 127.0.0.1 with these replies; it runs until the test ends.
    pub(crate) async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self {
            addr: listener.local_addr().unwrap(),
            replies: Arc::new(Mutex::new(replies.into())),
            received: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.serve(socket).await });
            }
        });
        server
    }

    /// `http://127.0.0.1:port`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn serve(&self, mut socket: TcpStream) {
        socket.set_nodelay(true).ok();
        let mut buf = Vec::new();
        loop {
            let Some(request) = read_request(&mut socket, &mut buf).await else {
                return;
            };
            self.received.lock().unwrap().push(request);
            let reply = self.replies.lock().unwrap().pop_front();
            let Some(reply) = reply else {
                let _ = write_reply(
                    &mut socket,
                    &Reply::error(599, r#"{"error":"mock server: no reply left"}"#),
                )
                .await;
                return;
            };
            match write_reply(&mut socket, &reply).await {
                Ok(true) => {}
                _ => return,
            }
        }
    }
}

async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Received> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = req.parse(buf) {
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let method = req.method.unwrap_or("").to_owned();
            let target = req.path.unwrap_or("").to_owned();
            while buf.len() < head_len + length {
                let mut chunk = [0u8; 8192];
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_len..head_len + length].to_vec();
            buf.drain(..head_len + length);
            return Some(Received {
                method,
                target,
                headers,
                body,
            });
        }
        let mut chunk = [0u8; 8192];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Writes the reply; false when the connection must close (a cut).
async fn write_reply(socket: &mut TcpStream, reply: &Reply) -> std::io::Result<bool> {
    tokio::time::sleep(reply.head_delay).await;
    let mut head = format!(
        "HTTP/1.1 {} Mock\r\ntransfer-encoding: chunked\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.flush().await?;
    for piece in &reply.pieces {
        match piece {
            Piece::Bytes(bytes) if bytes.is_empty() => {}
            Piece::Bytes(bytes) => {
                let mut frame = format!("{:x}\r\n", bytes.len()).into_bytes();
                frame.extend_from_slice(bytes);
                frame.extend_from_slice(b"\r\n");
                socket.write_all(&frame).await?;
                socket.flush().await?;
            }
            Piece::Pause(d) => tokio::time::sleep(*d).await,
            Piece::Cut => {
                socket.shutdown().await.ok();
                return Ok(false);
            }
        }
    }
    socket.write_all(b"0\r\n\r\n").await?;
    socket.flush().await?;
    Ok(true)
}
