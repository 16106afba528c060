//! The world the access-proxy tests run in: a cluster with a logged-in
//! admin and developer `dev`, and a local upstream (py/upstream.py, a
//! separate process) standing in for the internet: an HTTPS echo API, an
//! HTTPS LLM API speaking the OpenAI and Anthropic shapes, and a git smart
//! HTTP server. Secrets, resources, policies and a delegation profile are
//! registered through the CLI, as an admin would.
//!
//! The upstream listens on 127.0.0.2, not 127.0.0.1: a sandbox's NO_PROXY
//! names `localhost,127.0.0.1` (its own services), and everything else must
//! leave through the proxy, as a real API's address would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::sandbox::Env;
use crate::util::*;

/// Where the upstream listens.
pub const UPSTREAM_IP: &str = "127.0.0.2";
/// The key every sandbox sees in OPENAI_API_KEY / ANTHROPIC_API_KEY.
pub const DUMMY_KEY: &str = "airlock-proxy-injects-the-real-key";
/// What the upstream's responses carry, so a scan can show it reached the
/// sandbox (the control that makes "the key is not there" mean something).
pub const REPLY_MARKER: &str = "hello from claude";

/// The cluster's policies for outbound access (on top of the starter set).
pub const OUTBOUND: &str = r#"
// Developers' agents may call the echo API, but only read it, and never
// its admin paths.
@id("dev-api")
permit (
  principal in Airlock::Role::"developer",
  action == Airlock::Action::"http.request",
  resource == Airlock::HttpService::"api"
);

@id("api-read-only")
forbid (principal, action == Airlock::Action::"http.request", resource == Airlock::HttpService::"api")
unless { context.method == "GET" || context.method == "HEAD" };

@id("api-no-admin")
forbid (principal, action == Airlock::Action::"http.request", resource == Airlock::HttpService::"api")
when { context.path like "/admin*" };

// git: clone (GET and POST git-upload-pack) and push.
@id("dev-git")
permit (
  principal in Airlock::Role::"developer",
  action == Airlock::Action::"http.request",
  resource == Airlock::HttpService::"git"
);

// Every LLM endpoint; the endpoints' model allow-lists and budgets still apply.
@id("dev-llm")
permit (
  principal in Airlock::Role::"developer",
  action == Airlock::Action::"inference.call",
  resource
);
"#;

/// A delegation profile: agents in its sandboxes only read.
pub const READ_ONLY_PROFILE: &str = r#"
@id("http")
permit (principal, action == Airlock::Action::"http.request", resource);

@id("no-writes")
forbid (principal, action == Airlock::Action::"http.request", resource)
unless { context.method == "GET" || context.method == "HEAD" };

@id("llm")
permit (principal, action == Airlock::Action::"inference.call", resource);
"#;

/// The real credentials: random per world, known only to the control
/// plane (as secrets) and the upstream.
pub struct Keys {
    pub api: String,
    pub openai: String,
    pub anthropic: String,
}

impl Keys {
    fn random() -> Self {
        let hex = || {
            let mut b = [0u8; 16];
            use std::io::Read;
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut b))
                .expect("urandom");
            hex::encode(b)
        };
        Self {
            api: format!("api-token-{}", hex()),
            openai: format!("sk-openai-{}", hex()),
            anthropic: format!("sk-ant-{}", hex()),
        }
    }

    pub fn all(&self) -> [&str; 3] {
        [&self.api, &self.openai, &self.anthropic]
    }
}

/// The upstream process and its ports.
pub struct Upstream {
    child: Child,
    pub dir: PathBuf,
    pub api: u16,
    pub llm: u16,
    pub git: u16,
}

