//! [`InitConn`]: the handle the control plane uses to reach one sandbox's
//! init, whichever connection init is currently on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::SandboxId;
use airlock_mux::Mux;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::error::ChannelError;

/// A cloneable handle on a sandbox's init. Dropping the last clone stops
/// listening and closes the connection.
#[derive(Debug, Clone)]
pub struct InitConn {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    sandbox_id: SandboxId,
    socket: PathBuf,
    current: watch::Sender<Option<Mux>>,
    accept: Mutex<Option<AbortHandle>>,
}

impl Inner {
    pub(super) fn new(sandbox_id: SandboxId, socket: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            sandbox_id,
            socket,
            current: watch::channel(None).0,
            accept: Mutex::new(None),
        })
    }

    pub(super) fn set_accept_task(&self, task: AbortHandle) {
        *self.accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Makes `mux` the current connection; a previous one is closed (init
    /// reconnected, so the old one is dead or an impostor's).
    pub(super) fn install(&self, mux: Mux) {
        if let Some(old) = self.current.send_replace(Some(mux)) {
            old.close();
        }
    }

    fn shutdown(&self) {
        if let Some(task) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        if let Some(mux) = self.current.send_replace(None) {
            mux.close();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl InitConn {
    pub(super) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// The sandbox this handle reaches.
    pub fn sandbox_id(&self) -> &SandboxId {
        &self.inner.sandbox_id
    }

    /// Waits until init is connected. Wrap it in a timeout.
    pub async fn ready(&self) -> Result<(), ChannelError> {
        let mut rx = self.inner.current.subscribe();
        rx.wait_for(|m| m.as_ref().is_some_and(|m| !m.is_closed()))
            .await
            .map_err(|_| ChannelError::NotConnected)?;
        Ok(())
    }

    /// Whether init is connected right now.
    pub fn is_connected(&self) -> bool {
        self.inner
            .current
            .borrow()
            .as_ref()
            .is_some_and(|m| !m.is_closed())
    }

    /// One round trip to init.
    pub async fn ping(&self) -> Result<Duration, ChannelError> {
        Ok(self.mux()?.ping().await?)
    }

    /// Stops listening, closes the connection and removes the socket file.
    /// init keeps running and retrying until the sandbox is destroyed.
    pub fn close(&self) {
        self.inner.shutdown();
        let _ = std::fs::remove_file(&self.inner.socket);
    }

    /// The live connection, or `NotConnected`.
    pub(super) fn mux(&self) -> Result<Mux, ChannelError> {
        self.inner
            .current
            .borrow()
            .as_ref()
            .filter(|m| !m.is_closed())
            .cloned()
            .ok_or(ChannelError::NotConnected)
    }
}
