//! Two multiplexers over an in-memory pipe, one per role.

use std::time::Duration;

use airlock_mux::{Inbound, Mux, MuxError};
use airlock_wire::{Control, Decoder, ExecRequest, Frame, FrameKind, INITIAL_WINDOW, Role};
use tokio::io::AsyncWriteExt;

fn pair() -> ((Mux, airlock_mux::Incoming), (Mux, airlock_mux::Incoming)) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    (
        Mux::start(a, Role::Host, Decoder::new()),
        Mux::start(b, Role::Init, Decoder::new()),
    )
}

fn exec() -> Control {
    Control::Exec(ExecRequest::new(["cat"]))
}

#[tokio::test]
async fn request_response_and_data_both_ways() {
    let ((host, _), (_init, mut init_in)) = pair();
    let mut s = host.open(&exec()).await.unwrap();
    let (first, mut peer) = init_in.accept().await.unwrap();
    assert_eq!(first, exec());
    s.send_data(FrameKind::Stdin, b"ping").await.unwrap();
    assert_eq!(
        peer.recv().await,
        Some(Inbound::Data(FrameKind::Stdin, b"ping".to_vec()))
    );
    peer.send_data(FrameKind::Stdout, b"pong").await.unwrap();
    peer.send(&Control::Done { bytes: 4 }).await.unwrap();
    assert_eq!(
        s.recv().await,
        Some(Inbound::Data(FrameKind::Stdout, b"pong".to_vec()))
    );
    assert_eq!(
        s.recv().await,
        Some(Inbound::Control(Control::Done { bytes: 4 }))
    );
}

#[tokio::test]
async fn a_slow_consumer_holds_back_a_fast_producer() {
    let ((host, _), (_init, mut init_in)) = pair();
    let mut s = host.open(&exec()).await.unwrap();
    let (_, peer) = init_in.accept().await.unwrap();
    let total = 4 * INITIAL_WINDOW as usize;
    let producer = tokio::spawn(async move {
        peer.send_data(FrameKind::Stdout, &vec![b'x'; total])
            .await
            .unwrap();
        peer
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!producer.is_finished(), "the producer must wait for credit");
    let mut got = 0;
    while got < total {
        match s.recv().await.unwrap() {
            Inbound::Data(_, d) => got += d.len(),
            other => panic!("{other:?}"),
        }
    }
    producer.await.unwrap();
    assert_eq!(got, total);
}

#[tokio::test]
async fn ping_measures_a_round_trip() {
    let ((host, _), (init, _)) = pair();
    assert!(host.ping().await.unwrap() < Duration::from_secs(1));
    assert!(init.ping().await.is_ok());
}

#[tokio::test]
async fn peer_going_away_ends_every_stream() {
    let ((host, _), (init, mut init_in)) = pair();
    let mut s = host.open(&exec()).await.unwrap();
    let _peer = init_in.accept().await.unwrap();
    init.close();
    assert_eq!(s.recv().await, None);
    host.closed().await;
    assert!(matches!(host.open(&exec()).await, Err(MuxError::Closed)));
}

#[tokio::test]
async fn a_peer_overrunning_its_credit_is_disconnected() {
    let (a, mut raw) = tokio::io::duplex(4 * 1024 * 1024);
    let (host, _) = Mux::start(a, Role::Host, Decoder::new());
    let _s = host.open(&exec()).await.unwrap();
    let mut bytes = Vec::new();
    for _ in 0..10 {
        Frame::data(FrameKind::Stdout, 2, vec![0; 32 * 1024]).encode_into(&mut bytes);
    }
    raw.write_all(&bytes).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), host.closed())
        .await
        .expect("disconnected");
}

#[tokio::test]
async fn streams_may_only_be_opened_with_the_peers_messages() {
    let (a, mut raw) = tokio::io::duplex(64 * 1024);
    let (_host, mut incoming) = Mux::start(a, Role::Host, Decoder::new());
    // init may not open an exec stream, nor use an even (host) id.
    raw.write_all(&Frame::control(1, &exec()).encode())
        .await
        .unwrap();
    raw.write_all(&Frame::control(2, &Control::JwtBundleRequest).encode())
        .await
        .unwrap();
    raw.write_all(&Frame::control(3, &Control::JwtBundleRequest).encode())
        .await
        .unwrap();
    let (msg, s) = incoming.accept().await.unwrap();
    assert_eq!((msg, s.id()), (Control::JwtBundleRequest, 3));
}

#[tokio::test]
async fn dropping_an_unfinished_stream_cancels_it() {
    let ((host, _), (_init, mut init_in)) = pair();
    let s = host.open(&exec()).await.unwrap();
    let (_, mut peer) = init_in.accept().await.unwrap();
    drop(s);
    assert_eq!(peer.recv().await, Some(Inbound::Control(Control::Cancel)));
}

#[tokio::test]
async fn a_peer_flooding_control_messages_is_disconnected() {
    let (a, mut raw) = tokio::io::duplex(4 * 1024 * 1024);
    let (host, _) = Mux::start(a, Role::Host, Decoder::new());
    let _unread = host.open(&exec()).await.unwrap();
    let mut bytes = Vec::new();
    for pid in 0..100 {
        Frame::control(2, &Control::Started { pid }).encode_into(&mut bytes);
    }
    raw.write_all(&bytes).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), host.closed())
        .await
        .expect("disconnected");
}

#[tokio::test]
async fn too_many_peer_streams_are_refused_not_queued() {
    let (a, raw) = tokio::io::duplex(4 * 1024 * 1024);
    let (_host, mut incoming) = Mux::start(a, Role::Host, Decoder::new());
    let (mut rd, mut wr) = tokio::io::split(raw);
    let mut bytes = Vec::new();
    let n = airlock_mux::MAX_PEER_STREAMS as u32 + 5;
    for i in 0..n {
        Frame::control(2 * i + 1, &Control::JwtBundleRequest).encode_into(&mut bytes);
    }
    wr.write_all(&bytes).await.unwrap();
    // Accept (and hold) as many as are admitted.
    let mut held = Vec::new();
    while let Ok(Some(s)) =
        tokio::time::timeout(Duration::from_millis(300), incoming.accept()).await
    {
        held.push(s);
    }
    assert_eq!(held.len(), airlock_mux::MAX_PEER_STREAMS);
    // The rest got an error on their stream.
    let mut decoder = Decoder::new();
    let mut errors = 0;
    while errors < 5 {
        let f = airlock_mux::recv_frame(&mut rd, &mut decoder)
            .await
            .unwrap();
        if matches!(f.to_control(), Ok(Control::Error { .. })) {
            errors += 1;
        }
    }
}

#[tokio::test]
async fn credit_beyond_the_window_is_a_protocol_error() {
    let (a, mut raw) = tokio::io::duplex(64 * 1024);
    let (host, _) = Mux::start(a, Role::Host, Decoder::new());
    let _s = host.open(&exec()).await.unwrap();
    raw.write_all(&Frame::credit(2, u32::MAX).encode())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), host.closed())
        .await
        .expect("disconnected");
}
