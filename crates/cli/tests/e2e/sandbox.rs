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

/// Everything a cluster's node holds on the host: its sandboxes' run
/// directories and runtime state, cgroups, and mounts. Compared before and
/// after a refused request, it shows the refusal left nothing behind.
pub fn node_objects(cluster: &Cluster) -> std::collections::BTreeSet<String> {
    let tag = &cluster.fingerprint[..8];
    let run = std::path::PathBuf::from("/run/airlock").join(tag);
    let mut found = std::collections::BTreeSet::new();
    // Per sandbox: run/{sb,runc,runsc}/<id>, and <controller>/airlock/<tag>/<id>
    // in every cgroup hierarchy (v1 controllers or the unified one); the
    // node's own directories (made on first use) are not a sandbox's.
    let mut roots = vec![(run.clone(), "2")];
    for ctrl in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        roots.push((ctrl.path().join("airlock").join(tag), "1"));
    }
    roots.push((
        std::path::PathBuf::from("/sys/fs/cgroup/airlock").join(tag),
        "1",
    ));
    for (root, depth) in &roots {
        let out = Command::new("find")
            .arg(root)
            .args(["-mindepth", depth, "-maxdepth", depth, "-type", "d"])
            .output()
            .expect("find");
        found.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let run = run.to_string_lossy().into_owned();
    found.extend(
        mounts
            .lines()
            .filter(|l| l.contains(&run))
            .map(|l| format!("mount: {l}")),
    );
    found
}

/// When the store says `id` expires, to the millisecond (the API shows
/// seconds).
pub fn expires_ms(cluster: &Cluster, id: &str) -> i64 {
    let db = cluster.data.join("state.db");
    let query = format!("SELECT expires_ms FROM sandboxes WHERE id = '{id}'");
    let out = Command::new("sqlite3")
        .args(["-readonly", db.to_str().unwrap(), &query])
        .output()
        .expect("sqlite3");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The first element of the JSON array `list` that `pred` accepts.
pub fn find_in(
    list: &serde_json::Value,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> &serde_json::Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list:#}"))
        .iter()
        .find(|x| pred(x))
        .unwrap_or_else(|| panic!("nothing matches in {list:#}"))
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

        // Each step is on the record with the sandbox's isolation class.
        let evs: serde_json::Value = serde_json::from_str(
            env.admin
                .run(&["audit", "search", "--sandbox", &id, "--json"])
                .ok(),
        )
        .unwrap();
        for action in ["sandbox.create", "sandbox.exec", "sandbox.remove"] {
            let e = find_in(&evs, |e| e["action"] == action);
            assert_eq!(
                (&e["user"], &e["isolation"], &e["decision"]),
                (
                    &serde_json::json!("dev"),
                    &serde_json::json!(backend),
                    &serde_json::json!("allow")
                ),
                "{e:#}"
            );
        }
        env.exec(&name, &["true"]).fails(5, "was removed");
        env.dev
            .run(&["sandbox", "rm", &name])
            .fails(5, "was removed");
        // Gone from the list of live sandboxes, kept in the history.
        let ended: serde_json::Value =
            serde_json::from_str(env.dev.run(&["sandbox", "ls", "--ended", "--json"]).ok())
                .unwrap();
        let mine = find_in(&ended, |s| s["id"] == id.as_str());
        assert_eq!(mine["state"], "removed");
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
        let cps: serde_json::Value = serde_json::from_str(
            env.admin
                .run(&["audit", "search", "--action", "sandbox.cp", "--json"])
                .ok(),
        )
        .unwrap();
        let mine: Vec<_> = cps
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["isolation"] == backend)
            .map(|e| e["details"]["direction"].as_str().unwrap())
            .collect();
        assert!(mine.contains(&"in") && mine.contains(&"out"), "{cps:#}");
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
        // A restart starts it afresh (its count begins again at 1).
        env.dev
            .run(&["svc", "--sandbox", &name, "restart", "ticker"])
            .ok();
        std::thread::sleep(Duration::from_millis(500));
        let list: serde_json::Value = serde_json::from_str(
            env.dev
                .run(&["svc", "--sandbox", &name, "ls", "--json"])
                .ok(),
        )
        .unwrap();
        assert_eq!(list[0]["state"], "running", "{list}");
        let log = env.exec(&name, &["cat", "/var/log/airlock/ticker.log"]);
        assert!(
            log.ok().lines().filter(|l| *l == "tick 1").count() >= 2,
            "{log:#?}"
        );
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
    let ids: Vec<(String, &str)> = BACKENDS
        .iter()
        .map(|b| {
            let sb = env.create(&format!("brief-{b}"), b, &["--ttl", "3s"]);
            (sb["id"].as_str().unwrap().to_owned(), *b)
        })
        .collect();
    for (id, backend) in &ids {
        let expires = expires_ms(&env.cluster, id);
        wait_until(Duration::from_secs(8), || host_leftovers(id).is_empty());
        let late = now_ms() - expires;
        assert!(
            late < 1000,
            "{backend}: destroyed {late} ms after its expiry"
        );
        env.exec(&format!("brief-{backend}"), &["true"])
            .fails(5, "expired");
    }
    let events = env
        .admin
        .run(&["audit", "search", "--action", "sandbox.expire", "--json"]);
    let events: serde_json::Value = serde_json::from_str(events.ok()).unwrap();
    for (id, backend) in &ids {
        let e = find_in(&events, |e| e["sandbox"] == id.as_str());
        assert_eq!(e["user"], "dev");
        assert_eq!(e["isolation"], *backend);
    }
}

