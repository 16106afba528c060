//! Where init finds and puts things. Paths default to the sandbox layout the
//! runtime sets up; `AIRLOCK_*` overrides exist so tests can run the real
//! binary as an ordinary child process in a temporary directory.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Environment variable carrying the channel token (removed at start).
pub const TOKEN_ENV: &str = "AIRLOCK_INIT_TOKEN";
/// Environment variable naming the file of seccomp programs to install
/// before anything else (see `airlock_sys::seccomp`); set, init installs
/// them or exits.
pub const SECCOMP_ENV: &str = "AIRLOCK_SECCOMP";
/// Environment variable carrying the sandbox id.
pub const SANDBOX_ID_ENV: &str = "AIRLOCK_SANDBOX_ID";

/// The unprivileged user the agent runs as.
#[derive(Debug, Clone)]
pub struct AgentUser {
    /// uid (1000).
    pub uid: u32,
    /// gid (1000).
    pub gid: u32,
    /// `HOME` (/home/agent).
    pub home: PathBuf,
    /// Default working directory (/workspace).
    pub workspace: PathBuf,
}

/// init's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sandbox id, as the host named it.
    pub sandbox_id: String,
    /// Directory shared with the host: `ctl.sock` and `proxy.sock`.
    pub host_dir: PathBuf,
    /// init's own runtime directory: `svc.sock` for the in-sandbox CLI.
    pub run_dir: PathBuf,
    /// Where the SPIFFE Workload API socket is served.
    pub spiffe_dir: PathBuf,
    /// Service logs.
    pub log_dir: PathBuf,
    /// The proxy bridge's listening address.
    pub proxy_listen: SocketAddr,
    /// The agent user.
    pub agent: AgentUser,
    /// init's environment minus `AIRLOCK_*`: the base of every child's.
    pub base_env: Vec<(String, String)>,
}

impl Config {
    /// Reads the configuration from the environment (`get` is `std::env::var`
    /// in production, a map in tests).
    pub fn from_env(get: impl Fn(&str) -> Option<String>, environ: &[(String, String)]) -> Self {
        let path = |key: &str, default: &str| PathBuf::from(get(key).unwrap_or(default.into()));
        let id = |key: &str, default: u32| get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
        Self {
            sandbox_id: get(SANDBOX_ID_ENV).unwrap_or_default(),
            host_dir: path("AIRLOCK_HOST_DIR", "/run/airlock-host"),
            run_dir: path("AIRLOCK_RUN_DIR", "/run/airlock"),
            spiffe_dir: path("AIRLOCK_SPIFFE_DIR", "/run/spiffe"),
            log_dir: path("AIRLOCK_LOG_DIR", "/var/log/airlock"),
            proxy_listen: get("AIRLOCK_PROXY_LISTEN")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3128))),
            agent: AgentUser {
                uid: id("AIRLOCK_AGENT_UID", 1000),
                gid: id("AIRLOCK_AGENT_GID", 1000),
                home: path("AIRLOCK_AGENT_HOME", "/home/agent"),
                workspace: path("AIRLOCK_WORKSPACE", "/workspace"),
            },
            base_env: environ
                .iter()
                .filter(|(k, _)| !k.starts_with("AIRLOCK_"))
                .cloned()
                .collect(),
        }
    }

    /// The host channel socket.
    pub fn ctl_sock(&self) -> PathBuf {
        self.host_dir.join("ctl.sock")
    }

    /// The host's per-sandbox proxy endpoint.
    pub fn proxy_sock(&self) -> PathBuf {
        self.host_dir.join("proxy.sock")
    }

    /// The in-sandbox service socket.
    pub fn svc_sock(&self) -> PathBuf {
        self.run_dir.join("svc.sock")
    }

    /// Where init puts the `airlock` command (a symlink to itself); exec'd
    /// processes find it first in their PATH.
    pub fn bin_dir(&self) -> PathBuf {
        self.run_dir.join("bin")
    }

    /// The Workload API socket.
    pub fn workload_sock(&self) -> PathBuf {
        self.spiffe_dir.join("workload.sock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_sandbox_layout() {
        let environ = vec![
            ("PATH".to_string(), "/usr/bin".to_string()),
            ("AIRLOCK_SANDBOX_ID".to_string(), "sb-1".to_string()),
        ];
        let c = Config::from_env(
            |k| environ.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            &environ,
        );
        assert_eq!(c.sandbox_id, "sb-1");
        assert_eq!(c.ctl_sock(), PathBuf::from("/run/airlock-host/ctl.sock"));
        assert_eq!(
            c.workload_sock(),
            PathBuf::from("/run/spiffe/workload.sock")
        );
        assert_eq!(c.proxy_listen.to_string(), "127.0.0.1:3128");
        assert_eq!((c.agent.uid, c.agent.gid), (1000, 1000));
        assert_eq!(c.base_env, vec![("PATH".into(), "/usr/bin".into())]);
    }
}
