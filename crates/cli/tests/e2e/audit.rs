//! The audit log through the binary: what is recorded, who may read it,
//! export, proofs, offline verification of a tampered store, durability
//! across kill -9, and refusal when the log cannot be written.

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_audit::file::format;

use crate::util::*;

fn events(client: &Client, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "search", "--json", "--limit", "1000"];
    all.extend_from_slice(args);
    let out = client.run(&all);
    serde_json::from_str::<Vec<serde_json::Value>>(out.ok()).unwrap()
}

/// The first event of `code` in `evs` that `pred` accepts.
fn event_in(
    evs: &[serde_json::Value],
    code: &str,
    pred: &dyn Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    evs.iter()
        .find(|e| e["code"] == code && pred(e))
        .unwrap_or_else(|| panic!("no {code} event in {evs:#?}"))
        .clone()
}

/// Rewrites the records of the audit log's first segment as an attacker
/// with the data directory would: the format is documented, and checksums
/// are recomputed on the way out.
fn tamper(audit_dir: &std::path::Path, f: impl FnOnce(&mut Vec<format::Record>)) {
    let seg = airlock_audit::file::first_segment_path(audit_dir);
    let bytes = std::fs::read(&seg).unwrap();
    let (_, mut records) = format::parse_segment(&bytes).unwrap();
    f(&mut records);
    let mut out = bytes[..airlock_audit::file::HEADER_LEN].to_vec();
    for r in &records {
        r.encode(&mut out);
    }
    out.resize(out.len().max(bytes.len()), 0);
    std::fs::write(&seg, out).unwrap();
}

#[test]
fn operations_and_refusals_are_recorded_with_who_what_and_why() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "dev", "developer", "dev-password");
    let dev = cluster.client("dev");
    dev.login("dev", "wrong-password")
        .fails(3, "wrong user name");
    dev.login("dev", "dev-password").ok();
    dev.run(&["admin", "user", "ls"]).fails(4, "not allowed");
    admin
        .run(&["admin", "lock", "add", "--user", "dev", "--reason", "test"])
        .ok();
    dev.run(&["whoami"]).fails(4, "locked");

    let evs = events(&admin, &[]);
    let find = |code: &str, pred: &dyn Fn(&serde_json::Value) -> bool| event_in(&evs, code, pred);
    let login = find("A1001", &|e| e["user"] == "dev");
    assert_eq!(login["decision"], "allow");
    assert!(
        login["session"].is_string() && login["source"].is_string(),
        "{login}"
    );
    let failed = find("A1002", &|e| e["details"]["attempted_user"] == "dev");
    assert_eq!(failed["decision"], "deny");
    assert_eq!(failed["reason"], "wrong user name or password");
    let issued = find("A1003", &|e| e["user"] == "dev");
    assert_eq!(issued["details"]["kind"], "user");
    let added = find("A2001", &|e| e["resource"] == "user:dev");
    assert_eq!(added["user"], ADMIN);
    let refused = find("A3001", &|e| {
        e["user"] == "dev" && e["action"] == "admin.user.list"
    });
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("no policy allows"),
        "{refused}"
    );
    find("A2003", &|e| e["details"]["target"] == "dev");
    find("A3001", &|e| {
        e["action"] == "api.call" && e["reason"].as_str().unwrap().contains("locked")
    });

    // Lifting the lock and removing the user are recorded too.
    let locks: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "lock", "ls", "--json"]).ok()).unwrap();
    let lock = locks[0]["id"].as_str().unwrap().to_owned();
    admin.run(&["admin", "lock", "rm", &lock]).ok();
    admin.run(&["admin", "user", "rm", "dev"]).ok();
    let evs = events(&admin, &[]);
    let one = |code: &str, pred: &dyn Fn(&serde_json::Value) -> bool| event_in(&evs, code, pred);
    let lifted = one("A2004", &|e| e["details"]["target"] == "dev");
    let removed = one("A2002", &|e| e["resource"] == "user:dev");
    // An allowed operation names the policy that allowed it, as a refusal
    // names the one that refused.
    let added = one("A2001", &|e| e["resource"] == "user:dev");
    let locked = one("A2003", &|e| e["details"]["target"] == "dev");
    for e in [&added, &locked, &lifted, &removed] {
        assert_eq!(e["user"], ADMIN, "{e:#}");
        assert_eq!(e["decision"], "allow", "{e:#}");
        assert_eq!(
            e["policies"],
            serde_json::json!(["admin-control-plane"]),
            "{e:#}"
        );
    }

    // Filters.
    let denies = events(&admin, &["--decision", "deny", "--user", "dev"]);
    assert!(!denies.is_empty());
    assert!(
        denies
            .iter()
            .all(|e| e["decision"] == "deny" && e["user"] == "dev")
    );
    let logins = events(&admin, &["--action", "user.", "--since", "1h"]);
    assert!(
        logins
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("user."))
    );
    // Malformed parameters get a clear error.
    admin
        .run(&["audit", "search", "--decision", "maybe"])
        .fails(2, "--decision");
    admin
        .run(&["audit", "search", "--since", "yesterday-ish"])
        .fails(2, "--since");
    admin
        .run(&["audit", "search", "--limit", "0"])
        .fails(2, "--limit");
}

