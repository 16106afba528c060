//! The ready-made sink: events go into Airlock's audit log.

use std::sync::Arc;

use airlock_audit::AuditLog;

use crate::event::ProxyEvent;
use crate::seams::{AuditSink, RecordFuture, SinkError};

/// Appends every proxy event to an [`AuditLog`] as its typed audit event
/// ([`ProxyEvent::to_audit_event`]); resolves once the append is durable.
#[derive(Debug, Clone)]
pub struct AuditLogSink {
    log: Arc<AuditLog>,
}

impl AuditLogSink {
    /// A sink writing to `log`.
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self { log }
    }
}

impl AuditSink for AuditLogSink {
    fn record(&self, event: ProxyEvent) -> RecordFuture {
        let log = self.log.clone();
        Box::pin(async move {
            log.append(event.to_audit_event())
                .await
                .map(|_receipt| ())
                .map_err(|e| SinkError(e.to_string()))
        })
    }
}
