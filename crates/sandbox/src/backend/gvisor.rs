//! The gVisor backend: runsc puts a user-space kernel (the sentry) between
//! the workload and the host kernel. Platform `ptrace`, because KVM is not
//! usable on hosts without vmx/svm (see `microvm`).
//!
//! Flags, each tested (see NOTES-runtime.md):
//! - `--network=none`: the sandbox's netstack has loopback only.
//! - `--host-uds=open`: init may connect to the host's unix sockets that are
//!   bind-mounted into the sandbox (ctl.sock, proxy.sock), which is its only
//!   way out; it cannot create host sockets.
//!
//! Not `--oci-seccomp`: with it, runsc 2022 answers clone3 with EPERM
//! (it ignores the profile's errnoRet ENOSYS), so glibc cannot create
//! threads. The workload's syscalls are served by the sentry, not the host
//! kernel; the sentry runs under gVisor's own host seccomp filter.

use std::path::Path;

use airlock_core::IsolationClass;

use super::oci::OciCli;
use super::{Backend, BackendStatus, BoxFuture, find_binary};
use crate::error::{Result, SandboxError};
use crate::layout::SandboxPaths;

/// runsc, driven through its CLI with our own `--root`.
#[derive(Debug)]
pub struct Gvisor {
    cli: Option<OciCli>,
    status: BackendStatus,
}

impl Gvisor {
    /// Finds runsc and checks that its platform can work here.
    pub async fn probe(runtime_dir: Option<&Path>, run_dir: &Path) -> Self {
        let status = |usable, detail: String| BackendStatus {
            name: "gvisor",
            class: IsolationClass::Gvisor,
            usable,
            detail,
        };
        let Some(binary) = find_binary(runtime_dir, "runsc") else {
            return Self {
                cli: None,
                status: status(false, "runsc not found: install the runsc package".into()),
            };
        };
        let version = match OciCli::version(&binary).await {
            Ok(v) => v,
            Err(e) => {
                return Self {
                    cli: None,
                    status: status(false, e),
                };
            }
        };
        let scope =
            std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").unwrap_or_default();
        if scope.trim() == "3" {
            let why =
                "ptrace is disabled (kernel.yama.ptrace_scope = 3); the ptrace platform needs it";
            return Self {
                cli: None,
                status: status(false, why.into()),
            };
        }
        let global = [
            "--root".into(),
            run_dir.join("runsc").into_os_string(),
            "--platform=ptrace".into(),
            "--network=none".into(),
            "--host-uds=open".into(),
        ];
        let cli = OciCli {
            name: "runsc",
            binary,
            global: global.to_vec(),
        };
        Self {
            cli: Some(cli),
            status: status(true, format!("{version} (platform ptrace)")),
        }
    }

    fn cli(&self) -> Result<&OciCli> {
        self.cli
            .as_ref()
            .ok_or_else(|| SandboxError::BackendUnusable {
                class: IsolationClass::Gvisor,
                reason: self.status.detail.clone(),
            })
    }
}

impl Backend for Gvisor {
    fn class(&self) -> IsolationClass {
        IsolationClass::Gvisor
    }

    fn status(&self) -> &BackendStatus {
        &self.status
    }

    fn shifts_ids(&self) -> bool {
        false
    }

    fn start<'a>(&'a self, id: &'a str, paths: &'a SandboxPaths) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.cli()?.run_detached(id, paths).await })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.cli()?.delete(id).await })
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move { self.cli()?.list().await })
    }
}
