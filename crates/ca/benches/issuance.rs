//! Single-thread throughput and latency of issuance and verification.
//!
//! A plain `harness = false` main timed with `std::time::Instant`, so the
//! benchmark adds no dependency (and no build time). Each operation runs a
//! warm-up, then `ITERS` timed calls; the table reports calls per second
//! (from the total) and p50/p99 of the individual latencies.
//!
//! Run: `cargo bench -p airlock-ca` (set `AIRLOCK_BENCH_ITERS` to change the count).
// A benchmark's whole job is to print its table.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use airlock_ca::{CertificateAuthority, JwtSigner, KeyPair, PublicKey};
use airlock_core::{
    Claims, IsolationClass, RoleName, SandboxId, SessionId, SpiffeId, TrustDomain, UserName,
};

const WARMUP: usize = 200;

struct Row {
    name: &'static str,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn measure(name: &'static str, iters: usize, mut op: impl FnMut()) -> Row {
    for _ in 0..WARMUP {
        op();
    }
    let mut samples = Vec::with_capacity(iters);
    let start = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        op();
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    Row {
        name,
        per_sec: iters as f64 / total.as_secs_f64(),
        p50: pct(50),
        p99: pct(99),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; other arguments are ignored.
    let iters: usize = std::env::var("AIRLOCK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let now = SystemTime::now();
    let td = TrustDomain::new("airlock.bench").unwrap();
    let ca =
        CertificateAuthority::generate("bench", td.clone(), Duration::from_secs(86400 * 365), now)
            .unwrap();
    let client = KeyPair::generate().unwrap();
    let key = client.public_key();
    let csr = client.csr_der("alice").unwrap();
    let user = Claims::user(
        UserName::new("alice").unwrap(),
        vec![RoleName::new("developer").unwrap()],
        SessionId::from_random([7; 16]),
    );
    let sandbox = SandboxId::new("sb-0123456789abcdef").unwrap();
    let workload = Claims::workload(
        UserName::new("alice").unwrap(),
        sandbox.clone(),
        IsolationClass::Gvisor,
        None,
    );
    let id = SpiffeId::workload(&td, &sandbox);
    let user_cert = ca
        .issue_user(&key, &user, Duration::from_secs(8 * 3600), now)
        .unwrap();
    let jwt = JwtSigner::generate().unwrap();
    let hour = Duration::from_secs(3600);
    let five_min = Duration::from_secs(300);

    let rows = [
        measure("issue_user (PublicKey)", iters, || {
            black_box(ca.issue_user(&key, &user, hour, now).unwrap());
        }),
        measure(
            "issue_user from CSR (parse + verify CSR + issue)",
            iters,
            || {
                let k = PublicKey::from_csr_der(black_box(&csr)).unwrap();
                black_box(ca.issue_user(&k, &user, hour, now).unwrap());
            },
        ),
        measure("issue_svid (workload)", iters, || {
            black_box(ca.issue_svid(&key, &id, &workload, hour, now).unwrap());
        }),
        measure("verify (user cert)", iters, || {
            black_box(ca.verify(black_box(&user_cert.der), now).unwrap());
        }),
        measure("JWT-SVID mint", iters, || {
            black_box(
                jwt.mint(
                    &id,
                    "https://api.example",
                    &workload,
                    five_min,
                    now,
                    "https://airlock.bench",
                )
                .unwrap(),
            );
        }),
        measure(
            "PublicKey::from_spki_der (with on-curve check)",
            iters,
            || {
                black_box(PublicKey::from_spki_der(black_box(key.spki_der())).unwrap());
            },
        ),
    ];

    println!("| operation | ops/s (1 thread) | p50 | p99 |");
    println!("| --- | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.1} µs | {:.1} µs |",
            r.name,
            r.per_sec,
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6
        );
    }
    println!("\n{iters} timed iterations per operation after {WARMUP} warm-up calls.");
}
