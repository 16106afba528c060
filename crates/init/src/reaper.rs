//! Child processes and PID 1's duty to reap every zombie.
//!
//! init cannot use `Child::wait` or tokio's process support: as PID 1 it
//! must also reap orphans, with `waitpid(-1)`, which would steal their
//! statuses. Instead every spawn registers a waiter while holding the same
//! lock the reaper takes, so a child that exits instantly cannot be reaped
//! before its waiter exists.

use std::collections::HashMap;
use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex};

use airlock_sys::process::{self, SpawnOptions, WaitStatus};
use airlock_wire::ExitStatus;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// Spawns children and delivers their exit statuses.
#[derive(Debug, Default)]
pub struct Reaper {
    waiters: Mutex<HashMap<u32, oneshot::Sender<ExitStatus>>>,
}

/// A spawned child: its pid, its stdio handles and a future exit status.
#[derive(Debug)]
pub struct Spawned {
    /// The child's pid (also its process group when it got a new session).
    pub pid: u32,
    /// The std handle, for its piped stdio only: never `wait` on it.
    pub child: std::process::Child,
    /// Resolves when the child has been reaped.
    pub exit: oneshot::Receiver<ExitStatus>,
}

impl Reaper {
    /// Spawns `cmd` and registers for its exit.
    pub fn spawn(&self, cmd: &mut Command, opts: SpawnOptions) -> io::Result<Spawned> {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let child = process::spawn(cmd, opts)?;
        let (tx, rx) = oneshot::channel();
        waiters.insert(child.id(), tx);
        Ok(Spawned {
            pid: child.id(),
            child,
            exit: rx,
        })
    }

    /// Reaps every terminated child now.
    pub fn reap(&self) {
        loop {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            match process::reap_any() {
                Ok(Some((pid, status))) => {
                    let status = match status {
                        WaitStatus::Exited(c) => ExitStatus::Code(c),
                        WaitStatus::Signaled(s) => ExitStatus::Signal(s),
                    };
                    match waiters.remove(&pid) {
                        Some(tx) => drop(tx.send(status)),
                        None => tracing::debug!(pid, ?status, "reaped an orphan"),
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "waitpid failed");
                    return;
                }
            }
        }
    }

    /// Sends `signal` to every live child's process group (each child runs
    /// in its own session, so this reaches its whole job).
    pub fn signal_all(&self, signal: i32) {
        let waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for pid in waiters.keys() {
            let _ = process::kill_group(*pid, signal).or_else(|_| process::kill(*pid, signal));
        }
    }

    /// Children spawned and not yet reaped.
    pub fn live(&self) -> usize {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Reaps on every SIGCHLD, forever.
    pub async fn run(self: Arc<Self>) -> io::Result<()> {
        let mut sigchld = signal(SignalKind::child())?;
        loop {
            self.reap();
            sigchld.recv().await;
        }
    }
}
