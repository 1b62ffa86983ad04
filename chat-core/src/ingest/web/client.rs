//! The HTTP/1.1 client of URL ingest, with the SSRF-guarded connector.
//!
//! Why hyper and not reqwest: the connector here is the only place a socket is opened. It
//! resolves the host once through the [`HostResolver`], checks every address with the
//! [`AddressPolicy`], asks the [`SocketGate`], and connects to exactly those checked addresses,
//! for host names and IP literals alike (reqwest's resolver hook never sees IP-literal hosts).
//! No proxy is ever used (a proxy would resolve the host itself, out of the guard's sight), no
//! compression is asked for (`Accept-Encoding: identity`: no decompression bombs), every
//! request has its own connection (`Connection: close`), and redirects are followed by the
//! caller, one checked hop at a time.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, ACCEPT_ENCODING, CONNECTION, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use url::{Host, Position, Url};

use super::config::WebConfig;
use super::error::WebError;
use super::guard::AddressPolicy;
use super::resolve::{HostResolver, SocketGate};
use super::validate::host_label;

/// What we accept, best first.
const ACCEPT_VALUE: &str =
    "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.1";

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A response whose body has not been read yet.
pub(crate) struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Incoming,
}

impl HttpResponse {
    /// A header as text, when present and valid.
    pub(crate) fn header(&self, name: HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The guarded HTTP client.
pub(crate) struct HttpClient {
    resolver: Arc<dyn HostResolver>,
    gate: Option<Arc<dyn SocketGate>>,
    policy: AddressPolicy,
    tls: TlsConnector,
    user_agent: HeaderValue,
    connect_timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("resolver", &self.resolver)
            .field("gate", &self.gate)
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for `config`, resolving through `resolver`, asking `gate` before each socket.
    ///
    /// Errors: `TlsSetup` when the TLS configuration cannot be built; `InvalidUrl` when the
    /// user agent is not a valid header value.
    pub(crate) fn new(
        config: &WebConfig,
        policy: AddressPolicy,
        resolver: Arc<dyn HostResolver>,
        gate: Option<Arc<dyn SocketGate>>,
    ) -> Result<Self, WebError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // The provider is named so that the build never depends on which rustls providers other
        // crates of the program happen to enable.
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| WebError::TlsSetup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            WebError::InvalidUrl("the user agent is not a valid header value".into())
        })?;
        Ok(Self {
            resolver,
            gate,
            policy,
            tls: TlsConnector::from(Arc::new(tls)),
            user_agent,
            connect_timeout: config.connect_timeout,
        })
    }

    /// The address policy.
    pub(crate) fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Resolves the URL's host once and checks every address; these are the only addresses
    /// the connection may use.
    ///
    /// Errors: `Resolve`, `BlockedAddress`.
    pub(crate) async fn resolve_checked(&self, url: &Url) -> Result<Vec<IpAddr>, WebError> {
        let host = host_label(url);
        let ips = match url.host() {
            Some(Host::Ipv4(v4)) => vec![IpAddr::V4(v4)],
            Some(Host::Ipv6(v6)) => vec![IpAddr::V6(v6)],
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.');
                tokio::time::timeout(self.connect_timeout, self.resolver.resolve(name))
                    .await
                    .map_err(|_| WebError::Timeout {
                        phase: "dns",
                        after: self.connect_timeout,
                    })?
                    .map_err(|e| WebError::Resolve {
                        host: host.clone(),
                        message: e.to_string(),
                    })?
            }
            None => return Err(WebError::InvalidUrl("the URL has no host".into())),
        };
        if ips.is_empty() {
            return Err(WebError::Resolve {
                host,
                message: "no addresses".into(),
            });
        }
        for ip in &ips {
            self.policy
                .check(*ip)
                .map_err(|range| WebError::BlockedAddress {
                    host: host.clone(),
                    addr: *ip,
                    range,
                })?;
        }
        Ok(ips)
    }

    /// Opens a TCP connection to one of the checked addresses of the URL's host, on the URL's
    /// port (the JavaScript renderer's proxy tunnels through this too).
    ///
    /// Errors: `Resolve`, `BlockedAddress`, `GateRefused`, `Connect`, `Timeout`.
    pub(crate) async fn connect_tcp(&self, url: &Url) -> Result<TcpStream, WebError> {
        let host = host_label(url);
        let port = url
            .port_or_known_default()
            .ok_or_else(|| WebError::InvalidUrl("no port".into()))?;
        let ips = self.resolve_checked(url).await?;
        let mut last_error = None;
        let mut stream = None;
        for ip in ips {
            let addr = SocketAddr::new(ip, port);
            if let Some(gate) = &self.gate {
                if !gate.permit(addr) {
                    return Err(WebError::GateRefused(addr));
                }
            }
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    stream = Some(tcp);
                    break;
                }
                Ok(Err(err)) => last_error = Some(err.to_string()),
                Err(_) => last_error = Some(format!("timed out after {:?}", self.connect_timeout)),
            }
        }
        let Some(tcp) = stream else {
            return Err(WebError::Connect {
                host,
                message: last_error.unwrap_or_else(|| "no address".into()),
            });
        };
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// Opens a connection (TCP, plus TLS for https) to one of the checked addresses.
    async fn connect(&self, url: &Url) -> Result<Box<dyn Io>, WebError> {
        let host = host_label(url);
        let tcp = self.connect_tcp(url).await?;
        if url.scheme() != "https" {
            return Ok(Box::new(tcp));
        }
        let server_name = match url.host() {
            Some(Host::Domain(name)) => ServerName::try_from(name.trim_end_matches('.').to_owned())
                .map_err(|e| WebError::Tls {
                    host: host.clone(),
                    message: e.to_string(),
                })?,
            Some(Host::Ipv4(v4)) => ServerName::IpAddress(IpAddr::V4(v4).into()),
            Some(Host::Ipv6(v6)) => ServerName::IpAddress(IpAddr::V6(v6).into()),
            None => return Err(WebError::InvalidUrl("the URL has no host".into())),
        };
        let tls = tokio::time::timeout(self.connect_timeout, self.tls.connect(server_name, tcp))
            .await
            .map_err(|_| WebError::Timeout {
                phase: "tls",
                after: self.connect_timeout,
            })?
            .map_err(|e: io::Error| WebError::Tls {
                host,
                message: e.to_string(),
            })?;
        Ok(Box::new(tls))
    }

    /// Sends `GET url` with the extra headers and returns the response head; the caller reads
    /// the body. No redirect is followed.
    ///
    /// Errors: those of resolution, the guard, connecting and the protocol.
    pub(crate) async fn get(
        &self,
        url: &Url,
        extra: &[(HeaderName, String)],
    ) -> Result<HttpResponse, WebError> {
        let io = self.connect(url).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| WebError::Protocol(e.to_string()))?;
        // Drives the connection until the response is read or dropped; the server closes it
        // after the response (`Connection: close`).
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "web fetch connection ended with an error");
            }
        });
        let host_header = match url.port() {
            Some(port) => format!("{}:{port}", host_label(url)),
            None => host_label(url),
        };
        let target = &url[Position::BeforePath..Position::AfterQuery];
        let mut builder = Request::get(target)
            .header(HOST, host_header)
            .header(USER_AGENT, self.user_agent.clone())
            .header(ACCEPT, ACCEPT_VALUE)
            .header(ACCEPT_ENCODING, "identity")
            .header(CONNECTION, "close");
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|e| WebError::InvalidUrl(format!("cannot build the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| WebError::Protocol(e.to_string()))?;
        let (parts, body) = response.into_parts();
        Ok(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Outcome of reading a body under a size limit.
pub(crate) enum Body {
    /// The whole body.
    Complete(Bytes),
    /// The first `limit` bytes; the rest was not read.
    Truncated(Bytes),
}

/// Reads a body, stopping as soon as it passes `limit` bytes (checked against the declared
/// `Content-Length` first, then while streaming).
///
/// Errors: `Protocol` when the connection fails mid-body.
pub(crate) async fn read_body(response: HttpResponse, limit: u64) -> Result<Body, WebError> {
    let declared = response
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Ok(Body::Truncated(Bytes::new()));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = response.body;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| WebError::Protocol(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > limit {
                let room = limit - buf.len();
                buf.extend_from_slice(&data[..room]);
                return Ok(Body::Truncated(buf.freeze()));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Body::Complete(buf.freeze()))
}
