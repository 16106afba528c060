//! Sandbox runtime benchmark (run as root):
//!
//! ```text
//! cargo bench -p airlock-sandbox --bench sandbox [-- [--quick] [--memory]]
//! ```
//!
//! `--quick` runs fewer start rounds, `--memory` only the idle-memory part.
//! `SANDBOX_BENCH_BACKENDS=runc,gvisor` picks the backends;
//! `SANDBOX_BENCH_IDLE_SECS=2,240` when the idle sandboxes are measured,
//! in seconds after they were all created (default 2 and 240: gVisor's Go
//! runtime holds its start-up garbage until a collection, which an idle
//! sandbox gets from Go's two-minute forced GC).
//!
//! Per backend, in the same run:
//! - create-to-first-exec, the product's path: `Node::create` with the real
//!   static init as PID 1, the host channel listening, init connected (it
//!   asks for its workload SVID from a real CA as it starts), then
//!   `echo ready` run through the channel and its output back; against the
//!   raw runtime running the same command to completion (`runc run` of a
//!   minimal bundle, `runsc do`), and the raw runtime on Airlock's own
//!   bundle;
//! - removal latency (`Node::destroy`);
//! - 50 concurrent sandboxes, each with init connected: time to create them
//!   all, host memory per idle sandbox outside the workload (PSS of the
//!   runtime's host processes, gVisor's ptrace stubs included, and of
//!   init), and the drop in MemAvailable
//!   per sandbox (everything: page tables, tmpfs, kernel objects), then
//!   time to remove them all.
//!
//! Needs the static init (`scripts/build-init.sh`, or `AIRLOCK_INIT_BIN`).
#![allow(clippy::print_stdout)] // a benchmark's output is its report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_core::{IsolationClass, SandboxId};
use airlock_sandbox::channel::{ExecRequest, InitConn};
use airlock_sandbox::{Node, NodeConfig, SandboxHandle, SandboxSpec};

#[allow(dead_code)] // the tests use more of it than the benchmark
#[path = "../tests/common/issuer.rs"]
mod issuer;
use issuer::TestIssuer;

const CONCURRENT: usize = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let memory_only = std::env::args().any(|a| a == "--memory");
    // Rounds of runc; gVisor's are ~7x longer and run a quarter as many.
    // runc's single runs spread 18-47 ms on the shared machine: 60 rounds
    // keep the medians to about a millisecond.
    let iters = if quick { 8 } else { 60 };
    let state = tempfile::tempdir().expect("tempdir");
    let run_dir = PathBuf::from(format!("/run/airlock-bench/{}", std::process::id()));
    let init = issuer::init_bin();
    let node = Arc::new(
        Node::new(NodeConfig {
            state_dir: state.path().to_path_buf(),
            run_dir: run_dir.clone(),
            init_binary: init,
            runtime_dir: None,
        })
        .await
        .expect("node"),
    );
    let image = node.images().get("host").expect("host image").root;
    println!(
        "| backend | create→first exec through init (median) | raw runtime, minimal bundle (median) | ratio | raw runtime, Airlock's bundle (median) | ratio | destroy (median) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for class in backends().into_iter().filter(|_| !memory_only) {
        let n = if class == IsolationClass::Gvisor {
            iters / 4
        } else {
            iters
        };
        let Starts {
            ours,
            raw,
            same,
            destroy,
        } = interleaved(&node, class, &run_dir, &image, n).await;
        println!(
            "| {class} | {} | {} | {:.2}x | {} | {:.2}x | {} |",
            ms(ours),
            ms(raw),
            ours.as_secs_f64() / raw.as_secs_f64(),
            ms(same),
            ours.as_secs_f64() / same.as_secs_f64(),
            ms(destroy)
        );
    }
    println!();
    println!(
        "| backend | {CONCURRENT} creates (wall) | host PSS per idle sandbox, outside workload | MemAvailable drop per sandbox | {CONCURRENT} destroys (wall) |"
    );
    println!("|---|---|---|---|---|");
    for class in backends() {
        concurrent(&node, class).await;
    }
    println!();
    for (at, per) in runsc_idle_floor(&run_dir, &image) {
        println!(
            "raw runsc, {CONCURRENT} `sleep` sandboxes of a minimal bundle, idle {} s: host PSS per sandbox {:.2} MiB",
            at.as_secs(),
            per / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&run_dir);
}

