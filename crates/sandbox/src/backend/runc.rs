//! The runc backend: Linux namespaces (including a user namespace, so root
//! inside is host uid 100000), seccomp, capabilities and cgroups, on the
//! host kernel. The weakest class: a kernel bug is a host bug.

use std::path::Path;

use airlock_core::IsolationClass;

use super::oci::OciCli;
use super::{Backend, BackendStatus, BoxFuture, find_binary};
use crate::error::Result;
use crate::layout::SandboxPaths;

/// runc, driven through its CLI with our own `--root`.
#[derive(Debug)]
pub struct Runc {
    cli: Option<OciCli>,
    status: BackendStatus,
}

impl Runc {
    /// Finds runc and checks what it needs from the kernel.
    pub async fn probe(runtime_dir: Option<&Path>, run_dir: &Path) -> Self {
        let status = |usable, detail: String| BackendStatus {
            name: "runc",
            class: IsolationClass::Runc,
            usable,
            detail,
        };
        let Some(binary) = find_binary(runtime_dir, "runc") else {
            return Self {
                cli: None,
                status: status(false, "runc not found: install the runc package".into()),
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
        if let Err(why) = kernel_ready() {
            return Self {
                cli: None,
                status: status(false, why),
            };
        }
        let cli = OciCli {
            name: "runc",
            binary,
            global: vec!["--root".into(), run_dir.join("runc").into()],
        };
        Self {
            cli: Some(cli),
            status: status(true, version),
        }
    }

    fn cli(&self) -> Result<&OciCli> {
        self.cli
            .as_ref()
            .ok_or_else(|| crate::error::SandboxError::BackendUnusable {
                class: IsolationClass::Runc,
                reason: self.status.detail.clone(),
            })
    }
}

/// User namespaces must be enabled, and the kernel must support idmapped
/// overlay layers (5.19).
fn kernel_ready() -> Result<(), String> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        return Err("user namespaces are disabled (user.max_user_namespaces = 0)".into());
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (5, 19) {
        return Err(format!(
            "kernel {} is older than 5.19 (idmapped overlay layers)",
            release.trim()
        ));
    }
    Ok(())
}

impl Backend for Runc {
    fn class(&self) -> IsolationClass {
        IsolationClass::Runc
    }

    fn status(&self) -> &BackendStatus {
        &self.status
    }

    fn shifts_ids(&self) -> bool {
        true
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
