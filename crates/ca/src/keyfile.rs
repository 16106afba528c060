//! Writing secret key files: mode 0600 from the first byte, atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::CaError;

/// Writes `pem` to `path` so that no other user can ever read it and no
/// reader ever sees a partial file: a temporary file in the same directory is
/// created with `O_EXCL` and mode 0600 (so the mode holds before any byte is
/// written), filled, synced, then renamed over `path`.
pub fn write_key_file(path: &Path, pem: &str) -> Result<(), CaError> {
    let io = |source| CaError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = temp_path(path)?;
    let result = write_new(&tmp, pem.as_bytes()).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        // Best effort: the temp file holds a secret, do not leave it behind.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)?;
    sync_parent(path).map_err(io)
}

fn write_new(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = create_private(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// `<dir>/.<name>.<random>.tmp`: same directory, so the rename is atomic.
fn temp_path(path: &Path) -> Result<PathBuf, CaError> {
    let name = path.file_name().ok_or_else(|| CaError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    let mut nonce = [0u8; 8];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| CaError::Crypto("random temp name"))?;
    let tmp_name = format!(".{}.{}.tmp", name.to_string_lossy(), hex::encode(nonce));
    Ok(path.with_file_name(tmp_name))
}

/// Makes the rename durable across a crash.
#[cfg(unix)]
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
