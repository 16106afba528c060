//! Sandboxes through the binary, on every usable backend: lifecycle, exec,
//! cp, services, TTL (also across a restart), who may see what, bad input,
//! and a host with nothing left behind after each removal.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

pub const BACKENDS: [&str; 2] = ["runc", "gvisor"];

/// A cluster with a logged-in admin and developer `dev`.
pub struct Env {
    pub cluster: Cluster,
    pub admin: Client,
    pub dev: Client,
}

impl Env {
    pub fn new() -> Self {
        let cluster = Cluster::start();
        let admin = cluster.admin();
        cluster.add_user(&admin, "dev", "developer", "dev-password");
        let dev = cluster.client("dev");
        dev.login("dev", "dev-password").ok();
        Self {
            cluster,
            admin,
            dev,
        }
    }

    /// Creates a sandbox as `dev`; returns its JSON.
    pub fn create(&self, name: &str, backend: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "sandbox",
            "create",
            "--name",
            name,
            "--backend",
            backend,
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = self.dev.run(&args);
        serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("{e}: {out:#?}"))
    }

    pub fn exec(&self, name: &str, cmd: &[&str]) -> Out {
        let mut args = vec!["exec", name, "--"];
        args.extend_from_slice(cmd);
        self.dev.run(&args)
    }

    pub fn sh(&self, name: &str, script: &str) -> Out {
        self.exec(name, &["sh", "-c", script])
    }
}

/// Everything the host holds for sandbox `id`: mounts, run dirs, cgroups,
/// runtime state and processes. Empty means nothing was left behind.
pub fn host_leftovers(id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    found.extend(
        mounts
            .lines()
            .filter(|l| l.contains(id))
            .map(|l| format!("mount: {l}")),
    );
    for root in ["/run/airlock", "/sys/fs/cgroup"] {
        let out = Command::new("find")
            .args([root, "-name", id])
            .output()
            .expect("find");
        found.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| format!("path: {l}")),
        );
    }
    let ps = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps");
    found.extend(
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains(id))
            .map(|l| format!("process: {l}")),
    );
    found
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within {limit:?}");
}

#[test]
fn lifecycle_exec_and_removal_leave_nothing_behind() {
    let env = Env::new();
    for backend in BACKENDS {
        let name = format!("life-{backend}");
        let sb = env.create(&name, backend, &["--ttl", "1h"]);
        assert_eq!(sb["backend"], backend);
        assert_eq!(sb["state"], "running");
        let id = sb["id"].as_str().unwrap().to_owned();
        assert_eq!(
            sb["workload_spiffe_id"],
            format!("spiffe://airlock.local/sandbox/{id}/workload")
        );

        let ls: serde_json::Value =
            serde_json::from_str(env.dev.run(&["sandbox", "ls", "--json"]).ok()).unwrap();
        assert!(
            ls.as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"] == id.as_str())
        );

        // The agent runs unprivileged; stdout, stderr and the exit code travel.
        let out = env.sh(&name, "id -u; id -g; hostname; echo oops >&2; exit 42");
        assert_eq!(out.code, 42, "{out:#?}");
        assert_eq!(out.stdout, format!("1000\n1000\n{name}\n"));
        assert_eq!(out.stderr, "oops\n");
        // stdin is streamed.
        let cat = env
            .dev
            .run_stdin(&["exec", &name, "--", "cat"], "piped input\n");
        assert_eq!(cat.ok(), "piped input\n");
        // Root inside is available to the owner.
        let root = env.dev.run(&["exec", "--root", &name, "--", "id", "-u"]);
        assert_eq!(root.ok(), "0\n");

        env.dev.run(&["sandbox", "rm", &name]).ok();
        assert_eq!(host_leftovers(&id), Vec::<String>::new(), "{backend}");
        env.exec(&name, &["true"]).fails(5, "was removed");
        env.dev
            .run(&["sandbox", "rm", &name])
            .fails(5, "was removed");
    }
}

#[test]
fn cp_copies_files_and_trees_both_ways_and_refuses_dotdot() {
    let env = Env::new();
    let tmp = env.cluster.tmp.path();
    std::fs::create_dir_all(tmp.join("tree/sub")).unwrap();
    std::fs::write(tmp.join("tree/a.txt"), "alpha\n").unwrap();
    std::fs::write(tmp.join("tree/sub/b.txt"), "beta\n").unwrap();
    std::fs::write(tmp.join("one.txt"), "one\n").unwrap();
    for backend in BACKENDS {
        let name = format!("cp-{backend}");
        env.create(&name, backend, &[]);
        let dst = format!("{name}:/workspace/one.txt");
        env.dev
            .run(&["cp", tmp.join("one.txt").to_str().unwrap(), &dst])
            .ok();
        assert_eq!(
            env.exec(&name, &["cat", "/workspace/one.txt"]).ok(),
            "one\n"
        );

        let tree_dst = format!("{name}:/workspace/tree");
        env.dev
            .run(&["cp", "-r", tmp.join("tree").to_str().unwrap(), &tree_dst])
            .ok();
        assert_eq!(
            env.exec(&name, &["cat", "/workspace/tree/sub/b.txt"]).ok(),
            "beta\n"
        );

        let back = tmp.join(format!("back-{backend}"));
        env.dev
            .run(&["cp", "-r", &tree_dst, back.to_str().unwrap()])
            .ok();
        assert_eq!(
            std::fs::read_to_string(back.join("sub/b.txt")).unwrap(),
            "beta\n"
        );
        let single = tmp.join(format!("single-{backend}.txt"));
        env.dev.run(&["cp", &dst, single.to_str().unwrap()]).ok();
        assert_eq!(std::fs::read_to_string(&single).unwrap(), "one\n");

        for bad in [
            format!("{name}:../etc/passwd"),
            format!("{name}:/workspace/../../etc/x"),
        ] {
            env.dev
                .run(&["cp", tmp.join("one.txt").to_str().unwrap(), &bad])
                .fails(2, "contains '..'");
        }
        env.dev
            .run(&["cp", "/nonexistent/x", &dst])
            .fails(1, "cannot read");
        env.dev.run(&["sandbox", "rm", &name]).ok();
    }
}