/// The backends measured: `SANDBOX_BENCH_BACKENDS` (comma-separated), or
/// both.
fn backends() -> Vec<IsolationClass> {
    match std::env::var("SANDBOX_BENCH_BACKENDS") {
        Ok(list) => list
            .split(',')
            .map(|b| match b.trim() {
                "runc" => IsolationClass::Runc,
                "gvisor" => IsolationClass::Gvisor,
                other => panic!("SANDBOX_BENCH_BACKENDS: unknown backend {other:?} (runc, gvisor)"),
            })
            .collect(),
        Err(_) => vec![IsolationClass::Runc, IsolationClass::Gvisor],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A sandbox with init as PID 1 (the product's) or, given `cmd`, that
/// command as the container process (for the raw-runtime comparison).
fn spec(class: IsolationClass, cmd: &[&str]) -> SandboxSpec {
    let mut b = [0u8; 6];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("urandom");
    let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let mut s = SandboxSpec::new(SandboxId::new(format!("b-{id}")).expect("id"), class);
    if !cmd.is_empty() {
        s.command = Some(cmd.iter().map(|a| a.to_string()).collect());
    }
    s
}

/// Listens on the sandbox's channel, as the control plane does right after
/// `create`, and waits for init to connect.
async fn connect(h: &mut SandboxHandle, issuer: &Arc<TestIssuer>) -> InitConn {
    let conn = h.listen(issuer.clone()).expect("listen");
    tokio::time::timeout(Duration::from_secs(30), conn.ready())
        .await
        .expect("init connects")
        .expect("init ready");
    conn
}

/// Medians of one backend's start measurements.
struct Starts {
    ours: Duration,
    raw: Duration,
    same: Duration,
    destroy: Duration,
}

/// Each round runs the raw runtime, then Airlock's path, then the raw
/// runtime on Airlock's bundle, back to back: on a shared, noisy machine a
/// ratio of medians is only fair when both sides saw the same moments
/// (measured in blocks, the raw `runc run` median moved 19-25 ms between
/// runs of the same code).
async fn interleaved(
    node: &Node,
    class: IsolationClass,
    run_dir: &Path,
    image: &Path,
    n: usize,
) -> Starts {
    let issuer = TestIssuer::new(Duration::from_secs(3600));
    let plain = node
        .create(spec(class, &["/bin/echo", "ready"]))
        .await
        .expect("create");
    let (mut raws, mut sames, mut firsts, mut destroys) = (vec![], vec![], vec![], vec![]);
    let (mut created, mut connected) = (Vec::new(), Vec::new());
    for i in 0..n {
        raws.push(raw_runtime(class, run_dir, image, i));
        let t0 = Instant::now();
        let mut h = node.create(spec(class, &[])).await.expect("create");
        created.push(t0.elapsed());
        let conn = connect(&mut h, &issuer).await;
        connected.push(t0.elapsed());
        let session = conn
            .exec(ExecRequest::new(["/bin/echo", "ready"]))
            .await
            .expect("exec");
        let out = session.wait_with_output().await.expect("output");
        assert_eq!(out.stdout, b"ready\n");
        firsts.push(t0.elapsed());
        conn.close();
        let t1 = Instant::now();
        node.destroy(&h.id).await.expect("destroy");
        destroys.push(t1.elapsed());
        sames.push(same_bundle(class, run_dir, &plain, i));
    }
    node.destroy(&plain.id).await.expect("destroy");
    eprintln!(
        "{class}: runtime running at {}, init connected at {}, exec answered at {} (medians)",
        ms(median(created)),
        ms(median(connected)),
        ms(median(firsts.clone()))
    );
    Starts {
        ours: median(firsts),
        raw: median(raws),
        same: median(sames),
        destroy: median(destroys),
    }
}

/// The raw runtime running Airlock's own bundle (same spec, same mounted
/// root) to completion in the foreground: what the isolation settings cost
/// by themselves, without any of Airlock's own work.
fn same_bundle(class: IsolationClass, run_dir: &Path, h: &SandboxHandle, i: usize) -> Duration {
    let (bin, flags): (&str, &[&str]) = match class {
        IsolationClass::Runc => ("runc", &[]),
        _ => (
            "runsc",
            &["--platform=ptrace", "--network=none", "--host-uds=open"],
        ),
    };
    let state = run_dir.join(format!("same-{class}"));
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(&state)
        .args(flags)
        .args(["run", "--bundle"])
        .arg(h.paths.bundle())
        .arg(format!("same{i}"));
    time_ready(&mut cmd)
}

/// Runs `cmd` to completion; how long it took. It must print `ready`.
fn time_ready(cmd: &mut Command) -> Duration {
    let t0 = Instant::now();
    let out = cmd.output().expect("runtime command");
    let took = t0.elapsed();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ready"),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The raw runtime running `echo ready` to completion: `runc run` of a
/// minimal bundle (the host image as read-only root, /usr bound, default
/// `runc spec` otherwise), or `runsc do`.
fn raw_runtime(class: IsolationClass, run_dir: &Path, image: &Path, i: usize) -> Duration {
    let root = run_dir.join("raw");
    let bundle = root.join("bundle");
    std::fs::create_dir_all(&bundle).expect("raw bundle dir");
    if class == IsolationClass::Runc {
        write_raw_bundle(&bundle, image, &["/bin/echo", "ready"]);
    }
    let mut cmd = match class {
        IsolationClass::Runc => {
            let mut c = Command::new("runc");
            c.arg("--root")
                .arg(root.join("state"))
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(format!("raw{i}"));
            c
        }
        _ => {
            let mut c = Command::new("runsc");
            c.arg("--root").arg(root.join("runsc")).args([
                "--platform=ptrace",
                "--network=none",
                "do",
                "/bin/echo",
                "ready",
            ]);
            c
        }
    };
    time_ready(&mut cmd)
}

fn write_raw_bundle(bundle: &Path, image: &Path, args: &[&str]) {
    if bundle.join("config.json").exists() {
        return;
    }
    let st = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(bundle)
        .status()
        .expect("runc spec");
    assert!(st.success());
    let path = bundle.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read spec")).expect("parse spec");
    v["root"] = serde_json::json!({"path": image, "readonly": true});
    v["process"]["terminal"] = false.into();
    v["process"]["args"] = serde_json::json!(args);
    v["mounts"]
        .as_array_mut()
        .expect("mounts")
        .push(serde_json::json!({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}));
    std::fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write spec");
}

async fn concurrent(node: &Arc<Node>, class: IsolationClass) {
    let before = mem_available();
    let pss_before = runtime_pss();
    let t0 = Instant::now();
    let issuer = TestIssuer::new(Duration::from_secs(3600));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT {
        let (node, issuer) = (node.clone(), issuer.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = node.create(spec(class, &[])).await.expect("create");
            let conn = connect(&mut h, &issuer).await;
            (h.id, conn)
        }));
    }
    let mut ids = Vec::new();
    let mut conns = Vec::new();
    for t in tasks {
        let (id, conn) = t.await.expect("join");
        ids.push(id);
        conns.push(conn);
    }
    let created = t0.elapsed();
    let mut samples = Vec::new();
    for at in idle_samples() {
        tokio::time::sleep(at.saturating_sub(t0.elapsed().saturating_sub(created))).await;
        let per_mem = (before.saturating_sub(mem_available())) / CONCURRENT as u64;
        let per_pss = (runtime_pss().saturating_sub(pss_before)) / CONCURRENT as u64;
        samples.push((at, per_pss, per_mem));
    }
    for c in conns {
        c.close();
    }
    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for id in ids {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            node.destroy(&id).await.expect("destroy")
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let destroyed = t1.elapsed();
    for (at, per_pss, per_mem) in samples {
        println!(
            "| {class}, idle {} s | {} | {:.2} MiB | {:.2} MiB | {} |",
            at.as_secs(),
            ms(created),
            per_pss as f64 / 1024.0,
            per_mem as f64 / 1024.0,
            ms(destroyed)
        );
    }
}

/// How long after creation the idle sandboxes are measured
/// (`SANDBOX_BENCH_IDLE_SECS`, seconds, comma-separated).
fn idle_samples() -> Vec<Duration> {
    std::env::var("SANDBOX_BENCH_IDLE_SECS")
        .unwrap_or_else(|_| "2,240".into())
        .split(',')
        .map(|s| {
            Duration::from_secs(
                s.trim()
                    .parse()
                    .expect("SANDBOX_BENCH_IDLE_SECS: seconds, comma-separated"),
            )
        })
        .collect()
}

/// Host PSS (KiB) per idle sandbox of the raw runtime itself: runsc
/// running `sleep` in a minimal bundle (no init, no extra mounts, no
/// limits), measured like Airlock's sandboxes. runc leaves no process.
fn runsc_idle_floor(run_dir: &Path, image: &Path) -> Vec<(Duration, f64)> {
    let root = run_dir.join("raw-idle");
    let bundle = root.join("bundle");
    std::fs::create_dir_all(&bundle).expect("raw bundle dir");
    write_raw_bundle(&bundle, image, &["/bin/sleep", "1000"]);
    let runsc = |args: &[&str]| {
        let mut c = Command::new("runsc");
        c.arg("--root")
            .arg(root.join("state"))
            .args(["--platform=ptrace", "--network=none"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let before = runtime_pss();
    let ids: Vec<String> = (0..CONCURRENT).map(|i| format!("idle{i}")).collect();
    let bundle = bundle.to_str().expect("utf-8 path");
    for id in &ids {
        let st = runsc(&["run", "--detach", "--bundle", bundle, id])
            .status()
            .expect("runsc run");
        assert!(st.success(), "runsc run --detach {id}");
    }
    let t0 = Instant::now();
    let mut per = Vec::new();
    for at in idle_samples() {
        std::thread::sleep(at.saturating_sub(t0.elapsed()));
        per.push((
            at,
            runtime_pss().saturating_sub(before) as f64 / CONCURRENT as f64,
        ));
    }
    // runsc's delete waits about a second for a running sandbox: in parallel.
    let deletes: Vec<_> = ids
        .iter()
        .map(|id| {
            runsc(&["delete", "--force", id])
                .spawn()
                .expect("runsc delete")
        })
        .collect();
    for mut d in deletes {
        let _ = d.wait();
    }
    // Some concurrent deletes lose a race on runsc's state lock: retry
    // those one by one, so no sandbox outlives the benchmark.
    for id in &ids {
        let _ = runsc(&["delete", "--force", id]).status();
    }
    per
}

/// MemAvailable in KiB.
fn mem_available() -> u64 {
    kib_field(
        &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
        "MemAvailable:",
    )
}

/// The value of a `Key:   N kB` line of a /proc file, in KiB (0 if absent).
fn kib_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Summed PSS (KiB) of what exists per sandbox besides the workload: the
/// runtime's own host processes (runsc sandbox and gofer, runc shims if
/// any, and under gVisor's ptrace platform the stub processes the sentry
/// forks to hold each address space: they have no command line of their
/// own, so they are found as descendants) and init (a host process under
/// runc; inside the sentry's memory under gVisor, so already counted
/// there).
fn runtime_pss() -> u64 {
    let procs = host_processes();
    // runsc's processes and, however deep, their descendants (the stubs);
    // not init's, whose children would be the workload.
    let mut ours: std::collections::HashSet<u32> = procs
        .iter()
        .filter(|p| p.cmd.starts_with("runsc"))
        .map(|p| p.pid)
        .collect();
    loop {
        let before = ours.len();
        let children: Vec<u32> = procs
            .iter()
            .filter(|p| ours.contains(&p.ppid))
            .map(|p| p.pid)
            .collect();
        ours.extend(children);
        if ours.len() == before {
            break;
        }
    }
    ours.extend(
        procs
            .iter()
            .filter(|p| p.cmd.starts_with("runc") || p.comm == "airlock-init")
            .map(|p| p.pid),
    );
    procs
        .iter()
        .filter(|p| ours.contains(&p.pid))
        .map(|p| pss_kib(p.pid))
        .sum()
}

struct HostProcess {
    pid: u32,
    ppid: u32,
    cmd: String,
    comm: String,
}

fn host_processes() -> Vec<HostProcess> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let ppid = status
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))?
                .trim()
                .parse()
                .ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            Some(HostProcess {
                pid,
                ppid,
                cmd: String::from_utf8_lossy(&cmd).into_owned(),
                comm: comm.trim().to_string(),
            })
        })
        .collect()
}

fn pss_kib(pid: u32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    kib_field(&smaps, "Pss:")
}
