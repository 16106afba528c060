//! Decision latency with 1,000 realistic policies, and load time.
//!
//! Run: `cargo bench -p airlock-policy --bench decide` (add `-- --quick` for
//! a short run). Prints p50/p99/max per request kind, for `decide` (indexed;
//! evaluated by Cedar, and repeated from the engine's memo) and, for
//! comparison, `explain` (every policy evaluated). Results are kept
//! in crates/policy/BENCH_RESULTS.md.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use airlock_core::{IsolationClass, RoleName, SandboxId, UserName};
use airlock_policy::{
    Context, Engine, InferenceKind, PolicySet, Principal, Profile, Request, Resource, UserInfo,
    WorkloadInfo,
};

const USERS: usize = 125;
const TEAMS: usize = 20;
const NOW: i64 = 1_700_000_000;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 2_000 } else { 20_000 };
    // For profiling: skip the (slow) explain measurements.
    let decide_only = std::env::args().any(|a| a == "--decide-only");
    let text = policy_text();
    let (set, load) = time_load(&text);
    println!("policies: {} ({} bytes of Cedar)", set.len(), text.len());
    println!("load + validate + index: {load:?}");
    let profile = Profile::load("read-only", &[("read-only.cedar", READ_ONLY)]).unwrap();
    let engine = Engine::new(set).with_profile(profile);
    check_equivalence(&engine);
    let empty = Engine::new(PolicySet::empty());
    let reqs: Vec<Request> = (0..512).map(|i| request(i, false)).collect();
    report(
        "decide  user, empty set (fixed cost)",
        &measure(rounds, &reqs, |r| empty.evaluate(r)),
    );
    for (label, workload) in [("user", false), ("workload", true)] {
        let reqs: Vec<Request> = (0..512).map(|i| request(i, workload)).collect();
        let allowed = reqs
            .iter()
            .filter(|r| engine.decide(r).is_allowed())
            .count();
        println!("{label}: {allowed}/{} sample requests allowed", reqs.len());
        // Every request evaluated by Cedar, as one the engine has not
        // decided before; then the same requests again, from its memo.
        report(
            &format!("decide  {label}"),
            &measure(rounds, &reqs, |r| engine.evaluate(r)),
        );
        report(
            &format!("decide  {label}, repeated request (memo)"),
            &measure(rounds, &reqs, |r| engine.decide(r)),
        );
        if !workload {
            // Requests that never repeat: the memo's miss costs a hash on
            // top of evaluating (a decision is kept only for a request
            // that comes twice).
            let fresh: Vec<Request> = (0..rounds).map(|i| request(i + 512, false)).collect();
            report(
                "evaluate user, never-repeated requests",
                &measure(rounds, &fresh, |r| engine.evaluate(r)),
            );
            let fresh: Vec<Request> = (0..rounds)
                .map(|i| request(i + 512 + rounds, false))
                .collect();
            report(
                "decide  user, never-repeated requests (memo misses)",
                &measure(rounds, &fresh, |r| engine.decide(r)),
            );
            // The engine memoizes each (principal, resource, action)'s
            // entities, and whole decisions; a distinct trait per request
            // defeats both, which is the cost of the first request of each
            // pair.
            let cold: Vec<Request> = (0..8192).map(|i| unique(request(i, false), i)).collect();
            report(
                "decide  user, entities built (first request of a principal and resource)",
                &measure(rounds, &cold, |r| engine.decide(r)),
            );
        }
        if decide_only {
            continue;
        }
        let slow_rounds = rounds / 20;
        report(
            &format!("explain {label}"),
            &measure(slow_rounds, &reqs, |r| engine.explain(r)),
        );
    }
}

/// `req` with a trait no other request has: its own memo key.
fn unique(mut req: Request, i: usize) -> Request {
    if let Principal::User(u) = &mut req.principal {
        u.traits.insert("nonce".into(), vec![i.to_string()]);
    }
    req
}

/// The index must not change a single decision (the property test checks
/// random sets; this checks the benchmark's).
fn check_equivalence(engine: &Engine) {
    for i in 0..2_000 {
        let req = request(i, i % 2 == 0);
        assert_eq!(
            engine.decide(&req),
            engine.explain(&req).decision,
            "{req:?}"
        );
    }
}

