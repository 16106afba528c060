//! Limits hold and the host stays healthy: processes, memory, disk.

use airlock_sandbox::Limits;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bomb_stops_at_the_pids_limit() {
    let t = TestNode::new().await;
    let script = "i=0; while [ $i -lt 200 ]; do sleep 30 2>/dev/null & i=$((i+1)); done 2>/dev/null
        echo COUNT $(ls /proc | grep -cE '^[0-9]+$')";
    for class in BACKENDS {
        let out = t.run_limited(class, script, small()).await;
        let n: u32 = field(&out, "COUNT").parse().unwrap();
        assert!(n <= 64, "{class}: {n} processes despite pids=64: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_is_killed() {
    let t = TestNode::new().await;
    let script = "tail /dev/zero; echo TAIL_RC $?";
    for class in BACKENDS {
        let out = t.run_limited(class, script, small()).await;
        assert_eq!(field(&out, "TAIL_RC"), "137", "{class}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_fills_up_at_the_limit() {
    let t = TestNode::new().await;
    let script =
        "dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>&1 | grep -o 'No space left' | head -1
        echo SIZE_MB $(( $(stat -c %s /tmp/fill) / 1048576 ))";
    for class in BACKENDS {
        let out = t.run_limited(class, script, small()).await;
        assert!(out.contains("No space left"), "{class}: {out}");
        let mb: u64 = field(&out, "SIZE_MB").parse().unwrap();
        assert!(mb <= 32, "{class}: wrote {mb} MiB: {out}");
    }
}
