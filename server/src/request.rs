//! What is known about a request, for throttling, the audit log and the
//! sessions list: its id, the client's address, coarse forms of the address
//! and user agent, and [`RequestMeta`], which every audit event carries.
//! It depends on nothing else in the crate (the layer check in
//! `server/tests/layers.rs`), so that every layer may use it.
//!
//! The client's address is the TCP peer, or — only when the peer is one of
//! the configured `trusted_proxies` — the address that proxy reports in
//! `Forwarded` (RFC 7239) or `X-Forwarded-For`. Forwarding headers from
//! anyone else are ignored: otherwise a client could choose its own
//! throttling key. Behind a chain of trusted proxies the right-most address
//! that is not itself a trusted proxy is the client.

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::ids::{DeviceId, UserId};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// The resolved client address, set on every request by [`resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// An address block (`10.0.0.0/8`, `::1/128`, or a single address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("not an IP address: {addr}"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in {s}"))?,
            None => max,
        };
        Ok(Self { net, prefix })
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}/{}", self.net, self.prefix))
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Cidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.net), ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Addresses a request was forwarded for, in order (client first), from
/// `Forwarded` if present, else `X-Forwarded-For`. Unparsable entries
/// (`unknown`, obfuscated identifiers) end the list there.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut chain = Vec::new();
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let for_value = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| v.trim().trim_matches('"'))
            });
            chain.push(for_value.and_then(parse_node));
        }
        return chain;
    }
    for v in headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for part in v.split(',') {
            chain.push(parse_node(part.trim()));
        }
    }
    chain
}

/// `192.0.2.1`, `192.0.2.1:443`, `[2001:db8::1]`, `[2001:db8::1]:443`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The client address for a peer and headers, given the trusted proxies.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // An address we cannot read: stop at the last one we trust.
            None => break,
        }
    }
    client
}

/// Request facts shared by every event of one request.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// Correlates the event with the request's log lines.
    pub request_id: Option<String>,
    /// Coarse client address (IPv4 /24, IPv6 /48).
    pub ip: Option<String>,
    /// The authenticated user, if any.
    pub actor_user: Option<UserId>,
    /// The authenticated device, if any.
    pub actor_device: Option<DeviceId>,
}

/// Reduces an address to the coarse form kept in the audit log.
pub fn coarse_ip(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The request's id (set by the request-id middleware).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Request id and coarse address of a request.
pub fn request_meta(parts: &Parts) -> RequestMeta {
    RequestMeta {
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
        ip: client_ip(parts).map(coarse_ip),
        actor_user: None,
        actor_device: None,
    }
}

/// The client's address: as resolved for this request (trusted proxies'
/// forwarding headers), else the TCP peer.
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    // Resolved once per request (trusted proxies' forwarding headers).
    if let Some(ClientAddr(ip)) = parts.extensions.get() {
        return Some(*ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// A short, coarse description of the user agent ("Chrome on Android"),
/// enough for a person to recognise their device and no more.
pub fn coarse_user_agent(parts: &Parts) -> String {
    let ua = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("HeadlessChrome") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.is_empty() {
        "Unknown client"
    } else {
        "Other client"
    };
    let os = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") {
        Some("macOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        // A direct client cannot choose its address.
        assert_eq!(
            client_address(ip("198.51.100.2"), &h, &trusted),
            ip("198.51.100.2")
        );
        // Through the proxy, the forwarded address is the client.
        assert_eq!(
            client_address(ip("10.1.2.3"), &h, &trusted),
            ip("203.0.113.7")
        );
        // A spoofed left-most entry is not believed: the right-most
        // untrusted hop is the client.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.9")]);
        assert_eq!(
            client_address(ip("10.1.2.3"), &h, &trusted),
            ip("203.0.113.7")
        );
        // RFC 7239 with ports and IPv6.
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8::5]:4711\";proto=https, for=10.0.0.1",
        )]);
        assert_eq!(client_address(ip("::1"), &h, &trusted), ip("2001:db8::5"));
        // No header: the proxy itself.
        assert_eq!(
            client_address(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // Nothing trusted: headers ignored.
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_address(ip("10.1.2.3"), &h, &[]), ip("10.1.2.3"));
    }

    #[test]
    fn blocks_parse_and_match() {
        let c: Cidr = "192.168.0.0/16".parse().unwrap();
        assert!(c.contains(ip("192.168.7.1")));
        assert!(c.contains(ip("::ffff:192.168.7.1")));
        assert!(!c.contains(ip("192.169.0.1")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
    }
}