#[test]
fn only_roles_that_allow_audit_reading_can_read() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "dev", "developer", "dev-password");
    cluster.add_user(&admin, "aud", "auditor", "aud-password");
    let dev = cluster.client("dev");
    dev.login("dev", "dev-password").ok();
    dev.run(&["audit", "search"])
        .fails(4, "not allowed: audit.read");
    dev.run(&["audit", "verify"])
        .fails(4, "not allowed: audit.read");
    let aud = cluster.client("aud");
    aud.login("aud", "aud-password").ok();
    assert!(!events(&aud, &[]).is_empty());
    aud.run(&["audit", "verify"]).ok();
    // The read itself is on the record.
    assert!(events(&admin, &["--action", "audit.read", "--user", "aud"]).len() >= 2);
}

#[test]
fn export_proof_and_tail() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "eve", "developer", "eve-password");

    let jsonl = admin.run(&["audit", "export", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = jsonl
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4);
    for (i, e) in lines.iter().enumerate() {
        assert_eq!(e["seq"], i as u64, "export is complete and in order");
    }
    let ocsf = admin.run(&["audit", "export", "--format", "ocsf"]);
    let ocsf: Vec<serde_json::Value> = ocsf
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        ocsf.iter().any(|e| e["class_uid"] == 3002),
        "authentication events"
    );
    assert!(
        ocsf.iter()
            .all(|e| e["metadata"]["product"]["name"] == "Airlock")
    );
    admin
        .run(&["audit", "export", "--format", "csv"])
        .fails(2, "invalid value");

    // Prove the user.added event and verify the proof offline with the key
    // printed at init.
    let added = events(&admin, &["--action", "admin.user.add"]);
    let id = added[0]["id"].as_str().unwrap().to_owned();
    let proof = cluster.tmp.path().join("proof.json");
    admin
        .run(&["audit", "prove", &id, "--output", proof.to_str().unwrap()])
        .ok();
    let vkey = cluster.audit_key.clone();
    let ok = admin.run(&[
        "audit",
        "verify-proof",
        proof.to_str().unwrap(),
        "--key",
        &vkey,
    ]);
    assert!(
        ok.ok().contains(&format!("proof verified: {id}")),
        "{ok:#?}"
    );
    // A doctored proof fails.
    let text = std::fs::read_to_string(&proof)
        .unwrap()
        .replace("user:eve", "user:bob");
    std::fs::write(&proof, text).unwrap();
    let bad = admin.run(&[
        "audit",
        "verify-proof",
        proof.to_str().unwrap(),
        "--key",
        &vkey,
    ]);
    assert_ne!(bad.code, 0, "{bad:#?}");

    let tail = admin.run(&["audit", "tail", "-n", "3"]);
    assert_eq!(tail.ok().lines().count(), 3);

    // tail -f shows what happens after it started.
    let mut follow = admin
        .cmd(&["audit", "tail", "-f", "-n", "1", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the latest event first");
    cluster.add_user(&admin, "zed", "developer", "zed-password");
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("tail -f shows the new event");
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        if e["resource"] == "user:zed" {
            break e;
        }
    };
    assert_eq!(seen["code"], "A2001");
    follow.kill().ok();
    follow.wait().ok();

    // --until bounds a search from above.
    let before_zed = events(&admin, &["--until", seen["time"].as_str().unwrap()]);
    assert!(!before_zed.is_empty());
    assert!(
        before_zed
            .iter()
            .all(|e| e["resource"] != "user:zed" && e["seq"].as_u64() < seen["seq"].as_u64())
    );
    admin
        .run(&["audit", "search", "--until", "soon"])
        .fails(2, "--until");
}

/// A mark the audit search index keeps in its meta table.
fn index_mark(audit_dir: &std::path::Path, key: &str) -> Vec<u8> {
    let index = rusqlite::Connection::open(audit_dir.join("index.db")).unwrap();
    index
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .unwrap()
}

