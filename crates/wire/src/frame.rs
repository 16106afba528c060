//! Framing: `u32 length | u8 kind | u32 stream | payload`, big-endian, where
//! `length` counts the payload only.
//!
//! [`Decoder`] is the sans-IO reader: feed it whatever bytes arrived, then
//! pull complete frames out. It rejects an oversized length as soon as the
//! header is in, before buffering the payload, so a hostile peer cannot make
//! it allocate more than one maximal frame.

use crate::error::WireError;
use crate::msg::Control;

/// Bytes before the payload: length (4), kind (1), stream (4).
pub const HEADER_LEN: usize = 9;

/// Largest payload accepted or produced: 1 MiB. Data producers split into
/// frames of at most [`MAX_DATA_CHUNK`].
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Data frames are cut at 32 KiB: big enough to amortise the header, small
/// enough that an interactive session's keystrokes are never stuck behind a
/// large copy on the same connection.
pub const MAX_DATA_CHUNK: usize = 32 * 1024;

/// A stream id. 0 is the connection itself; see [`Role`] for who opens which.
pub type StreamId = u32;

/// What a frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// A JSON [`Control`] message.
    Control = 1,
    /// Bytes for a process's standard input (host → init).
    Stdin = 2,
    /// Bytes a process wrote to standard output (or its PTY).
    Stdout = 3,
    /// Bytes a process wrote to standard error.
    Stderr = 4,
    /// Other stream data: file contents, tar archives, service logs.
    Data = 5,
    /// Flow-control credit: a big-endian `u32` count of bytes the sender of
    /// this frame has consumed on the stream and may receive again.
    Credit = 6,
}

impl FrameKind {
    /// Parses a kind byte.
    pub fn from_u8(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            1 => Self::Control,
            2 => Self::Stdin,
            3 => Self::Stdout,
            4 => Self::Stderr,
            5 => Self::Data,
            6 => Self::Credit,
            other => return Err(WireError::UnknownKind(other)),
        })
    }

    /// Whether frames of this kind are metered by credit ([`crate::flow`]).
    pub fn is_data(self) -> bool {
        matches!(self, Self::Stdin | Self::Stdout | Self::Stderr | Self::Data)
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Payload kind.
    pub kind: FrameKind,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Payload bytes (at most [`MAX_PAYLOAD`]).
    pub payload: Vec<u8>,
}

impl Frame {
    /// A control frame carrying `msg` as JSON.
    pub fn control(stream: StreamId, msg: &Control) -> Self {
        Self {
            kind: FrameKind::Control,
            stream,
            payload: msg.to_json(),
        }
    }

    /// A data frame of `kind`.
    pub fn data(kind: FrameKind, stream: StreamId, payload: Vec<u8>) -> Self {
        Self {
            kind,
            stream,
            payload,
        }
    }

    /// A credit frame granting `bytes` more on `stream`.
    pub fn credit(stream: StreamId, bytes: u32) -> Self {
        Self::data(FrameKind::Credit, stream, bytes.to_be_bytes().to_vec())
    }

    /// The JSON control message in this frame.
    pub fn to_control(&self) -> Result<Control, WireError> {
        Control::from_json(&self.payload)
    }

    /// The byte count of a credit frame.
    pub fn to_credit(&self) -> Result<u32, WireError> {
        let bytes: [u8; 4] = self
            .payload
            .as_slice()
            .try_into()
            .map_err(|_| WireError::BadCredit(self.payload.len()))?;
        Ok(u32::from_be_bytes(bytes))
    }

