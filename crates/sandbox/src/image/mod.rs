//! Read-only images that sandboxes start from.
//!
//! An image is a directory `<state_dir>/images/<name>/rootfs` with canonical
//! ownership (root is uid 0, the agent 1000), plus `image.json` recording how
//! it was made. Sandboxes never write to it: each gets an overlay with a
//! fresh upper layer (see [`crate::rootfs`]).
//!
//! - `host` (always present, no download): a small generated root with a
//!   clean /etc; the host's /usr is bind-mounted read-only at start.
//! - Debian images built with debootstrap ([`ImageStore::build`]).

mod debootstrap;
mod digest;
mod host;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use debootstrap::{BuildProgress, BuildRequest};

use crate::error::{Result, SandboxError};
use crate::spec::ImageMounts;

/// The default image's name.
pub const HOST_IMAGE: &str = "host";
/// Version of the image layout; an image of another version is rebuilt.
/// 2: `/.airlock/bin/airlock` (the in-sandbox CLI) added.
const FORMAT: u32 = 2;

/// How an image was made (`image.json`): enough to rebuild it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Image name.
    pub name: String,
    /// `host` or `debootstrap`.
    pub kind: String,
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// Debian suite (debootstrap images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Mirror used (debootstrap images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Extra packages, sorted and deduplicated.
    #[serde(default)]
    pub packages: Vec<String>,
    /// `debootstrap --version` (debootstrap images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debootstrap_version: Option<String>,
    /// Host architecture (dpkg name, e.g. `amd64`).
    pub arch: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// SHA-256 over the tree (paths, modes, owners, contents, link targets).
    pub digest: String,
    /// Bytes of file content.
    pub size: u64,
}

/// An image ready to start sandboxes from.
#[derive(Debug, Clone)]
pub struct Image {
    /// What `image.json` says.
    pub info: ImageInfo,
    /// Its root directory.
    pub root: PathBuf,
}

impl Image {
    /// Binds the image needs at start (the host's /usr for `host`).
    pub fn mounts(&self) -> ImageMounts {
        let ro_binds = if self.info.kind == "host" {
            vec![(PathBuf::from("/usr"), "/usr".to_string())]
        } else {
            Vec::new()
        };
        ImageMounts { ro_binds }
    }
}

/// The images of one node.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    /// A store in `dir` (created on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn image_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Makes sure the `host` image exists and is of the current format.
    ///
    /// `in_use`: sandboxes still run on the existing one (after a server
    /// restart). An overlay's lower layer must not change under it, so an
    /// outdated image is then kept until the next start with none running.
    pub async fn ensure_host(&self, in_use: bool) -> Result<Image> {
        if let Ok(img) = self.get(HOST_IMAGE) {
            if img.info.format == FORMAT {
                return Ok(img);
            }
            if in_use {
                warn!(
                    "the host image is outdated but in use; it is rebuilt at a start with no sandbox"
                );
                return Ok(img);
            }
        }
        let dir = self.image_dir(HOST_IMAGE);
        let info = tokio::task::spawn_blocking(move || host::build(&dir))
            .await
            .map_err(|e| SandboxError::ImageBuild(e.to_string()))??;
        info!(digest = %info.digest, "built the host image");
        self.get(HOST_IMAGE)
    }

    /// An image by name.
    pub fn get(&self, name: &str) -> Result<Image> {
        check_name(name)?;
        let dir = self.image_dir(name);
        let raw = fs::read(dir.join("image.json"))
            .map_err(|_| SandboxError::UnknownImage(name.to_string()))?;
        let info: ImageInfo = serde_json::from_slice(&raw)
            .map_err(|_| SandboxError::UnknownImage(name.to_string()))?;
        Ok(Image {
            info,
            root: dir.join("rootfs"),
        })
    }

    /// Every complete image, by name.
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(SandboxError::io(format!("reading {}", self.dir.display()))(
                    e,
                ));
            }
        };
        let mut out: Vec<ImageInfo> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| self.get(&n).ok().map(|i| i.info))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes an image; refused while `users` sandboxes use it, and for
    /// `host`, which the node needs.
    pub fn remove(&self, name: &str, users: usize) -> Result<()> {
        self.get(name)?;
        if users > 0 || name == HOST_IMAGE {
            return Err(SandboxError::ImageInUse {
                image: name.to_string(),
                users: users.max(1),
            });
        }
        let dir = self.image_dir(name);
        fs::remove_dir_all(&dir).map_err(SandboxError::io(format!("removing {}", dir.display())))
    }

    /// Builds a Debian image with debootstrap, reporting progress. An image
    /// with the same name and inputs is not rebuilt (returns its info).
    pub async fn build(
        &self,
        req: BuildRequest,
        progress: impl FnMut(BuildProgress) + Send + 'static,
    ) -> Result<ImageInfo> {
        check_name(&req.name)?;
        if req.name == HOST_IMAGE {
            return Err(SandboxError::BadImageName(req.name));
        }
        let dir = self.image_dir(&req.name);
        debootstrap::build(&dir, req, progress).await
    }
}

/// Image names are DNS-label shaped, so they are safe as directory names.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(SandboxError::BadImageName(name.chars().take(64).collect()))
    }
}

/// Writes `image.json` last, atomically: its presence marks a complete image.
fn write_info(dir: &Path, info: &ImageInfo) -> Result<()> {
    let tmp = dir.join("image.json.tmp");
    let json =
        serde_json::to_vec_pretty(info).map_err(|e| SandboxError::ImageBuild(e.to_string()))?;
    fs::write(&tmp, json).map_err(SandboxError::io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, dir.join("image.json"))
        .map_err(SandboxError::io(format!("renaming {}", tmp.display())))
}

/// What every image has for Airlock: the mount point of init's binary (a
/// bind mount needs a file to cover) and the in-sandbox CLI, which is init's
/// multi-call binary under the name `airlock` (`/.airlock/bin` is on PATH).
fn add_airlock_dirs(root: &Path) -> std::io::Result<()> {
    fs::create_dir_all(root.join(".airlock/bin"))?;
    fs::write(root.join(".airlock/airlock-init"), b"")?;
    let link = root.join(".airlock/bin/airlock");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink("../airlock-init", link)
}

/// The host's dpkg architecture name.
fn host_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
    .to_string()
}

/// Now, as RFC 3339.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["host", "py3", "dev-tools"] {
            check_name(good).unwrap();
        }
        for bad in ["", "../x", "A", "-x", "a/b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
