//! The identity claims Airlock writes into every certificate it issues, in a
//! private non-critical X.509 extension (see [`crate::oid`]).
//!
//! One struct for every subject kind keeps the wire format single; [`Claims::validate`]
//! enforces which fields each kind must carry, so a decoder never hands out a
//! workload claim set that does not name its human.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{RoleName, SandboxId, SessionId, UserName};

/// What kind of subject a certificate identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A human, after `airlock login`.
    User,
    /// An execution environment (the sandbox itself).
    Sandbox,
    /// The agent acting inside a sandbox on its user's behalf.
    Workload,
    /// An Airlock server (control plane or proxy) presenting TLS.
    Server,
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::User => "user",
            Self::Sandbox => "sandbox",
            Self::Workload => "workload",
            Self::Server => "server",
        })
    }
}

/// How strongly a sandbox is isolated from its host. Ordered weakest first,
/// so `max()` picks the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IsolationClass {
    /// OCI namespaces, seccomp and cgroups (runc): shares the host kernel.
    Runc,
    /// gVisor: a user-space kernel between the workload and the host kernel.
    Gvisor,
    /// A virtual machine with its own kernel.
    Microvm,
}

impl IsolationClass {
    /// The stable lowercase name used in CLI flags, certificates and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runc => "runc",
            Self::Gvisor => "gvisor",
            Self::Microvm => "microvm",
        }
    }
}

impl fmt::Display for IsolationClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IsolationClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "runc" => Ok(Self::Runc),
            "gvisor" => Ok(Self::Gvisor),
            "microvm" => Ok(Self::Microvm),
            other => Err(format!(
                "unknown isolation class {other:?}: use microvm, gvisor or runc"
            )),
        }
    }
}

/// Claims carried in the private extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Format version; 1 today. A decoder refuses versions it does not know.
    pub v: u8,
    /// The kind of subject.
    pub kind: SubjectKind,
    /// The human: the user themself, the owner of a sandbox, or the user a
    /// workload acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserName>,
    /// The user's roles at issuance (user certificates only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleName>,
    /// Free-form user traits (e.g. `logins`, `team`), for policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub traits: BTreeMap<String, Vec<String>>,
    /// The login session this certificate descends from; a session lock refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// The sandbox (sandbox and workload certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxId>,
    /// The delegation profile narrowing what a workload may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
    /// The isolation class of the sandbox (sandbox and workload certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationClass>,
}

/// Why a claim set is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The bytes are not a claim set.
    #[error("identity extension is malformed: {0}")]
    Malformed(String),
    /// A newer format than this build understands.
    #[error("identity extension version {0} is not supported (this build reads version 1)")]
    Version(u8),
    /// A field the subject kind requires is absent.
    #[error("{kind} identity is missing its {field}")]
    Missing {
        /// The subject kind.
        kind: SubjectKind,
        /// The missing field.
        field: &'static str,
    },
}

impl Claims {
    /// Claims of a human after login.
    pub fn user(user: UserName, roles: Vec<RoleName>, session: SessionId) -> Self {
        Self {
            v: 1,
            kind: SubjectKind::User,
            user: Some(user),
            roles,
            traits: BTreeMap::new(),
            session: Some(session),
            sandbox: None,
            delegation: None,
            isolation: None,
        }
    }

    /// Claims of a sandbox owned by `owner`.
    pub fn sandbox(owner: UserName, sandbox: SandboxId, isolation: IsolationClass) -> Self {
        Self {
            kind: SubjectKind::Sandbox,
            sandbox: Some(sandbox),
            isolation: Some(isolation),
            ..Self::bare(SubjectKind::Sandbox, owner)
        }
    }

    /// Claims of the workload inside a sandbox, acting for `user`.
    pub fn workload(
        user: UserName,
        sandbox: SandboxId,
        isolation: IsolationClass,
        delegation: Option<String>,
    ) -> Self {
        Self {
            sandbox: Some(sandbox),
            isolation: Some(isolation),
            delegation,
            ..Self::bare(SubjectKind::Workload, user)
        }
    }

    /// Claims of an Airlock server's TLS certificate.
    pub fn server() -> Self {
        Self {
            v: 1,
            kind: SubjectKind::Server,
            user: None,
            roles: Vec::new(),
            traits: BTreeMap::new(),
            session: None,
            sandbox: None,
            delegation: None,
            isolation: None,
        }
    }

    fn bare(kind: SubjectKind, user: UserName) -> Self {
        Self {
            v: 1,
            kind,
            user: Some(user),
            roles: Vec::new(),
            traits: BTreeMap::new(),
            session: None,
            sandbox: None,
            delegation: None,
            isolation: None,
        }
    }

    /// Checks that the fields the kind requires are present.
    pub fn validate(&self) -> Result<(), ClaimsError> {
        if self.v != 1 {
            return Err(ClaimsError::Version(self.v));
        }
        let missing = |field| ClaimsError::Missing {
            kind: self.kind,
            field,
        };
        match self.kind {
            SubjectKind::User => {
                self.user.as_ref().ok_or_else(|| missing("user"))?;
                self.session.as_ref().ok_or_else(|| missing("session"))?;
            }
            SubjectKind::Sandbox | SubjectKind::Workload => {
                self.user.as_ref().ok_or_else(|| missing("user"))?;
                self.sandbox.as_ref().ok_or_else(|| missing("sandbox"))?;
                self.isolation
                    .as_ref()
                    .ok_or_else(|| missing("isolation"))?;
            }
            SubjectKind::Server => {}
        }
        Ok(())
    }

    /// The canonical encoding: compact JSON with fields in declaration order.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("claims always serialize")
    }

    /// Decodes and validates.
    pub fn decode(bytes: &[u8]) -> Result<Self, ClaimsError> {
        let claims: Self =
            serde_json::from_slice(bytes).map_err(|e| ClaimsError::Malformed(e.to_string()))?;
        claims.validate()?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserName {
        UserName::new("alice").unwrap()
    }

    #[test]
    fn round_trip() {
        let c = Claims::workload(
            alice(),
            SandboxId::new("sb-1").unwrap(),
            IsolationClass::Gvisor,
            Some("read-only".into()),
        );
        let bytes = c.encode();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":1,"kind":"workload","user":"alice","sandbox":"sb-1","delegation":"read-only","isolation":"gvisor"}"#
        );
        assert_eq!(Claims::decode(&bytes).unwrap(), c);
    }

    #[test]
    fn workload_must_name_its_user() {
        let err =
            Claims::decode(br#"{"v":1,"kind":"workload","sandbox":"sb-1","isolation":"runc"}"#)
                .unwrap_err();
        assert_eq!(err.to_string(), "workload identity is missing its user");
    }

    #[test]
    fn unknown_version_and_fields_are_refused() {
        assert_eq!(
            Claims::decode(br#"{"v":2,"kind":"server"}"#).unwrap_err(),
            ClaimsError::Version(2)
        );
        assert!(Claims::decode(br#"{"v":1,"kind":"server","admin":true}"#).is_err());
        assert!(Claims::decode(b"\xff").is_err());
    }

    #[test]
    fn isolation_order_is_strength() {
        assert!(IsolationClass::Microvm > IsolationClass::Gvisor);
        assert!(IsolationClass::Gvisor > IsolationClass::Runc);
    }
}
