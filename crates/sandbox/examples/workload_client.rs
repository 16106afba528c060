//! Runs INSIDE a sandbox in the channel tests: an unmodified SPIFFE client
//! (the `spiffe` crate) that finds the Workload API through
//! `SPIFFE_ENDPOINT_SOCKET`, as any SPIFFE-aware program would.
//!
//! Without arguments it prints `SVID <id> JWT <id>`. With `rotation` it
//! watches the X.509-SVID stream until the SVID is replaced and prints
//! `ROTATED cert=<changed> key=<changed> id=<same>`.

#![allow(clippy::print_stdout)] // its output is the report

use std::time::Duration;

use spiffe::WorkloadApiClient;
use tokio_stream::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = WorkloadApiClient::connect_env()
        .await
        .expect("connect to SPIFFE_ENDPOINT_SOCKET");
    if std::env::args().nth(1).as_deref() == Some("rotation") {
        let mut stream = client.stream_x509_svids().await.expect("SVID stream");
        let first = stream.next().await.expect("first SVID").expect("SVID");
        let second = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("a rotation within 30 s")
            .expect("stream open")
            .expect("SVID");
        println!(
            "ROTATED cert={} key={} id={}",
            first.leaf().as_bytes() != second.leaf().as_bytes(),
            first.private_key().as_bytes() != second.private_key().as_bytes(),
            first.spiffe_id() == second.spiffe_id()
        );
        return;
    }
    let svid = client.fetch_x509_svid().await.expect("X.509-SVID");
    let jwt = client
        .fetch_jwt_svid(["inner"], None)
        .await
        .expect("JWT-SVID");
    println!("SVID {} JWT {}", svid.spiffe_id(), jwt.spiffe_id());
}
