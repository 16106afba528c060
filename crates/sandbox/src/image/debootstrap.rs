//! Debian images built with `debootstrap --variant=minbase`.
//!
//! The inputs that decide the result (suite, mirror, sorted packages,
//! debootstrap version, architecture) are recorded in `image.json`; a build
//! whose inputs match an existing image returns it without rebuilding.
//! Downloaded .debs are kept in a cache directory shared by builds.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tracing::info;

use super::{FORMAT, ImageInfo, digest, host_arch, now_rfc3339, write_info};
use crate::error::{Result, SandboxError};

/// The default suite: the host's (Debian 12).
pub const DEFAULT_SUITE: &str = "bookworm";

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// Image name.
    pub name: String,
    /// Extra packages (`git`, `python3`, ...).
    pub packages: Vec<String>,
    /// Suite; `None` is [`DEFAULT_SUITE`].
    pub suite: Option<String>,
    /// Mirror URL; `None` takes the host's apt sources.
    pub mirror: Option<String>,
}

/// One progress report: a percentage (rough, phase-based) and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProgress {
    /// 0..=100.
    pub percent: u8,
    /// What debootstrap said, without its `I: ` prefix.
    pub line: String,
}

/// Builds (or returns the cached) image in `dir`.
pub async fn build(
    dir: &Path,
    req: BuildRequest,
    mut progress: impl FnMut(BuildProgress) + Send + 'static,
) -> Result<ImageInfo> {
    let inputs = Inputs::resolve(&req).await?;
    if let Some(info) = cached(dir, &inputs) {
        progress(BuildProgress {
            percent: 100,
            line: "cached: inputs unchanged".into(),
        });
        return Ok(info);
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let tmp = parent.join(format!(".{}.building", req.name));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("rootfs"))
        .map_err(SandboxError::io(format!("creating {}", tmp.display())))?;
    let cache = parent.join(".debcache");
    std::fs::create_dir_all(&cache)
        .map_err(SandboxError::io(format!("creating {}", cache.display())))?;
    let result = run(&inputs, &tmp.join("rootfs"), &cache, &mut progress).await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let info = finish(&req.name, &tmp, inputs).await?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(SandboxError::io(format!("renaming {}", tmp.display())))?;
    progress(BuildProgress {
        percent: 100,
        line: format!("image {} ready", req.name),
    });
    info!(image = %req.name, digest = %info.digest, "built image");
    Ok(info)
}

/// The resolved inputs of a build.
#[derive(Debug, Clone)]
struct Inputs {
    suite: String,
    mirror: String,
    packages: Vec<String>,
    version: String,
    arch: String,
}

impl Inputs {
    async fn resolve(req: &BuildRequest) -> Result<Self> {
        let mut packages = req.packages.clone();
        packages.sort();
        packages.dedup();
        if let Some(bad) = packages.iter().find(|p| !valid_package(p)) {
            return Err(SandboxError::ImageBuild(format!(
                "invalid package name {bad:?}: use Debian package names like git or python3"
            )));
        }
        let mirror = match &req.mirror {
            Some(m) => m.clone(),
            None => host_mirror().ok_or_else(|| {
                SandboxError::ImageBuild("no Debian mirror in /etc/apt/sources*: pass one".into())
            })?,
        };
        Ok(Self {
            suite: req
                .suite
                .clone()
                .unwrap_or_else(|| DEFAULT_SUITE.to_string()),
            mirror,
            packages,
            version: debootstrap_version().await?,
            arch: host_arch(),
        })
    }
}

fn cached(dir: &Path, i: &Inputs) -> Option<ImageInfo> {
    let raw = std::fs::read(dir.join("image.json")).ok()?;
    let info: ImageInfo = serde_json::from_slice(&raw).ok()?;
    let same = info.format == FORMAT
        && info.suite.as_deref() == Some(&i.suite)
        && info.mirror.as_deref() == Some(&i.mirror)
        && info.packages == i.packages
        && info.debootstrap_version.as_deref() == Some(&i.version)
        && info.arch == i.arch;
    same.then_some(info)
}

async fn run(
    i: &Inputs,
    root: &Path,
    cache: &Path,
    progress: &mut (impl FnMut(BuildProgress) + Send),
) -> Result<()> {
    let mut cmd = Command::new("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--cache-dir={}", cache.display()))
        .arg(format!("--arch={}", i.arch));
    if !i.packages.is_empty() {
        cmd.arg(format!("--include={}", i.packages.join(",")));
    }
    cmd.arg(&i.suite)
        .arg(root)
        .arg(&i.mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        SandboxError::ImageBuild(format!("cannot run debootstrap ({e}): install it"))
    })?;
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_all(s)));
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut tracker = Tracker::default();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(p) = tracker.line(&line) {
            progress(p);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| SandboxError::ImageBuild(e.to_string()))?;
    let err = match stderr {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    if status.success() {
        return Ok(());
    }
    let last: Vec<&str> = err.lines().rev().take(3).collect();
    Err(SandboxError::ImageBuild(format!(
        "debootstrap exited with {status}: {}",
        last.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )))
}