impl Upstream {
    fn start(dir: PathBuf, keys: &Keys) -> Self {
        std::fs::create_dir_all(&dir).expect("upstream dir");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("log");
        // /usr/bin/python3: the interpreter the sandboxes see too.
        let mut child = Command::new("/usr/bin/python3")
            .arg(script("upstream.py"))
            .arg(UPSTREAM_IP)
            .arg(&dir)
            .env("UPSTREAM_API_TOKEN", &keys.api)
            .env("UPSTREAM_OPENAI_KEY", &keys.openai)
            .env("UPSTREAM_ANTHROPIC_KEY", &keys.anthropic)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start py/upstream.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("upstream ports");
        let ports: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            panic!("upstream did not start ({e}): {line:?}\n{err}")
        });
        let port = |k: &str| ports[k].as_u64().expect("port") as u16;
        Self {
            api: port("api"),
            llm: port("llm"),
            git: port("git"),
            dir,
            child,
        }
    }

    /// The CA the upstream's certificate comes from.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Every request the `role` server (api, llm) received, in order.
    pub fn requests(&self, role: &str) -> Vec<Value> {
        let log = std::fs::read_to_string(self.dir.join("requests.jsonl")).unwrap_or_default();
        log.lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("log line"))
            .filter(|r| r["role"] == role)
            .collect()
    }

    /// A bare repository `demo.git` with one commit, served by git http-backend.
    fn git_repo(&self) {
        let work = self.dir.join("src");
        let git = |args: &[&str], dir: &Path| {
            let out = Command::new("git")
                .args(["-c", "user.name=e2e", "-c", "user.email=e2e@airlock.test"])
                .args(args)
                .current_dir(dir)
                .output()
                .expect("git");
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        std::fs::create_dir_all(&work).unwrap();
        git(&["init", "-q", "-b", "main"], &work);
        std::fs::write(work.join("README"), "through the airlock\n").unwrap();
        git(&["add", "README"], &work);
        git(&["commit", "-q", "-m", "first"], &work);
        git(
            &["clone", "-q", "--bare", "src", "repos/demo.git"],
            &self.dir,
        );
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A helper script of this suite.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/py")
        .join(name)
}

/// What curl did inside a sandbox.
#[derive(Debug)]
pub struct Curl {
    /// curl's exit code.
    pub exit: i32,
    /// The response's status (0 when there was none).
    pub status: u16,
    /// The proxy's answer to CONNECT (0 when there was none).
    pub connect: u16,
    pub body: String,
    pub stderr: String,
}

/// A cluster, the upstream, and everything registered.
pub struct World {
    pub env: Env,
    pub up: Upstream,
    pub keys: Keys,
}

impl World {
    pub fn new() -> Self {
        let env = Env::new();
        let keys = Keys::random();
        let up = Upstream::start(env.cluster.tmp.path().join("upstream"), &keys);
        up.git_repo();
        let w = Self { env, up, keys };
        w.register();
        w
    }

    fn register(&self) {
        let a = &self.env.admin;
        for (name, value) in [
            ("api-token", &self.keys.api),
            ("openai-key", &self.keys.openai),
            ("anthropic-key", &self.keys.anthropic),
        ] {
            a.run_stdin(
                &["admin", "secret", "set", name, "--value-stdin"],
                &format!("{value}\n"),
            )
            .ok();
        }
        let ca = self.up.ca();
        let ca = ca.to_str().unwrap();
        let llm = format!("https://{UPSTREAM_IP}:{}", self.up.llm);
        let openai = format!("{llm}/v1");
        let inference = |name: &str, kind: &str, url: &str, secret: &str, extra: &[&str]| {
            let mut args = vec![
                "admin",
                "resource",
                "add",
                "inference",
                name,
                "--kind",
                kind,
                "--url",
                url,
                "--secret",
                secret,
                "--ca-file",
                ca,
            ];
            args.extend_from_slice(extra);
            a.run(&args).ok();
        };
        a.run(&[
            "admin",
            "resource",
            "add",
            "http",
            "api",
            "--url",
            &self.api_url("https", ""),
            "--inject-header",
            "Authorization: Bearer ${secret:api-token}",
            "--ca-file",
            ca,
        ])
        .ok();
        let git = format!("http://{UPSTREAM_IP}:{}/cgi-bin/git", self.up.git);
        a.run(&["admin", "resource", "add", "http", "git", "--url", &git])
            .ok();
        inference(
            "openai",
            "openai",
            &openai,
            "openai-key",
            &["--models", "gpt-4o*"],
        );
        inference(
            "anthropic",
            "anthropic",
            &llm,
            "anthropic-key",
            &["--models", "claude-*"],
        );
        // Budgets, each on an endpoint of its own: only the budget test spends them.
        inference("metered", "openai", &openai, "openai-key", &["--rpm", "1"]);
        inference(
            "tiny",
            "openai",
            &openai,
            "openai-key",
            &["--tokens-per-day", "20"],
        );
        self.set_policies(&[("outbound.cedar", OUTBOUND)]).ok();
        let profile = self.env.cluster.tmp.path().join("read-only.cedar");
        std::fs::write(&profile, READ_ONLY_PROFILE).unwrap();
        a.run(&[
            "admin",
            "profile",
            "set",
            "read-only",
            profile.to_str().unwrap(),
        ])
        .ok();
    }

    /// `admin policy set` with the starter set and `files`.
    pub fn set_policies(&self, files: &[(&str, &str)]) -> Out {
        let dir = tempfile::tempdir_in(self.env.cluster.tmp.path()).unwrap();
        let starter = include_str!("../../../../policy/cedar/starter.cedar");
        std::fs::write(dir.path().join("starter.cedar"), starter).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        self.env
            .admin
            .run(&["admin", "policy", "set", dir.path().to_str().unwrap()])
    }

    /// `scheme://127.0.0.2:<api port><path>`: the echo API as a sandbox addresses it.
    pub fn api_url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{UPSTREAM_IP}:{}{path}", self.up.api)
    }

    /// The demo repository over HTTPS, as a sandbox clones it.
    pub fn git_url(&self) -> String {
        format!("https://{UPSTREAM_IP}:{}/demo.git", self.up.git)
    }

    /// Creates a sandbox as `dev` with this suite's scripts in /workspace;
    /// returns its JSON.
    pub fn create(&self, name: &str, backend: &str, extra: &[&str]) -> Value {
        let sb = self.env.create(name, backend, extra);
        for s in ["sdk_calls.py", "hammer.py"] {
            let dst = format!("{name}:/workspace/{s}");
            let src = script(s);
            self.env.dev.run(&["cp", src.to_str().unwrap(), &dst]).ok();
        }
        sb
    }

    /// Like [`World::create`]; returns the sandbox's id.
    pub fn sandbox(&self, name: &str, backend: &str, extra: &[&str]) -> String {
        let sb = self.create(name, backend, extra);
        sb["id"].as_str().expect("id").to_owned()
    }

    /// curl inside `sandbox` as its owner, with only the sandbox's environment.
    pub fn curl(&self, sandbox: &str, args: &[&str]) -> Curl {
        self.curl_as(&self.env.dev, sandbox, args)
    }

    /// curl inside `sandbox`, exec'd by `client`.
    pub fn curl_as(&self, client: &Client, sandbox: &str, args: &[&str]) -> Curl {
        let mut all = vec![
            "exec",
            sandbox,
            "--",
            "curl",
            "-sS",
            "-w",
            "\n%{http_code} %{http_connect}",
        ];
        all.extend_from_slice(args);
        let out = client.run(&all);
        let (body, codes) = out.stdout.rsplit_once('\n').unwrap_or(("", &out.stdout));
        let mut codes = codes.split(' ').map(|c| c.parse().unwrap_or(0));
        Curl {
            exit: out.code,
            status: codes.next().unwrap_or(0),
            connect: codes.next().unwrap_or(0),
            body: body.to_owned(),
            stderr: out.stderr,
        }
    }

    /// Runs py/sdk_calls.py inside `sandbox`; returns what it printed.
    pub fn python(&self, sandbox: &str, args: &[&str]) -> Value {
        let mut all = vec!["python3", "/workspace/sdk_calls.py"];
        all.extend_from_slice(args);
        let out = self.env.exec(sandbox, &all);
        serde_json::from_str(out.ok().trim())
            .unwrap_or_else(|e| panic!("sdk_calls.py {args:?} printed no JSON ({e}): {out:#?}"))
    }

    /// `audit search --json` with `filters`, newest first.
    pub fn audit(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["audit", "search", "--json", "--limit", "10000"];
        args.extend_from_slice(filters);
        let out = self.env.admin.run(&args);
        serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("{e}: {out:#?}"))
    }
}

