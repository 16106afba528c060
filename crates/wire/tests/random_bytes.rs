//! The decoder and message parser must never panic on whatever a hostile
//! peer sends: random bytes, random mutations of valid frames, truncations.

use airlock_wire::{Control, Decoder, ExecRequest, Frame, FrameKind};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Drains the decoder, parsing control payloads, until it needs more bytes
/// or reports an error. Returns how many frames came out.
fn drain(d: &mut Decoder) -> usize {
    let mut n = 0;
    while let Ok(Some(frame)) = d.next_frame() {
        n += 1;
        match frame.kind {
            FrameKind::Control => drop(frame.to_control()),
            FrameKind::Credit => drop(frame.to_credit()),
            _ => {}
        }
    }
    n
}

fn valid_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for msg in [
        Control::Hello {
            version: 1,
            token: "00ff".into(),
            sandbox_id: "sb-1".into(),
        },
        Control::Exec(ExecRequest::new(["sh", "-c", "echo hi"])),
        Control::SvidRequest {
            csr_der: vec![0x30, 0x82, 1, 2],
        },
    ] {
        Frame::control(1, &msg).encode_into(&mut out);
    }
    Frame::data(FrameKind::Stdout, 3, b"data".to_vec()).encode_into(&mut out);
    Frame::credit(3, 1024).encode_into(&mut out);
    out
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for _ in 0..20_000 {
        let len = rng.gen_range(0..64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let mut d = Decoder::new();
        d.feed(&bytes);
        drain(&mut d);
    }
}

#[test]
fn mutated_valid_streams_never_panic() {
    let valid = valid_stream();
    let mut d = Decoder::new();
    d.feed(&valid);
    assert_eq!(drain(&mut d), 5, "the unmutated stream decodes fully");
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let mut bytes = valid.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] = rng.r#gen();
        }
        bytes.truncate(rng.gen_range(0..=bytes.len()));
        let mut d = Decoder::new();
        // Feed in random-sized pieces to exercise partial headers/payloads.
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(rng.gen_range(1..=rest.len()));
            d.feed(piece);
            drain(&mut d);
            rest = tail;
        }
    }
}

#[test]
fn random_json_payloads_never_panic() {
    let mut rng = StdRng::seed_from_u64(11);
    let alphabet = br#"{}[]":,0123456789abcdefghijklmnopqrstuvwxyz_ "#;
    let prefixes: [&[u8]; 4] = [
        br#"{"type":"exec","argv":"#,
        br#"{"type":"svc","op":"#,
        br#"{"type":"svid_response","cert_chain_der":"#,
        br#"{"type":"copy_in","path":"/x","format":"#,
    ];
    for _ in 0..20_000 {
        let mut json = prefixes[rng.gen_range(0..prefixes.len())].to_vec();
        for _ in 0..rng.gen_range(0..40) {
            json.push(alphabet[rng.gen_range(0..alphabet.len())]);
        }
        let _ = Control::from_json(&json);
    }
}
