//! [`Node`]: the API the control plane uses to run sandboxes on this host.
//!
//! Creation order matters for cleanup: directories and mounts first, then
//! the record (so a crash leaves something [`Node::list`] finds), the spec,
//! and last the runtime. The init channel socket is bound by the channel
//! module after `create` returns (init retries until it can connect). Destruction runs the
//! reverse and tolerates every step already being done.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use airlock_core::{IsolationClass, SandboxId};
use tracing::{debug, info, warn};

use crate::backend::{self, Backend, BackendStatus};
use crate::channel::{
    ChannelConfig, ChannelError, ChannelSocket, InitConn, Issuer, listen, listen_on,
};
use crate::config::{BackendChoice, NodeConfig, SandboxSpec};
use crate::error::{Result, SandboxError};
use crate::image::{Image, ImageInfo, ImageStore};
use crate::inventory::{self, SandboxRecord};
use crate::layout::{NodeLayout, SandboxPaths};
use crate::rootfs::{self, RootfsPlan};
use crate::spec::{HOST_ID_BASE, ID_COUNT, Render, Template};
use crate::token::InitToken;
use crate::{cgroup, validate};

/// The sandbox runtime of one host.
#[derive(Debug)]
pub struct Node {
    /// init's binary as staged under the run dir (see [`stage_init`]).
    init_binary: PathBuf,
    layout: NodeLayout,
    /// Strongest first.
    backends: Vec<Box<dyn Backend>>,
    templates: HashMap<IsolationClass, Template>,
    images: ImageStore,
    /// The user namespace whose mapping shifts image ids for runc.
    idmap: Option<OwnedFd>,
    live: Mutex<HashMap<String, SandboxRecord>>,
}

/// A started sandbox, as [`Node::create`] returns it.
#[derive(Debug)]
pub struct SandboxHandle {
    /// Its id.
    pub id: SandboxId,
    /// The backend it runs on.
    pub class: IsolationClass,
    /// Its host paths (`ctl_sock()`, `proxy_sock()`, `init_log()`, ...).
    pub paths: SandboxPaths,
    /// The token init presents on the channel.
    pub token: InitToken,
    /// Host uid/gid that root inside the sandbox is, when it is not host
    /// root: sockets in `paths.host()` must be owned by it (or be
    /// world-writable) for init to connect. `Some((100000, 100000))` for
    /// runc, `None` for gVisor (its gofer connects as host root). Pass it to
    /// `channel::ChannelConfig::owner`, and use it for `proxy.sock` too.
    pub socket_owner: Option<(u32, u32)>,
    /// `ctl.sock`, bound before the runtime started (`None` after a
    /// reattach, or once [`SandboxHandle::listen`] took it).
    channel_socket: Option<ChannelSocket>,
}

impl SandboxHandle {
    /// What the channel listener needs to know about this sandbox.
    pub fn channel_config(&self) -> ChannelConfig {
        ChannelConfig {
            sandbox_id: self.id.clone(),
            token: self.token.clone(),
            socket: self.paths.ctl_sock(),
            owner: self.socket_owner,
        }
    }

    /// Takes `ctl.sock` as bound at creation, for a caller that speaks on
    /// it without [`SandboxHandle::listen`].
    pub fn take_channel_socket(&mut self) -> Option<ChannelSocket> {
        self.channel_socket.take()
    }

    /// Listens for init on `ctl.sock`: on the socket bound at creation if
    /// this handle still holds it (init may already be waiting in its
    /// backlog), else on a fresh one. Must be called inside a tokio runtime.
    pub fn listen(
        &mut self,
        issuer: Arc<dyn Issuer>,
    ) -> std::result::Result<InitConn, ChannelError> {
        let config = self.channel_config();
        match self.channel_socket.take() {
            Some(socket) => listen_on(socket, config, issuer),
            None => listen(config, issuer),
        }
    }
}

impl Node {
    /// Prepares the node: directories, backend probes, spec templates, the
    /// `host` image (generated once, then reused).
    pub async fn new(config: NodeConfig) -> Result<Self> {
        let layout = NodeLayout::new(config.state_dir.clone(), config.run_dir.clone());
        for d in [
            layout.run_dir().to_path_buf(),
            layout.sandboxes(),
            layout.images(),
        ] {
            make_dir(&d)?;
        }
        let init_binary = stage_init(&config, layout.run_dir())?;
        // Runtime processes outlive the runtime CLI that started them; as
        // their subreaper this process reaps them at removal instead of
        // waiting on the host's init (runsc waits ~1 s for a zombie).
        if let Err(e) = airlock_sys::selfproc::set_child_subreaper() {
            warn!(error = %e, "cannot become child subreaper; removal may be slower");
        }
        let backends = backend::probe_all(config.runtime_dir.as_deref(), layout.run_dir()).await;
        let mut templates = HashMap::new();
        for b in backends.iter().filter(|b| b.status().usable) {
            templates.insert(b.class(), Template::new(b.class())?);
        }
        let idmap = match templates.contains_key(&IsolationClass::Runc) {
            true => Some(shift_namespace()?),
            false => None,
        };
        let images = ImageStore::new(layout.images());
        let host_in_use = inventory::records(&layout)
            .iter()
            .any(|r| r.image == crate::image::HOST_IMAGE);
        images.ensure_host(host_in_use).await?;
        let node = Self {
            init_binary,
            layout,
            backends,
            templates,
            images,
            idmap,
            live: Mutex::new(HashMap::new()),
        };
        Ok(node)
    }

