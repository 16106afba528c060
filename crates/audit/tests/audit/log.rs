//! The log handle: durable appends, group commit, checkpoints, reopen.

use std::sync::Arc;
use std::time::Duration;

use airlock_audit::file::FileStore;
use airlock_audit::{AuditError, AuditEvent, AuditLog, EventCode, LogOptions, verify_store};

use crate::util::{ORIGIN, TestLog, append_concurrently, append_range, event, signer, verifier};

#[test]
fn appends_get_consecutive_seqs_and_survive_reopen() {
    let t = TestLog::new();
    let log = t.open();
    for i in 0..5 {
        let r = log.append_blocking(event(i)).unwrap();
        assert_eq!(
            (r.seq, r.id.as_str()),
            (i as u64, format!("ev-{i}").as_str())
        );
    }
    drop(log);
    let log = t.open();
    assert_eq!(log.append_blocking(event(5)).unwrap().seq, 5);
    let ev = log.get_blocking("ev-3").unwrap();
    assert_eq!((ev.seq, ev.code), (3, event(3).code));
    assert!(matches!(
        log.get_blocking("ev-99"),
        Err(AuditError::NotFound(_))
    ));
    assert!(matches!(
        log.get_blocking("garbage"),
        Err(AuditError::NotFound(_))
    ));
}

#[test]
fn invalid_events_are_refused_before_writing() {
    let t = TestLog::new();
    let log = t.open();
    let bad = AuditEvent::new(EventCode::UserLogin); // no user
    let err = log.append_blocking(bad).unwrap_err();
    assert!(err.to_string().contains("must name its user"), "{err}");
    let huge = event(0).detail("blob", "x".repeat(70_000));
    assert!(matches!(
        log.append_blocking(huge),
        Err(AuditError::TooLarge(_))
    ));
    assert_eq!(log.stats().size, 0);
    // A batch with one bad event writes nothing.
    let batch = vec![event(0), AuditEvent::new(EventCode::UserLoginFailed)];
    assert!(log.append_many_blocking(batch).is_err());
    assert_eq!(log.stats().size, 0);
}

/// Appends events `0..n`, each from a task of its own, all at once; their
/// seqs in task order.
async fn append_from_tasks(log: &AuditLog, n: usize) -> Vec<u64> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(event(i)).await.unwrap().seq })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_commits() {
    let t = TestLog::new();
    let log = t.open();
    let n = 400;
    let mut seqs = append_from_tasks(&log, n).await;
    seqs.sort_unstable();
    assert_eq!(seqs, (0..n as u64).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.events, n as u64);
    assert!(
        stats.commits * 4 < n as u64,
        "{} commits for {n} concurrent appends: group commit is not batching",
        stats.commits
    );
    // Concurrent callers go through the writer thread, not one sync each.
    // A caller that runs while the others wait for a CPU is alone as far as
    // the log can tell and may commit inline; on a loaded machine that is a
    // few dozen of these, never most of them.
    assert!(stats.inline_commits * 8 <= n as u64, "{stats:?}");
    drop(log);
    assert!(verify_store(&t.path, &verifier()).unwrap().is_ok());
}

/// On a runtime with one worker, tasks waiting behind a commit on that
/// worker could never be seen appending during it: no task commits inline
/// there, and the writer thread groups them.
#[tokio::test(flavor = "current_thread")]
async fn tasks_on_a_single_threaded_runtime_share_commits() {
    let t = TestLog::new();
    let log = t.open();
    let n = 200;
    append_from_tasks(&log, n).await;
    let stats = log.stats();
    assert_eq!(stats.events, n as u64);
    assert_eq!(stats.inline_commits, 0, "{stats:?}");
    assert!(stats.commits * 4 < n as u64, "{stats:?}");
}

#[test]
fn a_lone_caller_commits_on_its_own_thread_until_others_come() {
    let t = TestLog::new();
    let log = t.open();
    for i in 0..20 {
        log.append_blocking(event(i)).unwrap();
    }
    let alone = log.stats();
    assert_eq!((alone.commits, alone.inline_commits), (20, 20), "{alone:?}");
    // Concurrent callers: the writer thread gathers them into shared syncs,
    // and inline commits stay off while they keep coming.
    append_concurrently(&log, 8, 50, 100);
    let busy = log.stats();
    assert_eq!(busy.events, 420);
    assert!(busy.commits - alone.commits < 400 / 2, "{busy:?}");
    // As above: callers that run while the others wait for a CPU may commit
    // inline, a few dozen at most.
    assert!(
        (busy.inline_commits - alone.inline_commits) * 8 <= 400,
        "{busy:?}"
    );
    drop(log);
    assert!(verify_store(&t.path, &verifier()).unwrap().is_ok());
}

