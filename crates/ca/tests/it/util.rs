//! Shared fixtures: a CA, claims, fixed clocks and an `openssl` runner.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_ca::{CertificateAuthority, KeyPair, PublicKey};
use airlock_core::{
    Claims, IsolationClass, RoleName, SandboxId, SessionId, SpiffeId, TrustDomain, UserName,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// 2026-06-01T00:00:00Z: a fixed "now" for tests that do not involve openssl.
pub const T0: u64 = 1_780_272_000;

pub fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

pub fn t0() -> SystemTime {
    at(T0)
}

pub fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

pub fn td() -> TrustDomain {
    TrustDomain::new("airlock.test").unwrap()
}

/// A CA valid for ten years from `now`.
pub fn ca_at(now: SystemTime) -> CertificateAuthority {
    CertificateAuthority::generate("test", td(), hours(24 * 3650), now).unwrap()
}

pub fn ca() -> CertificateAuthority {
    ca_at(t0())
}

pub fn key() -> PublicKey {
    KeyPair::generate().unwrap().public_key()
}

pub fn sandbox() -> SandboxId {
    SandboxId::new("sb-42").unwrap()
}

pub fn alice() -> Claims {
    Claims::user(
        UserName::new("alice@example.com").unwrap(),
        vec![RoleName::new("developer").unwrap()],
        SessionId::from_random([7; 16]),
    )
}

pub fn workload() -> Claims {
    Claims::workload(
        UserName::new("alice").unwrap(),
        sandbox(),
        IsolationClass::Gvisor,
        Some("read-only".into()),
    )
}

pub fn sandbox_claims() -> Claims {
    Claims::sandbox(
        UserName::new("alice").unwrap(),
        sandbox(),
        IsolationClass::Microvm,
    )
}

pub fn server_claims() -> Claims {
    let mut c = alice();
    c.kind = airlock_core::SubjectKind::Server;
    c.user = None;
    c.session = None;
    c.roles.clear();
    c
}

pub fn workload_id() -> SpiffeId {
    SpiffeId::workload(&td(), &sandbox())
}

pub fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).expect("x509-parser reads it");
    assert!(rest.is_empty());
    cert
}

/// Runs `openssl` in a scratch directory holding the given files.
pub struct Openssl {
    dir: tempfile::TempDir,
}

impl Openssl {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs openssl with `args` (relative file names resolve in the scratch
    /// dir); returns (success, stdout + stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl is installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs openssl and panics with its output on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "openssl {args:?} failed:\n{text}");
        text
    }

    /// `openssl x509 -text` of a PEM certificate.
    pub fn text(&self, pem: &str) -> String {
        self.write("show.pem", pem);
        self.ok(&["x509", "-noout", "-text", "-in", "show.pem"])
    }

    /// `openssl verify` of `leaf` against `ca`, with an optional `-purpose`.
    pub fn verify(&self, ca: &str, leaf: &str, purpose: Option<&str>) -> (bool, String) {
        self.write("ca.pem", ca);
        self.write("leaf.pem", leaf);
        let mut args = vec!["verify", "-CAfile", "ca.pem"];
        if let Some(p) = purpose {
            args.extend(["-purpose", p]);
        }
        args.push("leaf.pem");
        self.run(&args)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

/// The lines of `openssl x509 -text` that follow the header `name`
/// (until the next header at the same indentation).
pub fn section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.contains(name));
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let indent = header.len() - header.trim_start().len();
    let mut out = vec![header.trim()];
    out.extend(
        lines
            .take_while(|l| l.len() - l.trim_start().len() > indent)
            .map(str::trim),
    );
    out
}
