//! One sandbox-like layout in a temp dir, a listening channel, and the real
//! init connected to it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use airlock_core::SandboxId;
use airlock_sandbox::channel::{ChannelConfig, ExecOutput, ExecRequest, InitConn, User, listen};
use airlock_sandbox::token::InitToken;

pub const AGENT: u32 = 1000;
pub use crate::issuer::{SANDBOX, TestIssuer, init_bin};

/// A running init in its own layout.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub token: InitToken,
    pub issuer: Arc<TestIssuer>,
    pub conn: InitConn,
    pub init: Child,
    pub proxy_port: u16,
}

impl Sandbox {
    pub async fn start() -> Self {
        Self::start_with(TestIssuer::new(Duration::from_secs(600))).await
    }

    /// init as PID 1 of fresh PID, mount and network namespaces, as in a
    /// real sandbox (`unshare`; its death SIGTERMs init).
    pub async fn start_as_pid1() -> Self {
        Self::start_mode(TestIssuer::new(Duration::from_secs(600)), true).await
    }

    pub async fn start_with(issuer: Arc<TestIssuer>) -> Self {
        Self::start_mode(issuer, false).await
    }

    async fn start_mode(issuer: Arc<TestIssuer>, pid1: bool) -> Self {
        assert_eq!(
            nix_uid(),
            0,
            "these tests run as root (init switches to uid 1000)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        for d in ["host", "run", "spiffe", "log", "workspace", "home"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        for d in ["workspace", "home"] {
            std::os::unix::fs::chown(dir.path().join(d), Some(AGENT), Some(AGENT)).unwrap();
        }
        let token = InitToken::generate();
        let conn = listen(channel_config(dir.path(), &token), issuer.clone()).unwrap();
        let proxy_port = free_port();
        let init = spawn_init(dir.path(), token.as_str(), proxy_port, pid1);
        let sb = Self {
            dir,
            token,
            issuer,
            conn,
            init,
            proxy_port,
        };
        sb.wait_ready().await;
        sb
    }

    pub async fn wait_ready(&self) {
        if tokio::time::timeout(Duration::from_secs(15), self.conn.ready())
            .await
            .is_err()
        {
            panic!("init did not connect; its log:\n{}", self.init_log());
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A path inside the "sandbox", as a string for requests.
    pub fn p(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    pub fn init_log(&self) -> String {
        std::fs::read_to_string(self.path("init.log")).unwrap_or_default()
    }

    /// Listens again on the same socket, as a restarted host would.
    pub fn relisten(&mut self) {
        self.conn.close();
        self.conn = listen(
            channel_config(self.dir.path(), &self.token),
            self.issuer.clone(),
        )
        .unwrap();
    }

    /// Runs `sh -c script` as `user` and collects everything.
    pub async fn sh(&self, user: User, script: &str) -> ExecOutput {
        let mut req = ExecRequest::new(["sh", "-c", script]);
        req.user = user;
        req.cwd = Some(self.p("workspace"));
        self.conn
            .exec(req)
            .await
            .unwrap()
            .wait_with_output()
            .await
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let pid = self.init.id() as i32;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        for _ in 0..100 {
            if matches!(self.init.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.init.kill();
        let _ = self.init.wait();
    }
}

pub fn channel_config(dir: &Path, token: &InitToken) -> ChannelConfig {
    ChannelConfig {
        sandbox_id: SandboxId::new(SANDBOX).unwrap(),
        token: token.clone(),
        socket: dir.join("host/ctl.sock"),
        owner: None,
    }
}

pub fn spawn_init(dir: &Path, token: &str, proxy_port: u16, pid1: bool) -> Child {
    let log = std::fs::File::create(dir.join("init.log")).unwrap();
    let d = |rel: &str| dir.join(rel);
    let mut cmd = if pid1 {
        let mut c = Command::new("unshare");
        c.args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--net",
            "--kill-child=SIGTERM",
        ])
        .arg(init_bin());
        c
    } else {
        Command::new(init_bin())
    };
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("AIRLOCK_INIT_TOKEN", token)
        .env("AIRLOCK_SANDBOX_ID", SANDBOX)
        .env("AIRLOCK_INIT_LOG", "debug")
        .env("AIRLOCK_HOST_DIR", d("host"))
        .env("AIRLOCK_RUN_DIR", d("run"))
        .env("AIRLOCK_SPIFFE_DIR", d("spiffe"))
        .env("AIRLOCK_LOG_DIR", d("log"))
        .env("AIRLOCK_WORKSPACE", d("workspace"))
        .env("AIRLOCK_AGENT_HOME", d("home"))
        .env("AIRLOCK_PROXY_LISTEN", format!("127.0.0.1:{proxy_port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nix_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| std::os::unix::fs::MetadataExt::uid(&m))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `check` every 50 ms until it holds or 10 s pass (CI machines are
/// slow and shared: no test should bet on a fixed sleep).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `workload_client` example (an unmodified SPIFFE client), which
/// `cargo test` builds next to this test binary.
pub fn workload_client_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("examples/workload_client");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --examples -p airlock-sandbox`",
        bin.display()
    );
    bin
}