#[test]
fn concurrent_threads_share_commits() {
    let t = TestLog::new();
    let log = t.open();
    append_concurrently(&log, 16, 25, 0);
    let stats = log.stats();
    assert_eq!(stats.events, 400);
    assert!(stats.commits < 400, "{stats:?}");
}

#[test]
fn checkpoints_are_written_while_events_flow_and_on_shutdown() {
    let t = TestLog::new();
    let store = Arc::new(FileStore::open(&t.path).unwrap());
    let opts = LogOptions {
        checkpoint_interval: Duration::from_millis(100),
    };
    let log = AuditLog::open_with(store.clone(), signer(), ORIGIN, opts).unwrap();
    let i = append_for(&log, Duration::from_millis(650), Duration::from_millis(5));
    let during = log.stats().checkpoints;
    assert!(
        during >= 4,
        "only {during} checkpoints in 650 ms at a 100 ms interval"
    );
    drop(log);
    use airlock_audit::store::AuditStore;
    let latest = store.checkpoints().unwrap().pop().unwrap();
    assert_eq!(latest.size, i as u64, "shutdown must sign every event");
}

#[test]
fn idle_log_signs_its_tail_within_the_interval() {
    let t = TestLog::new();
    let store = Arc::new(FileStore::open(&t.path).unwrap());
    let opts = LogOptions {
        checkpoint_interval: Duration::from_millis(50),
    };
    let log = AuditLog::open_with(store, signer(), ORIGIN, opts).unwrap();
    append_range(&log, 0, 3);
    std::thread::sleep(Duration::from_millis(300));
    // Offline verify, so nothing but the writer's own timer signed the tail.
    let report = verify_store(&t.path, &verifier()).unwrap();
    assert_eq!(
        (report.latest_checkpoint, report.unsigned_tail),
        (Some(3), 0)
    );
    assert!(report.is_ok(), "{report}");
}

#[test]
fn checkpoint_now_signs_the_current_size() {
    let t = TestLog::new();
    let log = t.open();
    append_range(&log, 0, 7);
    let cp = log.checkpoint_now_blocking().unwrap();
    assert_eq!(cp.size, 7);
    let parsed = airlock_audit::Checkpoint::open(&cp.note, log.verifier()).unwrap();
    assert_eq!((parsed.size, parsed.origin.as_str()), (7, ORIGIN));
    assert_eq!(
        log.checkpoint_now_blocking().unwrap(),
        cp,
        "no new events: same checkpoint"
    );
    // Consistency between two checkpoints verifies with the merkle verifier.
    let old = airlock_audit::Checkpoint::open(&cp.note, log.verifier()).unwrap();
    append_range(&log, 7, 12);
    let new_cp = log.checkpoint_now_blocking().unwrap();
    let new = airlock_audit::Checkpoint::open(&new_cp.note, log.verifier()).unwrap();
    let proof = log.consistency_proof_blocking(7, 12).unwrap();
    airlock_audit::merkle::verify_consistency(7, 12, &old.root, &new.root, &proof).unwrap();
}

#[test]
fn another_key_cannot_open_the_log() {
    let t = TestLog::new();
    drop(t.open());
    let other = airlock_audit::NoteSigner::from_seed(ORIGIN, &[9u8; 32]).unwrap();
    let err = AuditLog::open(&t.path, other, ORIGIN).unwrap_err();
    assert!(matches!(err, AuditError::Damaged(_)), "{err}");
    let err = AuditLog::open(&t.path, signer(), "another/origin").unwrap_err();
    assert!(err.to_string().contains("origin"), "{err}");
}

