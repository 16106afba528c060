//! The way out of every sandbox: the access proxy, wired to the control
//! plane's policy, locks, registered resources, secrets and audit log.
//!
//! - [`budgets`]: today's token spending, re-spent from the audit log at start;
//! - [`catalog`]: registered HTTP services and inference endpoints, with
//!   their secrets resolved, rebuilt whenever an admin changes them;
//! - [`decider`]: the proxy's `Decider`: locks, liveness, then Cedar, for a
//!   workload (its user's policies AND its delegation profile);
//! - [`resources`]: what an admin registers, validated.

pub mod budgets;
pub mod catalog;
pub mod decider;
pub mod resources;

use std::path::Path;
use std::time::Duration;

use airlock_core::TrustDomain;
use airlock_proxy::ProxyCa;

/// Loads the proxy's interception CA from the data directory, creating it
/// (key 0600) on first use.
pub fn load_or_create_ca(
    cert: &Path,
    key: &Path,
    cluster: &str,
    td: &TrustDomain,
) -> Result<ProxyCa, String> {
    if cert.exists() && key.exists() {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        return ProxyCa::from_pem(&read(cert)?, &read(key)?).map_err(|e| e.to_string());
    }
    let ca = ProxyCa::generate(cluster, td.clone(), Duration::from_secs(10 * 365 * 86400))
        .map_err(|e| e.to_string())?;
    airlock_ca::write_key_file(key, &ca.key_pkcs8_pem()).map_err(|e| e.to_string())?;
    std::fs::write(cert, ca.cert_pem()).map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(ca)
}

/// What every sandbox trusts: the host's public roots plus the proxy CA
/// (so interception works for every TLS client inside).
pub fn trust_bundle(proxy_ca_pem: &str) -> String {
    let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    format!("{system}\n# Airlock access proxy\n{proxy_ca_pem}")
}
