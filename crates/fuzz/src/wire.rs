//! The host channel's frames: bytes a sandbox controls completely.

use airlock_wire::{Control, Decoder, Frame, FrameKind};

/// What decoding a byte stream gave: the frames, then the error that
/// stopped it (if any).
type Decoded = (Vec<Frame>, Option<String>);

fn decode(pieces: &[&[u8]]) -> Decoded {
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    for piece in pieces {
        decoder.feed(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }
    (frames, None)
}

/// Decodes the input whole and in two pieces (the same frames either way),
/// re-encodes every frame, and parses every control and credit payload.
pub fn frames(data: &[u8]) {
    let (rest, (a, b)) = crate::split_by_first_byte(data);
    let whole = decode(&[rest]);
    let split = decode(&[a, b]);
    assert_eq!(whole, split, "frames depend on how the bytes arrived");
    for frame in &whole.0 {
        let again = decode(&[&frame.encode()]);
        assert_eq!(
            again,
            (vec![frame.clone()], None),
            "frame does not round-trip"
        );
        match frame.kind {
            FrameKind::Control => {
                if let Ok(msg) = frame.to_control() {
                    let back = Control::from_json(&msg.to_json()).expect("re-encoded control");
                    assert_eq!(back.to_json(), msg.to_json(), "control does not round-trip");
                }
            }
            FrameKind::Credit => drop(frame.to_credit()),
            _ => {}
        }
    }
}

/// A control message, a credit and data frames, as init and the host send them.
pub fn seeds() -> Vec<Vec<u8>> {
    let frames = [
        Frame::control(1, &Control::error("no such sandbox")),
        Frame::credit(3, 65_536),
        Frame::data(FrameKind::Stdin, 3, b"echo hi\n".to_vec()),
        Frame::data(FrameKind::Stdout, 3, b"hi\n".to_vec()),
    ];
    let mut all = vec![0u8];
    let mut seeds = Vec::new();
    for f in &frames {
        let bytes = f.encode();
        all.extend_from_slice(&bytes);
        seeds.push([&[4u8][..], &bytes].concat());
    }
    seeds.push(all);
    seeds
}
