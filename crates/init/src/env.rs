//! The environment and identity an exec'd process gets. Pure functions, so
//! the rules are unit-tested without spawning anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_sys::process::Credentials;
use airlock_wire::{ExecRequest, User};

use crate::config::Config;

/// Used when init's own environment has no PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The proxy bridge as clients see it.
const PROXY_URL: &str = "http://127.0.0.1:3128";

/// The full environment for `req`: init's (minus `AIRLOCK_*`), then the
/// user's login variables, the Workload API socket, proxy defaults, `TERM`
/// for a PTY, and last the request's own variables, which win.
pub fn build(config: &Config, req: &ExecRequest) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = config.base_env.iter().cloned().collect();
    let (user, home) = match req.user {
        User::Agent => ("agent", config.agent.home.display().to_string()),
        User::Root => ("root", "/root".to_string()),
    };
    let path = env.get("PATH").map_or(DEFAULT_PATH, String::as_str);
    let path = format!("{}:{path}", config.bin_dir().display());
    env.insert("PATH".into(), path);
    env.insert(
        "AIRLOCK_SVC_SOCKET".into(),
        config.svc_sock().display().to_string(),
    );
    env.insert("HOME".into(), home);
    env.insert("USER".into(), user.into());
    env.insert("LOGNAME".into(), user.into());
    env.insert(
        "SPIFFE_ENDPOINT_SOCKET".into(),
        format!("unix://{}", config.workload_sock().display()),
    );
    for key in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
        env.entry(key.into()).or_insert_with(|| PROXY_URL.into());
    }
    env.entry("NO_PROXY".into())
        .or_insert_with(|| "localhost,127.0.0.1".into());
    if let Some(tty) = &req.tty {
        env.insert("TERM".into(), tty.term.clone());
    }
    env.extend(req.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The working directory: the request's, else the user's default.
pub fn cwd(config: &Config, req: &ExecRequest) -> PathBuf {
    match (&req.cwd, req.user) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, User::Agent) => config.agent.workspace.clone(),
        (None, User::Root) if Path::new("/root").is_dir() => PathBuf::from("/root"),
        (None, User::Root) => PathBuf::from("/"),
    }
}

/// Who the process becomes: the agent with nothing, or root as init is.
pub fn credentials(config: &Config, user: User) -> Option<Credentials> {
    match user {
        User::Agent => Some(Credentials {
            uid: config.agent.uid,
            gid: config.agent.gid,
            drop_all_caps: true,
        }),
        User::Root => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_wire::Tty;

    fn config() -> Config {
        let environ = vec![
            ("PATH".to_string(), "/bin".to_string()),
            (
                "HTTPS_PROXY".to_string(),
                "http://set-by-runtime:1".to_string(),
            ),
            ("AIRLOCK_INIT_TOKEN".to_string(), "secret".to_string()),
        ];
        Config::from_env(|_| None, &environ)
    }

    #[test]
    fn agent_environment() {
        let mut req = ExecRequest::new(["id"]);
        req.env.insert("FOO".into(), "bar".into());
        req.env.insert("HOME".into(), "/custom".into());
        let env = build(&config(), &req);
        assert_eq!(
            env["PATH"], "/run/airlock/bin:/bin",
            "the airlock command first"
        );
        assert_eq!(env["AIRLOCK_SVC_SOCKET"], "/run/airlock/svc.sock");
        assert_eq!(env["USER"], "agent");
        assert_eq!(env["HOME"], "/custom", "the request wins");
        assert_eq!(env["FOO"], "bar");
        assert_eq!(
            env["SPIFFE_ENDPOINT_SOCKET"],
            "unix:///run/spiffe/workload.sock"
        );
        assert_eq!(
            env["HTTPS_PROXY"], "http://set-by-runtime:1",
            "runtime's kept"
        );
        assert_eq!(env["http_proxy"], "http://127.0.0.1:3128");
        assert!(
            !env.contains_key("AIRLOCK_INIT_TOKEN"),
            "the token never leaks"
        );
        assert!(!env.contains_key("TERM"));
    }

    #[test]
    fn root_with_a_tty() {
        let mut req = ExecRequest::new(["sh"]);
        req.user = User::Root;
        req.tty = Some(Tty {
            rows: 1,
            cols: 2,
            term: "xterm".into(),
        });
        let c = config();
        let env = build(&c, &req);
        assert_eq!(
            (env["USER"].as_str(), env["HOME"].as_str()),
            ("root", "/root")
        );
        assert_eq!(env["TERM"], "xterm");
        assert_eq!(credentials(&c, User::Root), None);
        let agent = credentials(&c, User::Agent).unwrap();
        assert!(agent.drop_all_caps && agent.uid == 1000);
    }

    #[test]
    fn working_directory() {
        let c = config();
        assert_eq!(
            cwd(&c, &ExecRequest::new(["x"])),
            PathBuf::from("/workspace")
        );
        let mut req = ExecRequest::new(["x"]);
        req.cwd = Some("/tmp".into());
        assert_eq!(cwd(&c, &req), PathBuf::from("/tmp"));
    }
}
