//! Services: outlive sessions, log to disk, reachable from the host and
//! from inside through the multi-call `airlock` CLI.

use std::time::Duration;

use airlock_sandbox::channel::{ExecRequest, ExitStatus, ServiceState, SvcRequest, User};

use crate::fixture::{Sandbox, eventually, text};

fn start(name: &str, script: &str, sb: &Sandbox) -> SvcRequest {
    let mut exec = ExecRequest::new(["sh", "-c", script]);
    exec.cwd = Some(sb.p("workspace"));
    SvcRequest::Start {
        name: name.into(),
        exec,
        restart_on_failure: false,
    }
}

#[tokio::test]
async fn services_outlive_the_session_and_log_to_disk() {
    let sb = Sandbox::start().await;
    let started = sb
        .conn
        .svc(start(
            "web",
            "echo hello from web; echo oops >&2; sleep 100",
            &sb,
        ))
        .await
        .unwrap();
    let pid = started[0].pid.unwrap();
    assert_eq!(started[0].state, ServiceState::Running);
    // An exec session comes and goes; the service stays.
    let out = sb
        .sh(User::Agent, &format!("kill -0 {pid} && echo alive"))
        .await;
    assert_eq!(text(&out.stdout), "alive\n");
    let log_path = sb.path("log/web.log");
    eventually("the service's output in its log", async || {
        std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("oops"))
    })
    .await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("hello from web") && log.contains("oops"),
        "{log}"
    );

    let mut logs = Vec::new();
    sb.conn
        .svc_logs("web", false, Some(2), &mut logs)
        .await
        .unwrap();
    assert_eq!(text(&logs), "hello from web\noops\n");

    let ls = sb.conn.svc(SvcRequest::Ls).await.unwrap();
    assert_eq!((ls.len(), ls[0].name.as_str()), (1, "web"));
    let stopped = sb
        .conn
        .svc(SvcRequest::Stop { name: "web".into() })
        .await
        .unwrap();
    assert_eq!(stopped[0].state, ServiceState::Stopped);
    assert_eq!(stopped[0].last_exit, Some(ExitStatus::Signal(15)));
    let restarted = sb
        .conn
        .svc(SvcRequest::Restart { name: "web".into() })
        .await
        .unwrap();
    assert_eq!(restarted[0].state, ServiceState::Running);
    assert_ne!(restarted[0].pid, Some(pid));
}

#[tokio::test]
async fn followed_logs_stream_new_output() {
    let sb = Sandbox::start().await;
    sb.conn
        .svc(start(
            "ticker",
            "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.2; done; sleep 100",
            &sb,
        ))
        .await
        .unwrap();
    // Follow once some lines exist, so `tail 1` has something to skip.
    while !std::fs::read_to_string(sb.path("log/ticker.log"))
        .unwrap_or_default()
        .contains("tick 3")
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (w, mut r) = tokio::io::duplex(64 * 1024);
    let conn = sb.conn.clone();
    let follower = tokio::spawn(async move { conn.svc_logs("ticker", true, Some(1), w).await });
    let mut seen = String::new();
    while !seen.contains("tick 6") {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut r, &mut buf),
        )
        .await
        .expect("followed output")
        .unwrap();
        seen.push_str(&text(&buf[..n]));
    }
    follower.abort();
    assert!(
        !seen.contains("tick 1\n") && !seen.contains("tick 2\n"),
        "{seen}"
    );
    assert!(
        !seen.contains("tick 1\n") || seen.starts_with("tick 1"),
        "{seen}"
    );
}

#[tokio::test]
async fn a_crashing_service_is_restarted_when_asked() {
    let sb = Sandbox::start().await;
    let SvcRequest::Start { name, exec, .. } = start("crashy", "echo run; exit 1", &sb) else {
        unreachable!()
    };
    let req = SvcRequest::Start {
        name,
        exec,
        restart_on_failure: true,
    };
    sb.conn.svc(req).await.unwrap();
    let conn = sb.conn.clone();
    eventually("a restart after the crash", async || {
        conn.svc(SvcRequest::Ls).await.unwrap()[0].restarts >= 1
    })
    .await;
    let log_path = sb.path("log/crashy.log");
    eventually("the restarted run's output", async || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        log.lines().filter(|l| *l == "run").count() >= 2
    })
    .await;
}

#[tokio::test]
async fn the_in_sandbox_cli_manages_services_as_the_agent() {
    let sb = Sandbox::start().await;
    // `airlock` is on the PATH init gives every process: a symlink to init.
    let script = "command -v airlock; airlock svc start api -- sh -c 'id -u; sleep 100' && \
                  sleep 0.3 && airlock svc ls && airlock svc logs api && airlock svc stop api";
    let out = sb.sh(User::Agent, script).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status,
        ExitStatus::Code(0),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("{}\n", sb.p("run/bin/airlock"))),
        "{stdout}"
    );
    assert!(
        stdout.contains("api") && stdout.contains("running"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1000"),
        "the service runs as the agent: {stdout}"
    );
    let bad = sb.sh(User::Agent, "airlock svc stop nope").await;
    assert_eq!(bad.status, ExitStatus::Code(1));
    assert!(text(&bad.stderr).contains("no service named nope"));
}