#[test]
fn services_outlive_the_session_and_log_to_disk() {
    let env = Env::new();
    for backend in BACKENDS {
        let name = format!("svc-{backend}");
        env.create(&name, backend, &[]);
        env.dev
            .run(&[
                "svc",
                "--sandbox",
                &name,
                "start",
                "ticker",
                "--",
                "sh",
                "-c",
                "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
            ])
            .ok();
        std::thread::sleep(Duration::from_millis(800));
        let ls = env.dev.run(&["svc", "--sandbox", &name, "ls", "--json"]);
        let list: serde_json::Value = serde_json::from_str(ls.ok()).unwrap();
        assert_eq!(list[0]["state"], "running", "{list}");
        let logs = env
            .dev
            .run(&["svc", "--sandbox", &name, "logs", "ticker", "-n", "2"]);
        assert_eq!(logs.ok().lines().count(), 2, "{logs:#?}");
        // The log is a file on disk in the sandbox, not a ring buffer.
        let on_disk = env.exec(&name, &["cat", "/var/log/airlock/ticker.log"]);
        assert!(on_disk.ok().lines().count() >= 3, "{on_disk:#?}");
        env.dev
            .run(&["svc", "--sandbox", &name, "stop", "ticker"])
            .ok();
        let list: serde_json::Value = serde_json::from_str(
            env.dev
                .run(&["svc", "--sandbox", &name, "ls", "--json"])
                .ok(),
        )
        .unwrap();
        assert_eq!(list[0]["state"], "stopped");
        env.dev.run(&["sandbox", "rm", &name]).ok();
    }
}

