//! Added latency and throughput of the access proxy as the control plane
//! runs it (the real `PolicyDecider`: lock check, sandbox and user looked up
//! in the SQLite store, Cedar decision; a durable audit event per request),
//! measured with `wrk` in one run against direct access and against squid as
//! the peer forward proxy.
//!
//! ```text
//! cargo bench -p airlock-control --bench proxy
//! ```
//!
//! Knobs: `PROXY_BENCH_SECS` (per wrk run, default 10), `PROXY_BENCH_CONNS`
//! (throughput connections, default 64), `PROXY_BENCH_ROUNDS` (throughput
//! rounds, alternating the paths; default 3), `PROXY_BENCH_WORKERS` (tokio
//! worker threads of the proxy and upstream, default 2), `PROXY_BENCH_DIR`
//! (audit log and squid files, default /tmp). Needs `wrk` and `squid` on
//! PATH (scripts/setup.sh --test). Prints a markdown table, the CPU each
//! path spent per request (by thread, squid's, and the machine's idle time:
//! a slow phase of the machine changes the rates, much less these), then
//! each round's ratio to squid and their median.
#![allow(clippy::print_stdout)]

#[path = "proxy/cpu.rs"]
mod cpu;

use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use airlock_audit::{AuditLog, NoteSigner};
use airlock_control::egress::decider::PolicyDecider;
use airlock_control::locks::LockCache;
use airlock_control::policy::PolicyState;
use airlock_core::{
    IsolationClass, RoleName, SandboxId, SandboxName, SpiffeId, TrustDomain, UserName,
};
use airlock_proxy::{
    AuditLogSink, AuditSink, Caller, Catalog, HttpService, InferenceEndpoint, ProxyCa, ProxyConfig,
    ProxyEvent, ProxyServer, RecordFuture, SandboxProxy, Upstream,
};
use airlock_store::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The allocator the `airlock` binary runs with (crates/cli/src/main.rs);
/// `main` tunes glibc for SQLite as the binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The one policy beyond the starter set: the benchmark user's role may GET
/// the benchmark service.
const BENCH_POLICY: &str = r#"@id("bench-get")
permit (
  principal in Airlock::Role::"developer",
  action == Airlock::Action::"http.request",
  resource == Airlock::HttpService::"bench"
) when { context.method == "GET" };
"#;

/// A store holding the benchmark's user, its live sandbox and the policy
/// set; the decider the control plane builds on it.
fn decider(dir: &std::path::Path) -> Arc<PolicyDecider> {
    let store = airlock_store::CachedStore::new(
        airlock_store::SqliteStore::create(&dir.join("state.db")).unwrap(),
    );
    let now = time::OffsetDateTime::now_utc();
    store
        .add_user(&airlock_store::UserRecord {
            name: UserName::new("bench").unwrap(),
            roles: vec![RoleName::new("developer").unwrap()],
            traits: Default::default(),
            password_hash: String::new(),
            created: now,
        })
        .unwrap();
    store
        .add_sandbox(&airlock_store::SandboxRecord {
            id: SandboxId::new("sb-bench").unwrap(),
            name: SandboxName::new("bench".to_owned()).unwrap(),
            owner: UserName::new("bench").unwrap(),
            backend: IsolationClass::Runc,
            image: "default".into(),
            profile: None,
            limits: airlock_store::SandboxLimits {
                cpus: 1.0,
                memory: 1 << 30,
                disk: 1 << 30,
                pids: 512,
            },
            state: airlock_store::SandboxState::Running,
            created: now,
            expires: now + time::Duration::hours(8),
            ended: None,
        })
        .unwrap();
    let file = |name: &str, text: &str| airlock_store::PolicyFile {
        name: name.into(),
        kind: "policy".into(),
        text: text.into(),
    };
    store
        .replace_policy_files(&[
            file("starter.cedar", airlock_policy::STARTER_POLICIES),
            file("bench.cedar", BENCH_POLICY),
        ])
        .unwrap();
    let policy = Arc::new(PolicyState::load(&store).unwrap());
    let locks = LockCache::default();
    locks.refresh(&store).unwrap();
    Arc::new(PolicyDecider {
        store: Arc::new(store),
        locks,
        policy,
    })
}

