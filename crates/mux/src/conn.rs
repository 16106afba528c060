//! The connection: a reader task that dispatches frames to streams and a
//! writer task that batches outgoing frames onto the byte stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use airlock_wire::{
    Control, Decoder, Frame, FrameKind, INITIAL_WINDOW, RecvWindow, Role, StreamId, StreamIds,
    WireError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use crate::MuxError;
use crate::stream::{Inbound, Stream};

/// Peer-opened streams alive at once; more are refused with an error.
pub const MAX_PEER_STREAMS: usize = 256;
/// Control messages a stream may have queued unread before the peer is
/// judged to be flooding (legitimate streams carry a handful).
const MAX_QUEUED_CONTROLS: usize = 64;
/// Outgoing frames queued for the writer.
const OUT_QUEUE: usize = 64;
/// Frames the reader itself must answer (pongs, refusals). The reader never
/// waits on the writer (that could deadlock two peers that both stopped
/// reading), so these go to their own bounded queue; overflowing it means
/// the peer floods us without reading.
const PRIORITY_QUEUE: usize = 1024;
/// The writer gathers frames into one write up to this size.
const WRITE_BATCH: usize = 256 * 1024;

/// A handle on one multiplexed connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mux {
    pub(crate) shared: Arc<Shared>,
}

/// Streams the peer opens, with their opening message.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<(Control, Stream)>,
}

impl Incoming {
    /// The next stream the peer opened; `None` once the connection is closed.
    pub async fn accept(&mut self) -> Option<(Control, Stream)> {
        self.rx.recv().await
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    role: Role,
    pub(crate) out: mpsc::Sender<Frame>,
    prio: mpsc::Sender<Frame>,
    state: Mutex<State>,
    closed: watch::Sender<bool>,
}

#[derive(Debug)]
struct State {
    ids: StreamIds,
    streams: HashMap<StreamId, Slot>,
    pings: HashMap<u64, oneshot::Sender<()>>,
    next_nonce: u64,
    peer_streams: usize,
    tasks: Vec<AbortHandle>,
    closed: bool,
}

#[derive(Debug)]
struct Slot {
    inbox: mpsc::UnboundedSender<Inbound>,
    queued_controls: Arc<AtomicUsize>,
    credit: Arc<Semaphore>,
    window: RecvWindow,
    peer_opened: bool,
}

impl Mux {
    /// Runs the multiplexer over `io` (already past the hello exchange;
    /// `decoder` holds any bytes read beyond it). Must be called inside a
    /// tokio runtime: it spawns the reader and writer tasks.
    pub fn start<T>(io: T, role: Role, decoder: Decoder) -> (Mux, Incoming)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let (prio_tx, prio_rx) = mpsc::channel(PRIORITY_QUEUE);
        // As deep as the stream limit: a burst of requests read in one go must
        // not be refused just because the acceptor has not run yet.
        let (incoming_tx, incoming_rx) = mpsc::channel(MAX_PEER_STREAMS);
        let shared = Arc::new(Shared {
            role,
            out: out_tx,
            prio: prio_tx,
            state: Mutex::new(State {
                ids: StreamIds::new(role),
                streams: HashMap::new(),
                pings: HashMap::new(),
                next_nonce: 1,
                peer_streams: 0,
                tasks: Vec::new(),
                closed: false,
            }),
            closed: watch::channel(false).0,
        });
        let (reader, writer) = tokio::io::split(io);
        let r = tokio::spawn(read_loop(shared.clone(), reader, decoder, incoming_tx));
        let w = tokio::spawn(write_loop(shared.clone(), writer, prio_rx, out_rx));
        shared.lock().tasks = vec![r.abort_handle(), w.abort_handle()];
        (Mux { shared }, Incoming { rx: incoming_rx })
    }