    /// Every backend, strongest first: usable or not, and why.
    pub fn doctor(&self) -> Vec<BackendStatus> {
        self.backends.iter().map(|b| b.status().clone()).collect()
    }

    /// The class to use for `choice`: `auto` is the strongest usable one.
    pub fn resolve_backend(&self, choice: BackendChoice) -> Result<IsolationClass> {
        match choice {
            BackendChoice::Auto => {
                let b = self.backends.iter().find(|b| b.status().usable);
                let class = b.map(|b| b.class()).ok_or(SandboxError::NoBackend)?;
                info!(backend = %class, "auto picked the strongest usable backend");
                Ok(class)
            }
            BackendChoice::Class(c) => self.usable_backend(c).map(|b| b.class()),
        }
    }

    fn usable_backend(&self, class: IsolationClass) -> Result<&dyn Backend> {
        let b = self
            .backends
            .iter()
            .find(|b| b.class() == class)
            .ok_or(SandboxError::UnknownBackend(class.to_string()))?;
        if !b.status().usable {
            return Err(SandboxError::BackendUnusable {
                class,
                reason: b.status().detail.clone(),
            });
        }
        Ok(b.as_ref())
    }

    /// The node's images.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Removes an image, refused while a sandbox on this node uses it.
    pub fn remove_image(&self, name: &str) -> Result<()> {
        let users = inventory::records(&self.layout)
            .iter()
            .filter(|r| r.image == name)
            .count();
        self.images.remove(name, users)
    }

    /// Lists images.
    pub fn list_images(&self) -> Result<Vec<ImageInfo>> {
        self.images.list()
    }

    /// Creates and starts a sandbox; returns once the runtime reports it
    /// running. On any error nothing of it is left on the host.
    pub async fn create(&self, spec: SandboxSpec) -> Result<SandboxHandle> {
        validate::spec(&spec)?;
        let backend = self.usable_backend(spec.backend)?;
        let image = self.images.get(&spec.image)?;
        let paths = self.layout.sandbox(&spec.id);
        paths.check_socket_paths()?;
        self.reserve(&spec, &image)?;
        let result = self.start(&spec, backend, &image, &paths).await;
        match result {
            Ok(handle) => {
                info!(id = %spec.id, backend = %spec.backend, image = %spec.image, "sandbox started");
                Ok(handle)
            }
            Err(e) => {
                warn!(id = %spec.id, error = %e, "sandbox creation failed; cleaning up");
                self.teardown(spec.id.as_str(), Some(backend)).await;
                Err(e)
            }
        }
    }