/// What one decision costs on its own (lock check, two store lookups,
/// Cedar), single-threaded: for a request that repeats, as wrk's do (after
/// the first two of each second the engine answers from its memo of
/// decisions), and for requests that never repeat (a path of their own).
fn decide_cost(decider: &PolicyDecider) {
    use airlock_proxy::{Decider, ProxyRequest};
    let caller = bench_caller();
    let req = |path: String| ProxyRequest::Http {
        service: Some("bench".into()),
        method: "GET".into(),
        host: "127.0.0.1".into(),
        port: 80,
        path,
    };
    let n = 20_000;
    let repeated = req("/hello".into());
    let distinct: Vec<ProxyRequest> = (0..n).map(|i| req(format!("/hello/{i}"))).collect();
    assert!(decider.decide(&caller, &repeated).is_allowed());
    assert!(decider.decide(&caller, &distinct[0]).is_allowed());
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(decider.decide(&caller, &repeated));
    }
    let memo = start.elapsed() / n as u32;
    let start = std::time::Instant::now();
    for r in &distinct[1..] {
        std::hint::black_box(decider.decide(&caller, r));
    }
    let evaluated = start.elapsed() / (n as u32 - 1);
    println!(
        "one decision (lock check, sandbox and user lookups, Cedar): {evaluated:?} for a request never seen, {memo:?} for a repeated one (the engine's memo)\n"
    );
}

/// The benchmark sandbox's caller, as the proxy identifies it.
fn bench_caller() -> Caller {
    let td = TrustDomain::new("bench.airlock").unwrap();
    let sandbox = SandboxId::new("sb-bench").unwrap();
    Caller {
        workload: SpiffeId::workload(&td, &sandbox),
        sandbox,
        user: UserName::new("bench").unwrap(),
        isolation: IsolationClass::Runc,
        profile: None,
    }
}

/// The upstream registered under its own address.
struct BenchCatalog(Arc<HttpService>, u16);

impl Catalog for BenchCatalog {
    fn http_service_for(&self, host: &str, port: u16) -> Option<Arc<HttpService>> {
        (host == "127.0.0.1" && port == self.1).then(|| self.0.clone())
    }

    fn inference_named(&self, _name: &str) -> Option<Arc<InferenceEndpoint>> {
        None
    }
}

/// Accepts and forgets: the cost of the proxy without a durable log.
struct NullSink;

