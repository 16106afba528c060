//! Taps on inference responses: usage from a whole JSON body, or from an
//! SSE stream event by event while it flows to the sandbox.

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use crate::body::Tap;
use crate::event::{ProxyEvent, Usage};
use crate::inference::usage::{is_usage_only_chunk, merge, usage_in};

/// Longest SSE event held while looking for its end; past it the bytes
/// flow on unparsed (an upstream cannot make the proxy buffer without bound).
const MAX_EVENT: usize = 1 << 20;

/// A capped copy of the body, for body logging.
struct BodyLog {
    cap: usize,
    bytes: Vec<u8>,
}

impl BodyLog {
    fn new(cap: Option<usize>) -> Option<Self> {
        cap.map(|cap| Self {
            cap,
            bytes: Vec::new(),
        })
    }

    fn push(&mut self, chunk: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&chunk[..room.min(chunk.len())]);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A non-streamed response: passed through untouched, a copy of up to
/// `cap` bytes parsed at the end for `usage`.
pub(crate) struct JsonTap {
    buf: Vec<u8>,
    cap: usize,
    overflow: bool,
    log: Option<BodyLog>,
}

impl JsonTap {
    pub fn new(cap: usize, log_cap: Option<usize>) -> Self {
        Self {
            buf: Vec::new(),
            cap,
            overflow: false,
            log: BodyLog::new(log_cap),
        }
    }
}

impl Tap for JsonTap {
    fn data(&mut self, chunk: Bytes) -> Bytes {
        if let Some(log) = self.log.as_mut() {
            log.push(&chunk);
        }
        if self.buf.len() + chunk.len() > self.cap {
            self.overflow = true;
            self.buf = Vec::new();
        } else if !self.overflow {
            self.buf.extend_from_slice(&chunk);
        }
        chunk
    }

    fn fill(&mut self, event: &mut ProxyEvent) {
        if self.overflow {
            tracing::warn!(
                "inference response larger than the usage scan limit; tokens not counted"
            );
        }
        event.usage = serde_json::from_slice::<Value>(&self.buf)
            .ok()
            .as_ref()
            .and_then(usage_in);
        event.response_body = self.log.as_ref().map(BodyLog::text);
    }
}

/// An SSE stream: events are parsed as they complete. With `strip`, the
/// usage-only chunk the proxy asked for (`include_usage`) is removed, and
/// only whole events are forwarded; without it, bytes pass as they come.
pub(crate) struct SseTap {
    pending: BytesMut,
    strip: bool,
    usage: Option<Usage>,
    log: Option<BodyLog>,
}

impl SseTap {
    pub fn new(strip: bool, log_cap: Option<usize>) -> Self {
        Self {
            pending: BytesMut::new(),
            strip,
            usage: None,
            log: BodyLog::new(log_cap),
        }
    }

    /// Takes every complete event out of `pending`; returns the bytes to forward.
    fn drain_events(&mut self) -> BytesMut {
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.pending) {
            let event = self.pending.split_to(end);
            if self.observe(&event) {
                out.extend_from_slice(&event);
            }
        }
        if self.pending.len() > MAX_EVENT {
            out.extend_from_slice(&self.pending.split());
        }
        out
    }

    /// Reads one event's usage; false if the event is to be dropped.
    fn observe(&mut self, event: &[u8]) -> bool {
        let Some(v) = event_json(event) else {
            return true;
        };
        if let Some(u) = usage_in(&v) {
            self.usage = Some(merge(self.usage, u));
        }
        !(self.strip && is_usage_only_chunk(&v))
    }
}

impl Tap for SseTap {
    fn rewrites(&self) -> bool {
        self.strip
    }

    fn data(&mut self, chunk: Bytes) -> Bytes {
        self.pending.extend_from_slice(&chunk);
        let out = self.drain_events();
        let sent = if self.strip { out.freeze() } else { chunk };
        if let Some(log) = self.log.as_mut() {
            log.push(&sent);
        }
        sent
    }

    fn end(&mut self) -> Bytes {
        let rest = self.pending.split();
        self.observe(&rest);
        if !self.strip {
            return Bytes::new();
        }
        if let Some(log) = self.log.as_mut() {
            log.push(&rest);
        }
        rest.freeze()
    }

    fn fill(&mut self, event: &mut ProxyEvent) {
        event.usage = self.usage;
        event.response_body = self.log.as_ref().map(BodyLog::text);
    }
}

/// Runs an SSE tap over `chunks` as a response flows through the proxy:
/// the bytes the sandbox gets and the usage read (for the fuzz targets).
pub(crate) fn sse_through(strip: bool, chunks: &[&[u8]]) -> (Vec<u8>, Option<Usage>) {
    let mut tap = SseTap::new(strip, None);
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&tap.data(Bytes::copy_from_slice(chunk)));
    }
    out.extend_from_slice(&tap.end());
    (out, tap.usage)
}

/// The index just past the blank line ending the first event in `buf`.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// The JSON in an event's `data:` lines (joined by newlines, per the SSE spec).
fn event_json(event: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(event).ok()?;
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return None;
    }
    serde_json::from_str(&data.join("\n")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tap: &mut SseTap, chunks: &[&str]) -> String {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&tap.data(Bytes::copy_from_slice(c.as_bytes())));
        }
        out.extend_from_slice(&tap.end());
        String::from_utf8(out).unwrap()
    }

    const CHAT: [&str; 4] = [
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n",
        "\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
        "data: [DONE]",
        "\n\n",
    ];

    #[test]
    fn strips_the_usage_chunk_it_asked_for() {
        let mut tap = SseTap::new(true, None);
        let out = run(&mut tap, &CHAT);
        assert_eq!(
            out,
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(
            tap.usage,
            Some(Usage {
                input_tokens: 5,
                output_tokens: 2
            })
        );
    }

    #[test]
    fn passes_everything_when_the_client_asked_for_usage() {
        let mut tap = SseTap::new(false, Some(10));
        let out = run(&mut tap, &CHAT);
        assert_eq!(out, CHAT.concat());
        assert_eq!(tap.usage.map(|u| u.total()), Some(7));
        assert_eq!(tap.log.as_ref().unwrap().text(), "data: {\"ch");
    }

    #[test]
    fn anthropic_stream_with_crlf() {
        let mut tap = SseTap::new(false, None);
        run(
            &mut tap,
            &[
                "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\r\n\r\n",
                "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":12}}\r\n\r\n",
            ],
        );
        assert_eq!(
            tap.usage,
            Some(Usage {
                input_tokens: 9,
                output_tokens: 12
            })
        );
    }
}
