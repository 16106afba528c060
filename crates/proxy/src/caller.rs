//! Who is calling: fixed per sandbox by whoever binds the sandbox's socket,
//! never taken from anything the sandbox sends.

use airlock_core::{IsolationClass, SandboxId, SpiffeId, UserName};

/// The identity behind every connection arriving on one sandbox's socket.
///
/// The control plane builds it when it binds `<run_dir>/sb/<id>/host/proxy.sock`:
/// the socket a connection arrives on is the proof of which sandbox sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The sandbox.
    pub sandbox: SandboxId,
    /// The workload's SPIFFE ID (`spiffe://<td>/sandbox/<id>/workload`).
    pub workload: SpiffeId,
    /// The human the workload acts for.
    pub user: UserName,
    /// How the sandbox is isolated (recorded in every audit event).
    pub isolation: IsolationClass,
    /// The delegation profile that narrows what the workload may do, if any.
    pub profile: Option<String>,
}
