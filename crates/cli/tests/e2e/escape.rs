//! The escape battery: from inside a sandbox of each backend, try to get
//! out. Every attempt must fail, the host must stay healthy, and the sandbox
//! must still be removable with nothing left behind. One test per attempt.

use std::time::Duration;

use crate::sandbox::{BACKENDS, Env, host_leftovers};
use crate::util::*;

/// Runs `attempt` in a fresh sandbox on every backend, then checks the host
/// and removes the sandbox.
fn on_each_backend(extra: &[&str], attempt: impl Fn(&Env, &str, &str)) {
    let env = Env::new();
    for backend in BACKENDS {
        let name = format!("esc-{backend}");
        let sb = env.create(&name, backend, extra);
        let id = sb["id"].as_str().unwrap().to_owned();
        attempt(&env, &name, backend);
        host_is_healthy();
        env.dev.run(&["sandbox", "rm", &name]).ok();
        assert_eq!(host_leftovers(&id), Vec::<String>::new(), "{backend}");
    }
}

fn host_is_healthy() {
    let out = std::process::Command::new("sh")
        .args(["-c", "echo alive"])
        .output()
        .expect("the host can still start processes");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alive\n");
}

fn py(env: &Env, name: &str, root: bool, code: &str) -> Out {
    let mut args = vec!["exec"];
    if root {
        args.push("--root");
    }
    args.extend([name, "--", "python3", "-c", code]);
    env.dev.run(&args)
}

/// The script prints "ESCAPED" only if the attempt worked.
fn assert_contained(out: &Out, what: &str) {
    assert!(!out.stdout.contains("ESCAPED"), "{what}: {out:#?}");
    assert!(
        out.stdout.contains("CONTAINED"),
        "{what}: the probe did not run: {out:#?}"
    );
}

