//! Daily token budgets survive a restart: the proxy keeps its counters in
//! memory, and at start the control plane re-spends what today's inference
//! calls used, read back from the audit log (every call's usage is there).

use airlock_audit::query::MAX_LIMIT;
use airlock_audit::{ActionFilter, AuditError, AuditLog, Order, Query};
use airlock_proxy::ProxyServer;
use time::OffsetDateTime;

/// Re-spends today's recorded inference usage in `proxy`; returns how many
/// calls counted.
pub fn restore(proxy: &ProxyServer, log: &AuditLog) -> Result<usize, AuditError> {
    let midnight = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let mut restored = 0;
    let mut after_seq = None;
    loop {
        let query = Query {
            action: Some(ActionFilter::Exact("inference.call".into())),
            since: Some(midnight),
            after_seq,
            limit: MAX_LIMIT,
            order: Order::OldestFirst,
            ..Query::default()
        };
        let page = log.search_blocking(&query)?;
        restored += proxy.restore_token_budgets(&page);
        match page.last() {
            Some(last) if page.len() == MAX_LIMIT as usize => after_seq = Some(last.seq),
            _ => return Ok(restored),
        }
    }
}