impl AuditSink for NullSink {
    fn record(&self, _event: ProxyEvent) -> RecordFuture {
        Box::pin(async { Ok(()) })
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    airlock_sys::malloc::keep_freed_memory().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_or("PROXY_BENCH_WORKERS", 2) as usize)
        .enable_all()
        .build()
        .unwrap();
    let secs = env_or("PROXY_BENCH_SECS", 10);
    let conns = env_or("PROXY_BENCH_CONNS", 64);
    let dir =
        tempfile::tempdir_in(std::env::var("PROXY_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))
            .unwrap();
    let decider = decider(dir.path());
    decide_cost(&decider);
    let upstream = rt.block_on(serve_upstream());
    let url = format!("http://127.0.0.1:{upstream}/hello");
    let log = durable_log(dir.path());
    let (durable_port, _a) = rt.block_on(start_proxy(
        upstream,
        decider.clone(),
        Arc::new(AuditLogSink::new(log.clone())),
    ));
    let (null_port, _b) = rt.block_on(start_proxy(upstream, decider.clone(), Arc::new(NullSink)));
    let mut squid = Squid::start(dir.path());
    // Policy must allow the benchmark request, or wrk would time 403s.
    for port in [durable_port, null_port, squid.port] {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-x"])
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(&url)
            .output()
            .expect("curl");
        assert_eq!(out.stdout, b"200", "through port {port}");
    }

    let rounds = env_or("PROXY_BENCH_ROUNDS", 3).max(1);
    let paths = [
        ("direct", None, None),
        (
            "airlock, durable audit log",
            Some(durable_port),
            Some(&*log),
        ),
        ("airlock, no-op audit sink", Some(null_port), None),
        ("squid", Some(squid.port), None),
    ];
    let latencies: Vec<Latency> = paths
        .iter()
        .map(|(_, port, _)| latency(&url, *port, secs))
        .collect();
    // Throughput in rounds that alternate the paths, so that a slow phase of
    // a shared machine weighs on every path alike; ratios are taken within
    // a round.
    let mut rps = vec![Vec::new(); paths.len()];
    let mut commits = CommitStats::default();
    let mut cpu = vec![cpu::PathCpu::default(); paths.len()];
    for _ in 0..rounds {
        for (i, (_, port, audit)) in paths.iter().enumerate() {
            let before = audit.map(AuditLog::stats);
            let cpu_before = cpu::Sample::take(squid.child.id());
            let rate = throughput(&url, *port, secs, conns);
            cpu[i].add(
                rate * secs as f64,
                &cpu_before,
                &cpu::Sample::take(squid.child.id()),
            );
            rps[i].push(rate);
            if let (Some(log), Some(before)) = (audit, before) {
                commits.add(&before, &log.stats());
            }
        }
    }
    print_table(&paths.map(|p| p.0), &latencies, &rps, conns);
    cpu::print(&paths.map(|p| p.0), &cpu);
    // Indices into `paths`.
    let (durable, noop, squid_rps) = (&rps[1], &rps[2], &rps[3]);
    print_ratios("durable audit log ÷ squid", durable, squid_rps);
    print_ratios("no-op audit sink ÷ squid", noop, squid_rps);
    println!(
        "\ndurable audit log, {conns} connections: {:.1} events per commit, {:.0} µs per commit (write and sync)",
        commits.per_commit(),
        commits.commit_us()
    );
    squid.stop();
}

fn durable_log(dir: &std::path::Path) -> Arc<AuditLog> {
    let origin = "bench.airlock/audit";
    let log = AuditLog::open(
        &dir.join("audit"),
        NoteSigner::generate(origin).unwrap(),
        origin,
    )
    .unwrap();
    Arc::new(log)
}

/// A keep-alive HTTP/1.1 server answering 13 bytes.
async fn serve_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"hello, world\n",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    port
}

async fn start_proxy(
    upstream: u16,
    decider: Arc<PolicyDecider>,
    sink: Arc<dyn AuditSink>,
) -> (u16, SandboxProxy) {
    let service = HttpService {
        name: "bench".into(),
        upstream: Upstream::parse(&format!("http://127.0.0.1:{upstream}")).unwrap(),
        inject_headers: vec![],
        upstream_ca_pem: None,
    };
    let td = TrustDomain::new("bench.airlock").unwrap();
    let ca = ProxyCa::generate("bench", td.clone(), Duration::from_secs(3600)).unwrap();
    let catalog = Arc::new(BenchCatalog(Arc::new(service), upstream));
    let server = ProxyServer::new(ProxyConfig::default(), ca, decider, catalog, sink).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, server.serve_tcp(bench_caller(), listener))
}

/// One keep-alive connection's latency.
#[derive(Debug)]
struct Latency {
    p50_us: f64,
    p99_us: f64,
}

/// The audit log's group commits over the durable throughput runs.
#[derive(Debug, Default)]
struct CommitStats {
    events: u64,
    commits: u64,
    micros: u64,
}

impl CommitStats {
    fn add(&mut self, before: &airlock_audit::LogStats, after: &airlock_audit::LogStats) {
        self.events += after.events - before.events;
        self.commits += after.commits - before.commits;
        self.micros += after.commit_micros - before.commit_micros;
    }

    fn per_commit(&self) -> f64 {
        self.events as f64 / self.commits.max(1) as f64
    }

    fn commit_us(&self) -> f64 {
        self.micros as f64 / self.commits.max(1) as f64
    }
}

fn latency(url: &str, proxy: Option<u16>, secs: u64) -> Latency {
    let out = wrk(url, proxy, secs, 1, 1);
    Latency {
        p50_us: percentile(&out, "50%"),
        p99_us: percentile(&out, "99%"),
    }
}

