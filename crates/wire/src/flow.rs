//! Per-stream flow control by credit, in the manner of HTTP/2 windows.
//!
//! Each side may have at most [`INITIAL_WINDOW`] bytes of data frames in
//! flight per stream. The receiver hands credit back (a `Credit` frame) only
//! when its consumer has actually taken the bytes, so a fast producer
//! (`cat /dev/zero`) is slowed to the consumer's pace instead of filling the
//! other side's memory. [`RecvWindow`] is the receiver's bookkeeping; the
//! sender's side is a counting semaphore in the IO layer.

use crate::error::WireError;
use crate::frame::StreamId;

/// Bytes of data a sender may have unacknowledged on one stream: 256 KiB,
/// enough to keep a local socket busy between credit round trips.
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// Credit one data frame costs beyond its payload. Charging per frame
/// bounds the receiver's queue in frames as well as bytes: a peer sending
/// one-byte frames cannot make it hold a quarter million tiny buffers.
pub const FRAME_COST: u32 = 64;

/// The credit a data frame with `len` payload bytes consumes.
pub fn cost(len: usize) -> u32 {
    // len <= MAX_PAYLOAD, so this cannot overflow.
    len as u32 + FRAME_COST
}

/// Credit is returned in batches of at least a quarter window, so a stream
/// of small writes does not cause one credit frame per data frame.
const CREDIT_BATCH: u32 = INITIAL_WINDOW / 4;

/// The receiving side of one stream's window.
#[derive(Debug, Clone)]
pub struct RecvWindow {
    stream: StreamId,
    /// Received and not yet credited back: must stay within the window.
    outstanding: u64,
    /// Consumed by the application but not yet credited back.
    consumed: u32,
}

impl RecvWindow {
    /// A fresh window for `stream`.
    pub fn new(stream: StreamId) -> Self {
        Self {
            stream,
            outstanding: 0,
            consumed: 0,
        }
    }

    /// Accounts a received data frame of `len` bytes; an error if the peer
    /// overran the credit it had (a protocol violation: drop the connection).
    pub fn on_received(&mut self, len: usize) -> Result<(), WireError> {
        self.outstanding += u64::from(cost(len));
        if self.outstanding > u64::from(INITIAL_WINDOW) {
            return Err(WireError::FlowViolation {
                stream: self.stream,
                outstanding: self.outstanding,
                window: INITIAL_WINDOW,
            });
        }
        Ok(())
    }

    /// Accounts a data frame of `len` bytes taken by the consumer; returns
    /// the credit to send back now, if a batch is complete.
    pub fn on_consumed(&mut self, len: usize) -> Option<u32> {
        self.consumed = self.consumed.saturating_add(cost(len));
        if self.consumed < CREDIT_BATCH {
            return None;
        }
        let grant = self.consumed;
        self.consumed = 0;
        self.outstanding = self.outstanding.saturating_sub(u64::from(grant));
        Some(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: usize = (INITIAL_WINDOW - FRAME_COST) as usize;

    #[test]
    fn a_full_window_is_allowed_one_more_frame_is_not() {
        let mut w = RecvWindow::new(2);
        w.on_received(FULL).unwrap();
        assert!(matches!(
            w.on_received(0),
            Err(WireError::FlowViolation { stream: 2, .. })
        ));
    }

    #[test]
    fn tiny_frames_exhaust_the_window_by_count() {
        let mut w = RecvWindow::new(4);
        let frames = (INITIAL_WINDOW / cost(1)) as usize;
        for _ in 0..frames {
            w.on_received(1).unwrap();
        }
        assert!(w.on_received(1).is_err());
    }

    #[test]
    fn credit_comes_back_in_batches_and_reopens_the_window() {
        let mut w = RecvWindow::new(2);
        w.on_received(FULL).unwrap();
        assert_eq!(w.on_consumed(100), None);
        let batch = CREDIT_BATCH as usize;
        let grant = w.on_consumed(batch).unwrap();
        assert_eq!(grant, cost(100) + cost(batch));
        w.on_received(grant as usize - FRAME_COST as usize).unwrap();
        assert!(w.on_received(0).is_err());
    }
}
