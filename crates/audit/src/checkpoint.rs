//! Signed checkpoints in the C2SP signed-note and tlog-checkpoint forms.
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n`; the note appends a
//! blank line and one `— <key name> <base64(key id ‖ signature)>` line per
//! signature. Keys are Ed25519 with the Go `sumdb/note` key id
//! (`SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`) and verifier-key string
//! (`<name>+<hex key id>+<base64(0x01 ‖ public key)>`), so Go tooling and
//! transparency-log witnesses can read Airlock's checkpoints as they are.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;
/// The separator line prefix of a signature: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Notes larger than this are refused before parsing (a checkpoint is ~150 bytes).
const MAX_NOTE: usize = 64 * 1024;
/// DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// What is wrong with a key, note or checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty or holds whitespace or '+'.
    #[error("invalid key name {0:?}: use a non-empty name without spaces or '+'")]
    KeyName(String),
    /// The verifier key string is not `<name>+<hex id>+<base64 key>`.
    #[error("invalid verifier key: {0}")]
    VerifierKey(&'static str),
    /// The private key could not be read.
    #[error("invalid private key: {0}")]
    PrivateKey(&'static str),
    /// Key generation or signing failed inside the crypto library.
    #[error("Ed25519 key operation failed")]
    Crypto,
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The note text does not have the signed-note shape.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    /// The note carries no signature by the expected key.
    #[error("note is not signed by key {0:?}")]
    NotSigned(String),
    /// A signature by the expected key is present but does not verify.
    #[error(
        "signature by key {0:?} does not verify: the note was altered or signed by another key"
    )]
    BadSignature(String),
    /// The note body is not a tlog checkpoint.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::KeyName(name.chars().take(80).collect()));
    }
    Ok(())
}

/// `SHA-256(name ‖ '\n' ‖ 0x01 ‖ public key)[..4]`.
fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// An Ed25519 key that signs notes (checkpoints) under a key name.
pub struct NoteSigner {
    name: String,
    id: [u8; 4],
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.id))
            .finish()
    }
}

impl NoteSigner {
    /// Generates a fresh key from the system's secure random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| NoteError::Crypto)?;
        Self::from_pkcs8_der(name, doc.as_ref())
    }

    /// A key from a 32-byte Ed25519 seed (deterministic: for tests and for
    /// importing keys made elsewhere).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        let mut der = PKCS8_V1_PREFIX.to_vec();
        der.extend_from_slice(seed);
        Self::from_pkcs8_der(name, &der)
    }

    /// A key from PKCS#8 DER (v1 as OpenSSL writes it, or v2 as ring does).
    pub fn from_pkcs8_der(name: &str, der: &[u8]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| NoteError::PrivateKey("not a PKCS#8 Ed25519 key"))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::PrivateKey("public key is not 32 bytes"))?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &public),
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// A key from a PEM `PRIVATE KEY` block.
    pub fn from_pkcs8_pem(name: &str, pem: &str) -> Result<Self, NoteError> {
        Self::from_pkcs8_der(name, &pem_decode(pem)?)
    }

    /// The key as a PEM `PRIVATE KEY` block.
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode(&self.pkcs8)
    }

    /// Reads a PEM key file.
    pub fn load(name: &str, path: &Path) -> Result<Self, NoteError> {
        let pem = std::fs::read_to_string(path).map_err(|source| io_err(path, source))?;
        Self::from_pkcs8_pem(name, &pem)
    }

    /// Writes the key as PEM to `path` with mode 0600, atomically (temp file
    /// then rename), so a crash never leaves a half-written key.
    pub fn save(&self, path: &Path) -> Result<(), NoteError> {
        write_private_file(path, self.to_pkcs8_pem().as_bytes()).map_err(|e| io_err(path, e))
    }

    /// The key name that appears on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier for this key, to publish.
    pub fn verifier(&self) -> NoteVerifier {
        let public: [u8; 32] = self
            .pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("checked at construction");
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            public,
        }
    }

    /// Signs `text` (which must end with a newline) and returns the signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.pair.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(sig.as_ref());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

fn io_err(path: &Path, source: std::io::Error) -> NoteError {
    NoteError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ascii"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(pem: &str) -> Result<Vec<u8>, NoteError> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|s| s.strip_suffix("-----END PRIVATE KEY-----"))
        .ok_or(NoteError::PrivateKey("expected a PEM PRIVATE KEY block"))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(b64)
        .map_err(|_| NoteError::PrivateKey("PEM body is not base64"))
}

/// A published Ed25519 note-verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    public: [u8; 32],
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::VerifierKey("expected <name>+<key id>+<key>"));
        };
        check_key_name(name)?;
        let id: [u8; 4] = decode_fixed_hex(id_hex).ok_or(NoteError::VerifierKey(
            "key id is not 8 lowercase hex digits",
        ))?;
        let raw = B64
            .decode(key_b64)
            .map_err(|_| NoteError::VerifierKey("key is not base64"))?;
        let (&alg, public) = raw
            .split_first()
            .ok_or(NoteError::VerifierKey("key is empty"))?;
        if alg != ALG_ED25519 {
            return Err(NoteError::VerifierKey(
                "only Ed25519 (algorithm 1) keys are supported",
            ));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::VerifierKey("Ed25519 key is not 32 bytes"))?;
        if key_id(name, &public) != id {
            return Err(NoteError::VerifierKey("key id does not match name and key"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            public,
        })
    }

    /// The `<name>+<hex id>+<base64>` string to publish.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.public);
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(raw))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that `note` carries a valid signature by this key and returns
    /// the signed text. Signatures by other keys are ignored, as the spec asks.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let (text, sigs) = split_note(note)?;
        let mut found = false;
        for line in sigs.lines() {
            let (name, blob) = parse_sig_line(line)?;
            if name != self.name || blob.len() < 4 || blob[..4] != self.id {
                continue;
            }
            found = true;
            UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(text.as_bytes(), &blob[4..])
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        }
        if !found {
            return Err(NoteError::NotSigned(self.name.clone()));
        }
        Ok(text)
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

fn decode_fixed_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(s).ok()?.try_into().ok()
}

/// Text rules of the spec: UTF-8 (given), ends in a newline, no control
/// characters other than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("text holds control characters"));
    }
    Ok(())
}

/// Splits a note at its last blank line into (text, signature block).
fn split_note(note: &str) -> Result<(&str, &str), NoteError> {
    if note.len() > MAX_NOTE {
        return Err(NoteError::Malformed("note is too large"));
    }
    let at = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    check_text(text)?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block must end with a newline",
        ));
    }
    Ok((text, sigs))
}

fn parse_sig_line(line: &str) -> Result<(&str, Vec<u8>), NoteError> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
        "signature line must start with an em dash",
    ))?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
        "signature line needs a name and a signature",
    ))?;
    check_key_name(name).map_err(|_| NoteError::Malformed("bad key name on a signature line"))?;
    let blob = B64
        .decode(b64)
        .map_err(|_| NoteError::Malformed("signature is not base64"))?;
    Ok((name, blob))
}

/// A tlog checkpoint: the log's origin, its size and its root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log (unique per log; the key name is a good choice).
    pub origin: String,
    /// Number of entries the root covers.
    pub size: u64,
    /// RFC 6962 root of the first `size` entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Signs the checkpoint, returning the signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.chars().any(char::is_control) {
            return Err(NoteError::Checkpoint("origin must be a non-empty line"));
        }
        signer.sign(&self.body())
    }

    /// Verifies the signature on `note` and parses its checkpoint body.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        Self::parse_body(verifier.open(note)?)
    }

    /// Parses a checkpoint body (extension lines after the root are ignored).
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|s| !s.is_empty());
        let origin = origin.ok_or(NoteError::Checkpoint("missing origin line"))?;
        let size = lines
            .next()
            .ok_or(NoteError::Checkpoint("missing size line"))?;
        let canonical = size == "0" || (!size.starts_with('0') && !size.is_empty());
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| canonical && size.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(NoteError::Checkpoint("size is not a decimal number"))?;
        let root = lines
            .next()
            .ok_or(NoteError::Checkpoint("missing root line"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Checkpoint("root is not a base64 SHA-256 hash"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests;