fn throughput(url: &str, proxy: Option<u16>, secs: u64, conns: u64) -> f64 {
    requests_per_sec(&wrk(url, proxy, secs, 2, conns))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match v.len() % 2 {
        0 => (v[mid - 1] + v[mid]) / 2.0,
        _ => v[mid],
    }
}

fn print_table(names: &[&str], latencies: &[Latency], rps: &[Vec<f64>], conns: u64) {
    println!(
        "| path | p50 latency, 1 connection | p99 | added p50 vs direct | req/s, {conns} connections (median) | each round |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let direct = latencies[0].p50_us;
    for ((name, lat), rounds) in names.iter().zip(latencies).zip(rps) {
        let each: Vec<String> = rounds.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:+.0} µs | {:.0} | {} |",
            lat.p50_us,
            lat.p99_us,
            lat.p50_us - direct,
            median(rounds),
            each.join(" / ")
        );
    }
}

/// Each round's ratio and their median.
fn print_ratios(what: &str, num: &[f64], den: &[f64]) {
    let ratios: Vec<f64> = num.iter().zip(den).map(|(n, d)| n / d).collect();
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "\n{what}, requests per second: median {:.2}× (rounds: {})",
        median(&ratios),
        each.join(" / ")
    );
}

/// Runs wrk; through a proxy, a Lua line makes every request absolute-form.
fn wrk(url: &str, proxy: Option<u16>, secs: u64, threads: u64, conns: u64) -> String {
    let duration = format!("{secs}s");
    let (t, c) = (threads.to_string(), conns.to_string());
    let mut args = vec!["--latency", "-t", &t, "-c", &c, "-d", &duration];
    let script;
    let target;
    match proxy {
        Some(port) => {
            script = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(script.path(), format!("wrk.path = \"{url}\"\n")).unwrap();
            target = format!("http://127.0.0.1:{port}/");
            args.extend(["-s", script.path().to_str().unwrap(), &target]);
        }
        None => args.push(url),
    }
    let out = Command::new("wrk")
        .args(&args)
        .output()
        .expect("wrk (scripts/setup.sh --test)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("Requests/sec") && !text.contains("Non-2xx"),
        "wrk {args:?}:\n{text}"
    );
    text
}

fn percentile(wrk: &str, which: &str) -> f64 {
    let line = wrk
        .lines()
        .find(|l| l.trim_start().starts_with(which))
        .expect("latency distribution");
    parse_duration_us(line.split_whitespace().nth(1).unwrap())
}

fn requests_per_sec(wrk: &str) -> f64 {
    let line = wrk
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// wrk prints `123.45us`, `1.23ms` or `1.00s`.
fn parse_duration_us(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap();
    match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        other => panic!("unknown wrk unit {other}"),
    }
}

/// squid on a loopback port, caching off, allowing localhost.
struct Squid {
    child: Child,
    port: u16,
}

impl Squid {
    fn start(dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sq = dir.join("squid");
        std::fs::create_dir_all(&sq).unwrap();
        // squid drops to user "proxy" and must still write its logs here.
        Command::new("chmod")
            .args(["777", dir.to_str().unwrap(), sq.to_str().unwrap()])
            .status()
            .unwrap();
        let conf = sq.join("squid.conf");
        let d = sq.display();
        std::fs::write(
            &conf,
            format!(
                "http_port 127.0.0.1:{port}\nhttp_access allow localhost\nhttp_access deny all\n\
                 cache deny all\ncache_mem 8 MB\naccess_log stdio:{d}/access.log\ncache_log {d}/cache.log\n\
                 pid_filename {d}/squid.pid\ncoredump_dir {d}\nshutdown_lifetime 0 seconds\n"
            ),
        )
        .unwrap();
        let child = Command::new("squid")
            .args(["-N", "-f", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("squid (scripts/setup.sh --test)");
        let mut squid = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return squid;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        squid.stop();
        panic!("squid did not start; see {d}/cache.log");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
