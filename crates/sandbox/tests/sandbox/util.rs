//! Helpers: a node in throwaway directories, running a shell script as a
//! sandbox's process, and checking that nothing is left on the host.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use airlock_core::{IsolationClass, SandboxId};
use airlock_sandbox::{Limits, Node, NodeConfig, SandboxHandle, SandboxSpec, inventory};

/// A node whose state and run directories are removed on drop.
pub struct TestNode {
    pub node: Node,
    pub run_dir: PathBuf,
    pub state: tempfile::TempDir,
}

impl TestNode {
    pub async fn new() -> Self {
        Self::with_state(tempfile::tempdir().unwrap()).await
    }

    pub async fn with_state(state: tempfile::TempDir) -> Self {
        assert_eq!(
            nix_euid(),
            0,
            "these tests drive real runtimes and need root"
        );
        // Short: socket paths under it must fit in 108 bytes.
        let run_dir = PathBuf::from(format!("/run/airlock-test/{}", hex8()));
        let init = state.path().join("fake-init");
        std::fs::write(&init, "#!/bin/sh\n").unwrap();
        let node = Node::new(NodeConfig {
            state_dir: state.path().to_path_buf(),
            run_dir: run_dir.clone(),
            init_binary: init,
            runtime_dir: None,
        })
        .await
        .unwrap();
        Self {
            node,
            run_dir,
            state,
        }
    }

    /// A node on the same directories (as after a server restart).
    pub async fn reopen(&self) -> Node {
        Node::new(NodeConfig {
            state_dir: self.state.path().to_path_buf(),
            run_dir: self.run_dir.clone(),
            init_binary: self.state.path().join("fake-init"),
            runtime_dir: None,
        })
        .await
        .unwrap()
    }

    /// Starts `script` under `sh -c` in a new sandbox.
    pub async fn start(
        &self,
        class: IsolationClass,
        script: &str,
        limits: Limits,
    ) -> SandboxHandle {
        let mut spec = SandboxSpec::new(new_id(), class);
        spec.limits = limits;
        spec.command = Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("{script}\necho __EXIT__$?"),
        ]);
        self.node.create(spec).await.unwrap()
    }

    /// Starts `script` in a sandbox of `image` with default limits.
    pub async fn start_on_image(
        &self,
        class: IsolationClass,
        image: &str,
        script: &str,
    ) -> SandboxHandle {
        let mut spec = SandboxSpec::new(new_id(), class);
        spec.image = image.into();
        spec.command = Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("{script}\necho __EXIT__$?"),
        ]);
        self.node.create(spec).await.unwrap()
    }

    /// Runs `script` to its end and returns its output; destroys the
    /// sandbox and checks nothing is left.
    pub async fn run(&self, class: IsolationClass, script: &str) -> String {
        self.run_limited(class, script, Limits::default()).await
    }

    pub async fn run_limited(&self, class: IsolationClass, script: &str, limits: Limits) -> String {
        let h = self.start(class, script, limits).await;
        let out = wait_output(&h).await;
        self.destroy_clean(&h.id).await;
        out
    }

    /// Destroys and asserts the host has nothing of the sandbox left.
    pub async fn destroy_clean(&self, id: &SandboxId) {
        self.node.destroy(id).await.unwrap();
        let layout =
            airlock_sandbox::layout::NodeLayout::new("/unused".into(), self.run_dir.clone());
        let left = inventory::leftovers(&layout, id.as_str());
        assert!(left.is_empty(), "left on the host: {left:?}");
        assert!(
            no_process_mentions(id.as_str()),
            "a process of {id} survived"
        );
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// Waits until the script printed its exit marker; returns the output.
pub async fn wait_output(h: &SandboxHandle) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = std::fs::read_to_string(h.paths.init_log()).unwrap_or_default();
        if out.contains("__EXIT__") {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "sandbox did not finish; output so far:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn new_id() -> SandboxId {
    SandboxId::new(format!("t-{}", hex8())).unwrap()
}

fn hex8() -> String {
    let mut b = [0u8; 4];
    getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom(b: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(b)
        .unwrap();
}

fn nix_euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// No host process has the sandbox id in its command line (runsc's sandbox
/// and gofer processes carry it; runc's container init carries the bundle).
pub fn no_process_mentions(id: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(id) {
            return false;
        }
    }
    true
}

/// Both OCI backends.
pub const BACKENDS: [IsolationClass; 2] = [IsolationClass::Runc, IsolationClass::Gvisor];
