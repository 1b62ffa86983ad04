//! Name resolution and the socket gate: the two hooks around the connector.
//!
//! A [`HostResolver`] turns a host name into addresses once per connection; the SSRF guard
//! checks them and the connector connects only to them. Tests inject a resolver that answers
//! what they need (a rebinding one, say). A [`SocketGate`] is asked about every socket
//! address right before the connector opens a socket, independently of the guard: tests use
//! [`LoopbackOnlyGate`] so that not even a broken guard can send a packet off this machine.

use std::fmt::Debug;
use std::io;
use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;

/// Resolves host names.
#[async_trait]
pub trait HostResolver: Send + Sync + Debug + 'static {
    /// The addresses of `host` (a DNS name, never an IP literal).
    ///
    /// Errors: the name cannot be resolved.
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getaddrinfo` on a blocking thread, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        // The port is irrelevant here; the connector pairs the addresses with the URL's port.
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for addr in addrs {
            if !ips.contains(&addr.ip()) {
                ips.push(addr.ip());
            }
        }
        Ok(ips)
    }
}

/// Last check before a socket is opened; independent of the SSRF guard.
pub trait SocketGate: Send + Sync + Debug + 'static {
    /// Whether the connector may open a socket to `addr`.
    fn permit(&self, addr: SocketAddr) -> bool;
}

/// Permits loopback addresses only. Tests install it so that they never send a packet to
/// another machine, whatever the guard decides.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopbackOnlyGate;

impl SocketGate for LoopbackOnlyGate {
    fn permit(&self, addr: SocketAddr) -> bool {
        match addr.ip() {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }
}
