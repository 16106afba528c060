//! Bodies that account for themselves: the request side counts bytes, the
//! response side observes (and for inference may rewrite) the stream and
//! records the request's one audit event when the response ends.
//!
//! "No audit, no action" on the response side: the response's end (the last
//! data frame when its end is known in advance, or the chunked terminator /
//! HTTP/2 END_STREAM otherwise) is released only after the event is durable.
//! If the record fails, the body errors and the client sees a cut response.
//! (Small responses of known length are read whole first, so the whole
//! response waits for the record and a failed one becomes a 503: see
//! `exchange::forward`.)

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::event::ProxyEvent;
use crate::exchange::{Shared, error_chain};
use crate::inference::budget::Charge;
use crate::seams::RecordFuture;
use crate::upstream::BoxError;

/// Most of a refused request's body read before the refusal, and for how long.
const DRAIN_MAX: usize = 64 * 1024;
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Reads and discards what remains of a refused HTTP/2 request's body (up to
/// [`DRAIN_MAX`] bytes or [`DRAIN_WAIT`]), so that the client has finished
/// sending when the refusal is answered. A response that ends while the
/// request stream is still open is followed by RST_STREAM(NO_ERROR), and
/// curl 7.88 (Debian 12's) then reports "Stream error in the HTTP/2 framing
/// layer" instead of the 403 and its one line. HTTP/1.1 bodies are left
/// unread: hyper would answer `Expect: 100-continue` by asking for the upload.
pub(crate) async fn drain_refused(req: http::Request<hyper::body::Incoming>) {
    if req.version() != http::Version::HTTP_2 || req.body().is_end_stream() {
        return;
    }
    let mut body = req.into_body();
    let read = async {
        let mut seen = 0;
        while seen <= DRAIN_MAX {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_WAIT, read).await;
}

/// Counts the data bytes of a body into a shared counter.
pub(crate) struct CountingBody<B> {
    inner: B,
    count: Arc<AtomicU64>,
}

impl<B> CountingBody<B> {
    pub fn new(inner: B, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<B> Body for CountingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(d) = f.data_ref()
        {
            self.count.fetch_add(d.len() as u64, Ordering::Relaxed);
        }
        Poll::Ready(frame.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Observes a response body as it streams: reads usage, keeps a capped copy
/// for body logging, and may rewrite (drop SSE events the proxy added).
pub(crate) trait Tap: Send {
    /// Whether [`Tap::data`] may change the bytes (then Content-Length goes).
    fn rewrites(&self) -> bool {
        false
    }
    /// Sees one chunk; returns what the sandbox gets.
    fn data(&mut self, chunk: Bytes) -> Bytes;
    /// The stream ended: returns any bytes still held back.
    fn end(&mut self) -> Bytes {
        Bytes::new()
    }
    /// Writes what it learned (usage, response body) into the event.
    fn fill(&mut self, event: &mut ProxyEvent);
}

/// Makes the tap for a response from its headers (SSE or whole JSON).
pub(crate) type TapFactory = Box<dyn FnOnce(&http::HeaderMap) -> Box<dyn Tap> + Send>;

/// The event of an allowed request, waiting for its outcome.
pub(crate) struct Finish {
    shared: Arc<Shared>,
    event: ProxyEvent,
    started: Instant,
    bytes_in: Arc<AtomicU64>,
    charge: Option<Charge>,
}

impl Finish {
    pub fn new(
        shared: Arc<Shared>,
        event: ProxyEvent,
        started: Instant,
        bytes_in: Arc<AtomicU64>,
        charge: Option<Charge>,
    ) -> Self {
        Self {
            shared,
            event,
            started,
            bytes_in,
            charge,
        }
    }

    /// Completes the event (and spends tokens from the budget) and starts
    /// recording it.
    fn complete(
        self,
        bytes_out: u64,
        tap: Option<&mut Box<dyn Tap>>,
        error: Option<String>,
    ) -> RecordFuture {
        let mut event = self.event;
        event.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        event.bytes_out = bytes_out;
        event.latency = self.started.elapsed();
        event.error = error;
        if let Some(tap) = tap {
            tap.fill(&mut event);
        }
        if let (Some(charge), Some(usage)) = (&self.charge, event.usage) {
            self.shared.budgets.spend(charge, usage.total());
        }
        self.shared.record(event)
    }
}

/// The response body of an allowed request.
pub(crate) struct AuditedBody<B> {
    inner: B,
    tap: Option<Box<dyn Tap>>,
    finish: Option<Finish>,
    /// Frames held back until the event is durable.
    held: VecDeque<Frame<Bytes>>,
    recording: Option<RecordFuture>,
    bytes_out: u64,
    upstream_done: bool,
}

impl<B> AuditedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub fn new(inner: B, tap: Option<Box<dyn Tap>>, finish: Finish) -> Self {
        Self {
            inner,
            tap,
            finish: Some(finish),
            held: VecDeque::new(),
            recording: None,
            bytes_out: 0,
            upstream_done: false,
        }
    }

    /// Passes a frame through the tap; `None` if the tap swallowed it.
    fn observe(&mut self, frame: Frame<Bytes>) -> Option<Frame<Bytes>> {
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(trailers) => return Some(trailers),
        };
        let data = match self.tap.as_mut() {
            Some(tap) => tap.data(data),
            None => data,
        };
        self.bytes_out += data.len() as u64;
        (!data.is_empty()).then(|| Frame::data(data))
    }

    /// The upstream body ended: flush the tap and start the record.
    fn upstream_ended(&mut self) {
        self.upstream_done = true;
        if let Some(tap) = self.tap.as_mut() {
            let rest = tap.end();
            if !rest.is_empty() {
                self.bytes_out += rest.len() as u64;
                self.held.push_back(Frame::data(rest));
            }
        }
        if let Some(finish) = self.finish.take() {
            self.recording = Some(finish.complete(self.bytes_out, self.tap.as_mut(), None));
        }
    }

    /// Records the event with an error, in the background: the response
    /// will not complete, but the request still happened.
    fn abort(&mut self, why: String) {
        if let Some(finish) = self.finish.take() {
            let fut = finish.complete(self.bytes_out, self.tap.as_mut(), Some(why));
            spawn_record(fut);
        }
    }
}

impl<B> Body for AuditedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(fut) = this.recording.as_mut() {
                let result = ready!(fut.as_mut().poll(cx));
                this.recording = None;
                if let Err(e) = result {
                    this.held.clear();
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
            if this.upstream_done {
                return Poll::Ready(this.held.pop_front().map(Ok));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Some(frame) = this.observe(frame) else {
                        continue;
                    };
                    if this.inner.is_end_stream() {
                        // Known to be the last frame: hold it until durable.
                        this.held.push_back(frame);
                        continue;
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => {
                    let e: BoxError = e.into();
                    this.abort(format!("upstream body failed: {}", error_chain(&*e)));
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.upstream_ended(),
            }
        }
    }
}

impl<B> Drop for AuditedBody<B> {
    fn drop(&mut self) {
        if let Some(fut) = self.recording.take() {
            spawn_record(fut);
        }
        if let Some(finish) = self.finish.take() {
            let why = "response not completed: the client went away".to_owned();
            spawn_record(finish.complete(self.bytes_out, self.tap.as_mut(), Some(why)));
        }
    }
}

/// Finishes a record without anyone waiting for it.
fn spawn_record(fut: RecordFuture) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(fut);
        }
        Err(_) => tracing::error!("audit record dropped: no runtime to finish it on"),
    }
}
