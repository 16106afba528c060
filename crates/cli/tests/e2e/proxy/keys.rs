//! The real keys are nowhere in a sandbox whose agent has just used them
//! through the proxy: not in its environment, its files or its memory.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::world::*;
use crate::sandbox::BACKENDS;

/// Where the host keeps sandbox `id`: its run directory and its processes.
fn host_view(id: &str) -> (String, Vec<String>) {
    let find = |root: &str| {
        let out = Command::new("find")
            .args([root, "-name", id])
            .output()
            .expect("find");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let dir = find("/run/airlock")
        .into_iter()
        .find(|p| p.contains("/sb/"))
        .expect("the sandbox's run directory");
    let mut pids: Vec<String> = find("/sys/fs/cgroup")
        .iter()
        .filter(|p| p.contains("/airlock/"))
        .filter_map(|p| std::fs::read_to_string(format!("{p}/cgroup.procs")).ok())
        .flat_map(|procs| procs.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    pids.sort();
    pids.dedup();
    (dir, pids)
}

/// `grep -rlsF` for `needles` under `root` (sockets and devices skipped).
fn grep_files(root: &str, needles: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("grep");
    cmd.args(["-rlsF", "-D", "skip"]);
    for n in needles {
        cmd.args(["-e", n]);
    }
    let out = cmd.arg(root).output().expect("grep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// How often each needle occurs in the memory of `pids` (py/memscan.py).
fn scan_memory(pids: &[String], needles: &[&str]) -> Value {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script("memscan.py")).args(pids);
    let out = crate::util::run(cmd, &(needles.join("\n") + "\n"));
    serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("{e}: {out:#?}"))
}

#[test]
fn the_real_keys_are_nowhere_in_the_sandbox() {
    let w = World::new();
    let keys = w.keys.all();
    for backend in BACKENDS {
        let name = format!("keys-{backend}");
        let id = w.sandbox(&name, backend, &[]);
        assert_eq!(w.curl(&name, &[&w.api_url("https", "/echo")]).status, 200);
        // A long-lived agent that has just made its calls, and waits.
        let d = &w.env.dev;
        d.run(&[
            "svc",
            "--sandbox",
            &name,
            "start",
            "agent",
            "--",
            "python3",
            "/workspace/sdk_calls.py",
            "linger",
        ])
        .ok();
        let start = Instant::now();
        while !d
            .run(&["svc", "--sandbox", &name, "logs", "agent"])
            .stdout
            .contains("ready")
        {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "the agent never got ready"
            );
            std::thread::sleep(Duration::from_millis(200));
        }

        // Not in its environment, nor in any of its processes'.
        let env = w.env.exec(&name, &["env"]);
        assert!(env.ok().contains(DUMMY_KEY), "{env:#?}");
        let environ = w.env.dev.run(&[
            "exec",
            "--root",
            &name,
            "--",
            "sh",
            "-c",
            "cat /proc/[0-9]*/environ | tr '\\0' '\\n'",
        ]);
        assert!(
            environ.ok().contains("OPENAI_API_KEY=airlock-proxy"),
            "{environ:#?}"
        );
        for k in keys {
            assert!(
                !env.stdout.contains(k) && !environ.stdout.contains(k),
                "{backend}"
            );
        }

        // Not in the memory of any of its processes, read from the host,
        // where the dummy key and the upstream's reply are. First, before
        // the searches below send anything derived from the keys inside.
        let (dir, pids) = host_view(&id);
        assert!(!pids.is_empty(), "{backend}: no processes found for {id}");
        let mut needles = keys.to_vec();
        needles.extend([DUMMY_KEY, REPLY_MARKER]);
        let mem = scan_memory(&pids, &needles);
        assert!(mem["bytes"].as_u64().unwrap() > 1 << 20, "{backend}: {mem}");
        for n in [DUMMY_KEY, REPLY_MARKER] {
            assert_ne!(
                mem["found"][n],
                json!({}),
                "{backend}: control {n:?} not seen: {mem}"
            );
        }
        for k in keys {
            assert_eq!(
                mem["found"][k],
                json!({}),
                "{backend}: a real key in memory: {mem}"
            );
        }

        // Not in its files, seen from inside (leaving out the kernel's views
        // and /usr, the host's, mounted read-only: nothing inside writes
        // there) and from the host (the sandbox's whole run directory:
        // writable layer, merged root, bundle, host channel).
        // The agent's log holds the upstream's reply: the control that shows
        // the search sees what the sandbox wrote. Inside, each key is
        // searched as a pattern that does not spell it (`sk-[o]penai-...`),
        // so the search itself brings no key in.
        let mut script = String::from("grep -rls -D skip");
        for n in keys.iter().chain([&REPLY_MARKER]) {
            script += &format!(" -e '{}[{}]{}'", &n[..3], &n[3..4], &n[4..]);
        }
        script += " --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr --exclude-dir=dev /";
        let inside = w
            .env
            .dev
            .run(&["exec", "--root", &name, "--", "sh", "-c", &script]);
        assert_eq!(
            inside.stdout, "/var/log/airlock/agent.log\n",
            "{backend}: {inside:#?}"
        );
        assert_eq!(grep_files(&dir, &keys), Vec::<String>::new(), "{backend}");
        let control = grep_files(&dir, &[REPLY_MARKER]);
        assert!(
            control
                .iter()
                .any(|f| f.ends_with("rw/upper/var/log/airlock/agent.log")),
            "{backend}: {control:?}"
        );

        w.env.dev.run(&["sandbox", "rm", &name]).ok();
    }
}