    /// Appends the encoded frame to `out`.
    ///
    /// Panics if the payload exceeds [`MAX_PAYLOAD`]: producing such a frame
    /// is a bug on our side (data is chunked, messages are small), and the
    /// peer would refuse it anyway.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        assert!(
            self.payload.len() <= MAX_PAYLOAD,
            "frame payload of {} bytes exceeds MAX_PAYLOAD",
            self.payload.len()
        );
        out.reserve(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.push(self.kind as u8);
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The encoded frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Incremental frame decoder.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`; compacted lazily to avoid a
    /// memmove per frame.
    start: usize,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    ///
    /// After an error the stream is out of sync: drop the connection.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        let avail = &self.buf[self.start..];
        let Some(header) = avail.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(WireError::FrameTooLarge {
                len,
                max: MAX_PAYLOAD,
            });
        }
        let kind = FrameKind::from_u8(header[4])?;
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
        let Some(payload) = avail.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        let frame = Frame {
            kind,
            stream,
            payload: payload.to_vec(),
        };
        self.start += HEADER_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

/// Which end of the channel we are. Each side opens streams with ids of its
/// own parity, so ids never collide and neither side has to negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The host side (control plane's node): opens even stream ids.
    Host,
    /// `airlock-init` inside the sandbox: opens odd stream ids.
    Init,
}

impl Role {
    /// Whether `stream` is one this role opens.
    pub fn opens(self, stream: StreamId) -> bool {
        stream != 0
            && match self {
                Self::Host => stream.is_multiple_of(2),
                Self::Init => !stream.is_multiple_of(2),
            }
    }

    /// The other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Host => Self::Init,
            Self::Init => Self::Host,
        }
    }
}

/// Allocates stream ids for one role.
#[derive(Debug)]
pub struct StreamIds {
    next: u32,
}

impl StreamIds {
    /// The allocator for `role`.
    pub fn new(role: Role) -> Self {
        Self {
            next: match role {
                Role::Host => 2,
                Role::Init => 1,
            },
        }
    }

    /// The next unused id. Wraps after 2^31 streams, by which time the
    /// early ones are long closed.
    pub fn next_id(&mut self) -> StreamId {
        let id = self.next;
        self.next = self.next.wrapping_add(2);
        if self.next == 0 {
            self.next = 2;
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, WireError> {
        let mut d = Decoder::new();
        d.feed(bytes);
        let mut out = Vec::new();
        while let Some(f) = d.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn round_trip_every_kind() {
        let frames: Vec<Frame> = [
            FrameKind::Control,
            FrameKind::Stdin,
            FrameKind::Stdout,
            FrameKind::Stderr,
            FrameKind::Data,
            FrameKind::Credit,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, k)| Frame::data(k, i as u32 * 7, vec![i as u8; i * 100]))
        .collect();
        let mut bytes = Vec::new();
        for f in &frames {
            f.encode_into(&mut bytes);
        }
        assert_eq!(decode_all(&bytes).unwrap(), frames);
    }

    #[test]
    fn byte_at_a_time_gives_the_same_frames() {
        let f = Frame::data(FrameKind::Stdout, 3, b"hello".to_vec());
        let bytes = [f.encode(), f.encode()].concat();
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in bytes {
            d.feed(&[b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![f.clone(), f]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn header_layout_is_stable() {
        let f = Frame::data(FrameKind::Stderr, 0x0102_0304, b"xy".to_vec());
        assert_eq!(f.encode(), [0, 0, 0, 2, 4, 1, 2, 3, 4, b'x', b'y']);
    }

    #[test]
    fn oversized_length_is_refused_before_buffering() {
        let mut d = Decoder::new();
        d.feed(&[0x00, 0x10, 0x00, 0x01, 1, 0, 0, 0, 0]);
        assert_eq!(
            d.next_frame(),
            Err(WireError::FrameTooLarge {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
    }

    #[test]
    fn max_sized_frame_is_accepted() {
        let f = Frame::data(FrameKind::Data, 2, vec![7; MAX_PAYLOAD]);
        assert_eq!(decode_all(&f.encode()).unwrap(), vec![f]);
    }

    #[test]
    fn unknown_kind_is_refused() {
        assert_eq!(
            decode_all(&[0, 0, 0, 0, 0x7f, 0, 0, 0, 0]),
            Err(WireError::UnknownKind(0x7f))
        );
    }

    #[test]
    fn credit_frames() {
        assert_eq!(Frame::credit(4, 70_000).to_credit(), Ok(70_000));
        let bad = Frame::data(FrameKind::Credit, 4, vec![1, 2]);
        assert_eq!(bad.to_credit(), Err(WireError::BadCredit(2)));
    }

    #[test]
    fn stream_ids_by_role() {
        let mut host = StreamIds::new(Role::Host);
        let mut init = StreamIds::new(Role::Init);
        assert_eq!([host.next_id(), host.next_id()], [2, 4]);
        assert_eq!([init.next_id(), init.next_id()], [1, 3]);
        assert!(Role::Host.opens(2) && !Role::Host.opens(3) && !Role::Host.opens(0));
        assert!(Role::Init.opens(3) && !Role::Init.opens(0));
        let mut wrap = StreamIds { next: u32::MAX - 1 };
        assert_eq!(wrap.next_id(), u32::MAX - 1);
        assert_eq!(wrap.next_id(), 2);
    }
}
