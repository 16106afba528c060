//! The microVM backend (QEMU `-M microvm`) is a later issue. It is listed
//! so that `doctor` shows it and `auto` can say why it was not picked.
//!
//! Hardware virtualization is detected by the vmx/svm CPU flag, not by
//! /dev/kvm: a host that is itself a VM may offer /dev/kvm through PVM,
//! which cannot run ordinary guest kernels.

use airlock_core::IsolationClass;

use super::{Backend, BackendStatus, BoxFuture};
use crate::error::{Result, SandboxError};
use crate::layout::SandboxPaths;

/// Placeholder that is never usable yet.
#[derive(Debug)]
pub struct Microvm {
    status: BackendStatus,
}

impl Microvm {
    /// Reports why microVMs cannot be used here.
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            status: BackendStatus {
                name: "microvm",
                class: IsolationClass::Microvm,
                usable: false,
                detail: reason(&cpuinfo),
            },
        }
    }

    fn unusable(&self) -> SandboxError {
        SandboxError::BackendUnusable {
            class: IsolationClass::Microvm,
            reason: self.status.detail.clone(),
        }
    }
}

/// Why the backend is unusable, given /proc/cpuinfo.
fn reason(cpuinfo: &str) -> String {
    if has_hw_virt(cpuinfo) {
        "not implemented yet (planned: QEMU -M microvm with KVM)".into()
    } else {
        "no hardware virtualization: the CPU has no vmx/svm flag, so KVM (if /dev/kvm exists, \
         e.g. through PVM) cannot run ordinary guests; also not implemented yet"
            .into()
    }
}

/// Whether any CPU advertises Intel VT-x (vmx) or AMD-V (svm).
fn has_hw_virt(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

impl Backend for Microvm {
    fn class(&self) -> IsolationClass {
        IsolationClass::Microvm
    }

    fn status(&self) -> &BackendStatus {
        &self.status
    }

    fn shifts_ids(&self) -> bool {
        false
    }

    fn start<'a>(&'a self, _id: &'a str, _paths: &'a SandboxPaths) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { Err(self.unusable()) })
    }

    fn delete<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { Ok(()) })
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_cpu_flag_not_dev_kvm() {
        assert!(has_hw_virt("flags\t\t: fpu vme vmx sse\n"));
        assert!(has_hw_virt("flags\t\t: fpu svm\n"));
        assert!(!has_hw_virt("flags\t\t: fpu vme hypervisor sse\n"));
        assert!(reason("flags : fpu").contains("no vmx/svm"));
    }
}