    /// Opens a stream with `msg` (which must be one our role opens with).
    pub async fn open(&self, msg: &Control) -> Result<Stream, MuxError> {
        debug_assert_eq!(msg.opener(), Some(self.shared.role));
        let stream = {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(MuxError::Closed);
            }
            let id = st.ids.next_id();
            self.shared.new_stream(&mut st, id, false)
        };
        stream.send(msg).await?;
        Ok(stream)
    }

    /// Measures one ping round trip.
    pub async fn ping(&self) -> Result<Duration, MuxError> {
        let (tx, rx) = oneshot::channel();
        let nonce = {
            let mut st = self.shared.lock();
            let nonce = st.next_nonce;
            st.next_nonce += 1;
            st.pings.insert(nonce, tx);
            nonce
        };
        let start = Instant::now();
        let ping = Frame::control(0, &Control::Ping { nonce });
        self.shared
            .out
            .send(ping)
            .await
            .map_err(|_| MuxError::Closed)?;
        rx.await.map_err(|_| MuxError::Closed)?;
        Ok(start.elapsed())
    }

    /// Resolves when the connection has ended.
    pub async fn closed(&self) {
        let mut rx = self.shared.closed.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        *self.shared.closed.borrow()
    }

    /// Ends the connection now: every stream sees its end.
    pub fn close(&self) {
        self.shared.shutdown();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain maps behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_stream(self: &Arc<Self>, st: &mut State, id: StreamId, peer_opened: bool) -> Stream {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let credit = Arc::new(Semaphore::new(INITIAL_WINDOW as usize));
        st.streams.insert(
            id,
            Slot {
                inbox: tx,
                queued_controls: queued.clone(),
                credit: credit.clone(),
                window: RecvWindow::new(id),
                peer_opened,
            },
        );
        if peer_opened {
            st.peer_streams += 1;
        }
        Stream::new(id, self.clone(), rx, queued, credit)
    }

    /// Forgets a stream whose local handle was dropped.
    pub(crate) fn remove(&self, id: StreamId) {
        let mut st = self.lock();
        if let Some(slot) = st.streams.remove(&id) {
            slot.credit.close();
            if slot.peer_opened {
                st.peer_streams -= 1;
            }
        }
    }

    /// The consumer took a data frame of `len` bytes: maybe return credit.
    pub(crate) async fn consumed(&self, id: StreamId, len: usize) {
        let grant = {
            let mut st = self.lock();
            st.streams
                .get_mut(&id)
                .and_then(|s| s.window.on_consumed(len))
        };
        if let Some(n) = grant {
            let _ = self.out.send(Frame::credit(id, n)).await;
        }
    }

    fn shutdown(&self) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        for (_, slot) in st.streams.drain() {
            slot.credit.close();
        }
        st.pings.clear();
        for task in st.tasks.drain(..) {
            task.abort();
        }
        drop(st);
        self.closed.send_replace(true);
    }

    /// Handles one frame from the peer. An error ends the connection.
    fn dispatch(
        self: &Arc<Self>,
        frame: Frame,
        incoming: &mpsc::Sender<(Control, Stream)>,
    ) -> Result<(), WireError> {
        match frame.kind {
            FrameKind::Credit => self.on_credit(frame.stream, frame.to_credit()?),
            kind if kind.is_data() => self.on_data(kind, frame),
            _ => {
                let msg = frame.to_control()?;
                if frame.stream == 0 {
                    self.on_connection_msg(msg)
                } else {
                    self.on_control(frame.stream, msg, incoming)
                }
            }
        }
    }

    fn on_credit(&self, id: StreamId, n: u32) -> Result<(), WireError> {
        let st = self.lock();
        let Some(slot) = st.streams.get(&id) else {
            return Ok(()); // stream already finished here
        };
        if slot.credit.available_permits() as u64 + u64::from(n) > u64::from(INITIAL_WINDOW) {
            return Err(WireError::BadMessage(format!(
                "stream {id}: credit beyond the window"
            )));
        }
        slot.credit.add_permits(n as usize);
        Ok(())
    }

    fn on_data(&self, kind: FrameKind, frame: Frame) -> Result<(), WireError> {
        let wrong_way = match self.role {
            Role::Host => kind == FrameKind::Stdin,
            Role::Init => matches!(kind, FrameKind::Stdout | FrameKind::Stderr),
        };
        if wrong_way {
            return Err(WireError::BadMessage(format!(
                "{kind:?} data sent the wrong way"
            )));
        }
        let mut st = self.lock();
        let Some(slot) = st.streams.get_mut(&frame.stream) else {
            return Ok(()); // a late frame for a stream we are done with
        };
        slot.window.on_received(frame.payload.len())?;
        let _ = slot.inbox.send(Inbound::Data(kind, frame.payload));
        Ok(())
    }

    fn on_connection_msg(&self, msg: Control) -> Result<(), WireError> {
        match msg {
            Control::Ping { nonce } => self.reply(0, &Control::Pong { nonce }),
            Control::Pong { nonce } => {
                if let Some(tx) = self.lock().pings.remove(&nonce) {
                    let _ = tx.send(());
                }
                Ok(())
            }
            other => {
                tracing::debug!(?other, "ignoring connection message after hello");
                Ok(())
            }
        }
    }

    fn on_control(
        self: &Arc<Self>,
        id: StreamId,
        msg: Control,
        incoming: &mpsc::Sender<(Control, Stream)>,
    ) -> Result<(), WireError> {
        let mut st = self.lock();
        if let Some(slot) = st.streams.get(&id) {
            if slot.queued_controls.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_CONTROLS {
                return Err(WireError::BadMessage(format!(
                    "stream {id}: too many unread control messages"
                )));
            }
            let _ = slot.inbox.send(Inbound::Control(msg));
            return Ok(());
        }
        let peer = self.role.peer();
        if !peer.opens(id) || msg.opener() != Some(peer) {
            // Late message for a finished stream (e.g. StdinEof racing Exited).
            tracing::trace!(stream = id, "dropping message for an unknown stream");
            return Ok(());
        }
        if st.closed {
            return Ok(());
        }
        if st.peer_streams >= MAX_PEER_STREAMS {
            drop(st);
            return self.reply(id, &Control::error("too many concurrent requests"));
        }
        let stream = self.new_stream(&mut st, id, true);
        drop(st);
        if incoming.try_send((msg, stream)).is_err() {
            // The stream handle came back with the error and is dropped here,
            // which unregisters it.
            return self.reply(id, &Control::error("busy: not accepting requests"));
        }
        Ok(())
    }

    /// Queues a frame without waiting, ahead of ordinary traffic: used from
    /// `Drop` (which cannot wait) to cancel a stream. A full queue means the
    /// connection is already hopeless; the frame is then dropped.
    pub(crate) fn send_now(&self, frame: Frame) {
        let _ = self.prio.try_send(frame);
    }

    /// Queues a frame from the reader without waiting (see PRIORITY_QUEUE).
    fn reply(&self, id: StreamId, msg: &Control) -> Result<(), WireError> {
        self.prio
            .try_send(Frame::control(id, msg))
            .map_err(|_| WireError::BadMessage("peer floods without reading".into()))
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: R,
    mut decoder: Decoder,
    incoming: mpsc::Sender<(Control, Stream)>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let result: Result<(), MuxError> = async {
        loop {
            while let Some(frame) = decoder.next_frame()? {
                shared.dispatch(frame, &incoming)?;
            }
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            decoder.feed(&buf[..n]);
        }
    }
    .await;
    match result {
        Ok(()) => tracing::debug!(role = ?shared.role, "peer closed the channel"),
        Err(e) => tracing::warn!(role = ?shared.role, error = %e, "channel failed"),
    }
    shared.shutdown();
}

async fn write_loop<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut writer: W,
    mut prio: mpsc::Receiver<Frame>,
    mut out: mpsc::Receiver<Frame>,
) {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            Some(f) = prio.recv() => f,
            Some(f) = out.recv() => f,
            else => break,
        };
        buf.clear();
        first.encode_into(&mut buf);
        while buf.len() < WRITE_BATCH {
            match prio.try_recv().or_else(|_| out.try_recv()) {
                Ok(f) => f.encode_into(&mut buf),
                Err(_) => break,
            }
        }
        let written = async {
            writer.write_all(&buf).await?;
            writer.flush().await
        }
        .await;
        if let Err(e) = written {
            tracing::debug!(error = %e, "channel write failed");
            break;
        }
    }
    shared.shutdown();
}
