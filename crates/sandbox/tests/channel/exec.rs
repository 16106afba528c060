//! exec: pipes, PTYs, identity of the process, stdin, signals, exit codes.

use std::time::{Duration, Instant};

use airlock_sandbox::channel::{ExecEvent, ExecRequest, ExitStatus, Tty, User};

use crate::fixture::{Sandbox, eventually, text};

#[tokio::test]
async fn pipes_carry_stdout_stderr_and_the_exit_code() {
    let sb = Sandbox::start().await;
    let out = sb.sh(User::Agent, "echo out; echo err >&2; exit 3").await;
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(out.status, ExitStatus::Code(3));
}

#[tokio::test]
async fn agent_processes_have_no_privilege_and_root_is_root() {
    let sb = Sandbox::start().await;
    let out = sb
        .sh(
            User::Agent,
            "id -u; id -g; pwd; echo $HOME; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
        )
        .await;
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(
        &lines[..4],
        [
            "1000",
            "1000",
            sb.p("workspace").as_str(),
            sb.p("home").as_str()
        ]
    );
    for cap in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert!(
            s.contains(&format!("{cap}:\t0000000000000000")),
            "{cap} not empty:\n{s}"
        );
    }
    assert!(s.contains("NoNewPrivs:\t1"), "{s}");
    let root = sb.sh(User::Root, "id -u").await;
    assert_eq!(text(&root.stdout), "0\n");
}

#[tokio::test]
async fn the_token_is_not_visible_to_processes() {
    let sb = Sandbox::start().await;
    let pid = sb.init.id();
    let out = sb
        .sh(
            User::Root,
            &format!("env; tr '\\0' '\\n' < /proc/{pid}/environ"),
        )
        .await;
    let all = text(&out.stdout);
    assert!(all.contains("PATH="), "{all}");
    assert!(!all.contains(sb.token.as_str()), "token leaked:\n{all}");
    assert!(!all.contains("AIRLOCK_INIT_TOKEN"), "{all}");
    let agent = sb
        .sh(User::Agent, &format!("cat /proc/{pid}/environ"))
        .await;
    assert_ne!(
        agent.status,
        ExitStatus::Code(0),
        "agent read init's environ"
    );
}

#[tokio::test]
async fn stdin_is_streamed_with_flow_control() {
    let sb = Sandbox::start().await;
    let session = sb.conn.exec(ExecRequest::new(["sha256sum"])).await.unwrap();
    let input = session.input();
    let data: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let expected = {
        use std::io::Write;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&data).unwrap();
        text(&child.wait_with_output().unwrap().stdout)
    };
    let writer = tokio::spawn(async move {
        input.write(&data).await.unwrap();
        input.close().await.unwrap();
    });
    let out = session.wait_with_output().await.unwrap();
    writer.await.unwrap();
    assert_eq!(text(&out.stdout), expected);
    assert_eq!(out.status, ExitStatus::Code(0));
}

#[tokio::test]
async fn signals_are_delivered_and_reported() {
    let sb = Sandbox::start().await;
    let session = sb
        .conn
        .exec(ExecRequest::new(["sleep", "100"]))
        .await
        .unwrap();
    session.input().signal(15).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(5), session.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status, ExitStatus::Signal(15));
    let killed = sb.sh(User::Agent, "kill -9 $$").await;
    assert_eq!(killed.status, ExitStatus::Signal(9));
}

#[tokio::test]
async fn a_missing_program_is_an_error_not_a_hang() {
    let sb = Sandbox::start().await;
    let err = sb
        .conn
        .exec(ExecRequest::new(["/no/such/program"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/program"), "{err}");
    let mut req = ExecRequest::new(["true"]);
    req.cwd = Some("/no/such/dir".into());
    let err = sb.conn.exec(req).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("working directory /no/such/dir does not exist"),
        "{err}"
    );
}

/// Reads PTY output until `needle` shows up.
async fn read_until(session: &mut airlock_sandbox::channel::ExecSession, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, session.next_event()).await {
            Ok(Ok(Some(ExecEvent::Stdout(d)))) => seen.push_str(&text(&d)),
            other => panic!("waiting for {needle:?}, got {other:?}; so far {seen:?}"),
        }
    }
    seen
}

