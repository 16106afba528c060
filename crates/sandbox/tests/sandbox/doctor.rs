//! Backend discovery.

use airlock_core::IsolationClass;
use airlock_sandbox::{BackendChoice, SandboxError};

use crate::util::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_lists_every_backend_and_auto_picks_the_strongest_usable() {
    let t = TestNode::new().await;
    let rows = t.node.doctor();
    let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    assert_eq!(names, ["microvm", "gvisor", "runc"]);
    let microvm = &rows[0];
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    if !cpuinfo.contains(" vmx") && !cpuinfo.contains(" svm") {
        assert!(microvm.detail.contains("vmx/svm"), "{}", microvm.detail);
    }
    assert!(!microvm.usable);
    assert!(
        rows[1].usable && rows[1].detail.contains("runsc"),
        "{:?}",
        rows[1]
    );
    assert!(
        rows[2].usable && rows[2].detail.contains("runc"),
        "{:?}",
        rows[2]
    );
    assert_eq!(
        t.node.resolve_backend(BackendChoice::Auto).unwrap(),
        IsolationClass::Gvisor
    );
    let err = t
        .node
        .resolve_backend(BackendChoice::Class(IsolationClass::Microvm))
        .unwrap_err();
    assert!(matches!(err, SandboxError::BackendUnusable { .. }), "{err}");
    assert!(err.to_string().contains("airlock doctor"));
}
