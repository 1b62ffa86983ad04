//! The SSRF guard's address rules: which IP addresses a fetch may connect to.
//!
//! Every address a host resolves to is checked (one blocked address refuses the host), and the
//! connector then connects only to those checked addresses (see `client.rs`), so a DNS answer
//! that changes between check and connect (rebinding) has no effect.
//!
//! IPv4 blocked ranges: 0.0.0.0/8 (this network), 10/8, 172.16/12 and 192.168/16 (private),
//! 100.64/10 (CGNAT), 127/8 (loopback), 169.254/16 (link-local, cloud metadata at
//! 169.254.169.254), 192.0.0/24 (IETF protocol assignments), 192.0.2/24, 198.51.100/24 and
//! 203.0.113/24 (documentation), 192.88.99/24 (6to4 relay anycast), 198.18/15 (benchmarking),
//! 224/4 (multicast), 240/4 (reserved, with the broadcast address 255.255.255.255).
//!
//! IPv6: `::` and `::1`; the forms that embed an IPv4 address are checked as that IPv4 address
//! (IPv4-mapped `::ffff:0:0/96`, IPv4-translated `::ffff:0:0:0/96`, IPv4-compatible `::/96`,
//! NAT64 `64:ff9b::/96`, and 6to4 `2002::/16`); the local-use NAT64 prefix `64:ff9b:1::/48`,
//! and everything outside global unicast `2000::/3` (unique-local `fc00::/7`, link-local
//! `fe80::/10`, site-local `fec0::/10`, multicast `ff00::/8`, discard `100::/64`, ...) is refused;
//! inside `2000::/3`: the IETF protocol assignments `2001::/23` (Teredo `2001::/32`, whose
//! relayed addresses cannot be checked sensibly, ORCHID, benchmarking `2001:2::/48`), the
//! documentation prefixes `2001:db8::/32` and `3fff::/20`, and SRv6 `5f00::/16`.
//!
//! IP literals written in decimal, octal or hexadecimal (`http://2130706433/`,
//! `http://0x7f.1/`, `http://017700000001/`) are turned into dotted IPv4 addresses by the URL
//! parser (WHATWG host parsing) before they get here; the table test checks that.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const BLOCKED_V4: &[(Ipv4Net, &str)] = &[
    (
        Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8),
        "this-network",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8),
        "private",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10),
        "cgnat",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8),
        "loopback",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16),
        "link-local",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12),
        "private",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24),
        "ietf-protocol-assignments",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24),
        "documentation",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(192, 88, 99, 0), 24),
        "6to4-relay",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16),
        "private",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15),
        "benchmarking",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(198, 51, 100, 0), 24),
        "documentation",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 0), 24),
        "documentation",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4),
        "multicast",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(255, 255, 255, 255), 32),
        "broadcast",
    ),
    (
        Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4),
        "reserved",
    ),
];

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// Checked in order, before the embedded-IPv4 forms and the global-unicast rule.
const BLOCKED_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "nat64-local"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard"),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "teredo"),
    (v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), "benchmarking"),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "ietf-protocol-assignments",
    ),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), "srv6"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// The IPv4 address an IPv6 address stands for, in the forms that carry one and reach it:
/// IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64 (well-known prefix) and 6to4.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(tail),
        // ::a.b.c.d (compatible); `::` and `::1` are not IPv4 addresses.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(tail),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

/// Why an address is blocked: the name of its range, or `None` for a public address.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => BLOCKED_V4
            .iter()
            .find(|(net, _)| net.contains(&v4))
            .map(|(_, name)| *name),
        IpAddr::V6(v6) => {
            if let Some((_, name)) = BLOCKED_V6.iter().find(|(net, _)| net.contains(&v6)) {
                return Some(name);
            }
            if let Some(v4) = embedded_ipv4(v6) {
                return blocked_range(IpAddr::V4(v4));
            }
            if !GLOBAL_UNICAST_V6.contains(&v6) {
                return Some("reserved");
            }
            None
        }
    }
}

/// True for loopback addresses, including IPv4 loopback embedded in IPv6.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || embedded_ipv4(v6).is_some_and(|v4| v4.is_loopback()),
    }
}

/// The address rules of one fetcher: the blocked ranges, with the configured exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow_loopback: bool,
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Blocks every range above, without exceptions.
    pub fn strict() -> Self {
        Self::default()
    }

    /// A policy with exceptions: loopback, and networks allowed although blocked.
    pub fn new(allow_loopback: bool, allowed: Vec<IpNet>) -> Self {
        Self {
            allow_loopback,
            allowed,
        }
    }

    /// Checks one address: `Err(range)` when it may not be connected to.
    ///
    /// Errors: the name of the blocked range the address is in.
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        let canonical = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        if self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        if self.allow_loopback && is_loopback(ip) {
            return Ok(());
        }
        match blocked_range(ip) {
            Some(range) => Err(range),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn public_addresses_pass() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(blocked_range(ip(s)), None, "{s}");
        }
    }

    #[test]
    fn embedded_forms_are_checked_as_ipv4() {
        assert_eq!(blocked_range(ip("::ffff:127.0.0.1")), Some("loopback"));
        assert_eq!(blocked_range(ip("::ffff:0:a9fe:a9fe")), Some("link-local"));
        assert_eq!(blocked_range(ip("::10.0.0.1")), Some("private"));
        assert_eq!(blocked_range(ip("64:ff9b::c0a8:1")), Some("private"));
        assert_eq!(blocked_range(ip("2002:a9fe:a9fe::")), Some("link-local"));
    }

    #[test]
    fn exceptions_apply() {
        let policy = AddressPolicy::new(
            true,
            vec!["10.1.0.0/16".parse().unwrap_or_else(|_| unreachable!())],
        );
        assert!(policy.check(ip("127.0.0.1")).is_ok());
        assert!(policy.check(ip("::1")).is_ok());
        assert!(policy.check(ip("::ffff:127.0.0.2")).is_ok());
        assert!(policy.check(ip("10.1.2.3")).is_ok());
        assert_eq!(policy.check(ip("10.2.0.1")), Err("private"));
        assert_eq!(policy.check(ip("169.254.169.254")), Err("link-local"));
        assert_eq!(
            AddressPolicy::strict().check(ip("127.0.0.1")),
            Err("loopback")
        );
    }
}
