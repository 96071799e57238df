//! The client's address behind a reverse proxy: `[apiserver] trusted_proxies`.
//!
//! A request that arrives from a trusted proxy carries the caller's address in
//! `X-Forwarded-For`; any other request's address is its TCP peer, whatever headers it sends.
//! The header is read from the right: each proxy appends the address it received the request
//! from, so the rightmost address that is not itself a trusted proxy is the one the nearest
//! trusted proxy saw. Entries to its left were written by the client and are never believed.

use axum::http::HeaderMap;
use std::net::IpAddr;

/// An address range in CIDR notation (`127.0.0.1/32`, `10.0.0.0/8`, `::1/128`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().ok()?,
            Some(_) => return None,
        };
        if prefix > max {
            return None;
        }
        Some(Self { network, prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        match (self.network.to_canonical(), addr) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The address to account a request to: `peer`, or, when `peer` is a trusted proxy, the
/// rightmost `X-Forwarded-For` entry that is not a trusted proxy. A header that is missing,
/// or whose deciding entry is not an IP address, leaves the proxy's own address.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|range| range.contains(peer)) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    for entry in entries.iter().rev() {
        let Ok(addr) = entry.parse::<IpAddr>() else {
            return peer;
        };
        let addr = addr.to_canonical();
        if !trusted.iter().any(|range| range.contains(addr)) {
            return addr;
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|r| IpRange::parse(r).unwrap()).collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match_by_prefix() {
        let loopback = IpRange::parse("127.0.0.1/32").unwrap();
        assert!(loopback.contains(ip("127.0.0.1")));
        assert!(!loopback.contains(ip("127.0.0.2")));
        assert!(
            loopback.contains(ip("::ffff:127.0.0.1")),
            "IPv4-mapped peers of a :: listener"
        );
        let private = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(private.contains(ip("10.200.3.4")) && !private.contains(ip("11.0.0.1")));
        assert!(IpRange::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
        assert_eq!(IpRange::parse("192.0.2.7"), IpRange::parse("192.0.2.7/32"));
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "::1/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(IpRange::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted = ranges(&["127.0.0.1/32"]);
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(client_address(ip("127.0.0.1"), &headers, &trusted), ip("198.51.100.7"));
        // Anyone else who sends the header is still accounted to their own address.
        assert_eq!(client_address(ip("203.0.113.5"), &headers, &trusted), ip("203.0.113.5"));
        // Without trusted proxies the header is never read.
        assert_eq!(client_address(ip("127.0.0.1"), &headers, &[]), ip("127.0.0.1"));
    }

    #[test]
    fn a_client_cannot_choose_its_address_through_the_proxy() {
        let trusted = ranges(&["127.0.0.1/32", "10.0.0.0/8"]);
        // The client wrote "1.2.3.4"; the proxy appended the address it really came from.
        let headers = forwarded(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(client_address(ip("127.0.0.1"), &headers, &trusted), ip("198.51.100.7"));
        // A chain of trusted proxies is walked through; several header lines count as one list.
        let headers = forwarded(&["1.2.3.4, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(client_address(ip("127.0.0.1"), &headers, &trusted), ip("198.51.100.7"));
        // A deciding entry that is not an address, or no header, leaves the proxy's address.
        let headers = forwarded(&["198.51.100.7, garbage"]);
        assert_eq!(client_address(ip("127.0.0.1"), &headers, &trusted), ip("127.0.0.1"));
        assert_eq!(
            client_address(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
        let only_proxies = forwarded(&["10.9.9.9"]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &only_proxies, &trusted),
            ip("127.0.0.1")
        );
    }
}
