//! The OCI runtime spec (`config.json`) of a sandbox.
//!
//! A [`Template`] holds everything that is the same for every sandbox of one
//! backend (namespaces, seccomp profile and its compiled programs,
//! capabilities, masked paths, the standard mounts); it is built once per
//! node. [`Template::render`] clones it and fills in the per-sandbox fields,
//! so the hot path never rebuilds or compiles the ~300-call seccomp profile.

pub mod bpf;
mod mounts;
pub mod seccomp;

use std::path::{Path, PathBuf};

use airlock_core::IsolationClass;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilities, LinuxCpu, LinuxDeviceCgroup,
    LinuxIdMappingBuilder, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids,
    LinuxResources, Process, Root, Spec, User,
};

use crate::config::{Limits, SandboxSpec};
use crate::error::{Result, SandboxError};
use crate::layout::SandboxPaths;
use crate::token::InitToken;

/// Where init's binary appears inside every sandbox.
pub const INIT_PATH: &str = "/.airlock/airlock-init";
/// Where the per-sandbox host directory appears inside.
pub const HOST_DIR: &str = "/run/airlock-host";
/// Name of the variable carrying the channel token (read by init).
pub const TOKEN_ENV: &str = "AIRLOCK_INIT_TOKEN";
/// Name of the variable carrying the sandbox id (read by init).
pub const SANDBOX_ID_ENV: &str = "AIRLOCK_SANDBOX_ID";
/// Name of the variable telling init where its seccomp programs are: set,
/// init installs them before anything else or exits.
pub const SECCOMP_ENV: &str = "AIRLOCK_SECCOMP";
/// File name of the compiled seccomp programs in the host directory.
pub const SECCOMP_FILE: &str = "seccomp.bpf";
/// First host uid/gid of a runc sandbox's user namespace: root inside is
/// this uid outside, never host root.
pub const HOST_ID_BASE: u32 = 100_000;
/// How many ids the user namespace maps (0..65535 inside).
pub const ID_COUNT: u32 = 65_536;
/// CFS period; the quota is derived from the CPU limit.
const CPU_PERIOD_US: u64 = 100_000;

/// The capabilities init (root inside) keeps. Everything else is dropped,
/// and the agent user, not being uid 0, has none of them at all.
const CAPS: &[(Capability, &str)] = &[
    (
        Capability::Chown,
        "file copy into the sandbox and package installs set owners",
    ),
    (
        Capability::DacOverride,
        "init and root-run installs reach every file of the image",
    ),
    (
        Capability::Fowner,
        "chmod/utime on files of other owners (copy, dpkg)",
    ),
    (
        Capability::Fsetid,
        "keep set-id bits when dpkg or cp writes files",
    ),
    (
        Capability::Kill,
        "init signals and stops processes of the agent user",
    ),
    (
        Capability::Setuid,
        "init starts exec sessions and services as the agent user",
    ),
    (Capability::Setgid, "same, for the agent's groups"),
    (
        Capability::Setpcap,
        "init drops the bounding set of processes it starts",
    ),
    (
        Capability::NetBindService,
        "services may listen on ports below 1024 on loopback",
    ),
];

/// Per-backend constant part of the spec.
#[derive(Debug, Clone)]
pub struct Template {
    base: Spec,
    /// Host processes the runtime itself needs beyond the workload's.
    pids_overhead: u32,
    /// The seccomp profile, for a sandbox whose process is not init.
    profile: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The profile compiled for init to install.
    seccomp_bpf: Option<Vec<u8>>,
}

/// gVisor's host-side processes and threads live in the sandbox's cgroup:
/// the sentry (~40 threads idle), the gofer, and with the ptrace platform
/// one stub per process inside. Without this margin a small pids limit
/// starves the sentry itself and the sandbox stalls.
pub const GVISOR_PIDS_OVERHEAD: u32 = 128;

/// What a rendered spec needs to know about the image.
#[derive(Debug, Clone)]
pub struct ImageMounts {
    /// Host directories bind-mounted read-only into the sandbox
    /// (`(host, inside)`), e.g. the host's /usr for the `host` image.
    pub ro_binds: Vec<(PathBuf, String)>,
}