#[test]
fn a_sandbox_is_destroyed_within_a_second_of_its_ttl() {
    let env = Env::new();
    let sb = env.create("brief", "runc", &["--ttl", "2s"]);
    let id = sb["id"].as_str().unwrap().to_owned();
    let expires = time::OffsetDateTime::parse(
        sb["expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    wait_until(Duration::from_secs(6), || host_leftovers(&id).is_empty());
    let late = time::OffsetDateTime::now_utc() - expires;
    // `expires` is shown to the second; allow that rounding plus one second.
    assert!(
        late < time::Duration::seconds(2),
        "destroyed {late} after expiry"
    );
    env.exec("brief", &["true"]).fails(5, "expired");
    let events = env
        .admin
        .run(&["audit", "search", "--action", "sandbox.expire", "--json"]);
    let events: serde_json::Value = serde_json::from_str(events.ok()).unwrap();
    assert_eq!(events[0]["sandbox"], id.as_str());
    assert_eq!(events[0]["user"], "dev");
    assert_eq!(events[0]["isolation"], "runc");
}

#[test]
fn sandboxes_survive_a_restart_and_expire_even_if_the_server_was_down() {
    let mut env = Env::new();
    env.create("keeper", "runc", &["--ttl", "1h"]);
    let short = env.create("goner", "runc", &["--ttl", "3s"]);
    let gone_id = short["id"].as_str().unwrap().to_owned();
    env.dev
        .run(&[
            "svc",
            "--sandbox",
            "keeper",
            "start",
            "sleeper",
            "--",
            "sleep",
            "1000",
        ])
        .ok();
    env.cluster.stop();
    std::thread::sleep(Duration::from_secs(4));
    env.cluster.spawn_server();
    // The long-lived one is still there, with its service, and usable.
    wait_until(Duration::from_secs(10), || {
        env.exec("keeper", &["true"]).code == 0
    });
    let list: serde_json::Value = serde_json::from_str(
        env.dev
            .run(&["svc", "--sandbox", "keeper", "ls", "--json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(list[0]["state"], "running");
    // The short one expired while the server was down and was reaped at start.
    wait_until(Duration::from_secs(5), || {
        host_leftovers(&gone_id).is_empty()
    });
    env.exec("goner", &["true"]).fails(5, "expired");
}

#[test]
fn only_the_owner_or_an_admin_sees_and_uses_a_sandbox() {
    let env = Env::new();
    let sb = env.create("private", "runc", &[]);
    let id = sb["id"].as_str().unwrap();
    env.cluster
        .add_user(&env.admin, "eve", "developer", "eve-password");
    let eve = env.cluster.client("eve");
    eve.login("eve", "eve-password").ok();
    let ls: serde_json::Value =
        serde_json::from_str(eve.run(&["sandbox", "ls", "--json"]).ok()).unwrap();
    assert_eq!(ls, serde_json::json!([]));
    eve.run(&["exec", id, "--", "true"]).fails(5, "no sandbox");
    eve.run(&["sandbox", "rm", id]).fails(5, "no sandbox");
    eve.run(&["sandbox", "ls", "--all"])
        .fails(4, "not allowed: admin.sandbox.list");
    // An admin can, by id.
    assert_eq!(
        env.admin.run(&["exec", id, "--", "id", "-un"]).ok(),
        "agent\n"
    );
    let all: serde_json::Value =
        serde_json::from_str(env.admin.run(&["sandbox", "ls", "--all", "--json"]).ok()).unwrap();
    assert!(all.as_array().unwrap().iter().any(|s| s["id"] == id));
    // A user whose roles do not allow sandboxes is refused.
    env.cluster
        .add_user(&env.admin, "aud", "auditor", "aud-password");
    let aud = env.cluster.client("aud");
    aud.login("aud", "aud-password").ok();
    aud.run(&["sandbox", "create", "--detach"])
        .fails(4, "not allowed: sandbox.create");
}

#[test]
fn bad_sandbox_requests_get_clear_errors_and_leave_nothing() {
    let env = Env::new();
    let d = &env.dev;
    d.run(&["sandbox", "create", "--backend", "chroot", "--detach"])
        .fails(2, "chroot");
    d.run(&["sandbox", "create", "--backend", "microvm", "--detach"])
        .fails(2, "microvm");
    d.run(&["sandbox", "create", "--image", "nope", "--detach"])
        .fails(2, "nope");
    d.run(&["sandbox", "create", "--ttl", "9h", "--detach"])
        .fails(2, "at most 8h");
    d.run(&["sandbox", "create", "--ttl", "soon", "--detach"])
        .fails(2, "invalid duration");
    d.run(&["sandbox", "create", "--memory", "lots", "--detach"])
        .fails(2, "lots");
    d.run(&["sandbox", "create", "--disk", "1.5Q", "--detach"])
        .fails(2, "1.5Q");
    d.run(&["sandbox", "create", "--cpus", "-1", "--detach"])
        .fails(2, "-1");
    d.run(&["sandbox", "create", "--name", "Bad_Name", "--detach"])
        .fails(2, "invalid sandbox name");
    env.create("twin", "runc", &[]);
    d.run(&["sandbox", "create", "--name", "twin", "--detach"])
        .fails(6, "already have a sandbox named twin");
    d.run(&["exec", "ghost", "--", "true"])
        .fails(5, "no sandbox \"ghost\"");
    let ls: serde_json::Value =
        serde_json::from_str(d.run(&["sandbox", "ls", "--json"]).ok()).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 1, "only twin exists: {ls}");
}

#[test]
fn images_are_built_with_progress_cached_and_usable() {
    let env = Env::new();
    let a = &env.admin;
    let build = a.run(&["image", "build", "tools", "--packages", "git"]);
    assert!(build.ok().contains("Built image tools"), "{build:#?}");
    let again = Instant::now();
    a.run(&["image", "build", "tools", "--packages", "git"])
        .ok();
    assert!(
        again.elapsed() < Duration::from_secs(20),
        "same inputs: no rebuild"
    );
    let ls: serde_json::Value =
        serde_json::from_str(a.run(&["image", "ls", "--json"]).ok()).unwrap();
    let tools = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "tools")
        .expect("listed");
    assert_eq!(tools["packages"], serde_json::json!(["git"]));
    assert!(tools["source"].as_str().unwrap().contains("debootstrap"));

    // A sandbox from it has git; root can install into the image's /usr
    // (copy-up on the sandbox's own layer) without touching the image.
    let sb = env.admin.run(&[
        "sandbox",
        "create",
        "--name",
        "gitbox",
        "--image",
        "tools",
        "--backend",
        "runc",
        "--json",
    ]);
    serde_json::from_str::<serde_json::Value>(sb.ok()).unwrap();
    let git = env.admin.run(&["exec", "gitbox", "--", "git", "--version"]);
    assert!(git.ok().starts_with("git version"), "{git:#?}");
    env.admin
        .run(&[
            "exec",
            "--root",
            "gitbox",
            "--",
            "touch",
            "/usr/local/bin/mine",
        ])
        .ok();
    // In use: refused; after removal: gone.
    a.run(&["image", "rm", "tools"]).fails(6, "tools");
    a.run(&["sandbox", "rm", "gitbox"]).ok();
    a.run(&["image", "rm", "tools"]).ok();
    env.dev
        .run(&["image", "build", "x"])
        .fails(4, "not allowed: admin.image.build");
}
