//! One multiplexed stream: an ordered inbox of the peer's messages and data,
//! and a sender that respects the peer's credit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use airlock_wire::flow::cost;
use airlock_wire::frame::MAX_DATA_CHUNK;
use airlock_wire::{Control, Frame, FrameKind, StreamId};
use tokio::sync::{Semaphore, mpsc};

use crate::MuxError;
use crate::conn::Shared;

/// What arrives on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A control message.
    Control(Control),
    /// A data frame's payload.
    Data(FrameKind, Vec<u8>),
}

/// The receiving end of a stream, plus a [`StreamSender`].
///
/// Dropping it before the stream finished (no terminal message sent or
/// received) tells the peer `Cancel`, so a producer on the other side stops
/// instead of waiting for credit forever.
#[derive(Debug)]
pub struct Stream {
    sender: StreamSender,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    queued_controls: Arc<AtomicUsize>,
}

/// The sending half of a stream; clone it to write from several tasks
/// (e.g. one pumping stdout, one stderr).
#[derive(Debug, Clone)]
pub struct StreamSender {
    id: StreamId,
    shared: Arc<Shared>,
    credit: Arc<Semaphore>,
    finished: Arc<AtomicBool>,
}

impl Stream {
    pub(crate) fn new(
        id: StreamId,
        shared: Arc<Shared>,
        inbox: mpsc::UnboundedReceiver<Inbound>,
        queued_controls: Arc<AtomicUsize>,
        credit: Arc<Semaphore>,
    ) -> Self {
        Self {
            sender: StreamSender {
                id,
                shared,
                credit,
                finished: Arc::new(AtomicBool::new(false)),
            },
            inbox,
            queued_controls,
        }
    }

    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.sender.id
    }

    /// The next message or data; `None` when the connection is gone.
    /// Taking data returns credit to the peer.
    pub async fn recv(&mut self) -> Option<Inbound> {
        let item = self.inbox.recv().await?;
        match &item {
            Inbound::Control(msg) => {
                self.queued_controls.fetch_sub(1, Ordering::Relaxed);
                if msg.is_terminal() {
                    self.sender.finished.store(true, Ordering::Relaxed);
                }
            }
            Inbound::Data(_, data) => {
                self.sender.shared.consumed(self.id(), data.len()).await;
            }
        }
        Some(item)
    }

    /// A sender for this stream.
    pub fn sender(&self) -> StreamSender {
        self.sender.clone()
    }

    /// Sends a control message.
    pub async fn send(&self, msg: &Control) -> Result<(), MuxError> {
        self.sender.send(msg).await
    }

    /// Sends data, waiting for credit as needed.
    pub async fn send_data(&self, kind: FrameKind, data: &[u8]) -> Result<(), MuxError> {
        self.sender.send_data(kind, data).await
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.sender.finished.load(Ordering::Relaxed) {
            let cancel = Frame::control(self.id(), &Control::Cancel);
            self.sender.shared.send_now(cancel);
        }
        self.sender.shared.remove(self.id());
    }
}

impl StreamSender {
    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Sends a control message.
    pub async fn send(&self, msg: &Control) -> Result<(), MuxError> {
        if msg.is_terminal() {
            self.finished.store(true, Ordering::Relaxed);
        }
        self.shared
            .out
            .send(Frame::control(self.id, msg))
            .await
            .map_err(|_| MuxError::Closed)
    }

    /// Sends `data` as frames of at most 32 KiB, each only once the peer
    /// has granted credit for it.
    pub async fn send_data(&self, kind: FrameKind, data: &[u8]) -> Result<(), MuxError> {
        for chunk in data.chunks(MAX_DATA_CHUNK) {
            let permit = self
                .credit
                .acquire_many(cost(chunk.len()))
                .await
                .map_err(|_| MuxError::Closed)?;
            // The credit is spent; the peer returns it with a Credit frame.
            permit.forget();
            self.shared
                .out
                .send(Frame::data(kind, self.id, chunk.to_vec()))
                .await
                .map_err(|_| MuxError::Closed)?;
        }
        Ok(())
    }
}
