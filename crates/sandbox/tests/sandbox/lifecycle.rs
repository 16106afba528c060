//! Create, run, destroy; bad input; orphans after a restart.

use airlock_core::{IsolationClass, SandboxId};
use airlock_sandbox::{Limits, SandboxError, SandboxSpec};

use crate::util::{BACKENDS, TestNode, new_id, wait_output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_command_as_root_with_its_hostname_and_leaves_nothing() {
    let t = TestNode::new().await;
    for class in BACKENDS {
        let out = t.run(class, "id; hostname").await;
        assert!(out.contains("uid=0(root) gid=0(root)"), "{class}: {out}");
        assert!(
            out.lines().any(|l| l.starts_with("t-")),
            "{class}: hostname: {out}"
        );
        assert!(out.contains("__EXIT__0"), "{class}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_root_inside_is_an_unprivileged_host_uid() {
    let t = TestNode::new().await;
    let out = t
        .run(
            IsolationClass::Runc,
            "cat /proc/self/uid_map /proc/self/gid_map",
        )
        .await;
    let maps: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| !l.starts_with("__"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(maps, vec![vec!["0", "100000", "65536"]; 2], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_is_idempotent_and_ids_are_unique() {
    let t = TestNode::new().await;
    let h = t
        .start(IsolationClass::Runc, "sleep 30", Limits::default())
        .await;
    let mut again = SandboxSpec::new(h.id.clone(), IsolationClass::Runc);
    again.command = Some(vec!["/bin/true".into()]);
    let err = t.node.create(again).await.unwrap_err();
    assert!(matches!(err, SandboxError::AlreadyExists(_)), "{err}");
    t.destroy_clean(&h.id).await;
    t.destroy_clean(&h.id).await;
    t.destroy_clean(&SandboxId::new("never-existed").unwrap())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_nothing_left() {
    let t = TestNode::new().await;
    let spec = |f: &dyn Fn(&mut SandboxSpec)| {
        let mut s = SandboxSpec::new(new_id(), IsolationClass::Runc);
        s.command = Some(vec!["/bin/true".into()]);
        f(&mut s);
        s
    };
    let cases: Vec<(SandboxSpec, &str)> = vec![
        (spec(&|s| s.image = "nope".into()), "unknown image"),
        (spec(&|s| s.image = "../etc".into()), "invalid image name"),
        (
            spec(&|s| s.env.push(("AIRLOCK_INIT_TOKEN".into(), "x".into()))),
            "AIRLOCK_",
        ),
        (
            spec(&|s| s.hostname = "Not_A_Label".into()),
            "invalid hostname",
        ),
        (spec(&|s| s.limits.memory = 1024), "memory must be at least"),
        (
            spec(&|s| s.command = Some(vec!["/does/not/exist".into()])),
            "runc run failed",
        ),
    ];
    for (s, want) in cases {
        let id = s.id.clone();
        let err = t.node.create(s).await.unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(!err.contains('\n'), "one line: {err:?}");
        t.destroy_clean(&id).await;
    }
    assert!(
        "firecracker"
            .parse::<airlock_sandbox::BackendChoice>()
            .is_err()
    );
    assert!(
        Limits::parse(None, Some("12Q"), None)
            .unwrap_err()
            .to_string()
            .contains("invalid size")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_found_after_a_restart_and_removed() {
    let t = TestNode::new().await;
    let kept = t
        .start(IsolationClass::Runc, "sleep 60", Limits::default())
        .await;
    let orphan_runc = t
        .start(IsolationClass::Runc, "sleep 60", Limits::default())
        .await;
    let orphan_gvisor = t
        .start(IsolationClass::Gvisor, "sleep 60", Limits::default())
        .await;
    // A crash loses the node's memory; its directories and the runtimes' state remain.
    let restarted = t.reopen().await;
    let listed: Vec<String> = restarted
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    for h in [&kept, &orphan_runc, &orphan_gvisor] {
        assert!(listed.contains(&h.id.to_string()), "{} in {listed:?}", h.id);
    }
    let mut removed = restarted
        .cleanup_orphans(std::slice::from_ref(&kept.id))
        .await
        .unwrap();
    removed.sort();
    let mut want = vec![orphan_runc.id.to_string(), orphan_gvisor.id.to_string()];
    want.sort();
    assert_eq!(removed, want);
    for h in [&orphan_runc, &orphan_gvisor] {
        t.destroy_clean(&h.id).await;
    }
    t.destroy_clean(&kept.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_socket_is_reachable_from_inside_with_the_handles_owner() {
    let t = TestNode::new().await;
    for class in BACKENDS {
        // bash's /dev/tcp cannot do unix sockets; python3 is in the host's /usr.
        // Like init, retry until the host side listens.
        let script = "python3 -c \"
import socket, time
for i in range(200):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect('/run/airlock-host/ctl.sock'); break
    except OSError:
        time.sleep(0.05)
s.sendall(b'hello'); print('sent')\"";
        let mut h = t.start(class, script, Limits::default()).await;
        // As the node bound it before the runtime started: 0600, owned by
        // root-inside's host uid.
        let meta = std::fs::metadata(h.paths.ctl_sock()).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.mode() & 0o777, 0o600, "{class}");
        let owner = h.socket_owner.unwrap_or((0, 0));
        assert_eq!((meta.uid(), meta.gid()), owner, "{class}");
        let listener = h
            .take_channel_socket()
            .expect("bound at creation")
            .into_tokio()
            .unwrap();
        let (mut conn, _) =
            tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept())
                .await
                .expect("the sandbox never connected")
                .unwrap();
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut buf)
            .await
            .unwrap();
        assert_eq!(buf, b"hello", "{class}");
        let out = wait_output(&h).await;
        assert!(out.contains("sent"), "{class}: {out}");
        t.destroy_clean(&h.id).await;
    }
}