    /// The handle of a sandbox that is still running after the host-side
    /// process restarted: its paths, and the token its init already holds
    /// (read back from the bundle, which only the host can read), so the
    /// channel can be listened on again and init reconnects by itself.
    pub fn reattach(&self, id: &SandboxId) -> Result<SandboxHandle> {
        let paths = self.layout.sandbox(id);
        let record =
            inventory::read_record(&paths).ok_or_else(|| SandboxError::NotFound(id.to_string()))?;
        let token = read_token(&paths).ok_or_else(|| SandboxError::NotFound(id.to_string()))?;
        let shift = self
            .backends
            .iter()
            .find(|b| b.class() == record.class)
            .is_some_and(|b| b.shifts_ids());
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), record.clone());
        Ok(SandboxHandle {
            id: id.clone(),
            class: record.class,
            paths,
            token,
            socket_owner: shift.then_some((HOST_ID_BASE, HOST_ID_BASE)),
            channel_socket: None,
        })
    }

    /// Claims the id in memory so two concurrent creates cannot both pass.
    fn reserve(&self, spec: &SandboxSpec, image: &Image) -> Result<()> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.contains_key(spec.id.as_str()) {
            return Err(SandboxError::AlreadyExists(spec.id.to_string()));
        }
        live.insert(
            spec.id.to_string(),
            SandboxRecord::new(spec, &image.info.name),
        );
        Ok(())
    }

    async fn start(
        &self,
        spec: &SandboxSpec,
        backend: &dyn Backend,
        image: &Image,
        paths: &SandboxPaths,
    ) -> Result<SandboxHandle> {
        let shift = backend.shifts_ids();
        let plan = RootfsPlan {
            image_root: &image.root,
            idmap: self.idmap.as_ref().filter(|_| shift).map(|fd| fd.as_fd()),
            root_owner: if shift { HOST_ID_BASE } else { 0 },
            disk: spec.limits.disk,
        };
        if let Err(e) = rootfs::create(paths, &plan) {
            // An existing directory is someone else's: do not tear it down.
            if matches!(e, SandboxError::AlreadyExists(_)) {
                self.forget(spec.id.as_str());
            }
            return Err(e);
        }
        let mut record = SandboxRecord::new(spec, &image.info.name);
        inventory::write_record(paths, &record)?;
        let token = InitToken::generate();
        let template =
            self.templates
                .get(&spec.backend)
                .ok_or_else(|| SandboxError::BackendUnusable {
                    class: spec.backend,
                    reason: "no spec template".into(),
                })?;
        let oci = template.render(&Render {
            spec,
            paths,
            token: &token,
            init_binary: &self.init_binary,
            image: &image.mounts(),
            cgroup_parent: &self.layout.cgroup_parent(),
        })?;
        write_spec(paths, &oci)?;
        if let Some(bpf) = template.seccomp_bpf() {
            let path = paths.seccomp();
            std::fs::write(&path, bpf)
                .map_err(SandboxError::io(format!("writing {}", path.display())))?;
        }
        let owner = shift.then_some((HOST_ID_BASE, HOST_ID_BASE));
        // Bound before the runtime starts: init's first connect then succeeds.
        let ctl_sock = paths.ctl_sock();
        let channel_socket = ChannelSocket::bind(&ctl_sock, owner).map_err(SandboxError::io(
            format!("listening on {}", ctl_sock.display()),
        ))?;
        backend.start(spec.id.as_str(), paths).await?;
        record.pids = cgroup::pids(&self.layout.cgroup_parent(), spec.id.as_str());
        inventory::write_record(paths, &record)?;
        Ok(SandboxHandle {
            id: spec.id.clone(),
            class: spec.backend,
            paths: paths.clone(),
            token,
            socket_owner: owner,
            channel_socket: Some(channel_socket),
        })
    }

    /// Stops and removes a sandbox: its processes, runtime state, cgroups,
    /// mounts and files. Idempotent: removing what is not there succeeds.
    pub async fn destroy(&self, id: &SandboxId) -> Result<()> {
        let recorded = inventory::read_record(&self.layout.sandbox(id)).map(|r| r.class);
        let backend = recorded.and_then(|c| self.usable_backend(c).ok());
        self.teardown(id.as_str(), backend).await;
        let left = inventory::leftovers(&self.layout, id.as_str());
        if !left.is_empty() {
            return Err(SandboxError::Io {
                what: format!(
                    "removing sandbox {id}: still on the host: {}",
                    left.join(", ")
                ),
                source: std::io::Error::other("cleanup incomplete"),
            });
        }
        info!(%id, "sandbox removed");
        Ok(())
    }

    /// The reverse of creation. With no known backend, every usable OCI
    /// backend is asked (a crash may have lost the record).
    async fn teardown(&self, id: &str, backend: Option<&dyn Backend>) {
        let all: Vec<&dyn Backend> = match backend {
            Some(b) => vec![b],
            None => self
                .backends
                .iter()
                .filter(|b| b.status().usable)
                .map(|b| b.as_ref())
                .collect(),
        };
        // Kill first, through the cgroup: runsc's own kill waits about a
        // second for the sandbox to die; with it dead, delete takes ~20 ms.
        let pids = inventory::read_record(&self.layout.sandbox_str(id))
            .map(|r| r.pids)
            .unwrap_or_default();
        cgroup::kill_all_and_wait(&self.layout.cgroup_parent(), id, pids).await;
        for b in all {
            if let Err(e) = b.delete(id).await {
                warn!(id, backend = %b.class(), error = %e, "runtime delete failed");
            }
        }
        rootfs::remove(&self.layout.sandbox_str(id));
        cgroup::remove(&self.layout.cgroup_parent(), id).await;
        self.forget(id);
    }

    /// Drops the id from the live table; the last one out removes the
    /// node's cgroup parent (creations reserve their id first, so an empty
    /// table means no runtime is creating a cgroup under it).
    fn forget(&self, id: &str) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(id);
        if live.is_empty() {
            cgroup::remove_parent(&self.layout.cgroup_parent());
        }
    }

    /// Sandboxes present on this node, from the directories AND the
    /// runtimes' state AND the cgroups, so leftovers of a crash show up.
    pub async fn list(&self) -> Result<Vec<inventory::SandboxEntry>> {
        let mut runtime_ids = Vec::new();
        for b in self.backends.iter().filter(|b| b.status().usable) {
            for id in b.containers().await? {
                runtime_ids.push((id, b.class()));
            }
        }
        Ok(inventory::entries(&self.layout, runtime_ids))
    }

    /// Removes the node's run directory and cgroup parent when no sandbox is
    /// left on it, so a server that stops with nothing running leaves
    /// nothing behind. Sandboxes outlive their server by design: with any
    /// left (or a leftover of one), everything stays. Returns whether it
    /// removed them.
    pub async fn release_if_empty(&self) -> Result<bool> {
        let live = !self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if live || !self.list().await?.is_empty() {
            return Ok(false);
        }
        cgroup::remove_parent(&self.layout.cgroup_parent());
        let run = self.layout.run_dir();
        match std::fs::remove_dir_all(run) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(SandboxError::Io {
                what: format!("removing {}", run.display()),
                source: e,
            }),
        }
    }

    /// Destroys every sandbox on this node that is not in `keep` (the ones
    /// the control plane knows); returns the ids removed.
    pub async fn cleanup_orphans(&self, keep: &[SandboxId]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for e in self.list().await? {
            if keep.iter().any(|k| k.as_str() == e.id) {
                continue;
            }
            warn!(id = %e.id, "removing orphaned sandbox");
            let backend = e.class.and_then(|c| self.usable_backend(c).ok());
            self.teardown(&e.id, backend).await;
            removed.push(e.id);
        }
        Ok(removed)
    }
}

