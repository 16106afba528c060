//! Who may connect, host restarts, shutdown, and the proxy bridge.

use std::time::Duration;

use airlock_mux::{recv_frame, send_frame};
use airlock_sandbox::channel::{ExecRequest, ExitStatus, ServiceState, SvcRequest, User};
use airlock_wire::{Control, Decoder, Frame, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixture::{SANDBOX, Sandbox, text};

async fn hello(sb: &Sandbox, token: &str, sandbox_id: &str) -> Control {
    let mut sock = tokio::net::UnixStream::connect(sb.path("host/ctl.sock"))
        .await
        .unwrap();
    let msg = Control::Hello {
        version: PROTOCOL_VERSION,
        token: token.into(),
        sandbox_id: sandbox_id.into(),
    };
    send_frame(&mut sock, &Frame::control(0, &msg))
        .await
        .unwrap();
    let frame = recv_frame(&mut sock, &mut Decoder::new()).await.unwrap();
    frame.to_control().unwrap()
}

#[tokio::test]
async fn a_wrong_token_or_sandbox_is_refused_and_init_keeps_the_channel() {
    let sb = Sandbox::start().await;
    let wrong = "00".repeat(32);
    assert_eq!(hello(&sb, &wrong, SANDBOX).await, Control::error("refused"));
    assert_eq!(hello(&sb, "", SANDBOX).await, Control::error("refused"));
    assert_eq!(
        hello(&sb, sb.token.as_str(), "sb-other").await,
        Control::error("refused")
    );
    let out = sb.sh(User::Agent, "echo still here").await;
    assert_eq!(text(&out.stdout), "still here\n");
}

#[tokio::test]
async fn init_reconnects_after_the_host_restarts_and_services_survive() {
    let mut sb = Sandbox::start().await;
    let mut exec = ExecRequest::new(["sleep", "100"]);
    exec.cwd = Some(sb.p("workspace"));
    let svc = SvcRequest::Start {
        name: "keep".into(),
        exec,
        restart_on_failure: false,
    };
    let pid = sb.conn.svc(svc).await.unwrap()[0].pid;
    sb.conn.close();
    assert!(sb.conn.exec(ExecRequest::new(["true"])).await.is_err());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        sb.init.try_wait().unwrap().is_none(),
        "init survives the host going away"
    );
    sb.relisten();
    sb.wait_ready().await;
    let ls = sb.conn.svc(SvcRequest::Ls).await.unwrap();
    assert_eq!((ls[0].state, ls[0].pid), (ServiceState::Running, pid));
    let out = sb.sh(User::Agent, "echo back").await;
    assert_eq!(text(&out.stdout), "back\n");
}

#[tokio::test]
async fn sigterm_stops_services_and_init_exits_cleanly() {
    let mut sb = Sandbox::start().await;
    let mut exec = ExecRequest::new([
        "sh",
        "-c",
        "trap 'echo got term; exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    exec.cwd = Some(sb.p("workspace"));
    let svc = SvcRequest::Start {
        name: "graceful".into(),
        exec,
        restart_on_failure: false,
    };
    let pid = sb.conn.svc(svc).await.unwrap()[0].pid.unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &sb.init.id().to_string()])
        .status()
        .unwrap();
    let mut status = None;
    for _ in 0..100 {
        status = sb.init.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(status.expect("init exited").success());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "service still running"
    );
    let log = std::fs::read_to_string(sb.path("log/graceful.log")).unwrap();
    assert!(log.contains("got term"), "{log}");
}

#[tokio::test]
async fn the_proxy_bridge_relays_to_the_host_proxy_socket() {
    let sb = Sandbox::start().await;
    let listener = tokio::net::UnixListener::bind(sb.path("host/proxy.sock")).unwrap();
    let fake_proxy = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            req.extend_from_slice(&buf[..n]);
        }
        conn.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nvia proxy",
        )
        .await
        .unwrap();
        String::from_utf8(req).unwrap()
    });
    let port = sb.proxy_port;
    let out = sb
        .sh(
            User::Agent,
            &format!("curl -sS -x http://127.0.0.1:{port} http://upstream.test/x"),
        )
        .await;
    assert_eq!(out.status, ExitStatus::Code(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "via proxy");
    let seen = fake_proxy.await.unwrap();
    assert!(
        seen.starts_with("GET http://upstream.test/x HTTP/1.1"),
        "{seen}"
    );
}

#[tokio::test]
async fn silent_connections_cannot_crowd_out_init() {
    let mut sb = Sandbox::start().await;
    // Far more idle connections than the host keeps waiting for a hello.
    let mut idle = Vec::new();
    for _ in 0..50 {
        if let Ok(s) = tokio::net::UnixStream::connect(sb.path("host/ctl.sock")).await {
            idle.push(s);
        }
    }
    // A host restart makes init reconnect while the idle ones are still open.
    sb.relisten();
    for _ in 0..50 {
        if let Ok(s) = tokio::net::UnixStream::connect(sb.path("host/ctl.sock")).await {
            idle.push(s);
        }
    }
    sb.wait_ready().await;
    let out = sb.sh(User::Agent, "echo fine").await;
    assert_eq!(text(&out.stdout), "fine\n");
}