#[tokio::test]
async fn a_pty_session_resizes_and_sees_a_terminal() {
    let sb = Sandbox::start().await;
    let mut req = ExecRequest::new([
        "sh",
        "-c",
        "test -t 0 && echo tty; stty size; read x; stty size; exit 4",
    ]);
    req.tty = Some(Tty {
        rows: 24,
        cols: 80,
        term: "xterm-256color".into(),
    });
    let mut session = sb.conn.exec(req).await.unwrap();
    let first = read_until(&mut session, "24 80").await;
    assert!(first.contains("tty"), "{first}");
    let input = session.input();
    input.resize(50, 132).await.unwrap();
    input.write(b"\n").await.unwrap();
    read_until(&mut session, "50 132").await;
    loop {
        match session.next_event().await.unwrap() {
            Some(ExecEvent::Exited(status)) => break assert_eq!(status, ExitStatus::Code(4)),
            Some(_) => {}
            None => panic!("no exit"),
        }
    }
}

#[tokio::test]
async fn orphans_are_reaped() {
    let sb = Sandbox::start().await;
    let init = sb.init.id();
    // The shell exits at once, leaving two children: they are re-parented
    // to init (its subreaper here, PID 1 in a sandbox), which must reap them.
    let out = sb
        .sh(
            User::Agent,
            "sleep 1 >/dev/null 2>&1 & sleep 1 >/dev/null 2>&1 & echo started",
        )
        .await;
    assert_eq!(text(&out.stdout), "started\n");
    // The shell has exited (we got its status), so they are init's now.
    assert_eq!(
        children_of(init, None).len(),
        2,
        "orphans re-parented to init"
    );
    eventually("the orphans to exit and be reaped", async || {
        children_of(init, None).is_empty()
    })
    .await;
}

/// Pids whose parent is `ppid` (optionally only in `state`).
fn children_of(ppid: u32, state: Option<char>) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": comm may contain spaces, so split after ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let mut fields = rest.split(' ');
        let st = fields.next().unwrap().chars().next().unwrap();
        let parent: u32 = fields.next().unwrap().parse().unwrap();
        if parent == ppid && state.is_none_or(|s| s == st) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
async fn reports_round_trip_latency_and_init_memory() {
    let sb = Sandbox::start().await;
    let mut exec_times = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        let out = sb.conn.exec(ExecRequest::new(["true"])).await.unwrap();
        out.wait_with_output().await.unwrap();
        exec_times.push(start.elapsed());
    }
    let mut pings = Vec::new();
    for _ in 0..100 {
        pings.push(sb.conn.ping().await.unwrap());
    }
    exec_times.sort();
    pings.sort();
    let status = std::fs::read_to_string(format!("/proc/{}/status", sb.init.id())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .to_owned();
    eprintln!(
        "exec `true` round trip: median {:?}, p90 {:?}; channel ping median {:?}; init {rss}",
        exec_times[15], exec_times[27], pings[50]
    );
    let kib: u64 = rss.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(kib < 64 * 1024, "init uses {kib} KiB");
}

#[tokio::test]
async fn many_concurrent_execs_all_run() {
    let sb = Sandbox::start().await;
    let runs = (0..40).map(|i| {
        let conn = sb.conn.clone();
        async move {
            let req = ExecRequest::new(["sh", "-c", &format!("echo {i}")]);
            let out = conn
                .exec(req)
                .await
                .unwrap()
                .wait_with_output()
                .await
                .unwrap();
            assert_eq!(text(&out.stdout), format!("{i}\n"));
        }
    });
    let handles: Vec<_> = runs.map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn dropping_a_session_kills_its_process() {
    let sb = Sandbox::start().await;
    let mut req = ExecRequest::new(["sh", "-c", "exec yes airlock-drop-test"]);
    req.cwd = Some(sb.p("workspace"));
    let mut session = sb.conn.exec(req).await.unwrap();
    let pid = session.pid();
    // It is flooding its output; take a little, then walk away.
    assert!(matches!(
        session.next_event().await,
        Ok(Some(ExecEvent::Stdout(_)))
    ));
    drop(session);
    eventually("the abandoned process to be killed", async || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
    .await;
}

/// A sandbox meant to run under seccomp never runs without it: init exits
/// with one line naming the problem when the programs are missing or damaged.
#[test]
fn init_refuses_to_start_without_its_seccomp_programs() {
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.bpf");
    std::fs::write(&damaged, [5, 0, 0, 0, 1, 2]).unwrap();
    for (path, why) in [
        (
            dir.path().join("missing.bpf"),
            "cannot read the seccomp programs",
        ),
        (damaged, "are damaged: truncated program"),
    ] {
        let out = std::process::Command::new(crate::fixture::init_bin())
            .env_clear()
            .env("AIRLOCK_INIT_TOKEN", "t")
            .env("AIRLOCK_SECCOMP", &path)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