fn time_load(text: &str) -> (PolicySet, Duration) {
    let mut best = Duration::MAX;
    let mut set = None;
    for _ in 0..3 {
        let t = Instant::now();
        let s = PolicySet::load(&[("bench.cedar", text)]).unwrap_or_else(|e| panic!("{e}"));
        best = best.min(t.elapsed());
        set = Some(s);
    }
    (set.unwrap(), best)
}

fn measure<T>(rounds: usize, reqs: &[Request], f: impl Fn(&Request) -> T) -> Vec<Duration> {
    // Twice: the engine keeps a decision from its request's second sighting.
    for _ in 0..2 {
        for r in reqs {
            black_box(f(r));
        }
    }
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let req = &reqs[i % reqs.len()];
        let t = Instant::now();
        black_box(f(black_box(req)));
        times.push(t.elapsed());
    }
    times.sort_unstable();
    times
}

fn report(label: &str, sorted: &[Duration]) {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    println!(
        "{label}: n={} p50={:.1}µs p99={:.1}µs max={:.1}µs",
        sorted.len(),
        micros(at(0.50)),
        micros(at(0.99)),
        micros(*sorted.last().unwrap())
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

// ------------------------------------------------------------------ policies

const READ_ONLY: &str = r#"
@id("read-only-http")
permit(principal, action == Airlock::Action::"http.request", resource)
when { context.method == "GET" || context.method == "HEAD" };
@id("read-only-inference")
permit(principal, action == Airlock::Action::"inference.call", resource);
@id("read-only-sandbox")
permit(principal, action in Airlock::Action::"sandbox.*", resource);
"#;

/// About 1,000 policies the way a real cluster would grow them: per-user
/// grants (HTTP paths, models, egress hosts, forbids), per-team grants and
/// forbids, and a few cluster-wide rules.
fn policy_text() -> String {
    let mut out = String::from(crate_wide());
    for u in 0..USERS {
        out.push_str(&user_policies(u));
    }
    for t in 0..TEAMS {
        out.push_str(&team_policies(t));
    }
    out
}

fn crate_wide() -> &'static str {
    r#"
@id("admin-control-plane")
permit(principal in Airlock::Role::"admin", action in [Airlock::Action::"admin.*", Airlock::Action::"sandbox.*", Airlock::Action::"audit.*"], resource);
@id("developer-own-sandboxes")
permit(principal in Airlock::Role::"developer", action in Airlock::Action::"sandbox.*", resource is Airlock::Sandbox)
when { resource.owner == principal };
@id("no-metadata")
forbid(principal, action == Airlock::Action::"egress.connect", resource)
when { resource.host == "169.254.169.254" || resource.host like "*.internal" };
@id("no-runc-inference")
forbid(principal, action == Airlock::Action::"inference.call", resource)
when { context.model like "*-preview" };
"#
}

fn user_policies(u: usize) -> String {
    let (svc, llm) = (u % 40, u % 8);
    format!(
        r#"
@id("u{u}-svc-get")
permit(principal == Airlock::User::"u{u}", action == Airlock::Action::"http.request", resource == Airlock::HttpService::"svc{svc}")
when {{ context.method == "GET" && context.path like "/api/u{u}/*" }};
@id("u{u}-svc-write")
permit(principal == Airlock::User::"u{u}", action == Airlock::Action::"http.request", resource == Airlock::HttpService::"svc{svc}")
when {{ ["POST", "PUT"].contains(context.method) && context.path like "/api/u{u}/drafts/*" }};
@id("u{u}-models")
permit(principal == Airlock::User::"u{u}", action == Airlock::Action::"inference.call", resource == Airlock::InferenceEndpoint::"llm{llm}")
when {{ ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"].contains(context.model) }};
@id("u{u}-egress")
permit(principal == Airlock::User::"u{u}", action == Airlock::Action::"egress.connect", resource)
when {{ resource.host == "repo{u}.example.com" && resource.port == 443 }};
@id("u{u}-no-admin-path")
forbid(principal == Airlock::User::"u{u}", action == Airlock::Action::"http.request", resource)
when {{ context.path like "*/admin/*" }};
@id("u{u}-budget-hours")
forbid(principal == Airlock::User::"u{u}", action == Airlock::Action::"inference.call", resource)
when {{ context.time_of_day < {h} * 3600 }};
"#,
        h = u % 3
    )
}

fn team_policies(t: usize) -> String {
    let mut out = String::new();
    for k in 0..5 {
        let svc = (t * 2 + k) % 40;
        out.push_str(&format!(
            r#"
@id("team{t}-svc{svc}-read")
permit(principal in Airlock::Role::"team{t}", action == Airlock::Action::"http.request", resource == Airlock::HttpService::"svc{svc}")
when {{ context.method == "GET" && context.path like "/api/shared/*" }};
@id("team{t}-egress{k}")
permit(principal in Airlock::Role::"team{t}", action == Airlock::Action::"egress.connect", resource == Airlock::Egress::"mirror{k}.team{t}.example.com:443");
"#
        ));
    }
    out.push_str(&format!(
        r#"
@id("team{t}-llm")
permit(principal in Airlock::Role::"team{t}", action == Airlock::Action::"inference.call", resource)
when {{ resource.kind == "openai" && context.model like "gpt-4o*" }};
@id("team{t}-no-delete")
forbid(principal in Airlock::Role::"team{t}", action == Airlock::Action::"http.request", resource)
when {{ context.method == "DELETE" }};
@id("team{t}-no-pastebin")
forbid(principal in Airlock::Role::"team{t}", action == Airlock::Action::"egress.connect", resource)
when {{ resource.host like "*paste*" }};
"#
    ));
    out
}

// ------------------------------------------------------------------ requests

fn user_info(i: usize) -> UserInfo {
    let u = i % USERS;
    let roles = [
        "developer".to_owned(),
        format!("team{}", u % TEAMS),
        format!("team{}", (u + 7) % TEAMS),
    ];
    let roles = roles
        .iter()
        .map(|r| RoleName::new(r.as_str()).unwrap())
        .collect();
    UserInfo::new(UserName::new(format!("u{u}")).unwrap(), roles)
}

fn principal(i: usize, workload: bool) -> Principal {
    let user = user_info(i);
    if !workload {
        return Principal::User(user);
    }
    Principal::Workload(WorkloadInfo {
        sandbox: SandboxId::new(format!("sb-{}", user.name)).unwrap(),
        user,
        isolation: IsolationClass::Gvisor,
        image: "debian".into(),
        profile: Some("read-only".into()),
    })
}

/// A mix of the proxy's traffic: HTTP (mostly), inference, egress, and the
/// control plane's sandbox checks; some allowed, some denied.
fn request(i: usize, workload: bool) -> Request {
    let u = i % USERS;
    let p = principal(i, workload);
    let at = Context::at(NOW + (i as i64) * 37);
    match i % 8 {
        0..=3 => {
            let method = ["GET", "POST", "GET", "DELETE"][(i / 8) % 4];
            let path = [
                format!("/api/u{u}/items"),
                "/api/shared/x".into(),
                format!("/api/u{u}/drafts/1"),
            ][(i / 3) % 3]
                .clone();
            let res = Resource::HttpService {
                name: format!("svc{}", (u + i / 8) % 40),
                host: "svc.example.com".into(),
            };
            let ctx = at
                .with("method", method)
                .with("path", path)
                .with("host", "svc.example.com")
                .with("port", 443);
            Request::new(p, "http.request", res, ctx)
        }
        4 | 5 => {
            let model = ["gpt-4o", "gpt-4o-mini", "o1", "claude-sonnet-4"][(i / 8) % 4];
            let res = Resource::Inference {
                name: format!("llm{}", u % 8),
                kind: InferenceKind::OpenAi,
            };
            let ctx = at
                .with("method", "POST")
                .with("path", "/v1/chat/completions")
                .with("model", model);
            Request::new(p, "inference.call", res, ctx)
        }
        6 => {
            let host = [
                format!("repo{u}.example.com"),
                "pastebin.com".into(),
                "mirror1.team3.example.com".into(),
            ][(i / 8) % 3]
                .clone();
            let ctx = at.with("host", host.as_str()).with("port", 443);
            Request::new(
                p,
                "egress.connect",
                Resource::Egress { host, port: 443 },
                ctx,
            )
        }
        _ => {
            let res = Resource::Sandbox {
                id: SandboxId::new(format!("sb-r{}", i % 1000)).unwrap(),
                owner: UserName::new(format!(
                    "u{}",
                    if i.is_multiple_of(3) {
                        (u + 1) % USERS
                    } else {
                        u
                    }
                ))
                .unwrap(),
                isolation: IsolationClass::Gvisor,
                image: "debian".into(),
            };
            Request::new(p, "sandbox.exec", res, at.with("command", "bash"))
        }
    }
}