async fn read_all(s: tokio::process::ChildStderr) -> String {
    let mut out = String::new();
    let mut lines = BufReader::new(s).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Adds what every Airlock image has (agent user, mount points, resolver
/// that answers nothing), drops the .deb archives, and records the inputs.
async fn finish(name: &str, tmp: &Path, i: Inputs) -> Result<ImageInfo> {
    let root = tmp.join("rootfs");
    let r = root.clone();
    let (digest, size) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        airlockify(&r)?;
        digest::tree(&r)
    })
    .await
    .map_err(|e| SandboxError::ImageBuild(e.to_string()))?
    .map_err(SandboxError::io(format!("finishing {}", root.display())))?;
    let info = ImageInfo {
        name: name.to_string(),
        kind: "debootstrap".into(),
        format: FORMAT,
        suite: Some(i.suite),
        mirror: Some(i.mirror),
        packages: i.packages,
        debootstrap_version: Some(i.version),
        arch: i.arch,
        created: now_rfc3339(),
        digest,
        size,
    };
    write_info(tmp, &info)?;
    Ok(info)
}

fn airlockify(root: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let append = |file: &str, line: &str, key: &str| -> std::io::Result<()> {
        let p = root.join(file);
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with(key)) {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&p)?
                .write_all(line.as_bytes())?;
        }
        Ok(())
    };
    append(
        "etc/passwd",
        "agent:x:1000:1000:Airlock agent:/home/agent:/bin/bash\n",
        "agent:",
    )?;
    append("etc/group", "agent:x:1000:\n", "agent:")?;
    append("etc/shadow", "agent:!:19000:0:99999:7:::\n", "agent:")?;
    std::fs::write(root.join("etc/resolv.conf"), super::host::RESOLV)?;
    std::fs::write(root.join("etc/hostname"), "sandbox\n")?;
    for d in ["home/agent", "workspace", "run/airlock-host"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    for d in ["home/agent", "workspace"] {
        std::os::unix::fs::chown(root.join(d), Some(1000), Some(1000))?;
    }
    super::add_airlock_dirs(root)?;
    let archives = root.join("var/cache/apt/archives");
    if let Ok(entries) = std::fs::read_dir(&archives) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "deb") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    Ok(())
}

fn valid_package(p: &str) -> bool {
    p.len() >= 2
        && p.len() <= 100
        && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// The first Debian (non-security, non-updates) mirror in the host's apt
/// sources, one-line or deb822 form.
pub fn host_mirror() -> Option<String> {
    let mut files: Vec<PathBuf> = vec!["/etc/apt/sources.list".into()];
    if let Ok(d) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = d.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "list" || x == "sources"))
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|text| mirror_in(&text))
}

/// Finds a plain Debian archive URL in sources text.
fn mirror_in(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .map(|w| w.trim_end_matches('/'))
        .find(|w| (w.starts_with("http://") || w.starts_with("https://")) && w.ends_with("/debian"))
        .map(String::from)
}

async fn debootstrap_version() -> Result<String> {
    let out = Command::new("debootstrap")
        .arg("--version")
        .output()
        .await
        .map_err(|e| {
            SandboxError::ImageBuild(format!("cannot run debootstrap ({e}): install it"))
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Turns debootstrap's `I:` lines into a rough percentage by phase: the
/// number of packages is not known up front, so within a phase each line
/// moves a fraction of the way towards the next phase.
#[derive(Debug, Default)]
struct Tracker {
    percent: f32,
}

impl Tracker {
    fn line(&mut self, line: &str) -> Option<BuildProgress> {
        let msg = line
            .strip_prefix("I: ")
            .or_else(|| line.strip_prefix("W: "))?;
        let (floor, ceil) = match msg.split_whitespace().next().unwrap_or("") {
            "Retrieving" | "Validating" | "Checking" | "Resolving" | "Found" => (2.0, 40.0),
            "Extracting" => (40.0, 55.0),
            "Installing" | "Unpacking" => (55.0, 75.0),
            "Configuring" => (75.0, 97.0),
            "Base" => (98.0, 98.0),
            _ => (self.percent, self.percent),
        };
        self.percent = self.percent.max(floor);
        self.percent += (ceil - self.percent).max(0.0) * 0.03;
        Some(BuildProgress {
            percent: self.percent.min(99.0) as u8,
            line: msg.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rises_by_phase() {
        let mut t = Tracker::default();
        let mut last = 0;
        for l in [
            "I: Retrieving InRelease",
            "I: Retrieving libc6 2.36",
            "I: Extracting libc6...",
            "I: Unpacking required packages...",
            "I: Configuring libc6...",
            "I: Base system installed successfully.",
        ] {
            let p = t.line(l).unwrap();
            assert!(p.percent >= last, "{l}: {} < {last}", p.percent);
            last = p.percent;
        }
        assert!(last >= 97);
        assert!(t.line("random noise").is_none());
    }

    #[test]
    fn mirror_from_sources() {
        let deb822 = "Types: deb\n# http://snapshot.example/x\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let list = "deb http://ftp.de.debian.org/debian/ bookworm main\n";
        assert_eq!(
            mirror_in(list).as_deref(),
            Some("http://ftp.de.debian.org/debian")
        );
        assert_eq!(
            mirror_in("deb http://x/debian-security bookworm-security main"),
            None
        );
    }

    #[test]
    fn package_names() {
        assert!(valid_package("python3") && valid_package("g++") && valid_package("libc6-dev"));
        assert!(!valid_package("a;rm") && !valid_package("") && !valid_package("Git"));
    }
}
