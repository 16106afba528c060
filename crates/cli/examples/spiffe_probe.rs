//! Runs INSIDE a sandbox in the end-to-end tests: an ordinary SPIFFE client
//! (the `spiffe` crate) that finds the Workload API through
//! `SPIFFE_ENDPOINT_SOCKET`, as any SPIFFE-aware program would. Prints what
//! it got as JSON; the test checks it from the host.

#![allow(clippy::print_stdout)] // its output is the report

use std::time::Duration;

use spiffe::WorkloadApiClient;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let audience = std::env::args().nth(1).unwrap_or_else(|| "probe".into());
    let client = WorkloadApiClient::connect_env()
        .await
        .expect("connect to SPIFFE_ENDPOINT_SOCKET");
    let svid = tokio::time::timeout(Duration::from_secs(20), client.fetch_x509_svid())
        .await
        .expect("X.509-SVID within 20s")
        .expect("X.509-SVID");
    let bundles = client.fetch_x509_bundles().await.expect("bundles");
    let jwt = client
        .fetch_jwt_svid([audience.as_str()], None)
        .await
        .expect("JWT-SVID");
    let validated = client
        .validate_jwt_token(&audience, jwt.token())
        .await
        .is_ok();
    let out = serde_json::json!({
        "spiffe_id": svid.spiffe_id().to_string(),
        "leaf_der_hex": hex::encode(svid.leaf().as_bytes()),
        "key_pkcs8_len": svid.private_key().as_bytes().len(),
        // For the host-side scan that the key is nowhere on the host's disk.
        "key_pkcs8_hex": hex::encode(svid.private_key().as_bytes()),
        "bundle_domains": bundles.iter().count(),
        "jwt": jwt.token(),
        "jwt_spiffe_id": jwt.spiffe_id().to_string(),
        "jwt_validated": validated,
    });
    println!("{out}");
}
