//! Audit benchmarks (plain std timing, no harness): durable append throughput
//! with 1, 8 and 64 concurrent writers, the disk's raw fdatasync rate as the
//! physical limit next to it, verify throughput, and search by user over one
//! million events.
//!
//! Run: `cargo bench -p airlock-audit --bench audit`. Environment:
//! AUDIT_BENCH_EVENTS (size of the search/verify log, default 1,000,000; 0
//! skips it), AUDIT_BENCH_WRITERS (default `1,8,64`; empty skips),
//! AUDIT_BENCH_ROUNDS (append measurements per writer count, default 3;
//! medians are printed at the end), AUDIT_BENCH_DIR (where the logs go,
//! default /tmp).
//!
//! The disk's raw rate is measured twice before each append run, because on
//! a virtual machine it depends on the CPU: "idle" is one thread alone (the
//! vCPU halts while the flush is in flight, and waking it can cost far more
//! than the flush), "busy" is the same with another thread spinning, which
//! keeps the vCPUs awake. The better of the two, times the writers, is the
//! physical limit each run is compared with.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use airlock_audit::{
    ActionFilter, AuditEvent, AuditLog, EventCode, NoteSigner, Order, Query, verify_store,
};
use airlock_core::{SandboxId, SpiffeId, TrustDomain, UserName};

/// The allocator the `airlock` binary runs with (crates/cli/src/main.rs):
/// the log's threads allocate and free across each other (events built by
/// callers, freed by the writer and the indexer), which glibc's arenas make
/// slow and mimalloc does not. `main` tunes glibc (SQLite) as the binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ORIGIN: &str = "airlock.bench/audit";

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[3u8; 32]).expect("fixed seed")
}

/// A realistic proxy event (~450 bytes encoded), spread over 1000 users;
/// one in 100 is a sandbox exec or create instead (for searches by action).
fn event(i: usize) -> AuditEvent {
    let td = TrustDomain::new("airlock.bench").expect("valid");
    let sb = SandboxId::new(format!("sb-{:04}", i % 5000)).expect("valid");
    let user = || UserName::new(format!("user{}", i % 1000)).expect("valid");
    match i % 100 {
        0 => {
            return AuditEvent::new(EventCode::SandboxExec)
                .user(user())
                .sandbox(sb);
        }
        50 => {
            return AuditEvent::new(EventCode::SandboxCreated)
                .user(user())
                .sandbox(sb);
        }
        _ => {}
    }
    let ev = AuditEvent::new(EventCode::HttpRequest)
        .user(user())
        .workload(SpiffeId::workload(&td, &sb))
        .sandbox(sb)
        .source("10.20.30.40:51234")
        .resource("api.github.com")
        .detail("method", "GET")
        .detail("host", "api.github.com")
        .detail("path", format!("/repos/airlock/airlock/issues/{i}"))
        .detail("status", 200)
        .detail("bytes_out", 1234)
        .detail("latency_ms", 12);
    if i.is_multiple_of(7) {
        ev.deny("GET /repos is not allowed by delegation read-only")
    } else {
        ev.allow()
    }
}

/// Raw `fdatasync` rate of the disk holding `dir` for ~2 s: rewriting one
/// 4 KiB block of a file written beforehand (what a commit into pre-written
/// log space does). With `busy`, another thread spins meanwhile.
fn fsync_rate(dir: &Path, busy: bool) -> f64 {
    use std::io::{Seek, SeekFrom};
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("create probe");
    let block = [0u8; 4096];
    f.write_all(&block).expect("write");
    f.sync_all().expect("fsync");
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        if busy {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(2) {
            f.seek(SeekFrom::Start(0)).expect("seek");
            f.write_all(&block).expect("write");
            f.sync_data().expect("fdatasync");
            n += 1;
        }
        stop.store(true, Ordering::Relaxed);
        n as f64 / start.elapsed().as_secs_f64()
    })
}

/// Result of one durable-append run.
struct AppendRun {
    events_per_sec: f64,
    per_commit: f64,
    commit_ms: f64,
}

/// `writers` threads each append one event at a time (waiting for durability)
/// for `secs`.
fn append_throughput(dir: &Path, writers: usize, secs: u64) -> AppendRun {
    let path = dir.join(format!("append-{writers}"));
    let _ = std::fs::remove_dir_all(&path);
    let log = AuditLog::open(&path, signer(), ORIGIN).expect("open");
    // Warm up for a second (not counted): the first commits also write the
    // segment's space ahead.
    run_writers(&log, writers, Instant::now() + Duration::from_secs(1));
    let before = log.stats();
    let start = Instant::now();
    run_writers(&log, writers, start + Duration::from_secs(secs));
    let elapsed = start.elapsed().as_secs_f64();
    let stats = log.stats();
    let (events, commits) = (stats.events - before.events, stats.commits - before.commits);
    let micros = stats.commit_micros - before.commit_micros;
    AppendRun {
        events_per_sec: events as f64 / elapsed,
        per_commit: events as f64 / commits.max(1) as f64,
        commit_ms: micros as f64 / 1e3 / commits.max(1) as f64,
    }
}

fn run_writers(log: &AuditLog, writers: usize, deadline: Instant) {
    std::thread::scope(|s| {
        for w in 0..writers {
            let log = log.clone();
            s.spawn(move || {
                let mut i = w;
                while Instant::now() < deadline {
                    log.append_blocking(event(i)).expect("append");
                    i += writers;
                }
            });
        }
    });
}

