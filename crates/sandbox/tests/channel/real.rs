//! The same channel, with init as PID 1 of a REAL sandbox started by the
//! node (runc, and gVisor where it is usable): exec, PTY, copy, services and
//! a SPIFFE client run inside as the agent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_core::{IsolationClass, SandboxId};
use airlock_sandbox::channel::{
    CopyFormat, ExecRequest, ExitStatus, InitConn, SvcRequest, Tty, User,
};
use airlock_sandbox::elf::pad_readonly_segments;
use airlock_sandbox::{Node, NodeConfig, SandboxHandle, SandboxSpec};

use crate::fixture::{TestIssuer, init_bin, text, workload_client_bin};

struct Real {
    node: Node,
    handle: SandboxHandle,
    conn: InitConn,
    issuer: Arc<TestIssuer>,
    run_dir: PathBuf,
    _state: tempfile::TempDir,
}

impl Real {
    /// A node in throwaway directories and one sandbox with the real init.
    async fn start(class: IsolationClass) -> Self {
        let state = tempfile::tempdir().unwrap();
        let run_dir = PathBuf::from(format!(
            "/run/airlock-chtest/{}-{class}",
            std::process::id()
        ));
        let node = Node::new(NodeConfig {
            state_dir: state.path().to_path_buf(),
            run_dir: run_dir.clone(),
            init_binary: init_bin(),
            runtime_dir: None,
        })
        .await
        .unwrap();
        if let Some(status) = node
            .doctor()
            .into_iter()
            .find(|s| s.class == class && !s.usable)
        {
            panic!(
                "{class} is not usable here ({status:?}); scripts/setup.sh --test installs runc and runsc"
            );
        }
        let id = SandboxId::new(format!("sb-ch{}", class.as_str())).unwrap();
        let mut handle = node
            .create(SandboxSpec::new(id.clone(), class))
            .await
            .unwrap();
        // Short-lived SVIDs, so that a rotation happens during the checks.
        let issuer = TestIssuer::new(Duration::from_secs(8));
        let conn = handle.listen(issuer.clone()).unwrap();
        let ready = tokio::time::timeout(Duration::from_secs(20), conn.ready()).await;
        let real = Self {
            node,
            handle,
            conn,
            issuer,
            run_dir,
            _state: state,
        };
        if ready.is_err() {
            let log = std::fs::read_to_string(real.handle.paths.init_log()).unwrap_or_default();
            real.stop().await;
            panic!("init did not connect from the {class} sandbox; init.log:\n{log}");
        }
        real
    }

    async fn sh(&self, user: User, script: &str) -> (String, String, ExitStatus) {
        let mut req = ExecRequest::new(["sh", "-c", script]);
        req.user = user;
        let out = self
            .conn
            .exec(req)
            .await
            .unwrap()
            .wait_with_output()
            .await
            .unwrap();
        (text(&out.stdout), text(&out.stderr), out.status)
    }

    async fn stop(self) {
        self.conn.close();
        self.node.destroy(&self.handle.id).await.unwrap();
        // The node's own directories (staged init, runtime roots) and its
        // parent cgroups go too: this node exists only for the test.
        let _ = std::fs::remove_dir_all(&self.run_dir);
        let _ = std::fs::remove_dir(self.run_dir.parent().unwrap());
        let tag = self.run_dir.file_name().unwrap();
        for ctrl in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(ctrl.path().join("airlock").join(tag));
        }
    }
}

/// PID 1 runs from the node's staged copy of init, whose read-only
/// segments end on page boundaries (see `airlock_sandbox::elf`): otherwise
/// gVisor copies them into every sandbox's memory. The original needs the
/// padding, the copy is the padded original, and init runs from it (the
/// checks around this one).
fn staged_init_is_padded(sb: &Real) {
    let staged = std::fs::read(sb.run_dir.join("airlock-init")).unwrap();
    let mut original = std::fs::read(init_bin()).unwrap();
    assert!(pad_readonly_segments(&mut original).unwrap() >= 1);
    assert!(original == staged, "the staged init is the padded original");
}

