//! What a sandbox can see and do: image, network, processes, syscalls,
//! capabilities, /proc and /sys. Each check runs on both OCI backends.

use airlock_core::IsolationClass;
use airlock_sandbox::Limits;

use crate::util::{BACKENDS, TestNode, wait_output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_is_read_only_and_the_writable_layer_dies_with_the_sandbox() {
    let t = TestNode::new().await;
    let image = t.node.images().get("host").unwrap();
    for class in BACKENDS {
        let out = t
            .run(
                class,
                "touch /usr/airlock-x 2>/dev/null && echo USR_WRITABLE || echo USR_READONLY
                 echo data > /etc/marker && cat /etc/marker
                 python3 -c 'import os; print(\"passwd\", os.stat(\"/etc/passwd\").st_uid); \
                   [print(\"agent\", os.stat(p).st_uid) for p in (\"/home/agent\", \"/workspace\")]'
                 test -e /etc/shadow && echo SHADOW || echo NO_SHADOW
                 ls /root | wc -l | sed 's/^/ROOT_ENTRIES /'
                 echo CLI $(command -v airlock)",
            )
            .await;
        for want in [
            "USR_READONLY",
            "data",
            "passwd 0",
            "agent 1000",
            "NO_SHADOW",
            "ROOT_ENTRIES 0",
            "CLI /.airlock/bin/airlock",
        ] {
            assert!(out.contains(want), "{class}: {want} not in {out}");
        }
        assert!(!out.contains("agent 0"), "{class}: {out}");
        let again = t
            .run(class, "test -e /etc/marker && echo MARKER || echo FRESH")
            .await;
        assert!(again.contains("FRESH"), "{class}: {again}");
        assert!(
            !image.root.join("etc/marker").exists(),
            "the image was written to"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_is_loopback_only() {
    let t = TestNode::new().await;
    // A host service on loopback and on every address: neither is reachable.
    let host = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let host_ip = host_address();
    let script = format!(
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/IF /'
         for a in 127.0.0.1 {host_ip} 169.254.169.254 1.1.1.1; do
           timeout 5 bash -c \"echo > /dev/tcp/$a/{port}\" 2>/dev/null && echo \"REACHED $a\" || echo \"BLOCKED $a\"
         done
         getent hosts example.com && echo DNS_RESOLVED || echo DNS_FAILED"
    );
    for class in BACKENDS {
        let out = t.run(class, &script).await;
        let ifs: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("IF ")).collect();
        assert_eq!(ifs, ["lo"], "{class}: {out}");
        assert!(!out.contains("REACHED"), "{class}: {out}");
        assert_eq!(out.matches("BLOCKED").count(), 4, "{class}: {out}");
        assert!(out.contains("DNS_FAILED"), "{class}: {out}");
    }
}

/// The host's first non-loopback IPv4 address.
fn host_address() -> String {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .find(|a| a.contains('.'))
        .unwrap_or("10.0.2.15")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_processes_are_invisible() {
    let t = TestNode::new().await;
    for class in BACKENDS {
        let out = t
            .run(class, "echo PIDS $(ls /proc | grep -cE '^[0-9]+$'); echo ONE $(tr '\\0' ' ' < /proc/1/cmdline)")
            .await;
        let pids: usize = field(&out, "PIDS").parse().unwrap();
        assert!(pids < 10, "{class}: sees {pids} processes: {out}");
        assert!(
            field(&out, "ONE").starts_with("/bin/sh -c"),
            "{class}: {out}"
        );
    }
}

/// Run as a plain command (PID 1 instead of init), so the runtime applies
/// the profile; init's own path is tested end to end in the CLI's escape
/// battery.
const PRIVILEGED_CALLS: &str =
    "unshare -U true 2>/dev/null && echo UNSHARE_OK || echo UNSHARE_BLOCKED
    mount -t tmpfs none /tmp 2>/dev/null && echo MOUNT_OK || echo MOUNT_BLOCKED
    python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); \
      r=l.syscall(250, 0, 0, 0, 0, 0); print(\"KEYCTL\", r, ctypes.get_errno()); \
      r=l.syscall(101, 0, 0, 0, 0); print(\"PTRACE\", r, ctypes.get_errno()); \
      r=l.syscall(435, 0, 0); print(\"CLONE3\", r, ctypes.get_errno()); \
      r=l.syscall(41, 40, 1, 0); print(\"VSOCK\", r, ctypes.get_errno()); \
      import threading; t=threading.Thread(target=lambda: print(\"THREAD_RAN\")); t.start(); t.join()'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_seccomp_blocks_namespaces_mounts_keyrings_and_ptrace() {
    let t = TestNode::new().await;
    let out = t.run(IsolationClass::Runc, PRIVILEGED_CALLS).await;
    for want in [
        "UNSHARE_BLOCKED",
        "MOUNT_BLOCKED",
        "KEYCTL -1 1",
        "PTRACE -1 1",
        // ENOSYS, so libc falls back to clone, whose flags are checked.
        "CLONE3 -1 38",
        "VSOCK -1 1",
        "THREAD_RAN",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
}

/// Under gVisor these calls reach the sentry, not the host kernel; what
/// matters is that the privileged ones fail there too (no CAP_SYS_ADMIN).
/// A user namespace or ptrace inside the sentry touches nothing outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gvisor_refuses_mounts_and_keyrings() {
    let t = TestNode::new().await;
    let out = t.run(IsolationClass::Gvisor, PRIVILEGED_CALLS).await;
    assert!(out.contains("MOUNT_BLOCKED"), "{out}");
    assert!(out.contains("KEYCTL -1"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_are_minimal_for_root_and_empty_for_the_agent() {
    let t = TestNode::new().await;
    let script = "grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status | tr -d '\\t' | sed 's/^/ROOT /'
        setpriv --reuid=1000 --regid=1000 --clear-groups grep -E '^Cap(Prm|Eff|Amb)' /proc/self/status \
          | tr -d '\\t' | sed 's/^/AGENT /'";
    for class in BACKENDS {
        let out = t.run(class, script).await;
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
        assert!(
            out.contains("ROOT CapBnd:00000000000005fb"),
            "{class}: {out}"
        );
        // gVisor's /proc shows neither NoNewPrivs nor CapAmb.
        let mut agent = vec!["CapPrm", "CapEff"];
        if class == IsolationClass::Runc {
            assert!(out.contains("ROOT NoNewPrivs:1"), "{class}: {out}");
            agent.push("CapAmb");
        }
        for cap in agent {
            assert!(
                out.contains(&format!("AGENT {cap}:0000000000000000")),
                "{class}: {cap}: {out}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_and_sys_are_masked_and_read_only() {
    let t = TestNode::new().await;
    let script = "echo KCORE $(head -c 16 /proc/kcore 2>/dev/null | wc -c)
        touch /sys/airlock 2>/dev/null && echo SYS_WRITABLE || echo SYS_READONLY
        (echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo PROCSYS_WRITABLE || echo PROCSYS_READONLY";
    for class in BACKENDS {
        let out = t.run(class, script).await;
        for want in ["KCORE 0", "SYS_READONLY", "PROCSYS_READONLY"] {
            assert!(out.contains(want), "{class}: {want} not in {out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_sandbox_sees_its_own_cgroup_limits() {
    let t = TestNode::new().await;
    let limits = Limits {
        millicpus: 1500,
        memory: 256 << 20,
        pids: 100,
        disk: 64 << 20,
    };
    let h = t.start(IsolationClass::Runc, "sleep 30", limits).await;
    let cg = |ctrl: &str, file: &str| {
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
        .unwrap()
        .trim()
        .to_string()
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(
        cg("memory", "memory.memsw.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(cg("pids", "pids.max"), "100");
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "150000");
    t.destroy_clean(&h.id).await;
    let _ = wait_output;
}

/// The value after `key ` on the first line that has it.
pub fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("{key} not in {out}"))
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_files_devices_raw_sockets_and_modules_are_out_of_reach() {
    let t = TestNode::new().await;
    // Paths that exist on the host: the node's own state and run dirs.
    let state = t.state.path().display().to_string();
    let run = t.run_dir.display().to_string();
    let script = format!(
        "for p in {state} {run} /etc/shadow /root/.ssh; do test -e $p && echo \"SEES $p\" || echo \"HIDDEN $p\"; done
         for d in /tmp /workspace; do
           if mknod $d/mem c 1 1 2>/dev/null; then
             head -c 1 $d/mem >/dev/null 2>&1 && echo \"DEVICE_READABLE $d\" || echo \"DEVICE_UNUSABLE $d\"
           else echo \"MKNOD_BLOCKED $d\"; fi
         done
         python3 -c 'import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print(\"RAW_OK\")
except OSError as e:
    print(\"RAW_BLOCKED\", e.errno)'
         python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); \
           r=l.syscall(175, 0, 0, 0); print(\"INIT_MODULE\", r, ctypes.get_errno())'"
    );
    for class in BACKENDS {
        let out = t.run(class, &script).await;
        assert!(!out.contains("SEES"), "{class}: {out}");
        assert_eq!(out.matches("HIDDEN").count(), 4, "{class}: {out}");
        // runc refuses mknod (no CAP_MKNOD); gVisor may create the node
        // in its own filesystem, but it reaches no host device.
        assert!(!out.contains("DEVICE_READABLE"), "{class}: {out}");
        if class == IsolationClass::Runc {
            assert_eq!(out.matches("MKNOD_BLOCKED").count(), 2, "{out}");
        }
        for want in ["RAW_BLOCKED", "INIT_MODULE -1"] {
            assert!(out.contains(want), "{class}: {want} not in {out}");
        }
    }
}
