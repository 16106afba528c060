//! The ready-made sink: events go into Airlock's audit log, in batches.

use std::sync::{Arc, OnceLock};

use airlock_audit::{AuditEvent, AuditLog};
use tokio::sync::{mpsc, oneshot};

use crate::event::ProxyEvent;
use crate::seams::{AuditSink, RecordFuture, SinkError};

/// Most events appended in one batch.
const MAX_BATCH: usize = 1024;

type Pending = (AuditEvent, oneshot::Sender<Result<(), SinkError>>);

/// Appends every proxy event to an [`AuditLog`] as its typed audit event
/// ([`ProxyEvent::to_audit_event`]); each record resolves once its event is
/// durable.
///
/// Events that arrive while a batch is being committed are appended
/// together as the next batch (`append_many`: one commit, one sync), so
/// under load the log's cost is paid per batch, not per request. Each event
/// is validated on its own first, so a malformed one fails alone.
#[derive(Debug)]
pub struct AuditLogSink {
    log: Arc<AuditLog>,
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl AuditLogSink {
    /// A sink writing to `log`. The batching task starts on the first record.
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self {
            log,
            queue: OnceLock::new(),
        }
    }

    fn queue(&self) -> &mpsc::UnboundedSender<Pending> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(commit_batches(self.log.clone(), rx));
            tx
        })
    }
}

impl AuditSink for AuditLogSink {
    fn record(&self, event: ProxyEvent) -> RecordFuture {
        let event = event.to_audit_event();
        if let Err(e) = event.validate() {
            return Box::pin(async move { Err(SinkError(e.to_string())) });
        }
        let (reply, done) = oneshot::channel();
        let queued = self.queue().send((event, reply));
        Box::pin(async move {
            queued.map_err(|_| SinkError("the audit batching task has stopped".into()))?;
            done.await
                .map_err(|_| SinkError("the audit batching task has stopped".into()))?
        })
    }
}

/// Takes whatever is queued (up to [`MAX_BATCH`]), appends it as one batch,
/// answers every waiter, and repeats.
async fn commit_batches(log: Arc<AuditLog>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<AuditEvent>, Vec<_>) = batch.drain(..).unzip();
        let result = log
            .append_many(events)
            .await
            .map(|_| ())
            .map_err(|e| SinkError(e.to_string()));
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }
}
