//! The hard TTL. The reaper sleeps until the earliest expiry among live
//! sandboxes (or until woken by a new one) and destroys what has expired,
//! so a sandbox ends within a second of its expiry. At start it also runs
//! [`recover`]: expired sandboxes are reaped even if the server was down
//! when they expired, live ones get their channel back, and anything on the
//! node the store does not know is removed.

use std::time::Duration;

use airlock_audit::{AuditEvent, EventCode};
use airlock_core::{SandboxId, format_duration};
use airlock_store::{SandboxRecord, SandboxState};
use time::OffsetDateTime;

use crate::state::SharedState;

/// Longest sleep between checks, in case a wake-up is missed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Runs forever: recovery first, then the reaping loop.
pub async fn run(state: SharedState) {
    if let Err(e) = recover(&state).await {
        tracing::error!(error = %e, "sandbox recovery failed");
    }
    loop {
        let now = OffsetDateTime::now_utc();
        if let Err(e) = reap_expired(&state, now).await {
            tracing::error!(error = %e, "reaping expired sandboxes failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let next = state.store(|s| s.next_expiry()).await.ok().flatten();
        let wait = next
            .map(|t| Duration::try_from(t - OffsetDateTime::now_utc()).unwrap_or_default())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.sandboxes.reaper.notified() => {}
        }
    }
}

/// Destroys every live sandbox whose expiry is at or before `now`.
pub async fn reap_expired(state: &SharedState, now: OffsetDateTime) -> Result<(), String> {
    let live = state
        .store(|s| s.sandboxes(None, true))
        .await
        .map_err(|e| e.to_string())?;
    for sb in live.into_iter().filter(|s| s.expires <= now) {
        expire(state, &sb).await?;
    }
    Ok(())
}

async fn expire(state: &SharedState, sb: &SandboxRecord) -> Result<(), String> {
    tracing::info!(sandbox = %sb.id, owner = %sb.owner, "sandbox expired; destroying");
    let ttl = Duration::try_from(sb.expires - sb.created).unwrap_or_default();
    let event = AuditEvent::new(EventCode::SandboxExpired)
        .user(sb.owner.clone())
        .sandbox(sb.id.clone())
        .isolation(sb.backend)
        .resource(format!("sandbox:{}", sb.name))
        .detail("ttl", format_duration(ttl))
        .detail("created", crate::api::rfc3339(sb.created));
    state.audit.record(event).await.map_err(|e| e.to_string())?;
    state
        .sandboxes
        .stop(&sb.id)
        .await
        .map_err(|e| e.to_string())?;
    let id = sb.id.clone();
    state
        .store(move |s| s.set_sandbox_state(&id, SandboxState::Expired, OffsetDateTime::now_utc()))
        .await
        .map_err(|e| e.to_string())
}

/// After a (re)start: reap what expired while the server was down, reattach
/// live sandboxes that are still on the node, mark the ones the node lost,
/// and remove orphans the store does not know.
pub async fn recover(state: &SharedState) -> Result<(), String> {
    let live = state
        .store(|s| s.sandboxes(None, true))
        .await
        .map_err(|e| e.to_string())?;
    if live.is_empty() && !state.sandboxes.was_used() {
        // Nothing to recover or sweep: the node starts on first use.
        return Ok(());
    }
    let node = state.sandboxes.node().await.map_err(|e| e.to_string())?;
    let present: Vec<String> = node
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| e.in_runtime)
        .map(|e| e.id)
        .collect();
    let now = OffsetDateTime::now_utc();
    let mut keep: Vec<SandboxId> = Vec::new();
    for sb in live {
        if sb.expires <= now {
            expire(state, &sb).await?;
        } else if present.iter().any(|p| p == sb.id.as_str()) {
            match state.sandboxes.reattach(&sb).await {
                Ok(()) => keep.push(sb.id.clone()),
                Err(e) => lost(state, &sb, &format!("cannot reattach: {e}")).await?,
            }
        } else {
            lost(state, &sb, "its runtime is gone (host restarted?)").await?;
        }
    }
    let removed = node
        .cleanup_orphans(&keep)
        .await
        .map_err(|e| e.to_string())?;
    if !removed.is_empty() {
        tracing::warn!(?removed, "removed sandboxes the control plane did not know");
    }
    Ok(())
}

/// A live sandbox the node no longer has: record that it ended.
async fn lost(state: &SharedState, sb: &SandboxRecord, why: &str) -> Result<(), String> {
    tracing::warn!(sandbox = %sb.id, why, "sandbox lost");
    let _ = state.sandboxes.stop(&sb.id).await;
    let event = AuditEvent::new(EventCode::SandboxRemoved)
        .user(sb.owner.clone())
        .sandbox(sb.id.clone())
        .isolation(sb.backend)
        .resource(format!("sandbox:{}", sb.name))
        .detail("reason", why);
    state.audit.record(event).await.map_err(|e| e.to_string())?;
    let id = sb.id.clone();
    state
        .store(move |s| s.set_sandbox_state(&id, SandboxState::Failed, OffsetDateTime::now_utc()))
        .await
        .map_err(|e| e.to_string())
}
