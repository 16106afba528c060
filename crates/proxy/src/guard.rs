//! Where an unregistered destination may point: only public addresses.
//!
//! A name that resolves to loopback, a private range or link-local could
//! reach the host's own services or the cloud metadata endpoint, so it is
//! refused unless the destination is a registered resource. The check runs
//! on the addresses the connection then uses (resolved once), so a DNS
//! answer that changes between check and connect (rebinding) cannot slip
//! past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a destination is refused or unreachable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The destination is (or resolves to) an internal address.
    #[error("{host} resolves to internal address {addr}")]
    Internal {
        /// What the sandbox asked for.
        host: String,
        /// The offending address.
        addr: IpAddr,
    },
    /// Name resolution failed.
    #[error("cannot resolve {host}: {why}")]
    Resolve {
        /// What the sandbox asked for.
        host: String,
        /// The resolver's message.
        why: String,
    },
}

/// Whether `ip` is loopback, private, link-local, unspecified, shared (CGNAT),
/// multicast or broadcast, looking through IPv4-mapped and NAT64 forms.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let seg = ip.segments();
    // 64:ff9b::/96 (NAT64) embeds an IPv4 address in the last 32 bits.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return is_internal_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (seg[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
}

/// Resolves `host:port` and returns its addresses, refusing the whole name
/// if any address is internal (an attacker-controlled zone could mix a
/// public and a private answer and win the race to the private one).
pub(crate) async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
    let addrs = resolve(host, port).await?;
    if let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(GuardError::Internal {
            host: host.to_owned(),
            addr: bad.ip(),
        });
    }
    Ok(addrs)
}

/// Resolves `host:port` without any check (registered resources).
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let resolve_err = |why: String| GuardError::Resolve {
        host: host.to_owned(),
        why,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| resolve_err(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_err("no address".into()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        let internal = [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ];
        for ip in internal {
            assert!(is_internal(ip.parse().unwrap()), "{ip} should be internal");
        }
        let public = [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ];
        for ip in public {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused() {
        let err = resolve_public("localhost", 80).await.unwrap_err();
        assert!(matches!(err, GuardError::Internal { .. }), "{err}");
        assert!(resolve_public("127.0.0.1", 80).await.is_err());
    }
}