#[tokio::test]
async fn async_reads_work_from_a_runtime() {
    let t = TestLog::new();
    let log = t.open();
    for i in 0..10 {
        log.append(event(i)).await.unwrap();
    }
    let tail = log.tail(Some(6), 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    assert_eq!(log.get("ev-4".into()).await.unwrap().seq, 4);
    assert!(log.verify().await.unwrap().is_ok());
}

#[test]
fn a_second_writer_on_the_same_store_is_refused() {
    let t = TestLog::new();
    let log = t.open();
    let err = AuditLog::open(&t.path, signer(), ORIGIN).unwrap_err();
    assert!(
        err.to_string().contains("already open for writing"),
        "{err}"
    );
    // Readers are fine meanwhile.
    assert!(verify_store(&t.path, &verifier()).is_ok());
    drop(log);
    drop(t.open());
}

#[test]
fn the_default_log_signs_what_it_wrote_within_a_second() {
    // The server opens the log with the defaults; the promise is a
    // signed checkpoint at least every second while events flow.
    let t = TestLog::new();
    let log = t.open();
    let i = append_for(&log, Duration::from_millis(2500), Duration::from_millis(20));
    let signed = log.stats().checkpoints;
    assert!(signed >= 2, "{signed} checkpoints in 2.5 s of writing");
    // Idle: the tail is signed within the interval, by the timer alone.
    std::thread::sleep(Duration::from_millis(1300));
    let report = verify_store(&t.path, &verifier()).unwrap();
    assert_eq!(report.latest_checkpoint, Some(i as u64), "{report}");
    drop(log);
}

/// Appends one event every `pause` for `how_long`; returns how many.
fn append_for(log: &AuditLog, how_long: Duration, pause: Duration) -> usize {
    let start = std::time::Instant::now();
    let mut i = 0;
    while start.elapsed() < how_long {
        log.append_blocking(event(i)).unwrap();
        i += 1;
        std::thread::sleep(pause);
    }
    i
}

/// Details given apart, as a struct whose fields come in the order of
/// their names, are stored exactly as the event holding them as a map with
/// its keys in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_given_apart_are_stored_as_the_event_with_them_in_a_map() {
    #[derive(serde::Serialize)]
    struct Http<'a> {
        host: &'a str,
        method: &'a str,
        path: &'a str,
    }
    let t = TestLog::new();
    let log = t.open();
    let mut whole = event(1);
    let details = Http {
        host: "api.github.com",
        method: "POST",
        path: "/repos",
    };
    let mut bare = whole.clone();
    bare.details.clear();
    // The map holds the keys in the order of their names, as the struct
    // does: serde_json keeps a map's insertion order when a dependency asks
    // for it (Cedar does) and sorts it otherwise.
    whole.details = match serde_json::to_value(&details).unwrap() {
        serde_json::Value::Object(map) => map,
        other => panic!("{other}"),
    };
    let receipt = log.append_with(bare.clone(), &details).await.unwrap();
    let stored = log.store().get(receipt.seq).unwrap().unwrap().body;
    whole.seq = receipt.seq;
    whole.id = receipt.id;
    assert_eq!(
        String::from_utf8(stored.clone()).unwrap(),
        String::from_utf8(whole.canonical()).unwrap()
    );
    assert_eq!(AuditEvent::decode(&stored).unwrap(), whole);

    // Not an object, an empty one, or details on both sides: refused,
    // nothing written.
    for err in [
        log.append_with(bare.clone(), "a string").await.unwrap_err(),
        log.append_with(bare.clone(), &[1, 2]).await.unwrap_err(),
        log.append_with(bare.clone(), &()).await.unwrap_err(),
        log.append_with(bare.clone(), &serde_json::json!({}))
            .await
            .unwrap_err(),
        log.append_with(event(1), &details).await.unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(
            msg.contains("must be a JSON object") || msg.contains("given both"),
            "{msg}"
        );
    }
    assert_eq!(log.stats().size, 1);
}

/// `se.slice` (nanoseconds) from a thread's scheduler statistics.
fn slice_of(sched_file: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(sched_file).ok()?;
    let line = text.lines().find(|l| l.starts_with("se.slice"))?;
    line.rsplit(' ').next()?.parse().ok()
}

/// Every durable append waits for the writer thread, so it runs in the
/// kernel's shortest time slice and is not left queued behind busy threads
/// when its sync returns.
#[test]
fn the_writer_thread_runs_in_a_short_time_slice() {
    let probe = std::thread::spawn(|| {
        airlock_sys::sched::set_current_thread_slice(Duration::from_micros(100)).unwrap();
        slice_of("/proc/thread-self/sched".as_ref())
    });
    if probe.join().unwrap() != Some(100_000) {
        eprintln!("skipped: this kernel does not keep custom time slices");
        return;
    }
    let t = TestLog::new();
    let log = t.open();
    // A checkpoint request is answered by the writer thread itself.
    log.checkpoint_now_blocking().unwrap();
    let writers: Vec<u64> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            (comm.trim() == "audit-writer").then(|| slice_of(&dir.join("sched")))?
        })
        .collect();
    assert!(!writers.is_empty(), "no audit-writer thread found");
    assert!(writers.iter().all(|&s| s == 100_000), "{writers:?}");
}
