//! Shared by the channel tests and the sandbox benchmark: where the static
//! init binary is, and an issuer of identities on a real CA, as the control
//! plane's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_ca::{CertificateAuthority, JwtSigner, PublicKey};
use airlock_core::{Claims, IsolationClass, SandboxId, SpiffeId, TrustDomain, UserName};
use airlock_sandbox::channel::{IssuedJwt, IssuedSvid, Issuer, JwtBundle};

/// The sandbox id the channel tests' init runs as.
pub const SANDBOX: &str = "sb-chantest";

/// The static init binary: `$AIRLOCK_INIT_BIN`, else what
/// `scripts/build-init.sh` builds (run once here if it is not built yet).
pub fn init_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("AIRLOCK_INIT_BIN") {
            return p.into();
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
        let bin = target.join("x86_64-unknown-linux-gnu/init/airlock-init");
        if !bin.exists() {
            let out = Command::new(root.join("scripts/build-init.sh"))
                .stderr(Stdio::inherit())
                .output()
                .expect("run scripts/build-init.sh");
            assert!(out.status.success(), "scripts/build-init.sh failed");
        }
        assert!(
            bin.exists(),
            "{} is missing: run scripts/build-init.sh",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Issues identities with a real CA, as the control plane will.
pub struct TestIssuer {
    pub ca: CertificateAuthority,
    pub jwt: JwtSigner,
    pub svid_ttl: Duration,
}

impl TestIssuer {
    pub fn new(svid_ttl: Duration) -> Arc<Self> {
        let td = TrustDomain::new("airlock.test").unwrap();
        let ca = CertificateAuthority::generate(
            "test",
            td,
            Duration::from_secs(86400),
            SystemTime::now(),
        )
        .unwrap();
        Arc::new(Self {
            ca,
            jwt: JwtSigner::generate().unwrap(),
            svid_ttl,
        })
    }

    pub fn workload_id(&self) -> SpiffeId {
        SpiffeId::workload(self.ca.trust_domain(), &SandboxId::new(SANDBOX).unwrap())
    }

    fn claims(sandbox: &SandboxId) -> Claims {
        let user = UserName::new("alice").unwrap();
        Claims::workload(user, sandbox.clone(), IsolationClass::Runc, None)
    }
}

impl Issuer for TestIssuer {
    fn issue_svid(&self, sandbox: &SandboxId, csr_der: &[u8]) -> Result<IssuedSvid, String> {
        let key = PublicKey::from_csr_der(csr_der).map_err(|e| e.to_string())?;
        let id = SpiffeId::workload(self.ca.trust_domain(), sandbox);
        let cert = self
            .ca
            .issue_svid(
                &key,
                &id,
                &Self::claims(sandbox),
                self.svid_ttl,
                SystemTime::now(),
            )
            .map_err(|e| e.to_string())?;
        let expires = cert
            .not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        Ok(IssuedSvid {
            spiffe_id: id.to_string(),
            cert_chain_der: vec![cert.der],
            bundle_der: vec![self.ca.cert_der().to_vec()],
            expires_unix: expires.as_secs(),
        })
    }

    fn mint_jwt(
        &self,
        sandbox: &SandboxId,
        audience: &str,
        ttl: Option<Duration>,
    ) -> Result<IssuedJwt, String> {
        let id = SpiffeId::workload(self.ca.trust_domain(), sandbox);
        let ttl = ttl
            .unwrap_or(Duration::from_secs(300))
            .min(Duration::from_secs(300));
        let token = self
            .jwt
            .mint(
                &id,
                audience,
                &Self::claims(sandbox),
                ttl,
                SystemTime::now(),
                "https://airlock.test",
            )
            .map_err(|e| e.to_string())?;
        Ok(IssuedJwt {
            spiffe_id: id.to_string(),
            token,
        })
    }

    fn jwt_bundle(&self, _: &SandboxId) -> Result<JwtBundle, String> {
        Ok(JwtBundle {
            trust_domain: self.ca.trust_domain().to_string(),
            jwks: self.jwt.jwks().to_string(),
        })
    }
}