#[test]
fn the_default_ttl_is_eight_hours_cut_to_the_role_maximum() {
    let env = Env::new();
    let left = |sb: &serde_json::Value| {
        let ms = expires_ms(&env.cluster, sb["id"].as_str().unwrap());
        Duration::from_millis(u64::try_from(ms - now_ms()).unwrap())
    };
    let sb = env.create("default-ttl", "runc", &[]);
    let l = left(&sb);
    assert!(
        l <= Duration::from_secs(8 * 3600) && l > Duration::from_secs(8 * 3600 - 60),
        "{l:?}"
    );

    // A role with a shorter maximum: the default is cut to it, and more is
    // refused.
    let a = &env.admin;
    a.run(&["admin", "role", "set", "intern", "--max-sandbox-ttl", "1h"])
        .ok();
    env.cluster
        .add_user(a, "ivy", "developer,intern", "ivy-password");
    let ivy = env.cluster.client("ivy");
    ivy.login("ivy", "ivy-password").ok();
    let out = ivy.run(&[
        "sandbox",
        "create",
        "--name",
        "short",
        "--backend",
        "runc",
        "--json",
    ]);
    let sb: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    let l = left(&sb);
    assert!(
        l <= Duration::from_secs(3600) && l > Duration::from_secs(3540),
        "{l:?}"
    );
    ivy.run(&["sandbox", "create", "--ttl", "2h", "--detach"])
        .fails(2, "at most 1h");
}

#[test]
fn doctor_lists_the_backends_auto_picks_the_strongest_and_create_opens_a_shell() {
    let env = Env::new();
    let list: serde_json::Value =
        serde_json::from_str(env.dev.run(&["doctor", "--json"]).ok()).unwrap();
    let find = |name: &str| find_in(&list, |b| b["name"] == name);
    // KVM is unusable on these machines: the microVM backend says why.
    let vm = find("microvm");
    assert_eq!(vm["usable"], false);
    assert!(!vm["detail"].as_str().unwrap().is_empty(), "{vm}");
    for usable in ["gvisor", "runc"] {
        assert_eq!(find(usable)["usable"], true, "{list:#}");
    }
    let human = env.dev.run(&["doctor"]);
    assert!(
        human.ok().contains("--backend auto picks gvisor"),
        "{human:#?}"
    );
    let sb = env.create("picked", "auto", &[]);
    assert_eq!(sb["backend"], "gvisor");

    // Without --detach, on a terminal, create lands in a shell inside.
    let cmd = format!(
        "{} sandbox create --name interactive --backend runc",
        airlock_bin()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("AIRLOCK_HOME", &env.dev.home)
        .env("TERM", "xterm");
    let out = run(c, "echo inside-$((6*7)) as $(id -un)\nexit\n");
    assert!(
        out.stdout.contains("Created sandbox interactive"),
        "{out:#?}"
    );
    assert!(out.stdout.contains("inside-42 as agent"), "{out:#?}");
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
    // Sandboxes outlive their server: its node directory stays for them.
    assert!(node_run_dir(&env.cluster).join("airlock-init").exists());
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

/// The node's run directory of a cluster.
fn node_run_dir(cluster: &Cluster) -> std::path::PathBuf {
    std::path::PathBuf::from("/run/airlock").join(&cluster.fingerprint[..8])
}

#[test]
fn a_server_that_stops_with_no_sandbox_left_leaves_nothing_in_run_or_cgroups() {
    let mut env = Env::new();
    env.create("short-lived", "runc", &[]);
    let run = node_run_dir(&env.cluster);
    assert!(run.exists());
    env.dev.run(&["sandbox", "rm", "short-lived"]).ok();
    env.cluster.stop();
    assert!(!run.exists(), "{} is left", run.display());
    let tag = &env.cluster.fingerprint[..8];
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let parent = ctrl.path().join("airlock").join(tag);
        assert!(!parent.exists(), "{} is left", parent.display());
    }
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
    // Each refusal leaves the host as it found it: no run directory,
    // runtime state, cgroup or mount of this node appears.
    let refused_leaving_nothing = |cases: &[(&[&str], i32, &str)]| {
        let before = node_objects(&env.cluster);
        for (args, code, says) in cases {
            d.run(args).fails(*code, says);
            assert_eq!(node_objects(&env.cluster), before, "after {args:?}");
        }
        before
    };
    let create = |flags: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["sandbox", "create", "--detach"];
        args.extend_from_slice(flags);
        args
    };
    let cases = [
        (create(&["--backend", "chroot"]), "chroot"),
        (create(&["--backend", "microvm"]), "microvm"),
        (create(&["--image", "nope"]), "nope"),
        (create(&["--ttl", "9h"]), "at most 8h"),
        (create(&["--ttl", "soon"]), "invalid duration"),
        (create(&["--memory", "lots"]), "lots"),
        (create(&["--disk", "1.5Q"]), "1.5Q"),
        (create(&["--cpus", "-1"]), "-1"),
        (create(&["--name", "Bad_Name"]), "invalid sandbox name"),
    ];
    let cases: Vec<(&[&str], i32, &str)> = cases
        .iter()
        .map(|(args, says)| (args.as_slice(), 2, *says))
        .collect();
    refused_leaving_nothing(&cases);
    env.create("twin", "runc", &[]);
    let with_twin = refused_leaving_nothing(&[
        (
            &["sandbox", "create", "--name", "twin", "--detach"],
            6,
            "already have a sandbox named twin",
        ),
        (&["exec", "ghost", "--", "true"], 5, "no sandbox \"ghost\""),
    ]);
    assert!(
        with_twin.iter().any(|o| o.starts_with("/sys/fs/cgroup/"))
            && with_twin.iter().any(|o| o.starts_with("/run/airlock/")),
        "twin's run directory and cgroups are seen: {with_twin:?}"
    );
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
