//! Running the real clients (curl, git, Python SDKs) against the world.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::world::World;

/// A finished command.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Proxy variables of the test runner's own environment must not leak in.
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Runs `program` with `args` and extra `env`, without the runner's proxy settings.
pub async fn run(program: &str, args: &[&str], env: &[(&str, String)], dir: Option<&Path>) -> Out {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (scripts/setup.sh --test installs it): {e}")
        });
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A Python helper script of this test suite.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/proxy/py")
        .join(name)
}

impl World {
    /// curl through the proxy, trusting the proxy CA: `-sS -x <proxy> --cacert <ca>` + args.
    pub async fn curl(&self, args: &[&str]) -> Out {
        let proxy = self.proxy_url();
        let ca = self.ca_file.to_string_lossy().into_owned();
        let mut all = vec!["-sS", "-x", proxy.as_str(), "--cacert", ca.as_str()];
        all.extend_from_slice(args);
        run("curl", &all, &[], None).await
    }

    /// The environment a sandbox gets for the SDKs: base URLs on the proxy,
    /// dummy keys, the proxy CA, and direct access to the proxy itself.
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "OPENAI_BASE_URL",
                format!("{}/inference/openai/v1", self.proxy_url()),
            ),
            (
                "ANTHROPIC_BASE_URL",
                format!("{}/inference/anthropic", self.proxy_url()),
            ),
            ("OPENAI_API_KEY", "dummy-key-inside-the-sandbox".into()),
            ("ANTHROPIC_API_KEY", "dummy-key-inside-the-sandbox".into()),
            ("HTTP_PROXY", self.proxy_url()),
            ("HTTPS_PROXY", self.proxy_url()),
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("SSL_CERT_FILE", self.ca_file.to_string_lossy().into_owned()),
        ]
    }

    /// Runs a Python SDK script in `mode`, returning its JSON output.
    pub async fn python(
        &self,
        name: &str,
        mode: &str,
        env: Vec<(&'static str, String)>,
    ) -> serde_json::Value {
        let path = script(name);
        let out = run("python3", &[path.to_str().unwrap(), mode], &env, None).await;
        assert_eq!(out.code, 0, "{name} {mode} failed: {out:#?}");
        serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{name} printed no JSON ({e}): {out:#?}"))
    }
}