/// Runs the checks in a task so the sandbox is destroyed even when one fails.
async fn checks_inside(class: IsolationClass) {
    let sb = Arc::new(Real::start(class).await);
    let result = tokio::spawn(run_checks(sb.clone())).await;
    let sb = Arc::into_inner(sb).expect("checks hold no reference when done");
    sb.stop().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn run_checks(sb: Arc<Real>) {
    // Who we are, and that init is PID 1.
    let script = "id -u; pwd; cat /proc/1/comm; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status";
    let (out, err, status) = sb.sh(User::Agent, script).await;
    assert_eq!(status, ExitStatus::Code(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["1000", "/workspace", "airlock-init"], "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    // gVisor (2022) does not report NoNewPrivs; where it is shown, it is set.
    assert!(!out.contains("NoNewPrivs:\t0"), "{out}");
    let (root, _, _) = sb.sh(User::Root, "id -u").await;
    assert_eq!(root, "0\n");

    report_numbers(&sb).await;
    staged_init_is_padded(&sb);

    // A PTY with resize.
    let mut req = ExecRequest::new(["sh", "-c", "stty size; read x; stty size"]);
    req.tty = Some(Tty {
        rows: 30,
        cols: 100,
        term: "xterm".into(),
    });
    let session = sb.conn.exec(req).await.unwrap();
    let input = session.input();
    input.resize(40, 120).await.unwrap();
    input.write(b"\n").await.unwrap();
    let out = session.wait_with_output().await.unwrap();
    assert!(
        text(&out.stdout).contains("40 120"),
        "{}",
        text(&out.stdout)
    );

    // Large stdin and stdout through pipes.
    let session = sb.conn.exec(ExecRequest::new(["wc", "-c"])).await.unwrap();
    let input = session.input();
    input.write(&vec![7u8; 3_000_000]).await.unwrap();
    input.close().await.unwrap();
    let out = session.wait_with_output().await.unwrap();
    assert_eq!(text(&out.stdout).trim(), "3000000");
    let (out, _, _) = sb.sh(User::Agent, "head -c 5000000 /dev/zero").await;
    assert_eq!(out.len(), 5_000_000);

    // Copy in a SPIFFE client (this test binary) and run it as the agent.
    let exe = client_binary();
    let copy_start = std::time::Instant::now();
    sb.conn
        .copy_in(
            "/workspace/client",
            CopyFormat::File,
            Some(0o755),
            User::Agent,
            exe.as_slice(),
        )
        .await
        .unwrap();
    eprintln!("copied {} bytes in {:?}", exe.len(), copy_start.elapsed());
    // The bytes that arrived are exactly the ones sent.
    let mut back = Vec::new();
    sb.conn
        .copy_out(
            "/workspace/client",
            CopyFormat::File,
            User::Agent,
            &mut back,
        )
        .await
        .unwrap();
    assert!(back == exe, "copy round trip differs");
    let (out, err, status) = sb.sh(User::Agent, "/workspace/client").await;
    let id = format!("spiffe://airlock.test/sandbox/{}/workload", sb.handle.id);
    assert!(
        out.contains(&format!("SVID {id} JWT {id}")),
        "{status:?}\n{out}\n{err}"
    );
    let _ = sb.issuer.workload_id();
    // Rotated before expiry (at half its lifetime), with a new key made
    // inside, as an unmodified SPIFFE client sees it.
    let (out, err, status) = sb.sh(User::Agent, "/workspace/client rotation").await;
    assert!(
        out.contains("ROTATED cert=true key=true id=true"),
        "{status:?}\n{out}\n{err}"
    );

    // '..' is refused.
    assert!(
        sb.conn
            .copy_out(
                "/workspace/../etc/passwd",
                CopyFormat::File,
                User::Root,
                Vec::new()
            )
            .await
            .is_err()
    );

    // A service, its log on disk inside.
    let svc = SvcRequest::Start {
        name: "web".into(),
        exec: ExecRequest::new(["sh", "-c", "echo serving; sleep 100"]),
        restart_on_failure: false,
    };
    sb.conn.svc(svc).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ls, _, _) = sb.sh(User::Agent, "airlock svc ls").await;
    assert!(ls.contains("web") && ls.contains("running"), "{ls}");
    let (log, _, _) = sb.sh(User::Agent, "cat /var/log/airlock/web.log").await;
    assert!(log.contains("serving"), "{log}");
}

#[tokio::test]
async fn inside_a_real_runc_sandbox() {
    checks_inside(IsolationClass::Runc).await;
}

#[tokio::test]
async fn inside_a_real_gvisor_sandbox() {
    checks_inside(IsolationClass::Gvisor).await;
}

/// The SPIFFE client example without its debug info (copies into gVisor go
/// through its gofer and are slow), or as is without objcopy.
fn client_binary() -> Vec<u8> {
    let exe = workload_client_bin();
    let stripped = std::env::temp_dir().join(format!("airlock-client-{}", std::process::id()));
    let ok = std::process::Command::new("objcopy")
        .arg("--strip-debug")
        .arg(&exe)
        .arg(&stripped)
        .status()
        .is_ok_and(|s| s.success());
    let bytes = std::fs::read(if ok { &stripped } else { &exe }).unwrap();
    let _ = std::fs::remove_file(&stripped);
    bytes
}

/// Prints exec round-trip latency and init's memory inside this sandbox
/// (numbers for the docs; the bounds only catch gross regressions).
async fn report_numbers(sb: &Real) {
    let mut times = Vec::new();
    for _ in 0..20 {
        let start = std::time::Instant::now();
        let session = sb.conn.exec(ExecRequest::new(["true"])).await.unwrap();
        session.wait_with_output().await.unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    let (rss, _, _) = sb.sh(User::Root, "grep VmRSS /proc/1/status").await;
    eprintln!(
        "{}: exec `true` round trip median {:?} (max {:?}); init {}",
        sb.handle.class,
        times[10],
        times[19],
        rss.trim()
    );
    assert!(times[10] < Duration::from_secs(1));
}
