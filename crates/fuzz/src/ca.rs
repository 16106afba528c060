//! The CA's untrusted inputs: certificate requests from sandboxes and
//! logins, certificates presented over mTLS, JWT-SVIDs presented to
//! relying parties.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use airlock_ca::{CertificateAuthority, JwtSigner, KeyPair, PublicKey, validate_jwt_svid};
use airlock_core::{
    Claims, IsolationClass, RoleName, SandboxId, SessionId, SpiffeId, TrustDomain, UserName,
};

/// A CA and a JWT signer, made once per process, and the instant at which
/// everything they issued for the seeds is valid.
struct Fixture {
    ca: CertificateAuthority,
    jwt: JwtSigner,
    now: SystemTime,
}

const AUDIENCE: &str = "fuzz.example";

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // A fixed instant keeps runs alike; the CA is valid for a day from it.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let td = TrustDomain::new("fuzz.airlock").expect("trust domain");
        Fixture {
            ca: CertificateAuthority::generate("fuzz", td, Duration::from_secs(86_400), now)
                .expect("CA"),
            jwt: JwtSigner::generate().expect("JWT signer"),
            now,
        }
    })
}

fn sandbox_id() -> SandboxId {
    SandboxId::new("sb-fuzz").expect("sandbox id")
}

fn workload_claims() -> Claims {
    let user = UserName::new("alice").expect("user");
    Claims::workload(user, sandbox_id(), IsolationClass::Gvisor, None)
}

/// A PKCS#10 request, DER or PEM. A key taken from one must survive a
/// round trip through its SubjectPublicKeyInfo.
pub fn csr(data: &[u8]) {
    if let Ok(key) = PublicKey::from_csr_der(data) {
        let again = PublicKey::from_spki_der(key.spki_der()).expect("accepted key re-parses");
        assert_eq!(
            again.spki_der(),
            key.spki_der(),
            "key changed in a round trip"
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        drop(PublicKey::from_csr_pem(text));
        drop(PublicKey::from_spki_pem(text));
    }
    drop(PublicKey::from_spki_der(data));
}

/// Real requests, as init and `airlock login` make them.
pub fn csr_seeds() -> Vec<Vec<u8>> {
    let key = KeyPair::generate().expect("key");
    vec![
        key.csr_der("alice").expect("csr"),
        key.csr_der("").expect("csr"),
        key.csr_pem("alice").expect("csr").into_bytes(),
        key.public_key().spki_der().to_vec(),
    ]
}

/// A certificate presented to the control plane. One that verifies must
/// carry claims that validate.
pub fn certificate(data: &[u8]) {
    let f = fixture();
    if let Ok(v) = f.ca.verify(data, f.now) {
        v.claims
            .validate()
            .expect("a verified certificate's claims are valid");
    }
}

/// Certificates this CA issued: a user's, a workload SVID, a server's, and
/// the CA's own.
pub fn certificate_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let key = KeyPair::generate().expect("key").public_key();
    let hour = Duration::from_secs(3600);
    let user = UserName::new("alice").expect("user");
    let role = RoleName::new("developer").expect("role");
    let session = SessionId::from_random([0x5e; 16]);
    let td = f.ca.trust_domain().clone();
    let user_cert =
        f.ca.issue_user(&key, &Claims::user(user, vec![role], session), hour, f.now);
    let svid = f.ca.issue_svid(
        &key,
        &SpiffeId::workload(&td, &sandbox_id()),
        &workload_claims(),
        hour,
        f.now,
    );
    let server = f.ca.issue_server(
        &key,
        &["airlock.fuzz".to_owned()],
        &[],
        &Claims::server(),
        hour,
        f.now,
    );
    let mut seeds: Vec<Vec<u8>> = [user_cert, svid, server]
        .into_iter()
        .map(|c| c.expect("issue").der)
        .collect();
    seeds.push(f.ca.cert_der().to_vec());
    seeds
}

/// A JWT-SVID presented for verification.
pub fn jwt(data: &[u8]) {
    let f = fixture();
    let token = String::from_utf8_lossy(data);
    if let Ok(claims) = f.jwt.verify(&token, AUDIENCE, f.now) {
        assert_eq!(
            claims.aud, AUDIENCE,
            "verified a token for another audience"
        );
    }
}

/// A JWT-SVID a workload hands to init's `ValidateJWTSVID`, checked against
/// the signer's JWKS. A token that validates for an audience names a SPIFFE
/// ID, and the signer itself accepts it too.
pub fn jwks(data: &[u8]) {
    let f = fixture();
    let token = String::from_utf8_lossy(data);
    let now = f
        .now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Ok(valid) = validate_jwt_svid(&token, AUDIENCE, jwks_of_fixture(), now) {
        assert!(valid.spiffe_id.starts_with("spiffe://"), "{valid:?}");
    }
}

fn jwks_of_fixture() -> &'static serde_json::Value {
    static JWKS: OnceLock<serde_json::Value> = OnceLock::new();
    JWKS.get_or_init(|| fixture().jwt.jwks())
}

/// A token the signer minted.
pub fn jwt_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let td = f.ca.trust_domain().clone();
    let sub = SpiffeId::workload(&td, &sandbox_id());
    let token = f
        .jwt
        .mint(
            &sub,
            AUDIENCE,
            &workload_claims(),
            Duration::from_secs(300),
            f.now,
            "https://airlock.fuzz",
        )
        .expect("mint");
    vec![token.into_bytes()]
}