#[test]
fn offline_verify_finds_edits_deletions_and_truncation() {
    let mut cluster = Cluster::start();
    let admin = cluster.admin();
    for i in 0..5 {
        cluster.add_user(&admin, &format!("u{i}"), "developer", "some-password");
    }
    cluster.stop();
    let audit_dir = cluster.data.join("audit");
    assert_eq!(
        index_mark(&audit_dir, "closed"),
        b"1",
        "a clean stop closes the search index (one left open is rebuilt after a reboot)"
    );
    let data = cluster.data.to_str().unwrap().to_owned();
    let verify = |key: Option<&str>| {
        let mut args = vec!["audit", "verify", "--data-dir", &data];
        if let Some(k) = key {
            args.extend(["--key", k]);
        }
        run(airlock(cluster.tmp.path(), &args), "")
    };
    let intact = verify(Some(&cluster.audit_key));
    assert!(intact.ok().contains("audit log intact"), "{intact:#?}");
    verify(None).ok();

    let segment = airlock_audit::file::first_segment_path(&audit_dir);
    let backup = cluster.tmp.path().join("segment.bak");
    std::fs::copy(&segment, &backup).unwrap();
    let restore = || std::fs::copy(&backup, &segment).unwrap();

    // Edit one byte of event 3's body.
    tamper(&audit_dir, |r| {
        let body = String::from_utf8(r[3].body.clone()).unwrap();
        assert!(body.contains("u1"), "{body}");
        r[3].body = body.replacen("u1", "u9", 1).into_bytes();
    });
    let out = verify(Some(&cluster.audit_key));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("FAILED at event ev-"), "{out:#?}");
    restore();

    // Delete a record in the middle.
    tamper(&audit_dir, |r| {
        r.remove(2);
    });
    let out = verify(Some(&cluster.audit_key));
    out.fails(1, "FAILED at event ev-2");
    restore();

    // Truncate the tail (and mark the new last record as a commit's end, so
    // the log looks whole).
    tamper(&audit_dir, |r| {
        r.truncate(4);
        r[3].flags |= format::COMMIT;
    });
    let out = verify(Some(&cluster.audit_key));
    assert!(out.stderr.contains("FAILED"), "{out:#?}");
    restore();

    // The wrong key: a checkpoint signed by someone else fails.
    let other = Cluster::start();
    let out = verify(Some(&other.audit_key));
    assert!(out.stderr.contains("FAILED"), "{out:#?}");
    verify(Some(&cluster.audit_key)).ok();
}

#[test]
fn acknowledged_events_survive_kill_9_under_load() {
    let mut cluster = Cluster::start();
    let admin = cluster.admin();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_millis(2500);
    let mut workers = Vec::new();
    for w in 0..4 {
        let acked = Arc::clone(&acked);
        let admin = Client {
            home: admin.home.clone(),
            url: admin.url.clone(),
            fingerprint: admin.fingerprint.clone(),
        };
        workers.push(std::thread::spawn(move || {
            let mut i = 0;
            while Instant::now() < stop_at {
                let body = format!(r#"{{"kind":"user","name":"load-{w}-{i}","ttl":"1h"}}"#);
                let (code, v) = admin.curl("POST", "/v1/locks", Some(&body));
                if code == 201 {
                    acked
                        .lock()
                        .unwrap()
                        .insert(v["id"].as_str().unwrap().to_owned());
                }
                i += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1200));
    cluster.kill9();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "load produced only {} acks", acked.len());

    cluster.spawn_server();
    let export = admin.run(&["audit", "export"]);
    let recorded: HashSet<String> = export
        .ok()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "admin.lock.add")
        .map(|e| e["details"]["lock"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = acked.difference(&recorded).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    admin.run(&["audit", "verify"]).ok();
}

#[test]
fn an_unwritable_audit_log_refuses_the_operation_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(status.success(), "mount tmpfs (tests run as root)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());

    let mut cluster = Cluster::start_in(mnt.join("data"));
    let admin = cluster.admin();
    // Fill the filesystem.
    let filler = mnt.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let mut refused = None;
    for i in 0..50 {
        let out = admin.run_stdin(
            &[
                "admin",
                "user",
                "add",
                &format!("full{i}"),
                "--roles",
                "developer",
                "--password-stdin",
            ],
            "some-password\n",
        );
        if out.code != 0 {
            refused = Some((i, out));
            break;
        }
    }
    let (i, out) = refused.expect("a full disk must refuse operations");
    out.fails(7, "could not be made durable");
    std::fs::remove_file(&filler).unwrap();
    let users: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "user", "ls", "--json"]).ok()).unwrap();
    assert!(
        !users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == format!("full{i}")),
        "the refused user was not added"
    );
    admin.run(&["audit", "verify"]).ok();
    cluster.add_user(&admin, "after", "developer", "some-password");
    cluster.stop();
}
