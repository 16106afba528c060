//! The generated `host` image; a debootstrap image (one test: it downloads).

use airlock_core::IsolationClass;
use airlock_sandbox::BuildRequest;

use crate::util::{TestNode, wait_output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_image_has_a_clean_etc_and_no_host_secrets() {
    let t = TestNode::new().await;
    let img = t.node.images().get("host").unwrap();
    let root = &img.root;
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("agent:x:1000:1000"));
    assert_eq!(passwd.lines().count(), 3, "{passwd}");
    for absent in [
        "etc/shadow",
        "etc/gshadow",
        "etc/ssh",
        "root/.bash_history",
        "etc/ssl/private",
    ] {
        assert!(
            !root.join(absent).exists(),
            "{absent} must not be in the image"
        );
    }
    assert!(root.join("etc/ssl/certs/ca-certificates.crt").exists());
    // The in-sandbox CLI is init's binary under another name.
    let cli = std::fs::read_link(root.join(".airlock/bin/airlock")).unwrap();
    assert_eq!(cli, std::path::Path::new("../airlock-init"));
    assert!(
        std::fs::read_to_string(root.join("etc/resolv.conf"))
            .unwrap()
            .contains("127.0.0.1")
    );
    assert_eq!(img.info.kind, "host");
    assert_eq!(img.info.digest.len(), 64);
    let listed = t.node.list_images().unwrap();
    assert_eq!(
        listed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["host"]
    );
    assert!(
        t.node.remove_image("host").is_err(),
        "host is needed by the node"
    );
}

/// Cached across runs on the same machine (CI keeps it): the first run
/// downloads about 40 MB from the Debian mirror.
const DEBOOTSTRAP_CACHE: &str = "/var/tmp/airlock-test-state";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debootstrap_image_builds_caches_and_lets_root_install() {
    std::fs::create_dir_all(DEBOOTSTRAP_CACHE).unwrap();
    let state = tempfile::Builder::new()
        .prefix("deb")
        .tempdir_in(DEBOOTSTRAP_CACHE)
        .unwrap();
    // Keep images between runs: move the images dir of a previous run in.
    let shared = std::path::Path::new(DEBOOTSTRAP_CACHE).join("images");
    if shared.exists() {
        std::fs::rename(&shared, state.path().join("images")).unwrap();
    }
    let t = TestNode::with_state(state).await;
    let req = BuildRequest {
        name: "deb".into(),
        ..Default::default()
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let info = t
        .node
        .images()
        .build(req.clone(), move |p| s2.lock().unwrap().push(p.percent))
        .await
        .unwrap();
    assert_eq!(info.suite.as_deref(), Some("bookworm"));
    assert!(info.debootstrap_version.is_some() && info.mirror.is_some());
    assert_eq!(seen.lock().unwrap().last(), Some(&100));
    // Same inputs: not rebuilt.
    let t0 = std::time::Instant::now();
    let again = t.node.images().build(req, |_| {}).await.unwrap();
    assert_eq!(again.digest, info.digest);
    assert!(t0.elapsed().as_secs() < 5);

    for class in [IsolationClass::Runc, IsolationClass::Gvisor] {
        // Root installs into /usr: copy-up into the writable layer, owned
        // by root as the sandbox sees it (find, not stat: runsc 2022 fails
        // coreutils' statx flags).
        let h = t
            .start_on_image(
                class,
                "deb",
                "touch /usr/bin/airlock-installed && find /usr/bin/airlock-installed /var/lib/dpkg/status -printf 'OWNER %U\\n'",
            )
            .await;
        let out = wait_output(&h).await;
        assert_eq!(out.matches("OWNER 0").count(), 2, "{class}: {out}");
        let err = t.node.remove_image("deb").unwrap_err();
        assert!(err.to_string().contains("used by 1 sandbox"), "{err}");
        t.destroy_clean(&h.id).await;
    }
    // Hand the images to the next run (CI keeps /var/tmp between runs).
    let _ = std::fs::remove_dir_all(&shared);
    std::fs::rename(t.state.path().join("images"), &shared).unwrap();
}