impl Template {
    /// The template of one backend. runc gets a user namespace and the
    /// seccomp profile; gVisor neither (its sentry contains root, runsc
    /// 2022 mishandles mapped ids, and see below for seccomp).
    pub fn new(class: IsolationClass) -> Result<Self> {
        let userns = class == IsolationClass::Runc;
        let mut linux = LinuxBuilder::default()
            .namespaces(namespaces(userns))
            .masked_paths(masked_paths())
            .readonly_paths(readonly_paths())
            .build()
            .map_err(spec_err)?;
        // gVisor: the workload's syscalls go to the sentry, not the host
        // kernel, and the sentry itself runs under gVisor's own host seccomp
        // filter. Its in-sandbox emulation of OCI seccomp (--oci-seccomp) is
        // not used: the 2022 release ignores errnoRet, so clone3 fails with
        // EPERM instead of ENOSYS and glibc cannot start threads.
        // runc: compiled here once, installed by init (see `bpf`); a plain
        // command instead of init gets the profile through the runtime.
        let (profile, seccomp_bpf) = if class == IsolationClass::Runc {
            let profile = seccomp::default_profile();
            let bpf = bpf::compile(&profile)?;
            (Some(profile), Some(bpf))
        } else {
            (None, None)
        };
        if userns {
            let map = LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(HOST_ID_BASE)
                .size(ID_COUNT)
                .build()
                .map_err(spec_err)?;
            linux
                .set_uid_mappings(Some(vec![map]))
                .set_gid_mappings(Some(vec![map]));
        }
        let mut base = Spec::default();
        base.set_linux(Some(linux))
            .set_process(Some(process()))
            .set_mounts(Some(mounts::standard()))
            .set_annotations(None);
        let pids_overhead = match class {
            IsolationClass::Gvisor => GVISOR_PIDS_OVERHEAD,
            _ => 0,
        };
        Ok(Self {
            base,
            pids_overhead,
            profile,
            seccomp_bpf,
        })
    }

    /// The compiled seccomp programs init must install (file format of
    /// [`airlock_sys::seccomp`]), for backends that have a profile.
    pub fn seccomp_bpf(&self) -> Option<&[u8]> {
        self.seccomp_bpf.as_deref()
    }

    /// The spec of one sandbox.
    pub fn render(&self, r: &Render<'_>) -> Result<Spec> {
        let mut spec = self.base.clone();
        let root = Root::default()
            .set_path(r.paths.rootfs())
            .set_readonly(Some(false))
            .to_owned();
        spec.set_root(Some(root))
            .set_hostname(Some(r.spec.hostname.clone()));
        let mut env = r.env();
        if self.seccomp_bpf.is_some() && r.spec.command.is_none() {
            env.push(format!("{SECCOMP_ENV}={HOST_DIR}/{SECCOMP_FILE}"));
        }
        if let Some(p) = spec.process_mut() {
            p.set_args(Some(r.args()));
            p.set_env(Some(env));
        }
        if let Some(m) = spec.mounts_mut() {
            m.extend(mounts::per_sandbox(r.paths, r.init_binary, r.image));
        }
        if let Some(l) = spec.linux_mut() {
            let mut limits = r.spec.limits;
            limits.pids = limits.pids.saturating_add(self.pids_overhead);
            l.set_resources(Some(resources(&limits)));
            l.set_cgroups_path(Some(cgroups_path(r.cgroup_parent, r.spec)));
            if r.spec.command.is_some() {
                l.set_seccomp(self.profile.clone());
            }
        }
        Ok(spec)
    }
}

/// The per-sandbox inputs of [`Template::render`].
#[derive(Debug)]
pub struct Render<'a> {
    /// What was asked.
    pub spec: &'a SandboxSpec,
    /// Where it lives.
    pub paths: &'a SandboxPaths,
    /// The channel token for init.
    pub token: &'a InitToken,
    /// The host's init binary.
    pub init_binary: &'a Path,
    /// Image-specific mounts.
    pub image: &'a ImageMounts,
    /// The node's cgroup parent (`airlock/<node>`).
    pub cgroup_parent: &'a str,
}

