use airlock_core::SandboxId;
use serde_json::Value;

use super::*;
use crate::layout::NodeLayout;

fn render(class: IsolationClass) -> Value {
    let id = SandboxId::new("sb-test").unwrap();
    let mut sb = SandboxSpec::new(id.clone(), class);
    sb.env
        .push(("HTTPS_PROXY".into(), "http://127.0.0.1:3128".into()));
    let layout = NodeLayout::new("/state".into(), "/run/al".into());
    let paths = layout.sandbox(&id);
    let token = InitToken::generate();
    let image = ImageMounts {
        ro_binds: vec![("/usr".into(), "/usr".into())],
    };
    let r = Render {
        spec: &sb,
        paths: &paths,
        token: &token,
        init_binary: Path::new("/opt/airlock-init"),
        image: &image,
        cgroup_parent: "airlock/node1",
    };
    let spec = Template::new(class).unwrap().render(&r).unwrap();
    let v = serde_json::to_value(&spec).unwrap();
    assert!(v.to_string().contains(token.as_str()));
    v
}

#[test]
fn runc_spec_has_userns_limits_and_init() {
    let v = render(IsolationClass::Runc);
    let l = &v["linux"];
    assert_eq!(l["uidMappings"][0]["hostID"], 100_000);
    let ns: Vec<&str> = l["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for want in ["pid", "mount", "ipc", "uts", "network", "user", "cgroup"] {
        assert!(ns.contains(&want), "{want} in {ns:?}");
    }
    assert_eq!(l["resources"]["memory"]["limit"], 2i64 << 30);
    assert_eq!(l["resources"]["memory"]["swap"], 2i64 << 30);
    assert_eq!(l["resources"]["pids"]["limit"], 512);
    assert_eq!(l["resources"]["cpu"]["quota"], 200_000);
    assert_eq!(l["cgroupsPath"], "/airlock/node1/sb-test");
    // The profile goes to init, compiled, not through the runtime.
    assert!(l["seccomp"].is_null());
    assert!(
        v["process"]["env"]
            .to_string()
            .contains("AIRLOCK_SECCOMP=/run/airlock-host/seccomp.bpf")
    );
    assert!(l["maskedPaths"].to_string().contains("/proc/kcore"));
    let p = &v["process"];
    assert_eq!(p["args"][0], INIT_PATH);
    assert_eq!(p["noNewPrivileges"], true);
    let caps = p["capabilities"]["bounding"].to_string();
    assert!(caps.contains("CAP_SETUID") && !caps.contains("CAP_SYS_ADMIN"));
    assert!(!caps.contains("CAP_NET_RAW") && !caps.contains("CAP_MKNOD"));
    assert!(p["env"].to_string().contains("AIRLOCK_SANDBOX_ID=sb-test"));
    assert!(
        p["env"]
            .to_string()
            .contains("HTTPS_PROXY=http://127.0.0.1:3128")
    );
    assert_eq!(v["hostname"], "sb-test");
    assert_eq!(v["root"]["path"], "/run/al/sb/sb-test/rootfs");
    let mounts = v["mounts"].to_string();
    assert!(mounts.contains("/run/al/sb/sb-test/host"));
    assert!(mounts.contains("/opt/airlock-init"));
}

#[test]
fn a_plain_command_gets_the_profile_through_the_runtime() {
    // Without init nobody would install the compiled programs.
    let id = SandboxId::new("sb-cmd").unwrap();
    let mut sb = SandboxSpec::new(id.clone(), IsolationClass::Runc);
    sb.command = Some(vec!["/bin/true".into()]);
    let layout = NodeLayout::new("/state".into(), "/run/al".into());
    let paths = layout.sandbox(&id);
    let r = Render {
        spec: &sb,
        paths: &paths,
        token: &InitToken::generate(),
        init_binary: Path::new("/opt/airlock-init"),
        image: &ImageMounts { ro_binds: vec![] },
        cgroup_parent: "airlock/node1",
    };
    let v = serde_json::to_value(
        Template::new(IsolationClass::Runc)
            .unwrap()
            .render(&r)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(!v["process"]["env"].to_string().contains("AIRLOCK_SECCOMP"));
}

#[test]
fn gvisor_spec_has_no_userns() {
    let v = render(IsolationClass::Gvisor);
    assert!(v["linux"]["uidMappings"].is_null());
    assert!(!v["linux"]["namespaces"].to_string().contains("\"user\""));
    assert!(v["linux"]["seccomp"].is_null());
    assert!(!v["process"]["env"].to_string().contains("AIRLOCK_SECCOMP"));
    assert_eq!(
        v["linux"]["resources"]["pids"]["limit"],
        512 + GVISOR_PIDS_OVERHEAD
    );
}
