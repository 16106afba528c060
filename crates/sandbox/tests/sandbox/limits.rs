//! Limits hold and the host stays healthy: processes, memory, disk.
//!
//! Under runc the workload sees the limits itself (fork fails, the hog is
//! OOM-killed). Under gVisor the limits apply to the sandbox's host
//! processes (sentry, gofer, ptrace stubs), so the checks read the host
//! cgroup: usage stayed at or below the limit and the limit was hit.

use std::time::Duration;

use airlock_core::IsolationClass;
use airlock_sandbox::{Limits, SandboxHandle};

use crate::isolation::field;
use crate::util::{BACKENDS, TestNode};

fn small() -> Limits {
    Limits {
        millicpus: 1000,
        memory: 128 << 20,
        pids: 64,
        disk: 32 << 20,
    }
}

/// The bomb runs in a subshell, which dies at the first failed fork; the
/// outer shell then reports with builtins only (no fork left to use).
const FORK_BOMB: &str = "(i=0; while [ $i -lt 300 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null
    echo BOMB_STOPPED";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_fork_bomb_stops_at_the_pids_limit() {
    let t = TestNode::new().await;
    let h = t.start(IsolationClass::Runc, FORK_BOMB, small()).await;
    let out = crate::util::wait_output(&h).await;
    assert!(out.contains("BOMB_STOPPED"), "{out}");
    assert!(events(&t, &h) > 0, "the pids limit was never hit");
    let current: u64 = cgroup(&t, &h, "pids", "pids.current").parse().unwrap();
    assert!(current <= 64, "pids.current = {current}");
    t.destroy_clean(&h.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_memory_hog_is_killed() {
    let t = TestNode::new().await;
    let out = t
        .run_limited(
            IsolationClass::Runc,
            "tail /dev/zero; echo TAIL_RC $?",
            small(),
        )
        .await;
    assert_eq!(field(&out, "TAIL_RC"), "137", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gvisor_fork_bomb_and_memory_hog_stay_inside_their_cgroup() {
    let t = TestNode::new().await;
    // gVisor's host cgroup allows the sentry's own threads on top of the
    // workload's limit; runsc 2022 does not count processes inside, so the
    // bomb stalls at the host limit: the host does not notice, and removal
    // still works.
    let h = t.start(IsolationClass::Gvisor, FORK_BOMB, small()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let limit = 64 + u64::from(airlock_sandbox::spec::GVISOR_PIDS_OVERHEAD);
    assert_eq!(cgroup(&t, &h, "pids", "pids.max"), limit.to_string());
    let current: u64 = cgroup(&t, &h, "pids", "pids.current").parse().unwrap_or(0);
    assert!(current <= limit, "pids.current = {current}");
    t.destroy_clean(&h.id).await;

    let hog = "python3 -c 'b = bytearray(400 << 20); print(\"ALLOCATED\")'";
    // The sentry keeps itself under the cgroup limit: the hog stalls
    // instead of being OOM-killed. Give it time to try.
    let h = t.start(IsolationClass::Gvisor, hog, small()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let max: u64 = cgroup(&t, &h, "memory", "memory.max_usage_in_bytes")
        .parse()
        .unwrap_or(0);
    assert!(max <= 128 << 20, "memory peaked at {max}");
    let log = std::fs::read_to_string(h.paths.init_log()).unwrap_or_default();
    assert!(
        !log.contains("ALLOCATED"),
        "400 MiB allocated under a 128 MiB limit: {log}"
    );
    t.destroy_clean(&h.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_fills_up_at_the_limit() {
    let t = TestNode::new().await;
    // No `dd | grep`: runsc 2022 mishandles pipes from silent processes.
    // Not /tmp: runsc mounts its own memory-backed tmpfs there.
    let script = "dd if=/dev/zero of=/workspace/fill bs=1M count=100 2>/dev/shm/err
        grep -o 'No space left' /dev/shm/err
        echo SIZE_MB $(( $(wc -c < /workspace/fill) / 1048576 ))";
    for class in BACKENDS {
        let out = t.run_limited(class, script, small()).await;
        assert!(out.contains("No space left"), "{class}: {out}");
        let mb: u64 = field(&out, "SIZE_MB").parse().unwrap();
        assert!(mb <= 32, "{class}: wrote {mb} MiB: {out}");
    }
}

/// A file of the sandbox's cgroup under one controller ("" if absent).
fn cgroup(t: &TestNode, h: &SandboxHandle, ctrl: &str, file: &str) -> String {
    let node = t
        .run_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/{ctrl}/airlock/{node}/{}/{file}",
        h.id
    ))
    .unwrap_or_default()
    .trim()
    .to_string()
}

/// How often fork failed at pids.max (`max N` in pids.events).
fn events(t: &TestNode, h: &SandboxHandle) -> u64 {
    let ev = cgroup(t, h, "pids", "pids.events");
    ev.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_use_is_held_to_the_limit_on_every_backend() {
    // Two busy loops under a quarter of a CPU: the sandbox's host cgroup
    // (the workload under runc; sentry and stubs under gVisor) is charged no
    // more than the quota allows, give or take a scheduling period.
    let t = TestNode::new().await;
    let limits = Limits {
        millicpus: 250,
        ..small()
    };
    for class in BACKENDS {
        let h = t
            .start(class, "(while :; do :; done) & while :; do :; done", limits)
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let usage = || -> u64 {
            cgroup(&t, &h, "cpuacct", "cpuacct.usage")
                .parse()
                .unwrap_or_else(|_| panic!("{class}: no cpuacct.usage"))
        };
        let (u0, t0) = (usage(), std::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cores = (usage() - u0) as f64 / 1e9 / t0.elapsed().as_secs_f64();
        assert!(
            cores > 0.05,
            "{class}: the loops did not run ({cores:.3} cores)"
        );
        assert!(
            cores <= 0.25 * 1.25,
            "{class}: used {cores:.3} cores under a 0.25 limit"
        );
        t.destroy_clean(&h.id).await;
    }
}