fn write_spec(paths: &SandboxPaths, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let path = paths.bundle().join("config.json");
    let json = serde_json::to_vec(spec).map_err(|e| SandboxError::Io {
        what: "serializing config.json".into(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&path, json).map_err(SandboxError::io(format!("writing {}", path.display())))
}

/// Copies init's binary to `<run_dir>/airlock-init` (mode 0755) and
/// returns that path. Sandboxes bind-mount the copy: it is reachable by the
/// unprivileged uid root maps to (the original may sit under a 0700 home),
/// and rebuilding the original does not change running sandboxes. The copy's
/// read-only segments end on page boundaries, so that gVisor maps them rather
/// than copying them into every sandbox (see [`crate::elf`]).
fn stage_init(config: &NodeConfig, run_dir: &Path) -> Result<PathBuf> {
    let staged = run_dir.join("airlock-init");
    if !config.init_binary.is_file() {
        warn!(path = %config.init_binary.display(), "init binary missing; sandboxes need an explicit command");
        std::fs::write(&staged, b"")
            .map_err(SandboxError::io(format!("writing {}", staged.display())))?;
    } else {
        let tmp = run_dir.join(".airlock-init.tmp");
        let mut binary = std::fs::read(&config.init_binary).map_err(SandboxError::io(format!(
            "reading {}",
            config.init_binary.display()
        )))?;
        match crate::elf::pad_readonly_segments(&mut binary) {
            Ok(padded) => debug!(padded, "init's read-only segments end on page boundaries"),
            Err(e) => {
                warn!(path = %config.init_binary.display(), "init binary staged as it is: {e}")
            }
        }
        std::fs::write(&tmp, &binary)
            .map_err(SandboxError::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &staged)
            .map_err(SandboxError::io(format!("renaming {}", tmp.display())))?;
    }
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
        .map_err(SandboxError::io(format!("chmod {}", staged.display())))?;
    Ok(staged)
}

/// Creates a node directory traversable by sandbox roots (0711).
fn make_dir(d: &Path) -> Result<()> {
    std::fs::create_dir_all(d).map_err(SandboxError::io(format!("creating {}", d.display())))?;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711))
        .map_err(SandboxError::io(format!("chmod {}", d.display())))
}

fn shift_namespace() -> Result<OwnedFd> {
    airlock_sys::userns::userns_with_mapping(airlock_sys::userns::IdRange {
        inside: 0,
        outside: HOST_ID_BASE,
        count: ID_COUNT,
    })
    .map_err(|e| SandboxError::Kernel(format!("user namespaces ({e})")))
}

/// The init token in a sandbox's OCI spec (`process.env`).
fn read_token(paths: &SandboxPaths) -> Option<InitToken> {
    let text = std::fs::read_to_string(paths.bundle().join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_str(&text).ok()?;
    let prefix = format!("{}=", crate::spec::TOKEN_ENV);
    spec["process"]["env"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .find_map(|e| e.strip_prefix(&prefix))
        .and_then(InitToken::from_hex)
}
