//! Identity inside a sandbox, seen through an ordinary SPIFFE client
//! library run in the sandbox; and the interactive shell, recorded.

use std::process::Command;

use crate::sandbox::{BACKENDS, Env};
use crate::util::*;

/// The `spiffe_probe` example binary (built by `cargo test`).
fn probe_binary() -> std::path::PathBuf {
    let exe = std::path::PathBuf::from(airlock_bin());
    let path = exe.parent().unwrap().join("examples/spiffe_probe");
    assert!(
        path.is_file(),
        "build it with `cargo build --examples -p airlock`: {}",
        path.display()
    );
    path
}

#[test]
fn a_spiffe_client_inside_gets_the_workload_svid_naming_its_user() {
    let env = Env::new();
    let probe = probe_binary();
    for backend in BACKENDS {
        let name = format!("id-{backend}");
        let sb = env.create(&name, backend, &[]);
        let dst = format!("{name}:/workspace/probe");
        env.dev.run(&["cp", probe.to_str().unwrap(), &dst]).ok();
        let out = env.exec(&name, &["/workspace/probe", "https://api.example.com"]);
        let v: serde_json::Value =
            serde_json::from_str(out.ok().trim()).unwrap_or_else(|e| panic!("{e}: {out:#?}"));
        assert_eq!(v["spiffe_id"], sb["workload_spiffe_id"], "{backend}");
        assert_eq!(v["jwt_spiffe_id"], sb["workload_spiffe_id"]);
        assert_eq!(v["jwt_validated"], true);
        assert!(
            v["key_pkcs8_len"].as_u64().unwrap() > 0,
            "the key is handed to the workload"
        );

        // Check the SVID with an independent parser: one URI SAN, the
        // delegating user in the identity extension, isolation class.
        let der = hex::decode(v["leaf_der_hex"].as_str().unwrap()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names.len(), 1);
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.as_bytes() == airlock_core::oid::IDENTITY_EXT_OID_DER)
            .expect("identity extension");
        let text = String::from_utf8_lossy(ext.value);
        assert!(text.contains("\"user\":\"dev\""), "{text}");
        assert!(
            text.contains(&format!("\"isolation\":\"{backend}\"")),
            "{text}"
        );

        // The JWT-SVID verifies with the published JWKS and names the human.
        let jwt = v["jwt"].as_str().unwrap();
        let anon = env.cluster.client("outsider");
        let (_, jwks) = anon.curl_anon("GET", "/v1/jwks", None);
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        let key =
            jsonwebtoken::DecodingKey::from_jwk(set.find(&header.kid.unwrap()).unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["https://api.example.com"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation)
            .unwrap()
            .claims;
        assert!(
            claims["act"]["sub"].as_str().unwrap().contains("dev"),
            "{claims}"
        );

        // The private key never touched the host's disk outside the
        // sandbox: not the data directory, the clients' homes, or the node's
        // run directory (the sandbox's own layers are other filesystems and
        // are not searched).
        let key = hex::decode(v["key_pkcs8_hex"].as_str().unwrap()).unwrap();
        let needles = key_encodings(&key);
        let run = std::path::PathBuf::from("/run/airlock").join(&env.cluster.fingerprint[..8]);
        for root in [env.cluster.tmp.path(), run.as_path()] {
            let found = files_containing(root, &needles);
            assert!(
                found.is_empty(),
                "{backend}: the workload key is in {found:?}"
            );
        }
        // The scan itself finds a key where there is one.
        let planted = env.cluster.tmp.path().join("planted.pem");
        std::fs::write(&planted, &needles[2]).unwrap();
        let found = files_containing(env.cluster.tmp.path(), &needles);
        std::fs::remove_file(&planted).unwrap();
        assert_eq!(found, [planted]);
        env.dev.run(&["sandbox", "rm", &name]).ok();
    }
    // Issuance is on the record, with the workload and its human.
    let events = env.admin.run(&[
        "audit",
        "search",
        "--action",
        "cert.issue",
        "--user",
        "dev",
        "--json",
    ]);
    let events: serde_json::Value = serde_json::from_str(events.ok()).unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["kind"] == "workload-svid"
                && e["workload"].as_str().unwrap_or("").ends_with("/workload"))
    );
}

/// A PKCS#8 key as it could sit in a file: raw DER, hex, and the first
/// line of its PEM form.
fn key_encodings(der: &[u8]) -> Vec<Vec<u8>> {
    let pem = airlock_ca::pem::encode("PRIVATE KEY", der);
    let first_line = pem.lines().nth(1).expect("PEM body").as_bytes().to_vec();
    vec![der.to_vec(), hex::encode(der).into_bytes(), first_line]
}