/// Fills a log with `n` events in batches; returns events/s.
fn fill(path: &Path, n: usize) -> f64 {
    let log = AuditLog::open(path, signer(), ORIGIN).expect("open");
    let start = Instant::now();
    let batch = 5000;
    for from in (0..n).step_by(batch) {
        let evs = (from..(from + batch).min(n)).map(event).collect();
        log.append_many_blocking(evs).expect("append");
    }
    log.checkpoint_now_blocking().expect("checkpoint");
    n as f64 / start.elapsed().as_secs_f64()
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_search(log: &AuditLog, q: &Query) -> (Duration, Duration, usize) {
    let start = Instant::now();
    let n = log.search_blocking(q).expect("search").len();
    let first = start.elapsed();
    let runs = (0..20)
        .map(|_| {
            let t = Instant::now();
            log.search_blocking(q).expect("search");
            t.elapsed()
        })
        .collect();
    (first, median(runs), n)
}

fn main() {
    airlock_sys::malloc::keep_freed_memory().unwrap();
    let n: usize = std::env::var("AUDIT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::var("AUDIT_BENCH_DIR").unwrap_or("/tmp".into()))
        .expect("tempdir");
    out(&format!("bench dir: {}", dir.path().display()));
    let writers: Vec<usize> = std::env::var("AUDIT_BENCH_WRITERS")
        .unwrap_or("1,8,64".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("AUDIT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut results: Vec<(usize, Vec<f64>, Vec<f64>)> = writers
        .iter()
        .map(|&w| (w, Vec::new(), Vec::new()))
        .collect();
    for round in 0..rounds {
        for (writers, rates, limits) in &mut results {
            let idle = fsync_rate(dir.path(), false);
            let busy = fsync_rate(dir.path(), true);
            let r = append_throughput(dir.path(), *writers, 5);
            // Each measurement is a rate the disk sustained: the better one
            // is the limit (busy wins when idle vCPUs are slow to wake,
            // idle wins when the disk is quick and the spinner only steals
            // CPU).
            let limit = idle.max(busy) * *writers as f64;
            out(&format!(
                "| round {round}: durable append, {writers} writers | {:.0} events/s | {:.1} events/commit | {:.3} ms/commit | fdatasync just before: {idle:.0}/s idle, {busy:.0}/s busy: limit {limit:.0} events/s ({:.0}%) |",
                r.events_per_sec,
                r.per_commit,
                r.commit_ms,
                100.0 * r.events_per_sec / limit
            ));
            rates.push(r.events_per_sec);
            limits.push(limit);
        }
    }
    for (writers, rates, limits) in results {
        let (rate, limit) = (median_f(rates), median_f(limits));
        out(&format!(
            "| median: durable append, {writers} writers | {rate:.0} events/s | limit {limit:.0} events/s | {:.0}% |",
            100.0 * rate / limit
        ));
    }
    if n == 0 {
        return;
    }
    let path = dir.path().join("big");
    let fill_rate = fill(&path, n);
    out(&format!(
        "| batched append (5000 per call), {n} events | {fill_rate:.0} events/s |"
    ));
    let verifier = signer().verifier();
    let start = Instant::now();
    let report = verify_store(&path, &verifier).expect("verify");
    let secs = start.elapsed().as_secs_f64();
    assert!(report.is_ok(), "{report}");
    out(&format!(
        "| verify (offline) {} events | {:.0} events/s | {secs:.2} s |",
        report.entries,
        report.entries as f64 / secs
    ));
    let log = AuditLog::open(&path, signer(), ORIGIN).expect("reopen");
    // The fill outruns the indexer (it is derived and asynchronous), so the
    // first search after reopening waits for it to catch up: timed apart.
    let start = Instant::now();
    log.search_blocking(&Query {
        limit: 1,
        ..Query::default()
    })
    .expect("search");
    out(&format!(
        "| first search after reopening (index catching up) | {:.0} ms |",
        start.elapsed().as_secs_f64() * 1e3
    ));
    let user = UserName::new("user417").expect("valid");
    let (oldest, newest) = (
        edge(&log, Order::OldestFirst),
        edge(&log, Order::NewestFirst),
    );
    let one_percent = (newest - oldest) / 100;
    let queries = [
        (
            "user, limit 100",
            Query {
                user: Some(user.clone()),
                ..Query::default()
            },
        ),
        (
            "user, limit 10000",
            Query {
                user: Some(user.clone()),
                limit: 10_000,
                ..Query::default()
            },
        ),
        (
            "user + decision=deny, limit 100",
            Query {
                user: Some(user),
                decision: Some(airlock_core::Effect::Deny),
                ..Query::default()
            },
        ),
        (
            "action sandbox.* (2 % of events), limit 100",
            Query {
                action: Some(ActionFilter::Prefix("sandbox.".into())),
                ..Query::default()
            },
        ),
        (
            "time: the newest 1 %, oldest first, limit 100",
            Query {
                since: Some(newest - one_percent),
                order: Order::OldestFirst,
                ..Query::default()
            },
        ),
        (
            "time: the oldest 1 %, newest first, limit 100",
            Query {
                until: Some(oldest + one_percent),
                ..Query::default()
            },
        ),
    ];
    for (name, q) in queries {
        let (first, med, hits) = time_search(&log, &q);
        out(&format!(
            "| search by {name} over {n} events | first {:.2} ms, median {:.2} ms | {hits} results |",
            first.as_secs_f64() * 1e3,
            med.as_secs_f64() * 1e3
        ));
    }
}

/// The time of the oldest or newest event.
fn edge(log: &AuditLog, order: Order) -> time::OffsetDateTime {
    let q = Query {
        limit: 1,
        order,
        ..Query::default()
    };
    log.search_blocking(&q).expect("search")[0].time
}