/// Asserts a one-line 403 from the proxy: `airlock: denied METHOD URL (policy "ID"): ...`.
#[track_caller]
pub fn assert_denied(c: &Curl, method: &str, url: &str, policy: &str) {
    assert_eq!(c.status, 403, "{c:#?}");
    let head = format!("airlock: denied {method} {url} (policy \"{policy}\"): ");
    assert!(c.body.starts_with(&head), "expected {head:?}...: {c:#?}");
    assert_eq!(c.body.trim_end().lines().count(), 1, "one line: {c:#?}");
}

/// The audit event among `events` for `path` (or host, for a CONNECT),
/// asserting it is a 403 denial decided by exactly `policies`.
#[track_caller]
pub fn audited_denial<'a>(events: &'a [Value], path: &str, policies: &[&str]) -> &'a Value {
    let ev = events
        .iter()
        .find(|e| e["details"]["path"] == path && e["policies"] == serde_json::json!(policies))
        .unwrap_or_else(|| panic!("no denial of {path} by {policies:?} in {events:#?}"));
    assert_eq!(ev["decision"], "deny", "{ev:#}");
    assert_eq!(ev["details"]["status"], 403, "{ev:#}");
    assert!(!ev["reason"].as_str().unwrap_or("").is_empty(), "{ev:#}");
    ev
}
