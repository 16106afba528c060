//! Feeds arbitrary bytes to the frame decoder in two pieces and parses every
//! control and credit payload: none of it may panic or over-allocate.
#![no_main]

use airlock_wire::{Decoder, FrameKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut decoder = Decoder::new();
    for piece in [&data[..split], &data[split..]] {
        decoder.feed(piece);
        while let Ok(Some(frame)) = decoder.next_frame() {
            match frame.kind {
                FrameKind::Control => drop(frame.to_control()),
                FrameKind::Credit => drop(frame.to_credit()),
                _ => {}
            }
        }
    }
});