#[test]
fn cannot_read_host_secrets() {
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let root_line = shadow.lines().next().unwrap_or("root:").to_owned();
    on_each_backend(&[], |env, name, _| {
        for root in [false, true] {
            let script = "import sys\nfor p in ['/etc/shadow', '/proc/1/root/etc/shadow', '/root/.bash_history', '/home']:\n    try:\n        print(p, open(p).read()[:200])\n    except Exception as e:\n        print(p, 'refused', type(e).__name__)\nprint('CONTAINED')";
            let out = py(env, name, root, script);
            assert!(out.stdout.contains("CONTAINED"), "{out:#?}");
            assert!(
                !out.stdout.contains(&root_line),
                "host shadow visible: {out:#?}"
            );
        }
        // The server's data directory and CA key are not in the sandbox.
        let key = env.cluster.data.join("ca/ca.key");
        let out = env
            .dev
            .run(&["exec", "--root", name, "--", "cat", key.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{out:#?}");
        assert!(!out.stdout.contains("PRIVATE KEY"));
    });
}

#[test]
fn cannot_see_host_processes() {
    on_each_backend(&[], |env, name, _| {
        let out = py(env, name, true, "import os\npids=[p for p in os.listdir('/proc') if p.isdigit()]\nnames=[]\nfor p in pids:\n    try: names.append(open('/proc/%s/cmdline'%p).read())\n    except Exception: pass\nneedle='server'+chr(0)+'start'
print('ESCAPED' if any(needle in n for n in names) or len(pids) > 50 else 'CONTAINED', len(pids))");
        assert_contained(&out, "host processes");
    });
}

#[test]
fn cannot_reach_host_loopback_or_the_control_plane() {
    on_each_backend(&[], |env, name, _| {
        let port = env.cluster.port;
        let script = format!(
            "import socket\nok=[]\nfor host,port in [('127.0.0.1',{port}),('127.0.0.1',22),('127.0.0.1',5432),('::1',{port})]:\n    s=socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)\n    s.settimeout(2)\n    try:\n        s.connect((host,port)); ok.append((host,port))\n    except Exception as e: pass\nprint('ESCAPED' if ok else 'CONTAINED', ok)"
        );
        assert_contained(&py(env, name, true, &script), "host loopback");
    });
}

#[test]
fn cannot_reach_the_metadata_address_or_the_internet() {
    on_each_backend(&[], |env, name, _| {
        let script = "import socket\nok=[]\nfor host,port in [('169.254.169.254',80),('1.1.1.1',443),('8.8.8.8',53),('10.0.2.2',80)]:\n    s=socket.socket()\n    s.settimeout(2)\n    try:\n        s.connect((host,port)); ok.append(host)\n    except Exception: pass\nprint('ESCAPED' if ok else 'CONTAINED', ok)";
        assert_contained(&py(env, name, true, script), "outside addresses");
    });
}

#[test]
fn dns_resolves_nothing() {
    on_each_backend(&[], |env, name, _| {
        let script = "import socket\ntry:\n    print('ESCAPED', socket.getaddrinfo('example.com', 443))\nexcept Exception as e:\n    print('CONTAINED', e)";
        assert_contained(&py(env, name, false, script), "dns");
    });
}

#[test]
fn cannot_reach_another_sandbox() {
    let env = Env::new();
    for backend in BACKENDS {
        let a = format!("a-{backend}");
        let b = format!("b-{backend}");
        env.create(&a, backend, &[]);
        env.create(&b, backend, &[]);
        env.dev
            .run(&[
                "svc",
                "--sandbox",
                &a,
                "start",
                "listener",
                "--",
                "python3",
                "-m",
                "http.server",
                "8000",
            ])
            .ok();
        std::thread::sleep(Duration::from_millis(700));
        let script = "import socket\ns=socket.socket(); s.settimeout(2)\ntry:\n    s.connect(('127.0.0.1',8000)); print('ESCAPED')\nexcept Exception as e:\n    print('CONTAINED', e)";
        assert_contained(&py(&env, &b, true, script), "other sandbox");
        // ...while inside A the listener is up (the probe is meaningful).
        let own = py(
            &env,
            &a,
            false,
            "import socket\ns=socket.socket(); s.settimeout(2); s.connect(('127.0.0.1',8000)); print('CONTAINED up')",
        );
        assert!(own.stdout.contains("up"), "{own:#?}");
        for n in [&a, &b] {
            env.dev.run(&["sandbox", "rm", n]).ok();
        }
    }
}

#[test]
fn cannot_mount_filesystems() {
    on_each_backend(&[], |env, name, _| {
        let out = env.dev.run(&[
            "exec",
            "--root",
            name,
            "--",
            "sh",
            "-c",
            "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo ESCAPED || echo CONTAINED",
        ]);
        assert_contained(&out, "mount");
    });
}

#[test]
fn cannot_load_kernel_modules() {
    // init_module(2) and finit_module(2) with a bogus image. A kernel that
    // lets the caller in answers about the image (EFAULT, ENOEXEC, ...), or
    // ENOSYS where it was built without modules (as these machines' kernel
    // is, so the runc check must see the sandbox's own barrier: EPERM from
    // seccomp). gVisor has no module loader: ENOSYS from its own kernel.
    on_each_backend(&[], |env, name, backend| {
        let refused = if backend == "gvisor" {
            "(1, 38)"
        } else {
            "(1,)"
        };
        let script = format!(
            "import ctypes\nlibc=ctypes.CDLL(None, use_errno=True)\nbuf=ctypes.create_string_buffer(b'\\x7fELF'+b'\\0'*60)\nfor nr, args in [(175, (buf, 64, b'')), (313, (0, b'', 0))]:\n    r=libc.syscall(nr, *args); e=ctypes.get_errno()\n    print(nr, r, e)\n    if r == 0 or e not in {refused}:\n        print('ESCAPED'); break\nelse:\n    print('CONTAINED')"
        );
        for root in [false, true] {
            assert_contained(&py(env, name, root, &script), "init_module");
        }
    });
}

#[test]
fn cannot_ptrace_outside_or_init() {
    on_each_backend(&[], |env, name, _| {
        let script = "import ctypes\nlibc=ctypes.CDLL(None, use_errno=True)\nr=libc.ptrace(16, 1, 0, 0)\nprint('ESCAPED' if r == 0 else 'CONTAINED', ctypes.get_errno())";
        for root in [false, true] {
            assert_contained(&py(env, name, root, script), "ptrace init");
        }
    });
}

#[test]
fn cannot_open_raw_sockets() {
    on_each_backend(&[], |env, name, _| {
        let script = "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print('ESCAPED')\nexcept Exception as e:\n    print('CONTAINED', e)";
        for root in [false, true] {
            assert_contained(&py(env, name, root, script), "raw socket");
        }
    });
}

#[test]
fn cannot_create_device_nodes() {
    on_each_backend(&[], |env, name, _| {
        let out = env.dev.run(&["exec", "--root", name, "--", "sh", "-c", "mknod /tmp/mem c 1 1 2>/dev/null && head -c1 /tmp/mem >/dev/null 2>&1 && echo ESCAPED || echo CONTAINED"]);
        assert_contained(&out, "mknod");
    });
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    on_each_backend(&[], |env, name, _| {
        let out = env.dev.run(&[
            "exec",
            name,
            "--",
            "sh",
            "-c",
            "timeout 5 sh -c 'f(){ f | f & }; f' 2>/dev/null; echo CONTAINED",
        ]);
        assert_contained(&out, "fork bomb");
    });
}

#[test]
fn a_memory_hog_is_killed_at_the_memory_limit() {
    on_each_backend(&["--memory", "256M"], |env, name, _| {
        let out = env.dev.run(&[
            "exec",
            name,
            "--",
            "python3",
            "-c",
            "b=bytearray(2<<30); print('ESCAPED')",
        ]);
        assert_ne!(out.code, 0, "{out:#?}");
        assert!(!out.stdout.contains("ESCAPED"));
    });
}

#[test]
fn filling_the_disk_stops_at_the_disk_limit() {
    on_each_backend(&["--disk", "64M"], |env, name, _| {
        let out = env.dev.run(&["exec", name, "--", "sh", "-c", "dd if=/dev/zero of=/workspace/big bs=1M count=512 2>/dev/null; python3 -c \"import os; print('ESCAPED' if os.path.getsize('/workspace/big') > 80<<20 else 'CONTAINED')\""]);
        assert_contained(&out, "disk");
    });
}

#[test]
fn nothing_keeps_running_past_the_ttl() {
    let env = Env::new();
    for backend in BACKENDS {
        let name = format!("ttl-{backend}");
        let sb = env.create(&name, backend, &["--ttl", "3s"]);
        let id = sb["id"].as_str().unwrap().to_owned();
        env.dev
            .run(&[
                "svc",
                "--sandbox",
                &name,
                "start",
                "immortal",
                "--",
                "sh",
                "-c",
                "trap '' TERM; while true; do sleep 1; done",
            ])
            .ok();
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while !host_leftovers(&id).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "still there: {:?}",
                host_leftovers(&id)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        host_is_healthy();
    }
}

#[test]
fn cannot_forge_the_host_channel() {
    // The channel's proof is a per-sandbox token init takes out of its
    // environment at start. From inside, try to steal it, then speak the
    // real protocol (same framing, version and sandbox id) with a guess.
    let env = Env::new();
    for backend in BACKENDS {
        let name = format!("forge-{backend}");
        let sb = env.create(&name, backend, &[]);
        let id = sb["id"].as_str().unwrap().to_owned();
        let steal = "import re\nfound=[]\nfor p in ['/proc/1/environ','/proc/1/cmdline','/proc/self/environ']:\n    try:\n        found += re.findall(rb'[0-9a-f]{64}', open(p,'rb').read())\n    except Exception as e:\n        pass\ntry:\n    m=open('/proc/1/mem','rb'); m.seek(0x400000); m.read(4096); found.append(b'mem readable')\nexcept Exception:\n    pass\nprint('ESCAPED' if found else 'CONTAINED', found)";
        let forge = format!(
            "import socket, struct, json\nbody=json.dumps({{'type':'hello','version':{},'token':'ab'*32,'sandbox_id':'{id}'}}).encode()\ntry:\n    s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect('/run/airlock-host/ctl.sock')\n    s.sendall(struct.pack('>IBI', len(body), 1, 0)+body)\n    d=b''\n    while True:\n        c=s.recv(4096)\n        if not c: break\n        d+=c\n    print('ESCAPED' if b'welcome' in d else 'CONTAINED', d[9:].decode())\nexcept Exception as e:\n    print('CONTAINED', 'unreachable:', e)",
            airlock_wire::PROTOCOL_VERSION
        );
        for root in [false, true] {
            assert_contained(&py(&env, &name, root, steal), "steal the token");
            let out = py(&env, &name, root, &forge);
            assert_contained(&out, "forged hello");
            if root {
                // Root inside can reach the socket: the host read the hello,
                // judged it on its token, and said no.
                assert!(out.stdout.contains("refused"), "{backend}: {out:#?}");
            }
        }
        // The real channel still works.
        assert_eq!(
            env.exec(&name, &["echo", "still here"]).ok(),
            "still here\n"
        );
        host_is_healthy();
        env.dev.run(&["sandbox", "rm", &name]).ok();
        assert_eq!(host_leftovers(&id), Vec::<String>::new(), "{backend}");
    }
}

/// runc: init installs the host-compiled filter before anything starts, so
/// every process, the agent's and root's, runs under it. (gVisor's workload
/// talks to the sentry, not the host kernel.)
#[test]
fn every_runc_process_runs_under_the_seccomp_filter() {
    let env = Env::new();
    let sb = env.create("esc-seccomp", "runc", &[]);
    let id = sb["id"].as_str().unwrap().to_owned();
    let script = "import ctypes, threading\n\
        l = ctypes.CDLL(None, use_errno=True)\n\
        def call(name, *a):\n    r = l.syscall(*a); print(name, r, ctypes.get_errno())\n\
        call('KEYCTL', 250, 0, 0, 0, 0, 0)\n\
        call('UNSHARE', 272, 0x10000000)\n\
        call('CLONE3', 435, 0, 0)\n\
        call('VSOCK', 41, 40, 1, 0)\n\
        call('VSOCK_HIGH', 41, ctypes.c_ulong((1 << 32) | 40), 1, 0)\n\
        t = threading.Thread(target=lambda: print('THREAD_RAN')); t.start(); t.join()\n\
        status = open('/proc/self/status').read()\n\
        print([l for l in status.splitlines() if l.startswith(('Seccomp', 'NoNewPrivs'))])";
    for root in [false, true] {
        let out = py(&env, "esc-seccomp", root, script);
        for want in [
            "KEYCTL -1 1",
            "UNSHARE -1 1",
            // ENOSYS, so libc falls back to clone, whose flags are checked.
            "CLONE3 -1 38",
            "VSOCK -1 1",
            // socket() reads an int: high bits do not slip past the rule.
            "VSOCK_HIGH -1 1",
            "THREAD_RAN",
            "'Seccomp:\\t2'",
            "'NoNewPrivs:\\t1'",
            // The allowlist and the ENOSYS program.
            "'Seccomp_filters:\\t2'",
        ] {
            assert!(out.stdout.contains(want), "root={root}: {want} in {out:#?}");
        }
    }
    env.dev.run(&["sandbox", "rm", "esc-seccomp"]).ok();
    assert_eq!(host_leftovers(&id), Vec::<String>::new());
}
