//! Secrets at rest: AES-256-GCM with a key in the data directory
//! (`ca/secrets.key`, 0600). The secret's name is the associated data, so a
//! ciphertext moved to another name does not decrypt. Plaintext exists only
//! in memory, in the proxy's catalog, and is never returned by any API,
//! logged, or sent into a sandbox.

use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Encrypts and decrypts secrets with the data directory's key.
pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

/// Secret-box failures.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file is unreadable or malformed.
    #[error("secrets key {0}")]
    Key(String),
    /// Encryption or decryption failed (wrong key, or the row was edited).
    #[error("secret {0:?} cannot be decrypted (edited, or encrypted with another key)")]
    Decrypt(String),
}

impl SecretBox {
    /// Loads `path`, creating a fresh random key (mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| SecretError::Key("cannot be generated".into()))?;
                write_private(path, &key)
                    .map_err(|e| SecretError::Key(format!("{}: {e}", path.display())))?;
                key.to_vec()
            }
            Err(e) => return Err(SecretError::Key(format!("{}: {e}", path.display()))),
        };
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| SecretError::Key(format!("{} is not a 32-byte key", path.display())))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts `plaintext` for `name`: (nonce, ciphertext with tag).
    pub fn seal(&self, name: &str, plaintext: &str) -> Result<(Vec<u8>, Vec<u8>), SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| SecretError::Decrypt(name.into()))?;
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut data,
            )
            .map_err(|_| SecretError::Decrypt(name.into()))?;
        Ok((nonce.to_vec(), data))
    }

    /// Decrypts what [`Self::seal`] made for `name`.
    pub fn open(&self, name: &str, nonce: &[u8], ciphertext: &[u8]) -> Result<String, SecretError> {
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SecretError::Decrypt(name.into()))?;
        let mut data = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut data,
            )
            .map_err(|_| SecretError::Decrypt(name.into()))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Decrypt(name.into()))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_name_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let b = SecretBox::load_or_create(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (nonce, ct) = b.seal("openai", "sk-real").unwrap();
        assert!(
            !ct.windows(7).any(|w| w == b"sk-real"),
            "ciphertext hides the value"
        );
        assert_eq!(b.open("openai", &nonce, &ct).unwrap(), "sk-real");
        assert!(b.open("github", &nonce, &ct).is_err(), "bound to its name");
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(
            again.open("openai", &nonce, &ct).unwrap(),
            "sk-real",
            "same key reloaded"
        );
    }
}
