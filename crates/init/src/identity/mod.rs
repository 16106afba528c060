//! The workload's identity inside the sandbox.
//!
//! init generates a P-256 key here, sends only a CSR to the host, gets back
//! the X.509-SVID and trust bundle, and serves them to workloads through the
//! SPIFFE Workload API ([`server`]). It renews at half the SVID's remaining
//! lifetime with a fresh key each time; the key never leaves the sandbox.

mod jwt;
mod proto;
mod server;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_ca::KeyPair;
use airlock_wire::Control;
use tokio::sync::watch;

use crate::init::Ctx;

pub use server::serve;

/// Retry delays after a failed renewal.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Never renew more often than this, whatever the certificate says.
const MIN_RENEW: Duration = Duration::from_secs(1);

/// An X.509-SVID with its key and the trust bundle.
#[derive(Debug)]
pub struct Svid {
    /// The SPIFFE ID.
    pub spiffe_id: String,
    /// Leaf first.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER; generated here, never sent to the host.
    pub key_pkcs8: Vec<u8>,
    /// The trust domain's CA certificates.
    pub bundle: Vec<Vec<u8>>,
    /// notAfter of the leaf, seconds since the epoch.
    pub expires_unix: u64,
}

impl Svid {
    /// `spiffe://<trust domain>`, the key the Workload API uses for bundles.
    pub fn trust_domain_id(&self) -> String {
        let rest = self.spiffe_id.trim_start_matches("spiffe://");
        format!("spiffe://{}", rest.split('/').next().unwrap_or_default())
    }
}

/// The current SVID, watched by every Workload API stream.
#[derive(Debug)]
pub struct Identity {
    current: watch::Sender<Option<Arc<Svid>>>,
}

impl Identity {
    /// No SVID yet.
    pub fn new() -> Self {
        Self {
            current: watch::channel(None).0,
        }
    }

    /// Follows SVID changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Svid>>> {
        self.current.subscribe()
    }
}

/// Obtains the SVID and keeps renewing it, forever.
pub async fn run(ctx: Arc<Ctx>) {
    let mut retry = RETRY_MIN;
    loop {
        match renew(&ctx).await {
            Ok(svid) => {
                let wait = renew_after(svid.expires_unix, now_unix());
                tracing::info!(spiffe_id = %svid.spiffe_id, renew_in = ?wait, "workload SVID installed");
                ctx.identity.current.send_replace(Some(Arc::new(svid)));
                retry = RETRY_MIN;
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot obtain the workload SVID; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Half of the remaining lifetime, at least [`MIN_RENEW`].
pub fn renew_after(expires_unix: u64, now_unix: u64) -> Duration {
    Duration::from_secs(expires_unix.saturating_sub(now_unix) / 2).max(MIN_RENEW)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn renew(ctx: &Ctx) -> Result<Svid, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let csr_der = key.csr_der("").map_err(|e| e.to_string())?;
    let reply = ctx.link.request(&Control::SvidRequest { csr_der }).await?;
    let Control::SvidResponse {
        spiffe_id,
        cert_chain_der,
        bundle_der,
        expires_unix,
    } = reply
    else {
        return Err(format!("unexpected answer to an SVID request: {reply:?}"));
    };
    let leaf = cert_chain_der
        .first()
        .ok_or("the host sent an empty chain")?;
    let spki = key.public_key().spki_der().to_vec();
    if !leaf.windows(spki.len()).any(|w| w == spki.as_slice()) {
        return Err("the host's certificate is not for our key".into());
    }
    Ok(Svid {
        spiffe_id,
        chain: cert_chain_der,
        key_pkcs8: key.pkcs8_der().to_vec(),
        bundle: bundle_der,
        expires_unix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_at_half_life() {
        assert_eq!(renew_after(1000 + 3600, 1000), Duration::from_secs(1800));
        assert_eq!(renew_after(10, 1000), MIN_RENEW, "expired: renew now-ish");
    }

    #[test]
    fn trust_domain_of_an_svid() {
        let svid = Svid {
            spiffe_id: "spiffe://airlock.local/sandbox/sb-1/workload".into(),
            chain: vec![],
            key_pkcs8: vec![],
            bundle: vec![],
            expires_unix: 0,
        };
        assert_eq!(svid.trust_domain_id(), "spiffe://airlock.local");
    }
}
