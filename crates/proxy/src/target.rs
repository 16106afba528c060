//! Host and port as the sandbox addressed them, normalized once so that
//! policy, the catalog and the audit log all see the same spelling.

use http::uri::Authority;

/// A normalized destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HostPort {
    /// Lower case, no brackets, no trailing dot.
    pub host: String,
    /// Explicit or the scheme's default.
    pub port: u16,
}

impl HostPort {
    /// From a URI authority or Host header value; `None` when it does not
    /// parse, carries user info, or has an empty host.
    pub fn parse(text: &str, default_port: u16) -> Option<Self> {
        let authority: Authority = text.parse().ok()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Self::from_authority(&authority, default_port)
    }

    /// From an already parsed authority.
    pub fn from_authority(authority: &Authority, default_port: u16) -> Option<Self> {
        let host = authority_host(authority.host())?;
        if authority.as_str().contains('@') {
            return None;
        }
        // A port that is written but not a valid u16 (`:99999`, `:`) must
        // not fall back to the default port.
        let has_port = authority.as_str().len() > authority.host().len();
        let port = match (has_port, authority.port_u16()) {
            (false, _) => default_port,
            (true, Some(p)) if p != 0 => p,
            _ => return None,
        };
        Some(Self { host, port })
    }

    /// The host as an IP address, if it is a literal.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }
}

/// The host of an authority, normalized for good (normalizing the printed
/// form changes nothing): an IPv6 literal in its canonical form, a name in
/// lower case without its trailing dot. `None` for brackets around anything
/// but an IPv6 address (zone ids included) and for names that are empty or
/// end in two dots.
fn authority_host(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('[') {
        let ip: std::net::Ipv6Addr = inner.strip_suffix(']')?.parse().ok()?;
        return Some(ip.to_string());
    }
    let host = normalize_host(raw);
    let bad = host.is_empty() || host.ends_with('.') || host.contains(['[', ']']);
    (!bad).then_some(host)
}

/// Lower case, brackets and one trailing dot removed: `API.Example.com.`
/// and `api.example.com` are the same destination to policy.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// An IPv6 literal in brackets, anything else as is.
pub(crate) fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `host:port` for a URI authority.
pub(crate) fn authority(host: &str, port: u16) -> String {
    format!("{}:{port}", bracket(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, want: Option<(&str, u16)>) {
        let got = HostPort::parse(text, 443);
        let got = got.as_ref().map(|h| (h.host.as_str(), h.port));
        assert_eq!(got, want, "{text}");
    }

    #[test]
    fn parses_and_normalizes() {
        check("API.Example.COM", Some(("api.example.com", 443)));
        check("example.com.:8443", Some(("example.com", 8443)));
        check("[::1]:3128", Some(("::1", 3128)));
        check("10.0.0.1", Some(("10.0.0.1", 443)));
        check("user@example.com", None);
        check("", None);
        check("a b", None);
        check("example.com:99999", None);
        check("example.com:", None);
        check("example.com:0", None);
        check("[0:0:0:0:0:0:0:1]:443", Some(("::1", 443)));
    }

    #[test]
    fn refuses_what_would_not_print_back() {
        check("[api.example.com]:443", None);
        check("[f%25eth0]:80", None);
        check("[fe80::1%25eth0]:80", None);
        check("example.com..", None);
        check(".", None);
    }

    #[test]
    fn authorities() {
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(authority("a.b", 443), "a.b:443");
    }
}
