//! Helpers for end-to-end tests: a real `airlock` server in a temp data
//! directory, and clients with their own `AIRLOCK_HOME`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ADMIN: &str = "admin";
pub const ADMIN_PW: &str = "admin-password";

/// The binary under test.
pub fn airlock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// What a command did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        &self.stdout
    }

    /// Asserts the exit code, a one-line error containing `needle`, and no
    /// panic or backtrace.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "wrong exit code: {self:#?}");
        let err = self.stderr.trim();
        assert!(err.contains(needle), "stderr lacks {needle:?}: {self:#?}");
        let error_lines: Vec<_> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error_lines.len(), 1, "expected one error line: {self:#?}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{self:#?}"
        );
    }
}

/// Runs a prepared command, feeding `stdin`.
pub fn run(mut cmd: Command, stdin: &str) -> Out {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn airlock");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .ok();
    let out = child.wait_with_output().expect("wait airlock");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `airlock ARGS` with a given AIRLOCK_HOME.
pub fn airlock(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(airlock_bin());
    cmd.args(args)
        .env("AIRLOCK_HOME", home)
        .env_remove("AIRLOCK_SERVER");
    cmd
}

/// A free TCP port on loopback (released before returning; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A running server with its own data directory.
pub struct Cluster {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub url: String,
    pub fingerprint: String,
    /// The audit verifier key printed by `server init`.
    pub audit_key: String,
    pub port: u16,
    server: Option<Child>,
}

impl Cluster {
    /// Initializes a cluster and starts its server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Initializes a cluster and starts its server on `port`.
    pub fn start_on(port: u16) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        Self::init_and_start(tmp, data, port)
    }

    /// Like [`Cluster::start`], with the data directory at `data`.
    pub fn start_in(data: PathBuf) -> Self {
        Self::init_and_start(tempfile::tempdir().expect("tempdir"), data, free_port())
    }

    fn init_and_start(tmp: tempfile::TempDir, data: PathBuf, port: u16) -> Self {
        let init = run(
            airlock(
                tmp.path(),
                &[
                    "server",
                    "init",
                    "--data-dir",
                    data.to_str().unwrap(),
                    "--admin",
                    ADMIN,
                    "--password-stdin",
                ],
            ),
            &format!("{ADMIN_PW}\n"),
        );
        let audit_key = init
            .ok()
            .lines()
            .find_map(|l| l.trim().strip_prefix("audit key:"))
            .expect("init prints the audit key")
            .trim()
            .to_owned();
        let mut c = Self {
            tmp,
            data,
            url: String::new(),
            fingerprint: String::new(),
            audit_key,
            port,
            server: None,
        };
        c.spawn_server();
        c
    }

    /// Starts (or restarts) the server process.
    pub fn spawn_server(&mut self) {
        let log = std::fs::File::create(self.tmp.path().join("server.log")).expect("log");
        let mut child = Command::new(airlock_bin())
            .args([
                "server",
                "start",
                "--data-dir",
                self.data.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        while lines.len() < 3 {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => lines.push(l),
                Err(_) => panic!("server did not start: {lines:?}\n{}", self.server_log()),
            }
        }
        self.url = lines[0].rsplit(' ').next().expect("url").to_owned();
        self.fingerprint = lines[2].rsplit(' ').next().expect("fingerprint").to_owned();
        self.server = Some(child);
    }

    /// Stops the server (SIGTERM, then wait).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (no shutdown, no final checkpoint).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default()
    }

    /// A fresh client home (not logged in).
    pub fn client(&self, name: &str) -> Client {
        let home = self.tmp.path().join(format!("home-{name}"));
        Client {
            home,
            url: self.url.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// A client logged in as the bootstrap admin.
    pub fn admin(&self) -> Client {
        let c = self.client(ADMIN);
        c.login(ADMIN, ADMIN_PW).ok();
        c
    }

    /// Adds a user through the admin client.
    pub fn add_user(&self, admin: &Client, name: &str, roles: &str, pw: &str) {
        admin
            .run_stdin(
                &[
                    "admin",
                    "user",
                    "add",
                    name,
                    "--roles",
                    roles,
                    "--password-stdin",
                ],
                &format!("{pw}\n"),
            )
            .ok();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Sandboxes outlive their server by design; a test must not leave
        // any behind on the machine.
        if self.server.is_some() {
            self.remove_all_sandboxes();
        }
        self.stop();
    }
}

impl Cluster {
    /// Removes every live sandbox of this cluster (as the admin).
    pub fn remove_all_sandboxes(&self) {
        let admin = self.client("cleanup");
        if admin.login(ADMIN, ADMIN_PW).code != 0 {
            return;
        }
        let out = admin.run(&["sandbox", "ls", "--all", "--json"]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
        for sb in list {
            if let Some(id) = sb["id"].as_str() {
                let _ = admin.run(&["sandbox", "rm", id]);
            }
        }
    }
}

/// A CLI user with their own AIRLOCK_HOME.
pub struct Client {
    pub home: PathBuf,
    pub url: String,
    pub fingerprint: String,
}

impl Client {
    pub fn cmd(&self, args: &[&str]) -> Command {
        airlock(&self.home, args)
    }

    pub fn run(&self, args: &[&str]) -> Out {
        run(self.cmd(args), "")
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        run(self.cmd(args), stdin)
    }

    pub fn login(&self, user: &str, pw: &str) -> Out {
        self.login_with(user, pw, &[])
    }

    pub fn login_with(&self, user: &str, pw: &str, extra: &[&str]) -> Out {
        let mut args = vec!["--ca-fingerprint", self.fingerprint.as_str()];
        args.extend_from_slice(extra);
        self.login_unverified(user, pw, &args)
    }

    /// `login` without `--ca-fingerprint`: trust on first use, or the pin.
    pub fn login_unverified(&self, user: &str, pw: &str, extra: &[&str]) -> Out {
        let mut args = vec![
            "login",
            "--server",
            &self.url,
            "--user",
            user,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        self.run_stdin(&args, &format!("{pw}\n"))
    }

    /// `curl` with this client's pinned CA and login certificate.
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        self.curl_as(
            &self.home.join("cert.pem"),
            &self.home.join("key.pem"),
            method,
            path,
            body,
        )
    }

    /// `curl` presenting another certificate and key.
    pub fn curl_as(
        &self,
        cert: &Path,
        key: &Path,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}", "--cacert"])
            .arg(self.home.join("ca.pem"))
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .arg(format!("{}{path}", self.url));
        if let Some(b) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
        }
        curl_output(cmd)
    }

    /// `curl` with no client certificate.
    pub fn curl_anon(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}", "-k"])
            .arg(format!("{}{path}", self.url));
        if let Some(b) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
        }
        curl_output(cmd)
    }
}

fn curl_output(mut cmd: Command) -> (u16, serde_json::Value) {
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code: u16 = code.trim().parse().unwrap_or_else(|_| {
        panic!(
            "curl failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (code, json)
}

/// Makes a P-256 key and CSR with the openssl CLI (an independent tool).
pub fn openssl_csr(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", &format!("/CN={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (key, std::fs::read_to_string(csr).expect("csr"))
}

/// Runs `argv` on a pseudo-terminal and plays `steps` against it (see
/// `py/pty_session.py`); returns what the terminal showed.
pub fn pty_session(home: &Path, steps: serde_json::Value, argv: &[&str]) -> Out {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/py/pty_session.py");
    let mut c = Command::new("python3");
    c.arg(driver)
        .arg(steps.to_string())
        .arg("--")
        .args(argv)
        .env("AIRLOCK_HOME", home)
        .env("TERM", "xterm");
    run(c, "")
}