/// Regular files under `root` holding any of `needles`, without crossing
/// into other filesystems.
fn files_containing(root: &std::path::Path, needles: &[Vec<u8>]) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.dev() != top.dev() {
                continue;
            }
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file()
                && let Ok(bytes) = std::fs::read(&path)
                && needles
                    .iter()
                    .any(|n| memchr::memmem::find(&bytes, n).is_some())
            {
                found.push(path);
            }
        }
    }
    found
}

/// Runs `airlock ssh` under a real pseudo-terminal (util-linux `script`),
/// typing `input`.
fn ssh_under_pty(client: &Client, name: &str, input: &str) -> Out {
    let cmd = format!("{} ssh {name}", airlock_bin());
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("AIRLOCK_HOME", &client.home)
        .env("TERM", "xterm");
    run(c, input)
}

#[test]
fn ssh_is_interactive_recorded_and_replayable() {
    let env = Env::new();
    env.create("shell", "runc", &[]);
    let out = ssh_under_pty(
        &env.dev,
        "shell",
        "echo marker-$((6*7))\nstty size\nexit 0\n",
    );
    assert!(out.stdout.contains("marker-42"), "{out:#?}");

    let events = env
        .admin
        .run(&["audit", "search", "--action", "sandbox.record", "--json"]);
    let events: serde_json::Value = serde_json::from_str(events.ok()).unwrap();
    let rec = events[0]["details"]["recording"]
        .as_str()
        .expect("recording id")
        .to_owned();
    assert_eq!(events[0]["user"], "dev");
    assert_eq!(events[0]["details"]["sha256"].as_str().unwrap().len(), 64);

    // Replay through the API, fast.
    let play = env.admin.run(&["play", &rec, "--speed", "100"]);
    assert!(play.ok().contains("marker-42"), "{play:#?}");
    // asciinema accepts the file as asciicast v2.
    let file = env
        .cluster
        .data
        .join("recordings")
        .join(format!("{rec}.cast"));
    let cat = Command::new("script")
        .args([
            "-qec",
            &format!("asciinema cat {}", file.display()),
            "/dev/null",
        ])
        .output()
        .expect("asciinema");
    assert!(String::from_utf8_lossy(&cat.stdout).contains("marker-42"));
    // Its hash is what the log says.
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()));
    assert_eq!(events[0]["details"]["sha256"], digest);
}

#[test]
fn losing_the_server_during_ssh_ends_cleanly_and_leaves_no_process() {
    let mut env = Env::new();
    env.create("fragile", "runc", &[]);
    let cmd = format!("{} ssh fragile", airlock_bin());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("AIRLOCK_HOME", &env.dev.home)
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"sleep 4242\n").unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    env.cluster.kill9();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("lost the connection"), "{text}");
    env.cluster.spawn_server();
    // After the restart the sandbox is back, and the session's processes are gone.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let ps = env.exec("fragile", &["python3", "-c", "import os\nprint(sum(1 for p in os.listdir('/proc') if p.isdigit() and b'sleep'+bytes([0])+b'4242' in open('/proc/%s/cmdline'%p,'rb').read()))"]);
    assert_eq!(
        ps.ok().trim(),
        "0",
        "sleep 4242 from the lost session is gone"
    );
}

#[test]
fn ssh_carries_the_terminal_size_and_its_changes() {
    let env = Env::new();
    for backend in BACKENDS {
        let name = format!("tty-{backend}");
        env.create(&name, backend, &[]);
        // The markers are computed by the shell, so the terminal's echo of
        // the typed line (which holds the expression) does not match them.
        // The resize travels on its own (the CLI's SIGWINCH task), the typed
        // line on stdin, so the line may arrive first on a loaded machine:
        // the shell gives the new size up to 5 s to be in effect, on both
        // backends, before printing what it sees.
        let steps = serde_json::json!([
            ["size", 31, 101],
            ["sleep", 1.0],
            ["type", "echo first-$(stty size | tr ' ' x)-$((1+1))done\n"],
            ["wait", "-2done"],
            ["size", 42, 123],
            ["winch"],
            ["sleep", 0.5],
            [
                "type",
                "for i in $(seq 50); do [ \"$(stty size)\" = '42 123' ] && break; sleep 0.1; done\n"
            ],
            ["type", "echo second-$(stty size | tr ' ' x)-$((1+2))over\n"],
            ["wait", "-3over"],
            ["type", "exit\n"],
        ]);
        let out = pty_session(&env.dev.home, steps, &[airlock_bin(), "ssh", &name]);
        assert!(
            out.stdout.contains("first-31x101-2done"),
            "{backend}: {out:#?}"
        );
        assert!(
            out.stdout.contains("second-42x123-3over"),
            "{backend}: {out:#?}"
        );
    }
}
