//! Header hygiene between the sandbox and an upstream: hop-by-hop headers
//! never cross the proxy, and towards a registered resource the sandbox's
//! own credentials are dropped before the injected ones are set.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::secret::Secret;

/// Headers that describe one connection, not the message (RFC 9110 7.6.1),
/// plus the proxy's own: they end at the proxy.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers a sandbox could use to present a credential of its own to a
/// registered resource. Dropped so the only credential an upstream sees is
/// the injected one: a sandbox cannot smuggle a stolen or different token
/// through a service entry, and the audit log's "who" stays the proxy's
/// injected identity. `Cookie` is included: a session cookie is a
/// credential, and the matching `Set-Cookie` is stripped from responses.
pub const CREDENTIAL_HEADERS: [HeaderName; 10] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("api-key"),
    HeaderName::from_static("x-auth-token"),
    HeaderName::from_static("private-token"),
    HeaderName::from_static("x-goog-api-key"),
    HeaderName::from_static("x-amz-security-token"),
    HeaderName::from_static("ocp-apim-subscription-key"),
    header::COOKIE,
];

/// Removes those of `names` that `headers` holds. One pass over the few
/// headers a message carries, instead of hashing every name of the list
/// for a lookup that almost always finds nothing.
fn remove_present(headers: &mut HeaderMap, names: &[HeaderName]) {
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|k| names.contains(k))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    remove_present(headers, &HOP_BY_HOP);
}

/// Removes every credential-looking header the sandbox sent.
pub(crate) fn drop_credentials(headers: &mut HeaderMap) {
    remove_present(headers, &CREDENTIAL_HEADERS);
}

/// Sets the injected headers, marked sensitive so hyper's HPACK never
/// indexes them. A value that is not a valid header value is skipped with a
/// warning naming only the header.
pub(crate) fn inject(headers: &mut HeaderMap, inject: &[(HeaderName, Secret)]) {
    for (name, secret) in inject {
        match HeaderValue::from_str(secret.expose()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(name.clone(), value);
            }
            Err(_) => tracing::warn!(header = %name, "injected header value is not valid; skipped"),
        }
    }
}

/// Sets `Host` to the upstream's authority.
pub(crate) fn set_host(headers: &mut HeaderMap, authority: &str) {
    if let Ok(v) = HeaderValue::from_str(authority) {
        headers.insert(header::HOST, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn credentials_dropped_and_injected() {
        let mut h = HeaderMap::new();
        for name in CREDENTIAL_HEADERS {
            h.insert(name, HeaderValue::from_static("sandbox-value"));
        }
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        drop_credentials(&mut h);
        inject(
            &mut h,
            &[(header::AUTHORIZATION, Secret::new("Bearer real"))],
        );
        assert_eq!(h.len(), 2);
        assert_eq!(h[header::AUTHORIZATION], "Bearer real");
        assert!(h[header::AUTHORIZATION].is_sensitive());
    }
}