impl Render<'_> {
    fn args(&self) -> Vec<String> {
        self.spec
            .command
            .clone()
            .unwrap_or_else(|| vec![INIT_PATH.to_string()])
    }

    fn env(&self) -> Vec<String> {
        let mut env = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.airlock/bin"
                .to_string(),
            "HOME=/root".to_string(),
            "LANG=C.UTF-8".to_string(),
            format!("{TOKEN_ENV}={}", self.token.as_str()),
            format!("{SANDBOX_ID_ENV}={}", self.spec.id),
        ];
        env.extend(self.spec.env.iter().map(|(k, v)| format!("{k}={v}")));
        env
    }
}

/// The cgroup of one sandbox: `/<parent>/<id>` under every controller.
pub fn cgroups_path(parent: &str, spec: &SandboxSpec) -> PathBuf {
    PathBuf::from(format!("/{parent}/{}", spec.id))
}

fn namespaces(userns: bool) -> Vec<LinuxNamespace> {
    use LinuxNamespaceType::*;
    let mut kinds = vec![Pid, Mount, Ipc, Uts, Network, Cgroup];
    if userns {
        kinds.push(User);
    }
    kinds
        .into_iter()
        .map(|t| LinuxNamespace::default().set_typ(t).to_owned())
        .collect()
}

/// runc's default masked paths, plus Docker's powercap addition (energy
/// counters leak what other tenants do).
fn masked_paths() -> Vec<String> {
    let mut v = oci_spec::runtime::get_default_maskedpaths();
    v.extend(["/proc/interrupts", "/sys/devices/virtual/powercap"].map(String::from));
    v
}

fn readonly_paths() -> Vec<String> {
    oci_spec::runtime::get_default_readonly_paths()
}

fn process() -> Process {
    let caps: oci_spec::runtime::Capabilities = CAPS.iter().map(|(c, _why)| *c).collect();
    let capabilities = LinuxCapabilities::default()
        .set_bounding(Some(caps.clone()))
        .set_effective(Some(caps.clone()))
        .set_permitted(Some(caps))
        .set_inheritable(None)
        .set_ambient(None)
        .to_owned();
    let mut p = Process::default();
    p.set_terminal(Some(false))
        .set_user(User::default().set_uid(0).set_gid(0).to_owned())
        .set_cwd(PathBuf::from("/"))
        .set_capabilities(Some(capabilities))
        .set_no_new_privileges(Some(true))
        // No rlimits: raising one above the server's own hard limit needs
        // CAP_SYS_RESOURCE outside the user namespace, so sandboxes inherit
        // the server's (cgroups bound what matters: memory, pids, CPU).
        .set_rlimits(None)
        .set_oom_score_adj(None);
    p
}

fn resources(l: &Limits) -> LinuxResources {
    let memory = LinuxMemory::default()
        .set_limit(Some(l.memory as i64))
        // memory+swap = memory: a sandbox never swaps.
        .set_swap(Some(l.memory as i64))
        .to_owned();
    let cpu = LinuxCpu::default()
        .set_period(Some(CPU_PERIOD_US))
        .set_quota(Some(l.millicpus as i64 * CPU_PERIOD_US as i64 / 1000))
        .to_owned();
    let pids = LinuxPids::default().set_limit(l.pids as i64).to_owned();
    // Deny every device first; the runtime then allows only its standard
    // set (null, zero, full, tty, random, urandom, ptmx, pts).
    let deny_all = LinuxDeviceCgroup::default()
        .set_allow(false)
        .set_access(Some("rwm".to_string()))
        .to_owned();
    LinuxResources::default()
        .set_memory(Some(memory))
        .set_cpu(Some(cpu))
        .set_pids(Some(pids))
        .set_devices(Some(vec![deny_all]))
        .to_owned()
}

fn spec_err(e: oci_spec::OciSpecError) -> SandboxError {
    SandboxError::Io {
        what: "building the OCI spec".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
