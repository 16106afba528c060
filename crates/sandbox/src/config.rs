//! What the caller (the control plane) tells a node: where it keeps its
//! files, and what each sandbox should look like.

use std::path::PathBuf;
use std::str::FromStr;

use airlock_core::{IsolationClass, SandboxId, parse_size};

use crate::error::SandboxError;

/// Where a node keeps its files and which init it puts into sandboxes.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Persistent state (images), e.g. `<data-dir>/node`.
    pub state_dir: PathBuf,
    /// Runtime state: per-sandbox directories, runtime roots. Cleared by a
    /// reboot, which is right: no sandbox survives one. Keep it short
    /// (e.g. `/run/airlock/<cluster-short-id>`): unix socket paths under it
    /// must stay below 108 bytes.
    pub run_dir: PathBuf,
    /// The static `airlock-init` binary on the host; bind-mounted read-only
    /// into every sandbox at [`crate::spec::INIT_PATH`].
    pub init_binary: PathBuf,
    /// Directory holding the `runc` and `runsc` binaries; `None` searches
    /// `PATH` (and /usr/sbin, /usr/bin).
    pub runtime_dir: Option<PathBuf>,
}

/// Which backend to use: one by name, or the strongest usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// The strongest usable backend (microvm > gvisor > runc).
    Auto,
    /// Exactly this backend, or an error saying why it is unusable.
    Class(IsolationClass),
}

impl FromStr for BackendChoice {
    type Err = SandboxError;
    fn from_str(s: &str) -> Result<Self, SandboxError> {
        match s {
            "auto" => Ok(Self::Auto),
            other => other
                .parse()
                .map(Self::Class)
                .map_err(|_| SandboxError::UnknownBackend(other.chars().take(40).collect())),
        }
    }
}

/// Resource limits of one sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPUs in thousandths (2000 = two CPUs), enforced as a CFS quota.
    pub millicpus: u32,
    /// Memory (and memory+swap: no swap) in bytes.
    pub memory: u64,
    /// Maximum number of processes and threads.
    pub pids: u32,
    /// Size of the writable layer in bytes.
    pub disk: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            millicpus: 2000,
            memory: 2 << 30,
            pids: 512,
            disk: 4 << 30,
        }
    }
}

impl Limits {
    /// Limits from CLI-style strings (`cpus` like `1.5`, sizes like `512M`);
    /// `None` keeps the default.
    pub fn parse(
        cpus: Option<&str>,
        memory: Option<&str>,
        disk: Option<&str>,
    ) -> Result<Self, SandboxError> {
        let mut l = Self::default();
        if let Some(c) = cpus {
            l.millicpus = parse_cpus(c)?;
        }
        if let Some(m) = memory {
            l.memory = parse_size(m).map_err(|e| SandboxError::BadLimit(e.to_string()))?;
        }
        if let Some(d) = disk {
            l.disk = parse_size(d).map_err(|e| SandboxError::BadLimit(e.to_string()))?;
        }
        l.check()?;
        Ok(l)
    }

    /// Refuses limits too small for a sandbox to start at all.
    pub fn check(&self) -> Result<(), SandboxError> {
        let bad = |what: &str| Err(SandboxError::BadLimit(what.to_string()));
        if self.millicpus < 10 {
            return bad("cpus must be at least 0.01");
        }
        if self.memory < 16 << 20 {
            return bad("memory must be at least 16M");
        }
        if self.pids < 8 {
            return bad("pids must be at least 8");
        }
        if self.disk < 1 << 20 {
            return bad("disk must be at least 1M");
        }
        Ok(())
    }
}

/// Parses `2`, `0.5`, `1.25` into thousandths of a CPU.
fn parse_cpus(s: &str) -> Result<u32, SandboxError> {
    let bad = || {
        SandboxError::BadLimit(format!(
            "invalid cpus {:?}: write a number like 2 or 0.5",
            s.chars().take(20).collect::<String>()
        ))
    };
    let (whole, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if frac.len() > 3 || (whole.is_empty() && frac.is_empty()) {
        return Err(bad());
    }
    let w: u32 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let f: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().map_err(|_| bad())?
    };
    w.checked_mul(1000)
        .and_then(|m| m.checked_add(f))
        .filter(|&m| m > 0 && m <= 1_000_000)
        .ok_or_else(bad)
}

/// What one sandbox should be.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Cluster-unique id; names its directories and runtime container.
    pub id: SandboxId,
    /// The backend, already resolved (see [`crate::Node::resolve_backend`]).
    pub backend: IsolationClass,
    /// Image name (`host` is always there).
    pub image: String,
    /// Resource limits.
    pub limits: Limits,
    /// Extra environment for init and the workload (proxy settings etc.).
    /// `AIRLOCK_*` names are reserved and refused.
    pub env: Vec<(String, String)>,
    /// Hostname inside the sandbox (a DNS label).
    pub hostname: String,
    /// The container's process; `None` runs `airlock-init`. Tests and
    /// benchmarks set a plain command to exercise the bundle without init.
    pub command: Option<Vec<String>>,
}

impl SandboxSpec {
    /// A spec with default limits, the `host` image and init as process.
    pub fn new(id: SandboxId, backend: IsolationClass) -> Self {
        Self {
            hostname: id.as_str().to_string(),
            id,
            backend,
            image: crate::image::HOST_IMAGE.to_string(),
            limits: Limits::default(),
            env: Vec::new(),
            command: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus() {
        for (s, want) in [("2", 2000), ("0.5", 500), ("1.25", 1250), (".1", 100)] {
            assert_eq!(parse_cpus(s).unwrap(), want, "{s}");
        }
        for bad in ["", "0", "x", "1.2345", "-1", "2000"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_parse_and_refuse() {
        let l = Limits::parse(Some("1"), Some("512M"), Some("1G")).unwrap();
        assert_eq!((l.millicpus, l.memory, l.disk), (1000, 512 << 20, 1 << 30));
        assert!(Limits::parse(None, Some("lots"), None).is_err());
        assert!(Limits::parse(None, Some("1M"), None).is_err());
        assert_eq!(Limits::parse(None, None, None).unwrap(), Limits::default());
    }

    #[test]
    fn backend_choice() {
        assert_eq!(
            "auto".parse::<BackendChoice>().unwrap(),
            BackendChoice::Auto
        );
        assert_eq!(
            "gvisor".parse::<BackendChoice>().unwrap(),
            BackendChoice::Class(IsolationClass::Gvisor)
        );
        assert!("docker".parse::<BackendChoice>().is_err());
    }
}
