//! Runs INSIDE a sandbox in the channel tests: an unmodified SPIFFE client
//! (the `spiffe` crate) that finds the Workload API through
//! `SPIFFE_ENDPOINT_SOCKET`, as any SPIFFE-aware program would. Prints
//! `SVID <id> JWT <id>` for the test to read from the host.

#![allow(clippy::print_stdout)] // its output is the report

use spiffe::WorkloadApiClient;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = WorkloadApiClient::connect_env()
        .await
        .expect("connect to SPIFFE_ENDPOINT_SOCKET");
    let svid = client.fetch_x509_svid().await.expect("X.509-SVID");
    let jwt = client
        .fetch_jwt_svid(["inner"], None)
        .await
        .expect("JWT-SVID");
    println!("SVID {} JWT {}", svid.spiffe_id(), jwt.spiffe_id());
}
