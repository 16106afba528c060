//! kill -9 in the middle of a sustained write load: every acknowledged event
//! must be there after restart, and the log must verify.
//!
//! The test binary re-executes itself as the child (`child_writer` does
//! nothing unless the environment names a database), so a real process dies.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_audit::{AuditLog, verify_store};

use crate::util::{ORIGIN, TestLog, event, signer, verifier};

const CHILD_ENV: &str = "AIRLOCK_AUDIT_TEST_CHILD_DB";

/// The child: 8 threads append forever and print `ack <seq> <tag>` only
/// after `append_blocking` returned, i.e. after the event is durable.
#[test]
fn child_writer() {
    let Some(db) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let log = AuditLog::open(Path::new(&db), signer(), ORIGIN).unwrap();
    std::thread::scope(|s| {
        for w in 0..8 {
            let log = log.clone();
            s.spawn(move || {
                for i in 0.. {
                    let tag = format!("w{w}-{i}");
                    let r = log.append_blocking(event(i).resource(tag.clone())).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {tag}", r.seq).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

fn parse_ack(line: &str) -> Option<(u64, String)> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.to_owned()))
}

#[test]
fn kill_9_mid_load_loses_no_acknowledged_event() {
    let t = TestLog::new();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability::child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &t.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.len() < 3000 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => acks.extend(parse_ack(&line)),
            _ => break,
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-load
    // Acks already in the pipe were given before the kill: they count too.
    acks.extend(lines.map_while(Result::ok).filter_map(|l| parse_ack(&l)));
    child.wait().unwrap();
    eprintln!("child acknowledged {} events before SIGKILL", acks.len());
    assert!(
        acks.len() >= 100,
        "the child acknowledged only {} events",
        acks.len()
    );

    let log = t.open(); // recovery from the stored leaves, checked against the checkpoint
    for (seq, tag) in &acks {
        let ev = log.get_blocking(&seq.to_string()).unwrap();
        assert_eq!(ev.resource.as_deref(), Some(tag.as_str()), "event {seq}");
    }
    let report = log.verify_blocking().unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.entries >= acks.len() as u64);
    drop(log);
    let report = verify_store(&t.path, &verifier()).unwrap();
    assert!(report.is_ok() && report.unsigned_tail == 0, "{report}");
}
