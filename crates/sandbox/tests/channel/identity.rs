//! The SPIFFE Workload API inside, checked with the `spiffe` crate's client.

use std::time::{Duration, SystemTime};

use airlock_ca::KeyPair;
use airlock_sandbox::channel::User;
use spiffe::{TrustDomain, WorkloadApiClient};
use tokio_stream::StreamExt;

use crate::fixture::{Sandbox, TestIssuer, text, workload_client_bin};

async fn client(sb: &Sandbox) -> WorkloadApiClient {
    let endpoint = format!("unix://{}", sb.p("spiffe/workload.sock"));
    WorkloadApiClient::connect_to(endpoint).await.unwrap()
}

#[tokio::test]
async fn the_workload_api_serves_svid_bundle_and_jwt_svids() {
    let sb = Sandbox::start().await;
    let client = client(&sb).await;
    let svid = tokio::time::timeout(Duration::from_secs(10), client.fetch_x509_svid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        svid.spiffe_id().to_string(),
        sb.issuer.workload_id().to_string()
    );
    // The key handed to the workload is the one in the certificate, and the
    // certificate chains to the CA.
    let key = KeyPair::from_pkcs8_der(svid.private_key().as_bytes()).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(svid.leaf().as_bytes()).unwrap();
    assert_eq!(leaf.public_key().raw, key.public_key().spki_der());
    let verified = sb
        .issuer
        .ca
        .verify(svid.leaf().as_bytes(), SystemTime::now())
        .unwrap();
    assert_eq!(verified.claims.user.as_ref().unwrap().as_str(), "alice");

    let td = TrustDomain::new("airlock.test").unwrap();
    let bundles = client.fetch_x509_bundles().await.unwrap();
    let bundle = bundles.get(&td).unwrap();
    assert_eq!(bundle.authorities()[0].as_bytes(), sb.issuer.ca.cert_der());

    let jwt = client.fetch_jwt_svid(["db"], None).await.unwrap();
    assert_eq!(jwt.spiffe_id(), svid.spiffe_id());
    let claims = sb
        .issuer
        .jwt
        .verify(jwt.token(), "db", SystemTime::now())
        .unwrap();
    assert_eq!(claims.act.sub, "user:alice");
    let jwt_bundles = client.fetch_jwt_bundles().await.unwrap();
    let authority = jwt_bundles.get(&td).unwrap();
    assert!(authority.find_jwt_authority(jwt.key_id()).is_some());

    let valid = client.validate_jwt_token("db", jwt.token()).await.unwrap();
    assert_eq!(valid.spiffe_id(), svid.spiffe_id());
    assert!(client.validate_jwt_token("web", jwt.token()).await.is_err());
    assert!(
        client.fetch_jwt_svid(["a", "b"], None).await.is_err(),
        "one audience only"
    );
}

#[tokio::test]
async fn svids_rotate_at_half_their_lifetime_with_a_new_key() {
    let sb = Sandbox::start_with(TestIssuer::new(Duration::from_secs(4))).await;
    let client = client(&sb).await;
    let mut stream = client.stream_x509_svids().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a rotation within the lifetime")
        .unwrap()
        .unwrap();
    assert_ne!(first.leaf().as_bytes(), second.leaf().as_bytes());
    assert_ne!(
        first.private_key().as_bytes(),
        second.private_key().as_bytes()
    );
    assert_eq!(first.spiffe_id(), second.spiffe_id());
}

#[tokio::test]
async fn processes_find_the_workload_api_through_the_environment() {
    let sb = Sandbox::start().await;
    let out = sb.sh(User::Agent, "echo $SPIFFE_ENDPOINT_SOCKET; test -w ${SPIFFE_ENDPOINT_SOCKET#unix://} && echo writable").await;
    assert_eq!(
        text(&out.stdout),
        format!("unix://{}\nwritable\n", sb.p("spiffe/workload.sock"))
    );
}

#[tokio::test]
async fn a_spiffe_client_inside_gets_its_identity() {
    let sb = Sandbox::start().await;
    std::fs::create_dir(sb.path("bin")).unwrap();
    let client = sb.path("bin/client");
    std::fs::copy(workload_client_bin(), &client).unwrap();
    let out = sb.sh(User::Agent, &client.display().to_string()).await;
    let id = sb.issuer.workload_id();
    assert!(
        text(&out.stdout).contains(&format!("SVID {id} JWT {id}")),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
