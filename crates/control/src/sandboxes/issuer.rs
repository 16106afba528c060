//! Answers the identity requests `airlock-init` makes from inside a sandbox:
//! the workload's X.509-SVID (for a key generated inside), JWT-SVIDs and the
//! JWKS. Every issuance checks the sandbox is live and not locked, and is
//! audited before it is returned.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_audit::{AuditEvent, AuditLog, EventCode};
use airlock_ca::{CertificateAuthority, JwtSigner, KeyPair, PublicKey};
use airlock_core::{Claims, IsolationClass, SandboxId, SpiffeId, TrustDomain, UserName};
use airlock_sandbox::channel::{IssuedJwt, IssuedSvid, Issuer, JwtBundle};
use airlock_store::{SandboxRecord, Store};
use time::OffsetDateTime;

use crate::locks::{self, LockCache};

/// Workload SVID lifetime; init rotates at half-life.
pub const WORKLOAD_SVID_TTL: Duration = Duration::from_secs(3600);
/// Longest JWT-SVID.
pub const MAX_JWT_TTL: Duration = Duration::from_secs(300);

/// The control plane's [`Issuer`].
#[derive(Debug, Clone)]
pub struct CaIssuer {
    /// Cluster CA.
    pub ca: Arc<CertificateAuthority>,
    /// JWT-SVID signer.
    pub jwt: Arc<JwtSigner>,
    /// State (to find the sandbox and its owner).
    pub store: Arc<dyn Store>,
    /// Locks (a locked user or sandbox gets no identity).
    pub locks: LockCache,
    /// Audit log.
    pub audit: AuditLog,
    /// Trust domain.
    pub trust_domain: TrustDomain,
    /// OIDC issuer URL.
    pub issuer_url: String,
}

/// A sandbox's own X.509-SVID, with its key (kept in memory by the node).
#[derive(Debug)]
pub struct SandboxIdentity {
    /// `spiffe://<td>/sandbox/<id>`.
    pub spiffe_id: String,
    /// The key, generated here on the node.
    pub key: KeyPair,
    /// The certificate.
    pub cert: airlock_ca::IssuedCert,
}

impl CaIssuer {
    /// Issues the sandbox's own SVID (audited) for a key made on the node.
    pub fn sandbox_identity(
        &self,
        owner: &UserName,
        id: &SandboxId,
        isolation: IsolationClass,
    ) -> Result<SandboxIdentity, String> {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let spiffe = SpiffeId::sandbox(&self.trust_domain, id);
        let claims = Claims::sandbox(owner.clone(), id.clone(), isolation);
        let cert = self
            .ca
            .issue_svid(
                &key.public_key(),
                &spiffe,
                &claims,
                WORKLOAD_SVID_TTL,
                SystemTime::now(),
            )
            .map_err(|e| e.to_string())?;
        let event = AuditEvent::new(EventCode::CertIssued)
            .user(owner.clone())
            .sandbox(id.clone())
            .isolation(isolation)
            .resource(spiffe.to_string())
            .detail("kind", "sandbox-svid")
            .detail("subject", spiffe.to_string())
            .detail("serial", cert.serial_hex.clone())
            .detail(
                "expires",
                crate::api::rfc3339(OffsetDateTime::from(cert.not_after)),
            );
        self.audit
            .append_blocking(event)
            .map_err(|e| format!("refused: {e}"))?;
        Ok(SandboxIdentity {
            spiffe_id: spiffe.to_string(),
            key,
            cert,
        })
    }
    /// The live sandbox and its workload claims, or why not.
    fn workload(&self, id: &SandboxId) -> Result<(SandboxRecord, Claims), String> {
        let sb = self
            .store
            .sandbox(id)
            .map_err(|e| format!("state unavailable: {e}"))?
            .filter(|s| s.state.is_live())
            .ok_or_else(|| format!("sandbox {id} is not live"))?;
        let claims = Claims::workload(sb.owner.clone(), id.clone(), sb.backend, sb.profile.clone());
        if let Some(lock) = self.locks.find(&claims, OffsetDateTime::now_utc()) {
            return Err(locks::describe(&lock));
        }
        Ok((sb, claims))
    }

    fn record(
        &self,
        sb: &SandboxRecord,
        id: &SpiffeId,
        kind: &str,
        expires: OffsetDateTime,
    ) -> Result<(), String> {
        let event = AuditEvent::new(EventCode::CertIssued)
            .user(sb.owner.clone())
            .workload(id.clone())
            .sandbox(sb.id.clone())
            .isolation(sb.backend)
            .resource(id.to_string())
            .detail("kind", kind)
            .detail("subject", id.to_string())
            .detail("expires", crate::api::rfc3339(expires));
        self.audit
            .append_blocking(event)
            .map(drop)
            .map_err(|e| format!("refused: {e}"))
    }
}

impl Issuer for CaIssuer {
    fn issue_svid(&self, sandbox: &SandboxId, csr_der: &[u8]) -> Result<IssuedSvid, String> {
        let (sb, claims) = self.workload(sandbox)?;
        let key = PublicKey::from_csr_der(csr_der).map_err(|e| e.to_string())?;
        let id = SpiffeId::workload(&self.trust_domain, sandbox);
        let cert = self
            .ca
            .issue_svid(&key, &id, &claims, WORKLOAD_SVID_TTL, SystemTime::now())
            .map_err(|e| e.to_string())?;
        let expires = OffsetDateTime::from(cert.not_after);
        self.record(&sb, &id, "workload-svid", expires)?;
        let expires_unix = u64::try_from(expires.unix_timestamp()).unwrap_or_default();
        Ok(IssuedSvid {
            spiffe_id: id.to_string(),
            cert_chain_der: vec![cert.der],
            bundle_der: vec![self.ca.cert_der().to_vec()],
            expires_unix,
        })
    }

    fn mint_jwt(
        &self,
        sandbox: &SandboxId,
        audience: &str,
        ttl: Option<Duration>,
    ) -> Result<IssuedJwt, String> {
        if audience.trim().is_empty() {
            return Err("a JWT-SVID needs exactly one audience".into());
        }
        let (sb, claims) = self.workload(sandbox)?;
        let id = SpiffeId::workload(&self.trust_domain, sandbox);
        let ttl = ttl.unwrap_or(MAX_JWT_TTL).min(MAX_JWT_TTL);
        let now = SystemTime::now();
        let token = self
            .jwt
            .mint(&id, audience, &claims, ttl, now, &self.issuer_url)
            .map_err(|e| e.to_string())?;
        self.record(&sb, &id, "jwt-svid", OffsetDateTime::from(now + ttl))?;
        Ok(IssuedJwt {
            spiffe_id: id.to_string(),
            token,
        })
    }

    fn jwt_bundle(&self, _sandbox: &SandboxId) -> Result<JwtBundle, String> {
        Ok(JwtBundle {
            trust_domain: self.trust_domain.to_string(),
            jwks: self.jwt.jwks().to_string(),
        })
    }
}
