//! The index is exact: over random policy sets and random requests,
//! `decide` (which evaluates only the index's candidate buckets) agrees with
//! `explain` (which evaluates every policy), effect, reason and policy ids.

use std::collections::BTreeMap;

use airlock_core::{IsolationClass, RoleName, SandboxId, UserName};
use airlock_policy::{
    Context, Engine, PolicySet, Principal, Profile, Request, Resource, UserInfo, WorkloadInfo,
};

use crate::util::{egress, egress_ctx, http_ctx, http_service, llm, llm_ctx, sandbox};

/// xorshift64*: a fixed seed makes every run check the same cases, and a
/// failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const ACTIONS: &[&str] = &[
    "http.request",
    "inference.call",
    "egress.connect",
    "sandbox.exec",
    "sandbox.list",
    "audit.read",
    "mcp.call_tool",
];

/// Resource constraints that fit `action` (the loader refuses a policy
/// whose scope can never apply). Each names one of two entities, so some
/// match the request and some do not.
fn resource_constraint(rng: &mut Rng, action: &str) -> String {
    let n = rng.below(2);
    let named = match action {
        "http.request" => format!("== Airlock::HttpService::\"svc{n}\""),
        "inference.call" => format!("== Airlock::InferenceEndpoint::\"llm{n}\""),
        "egress.connect" => format!("== Airlock::Egress::\"host{n}:443\""),
        "sandbox.exec" => format!("== Airlock::Sandbox::\"sb-{n}\""),
        "mcp.call_tool" if rng.below(2) == 0 => format!("in Airlock::McpServer::\"s{n}\""),
        "mcp.call_tool" => format!("is Airlock::McpTool in Airlock::McpServer::\"s{n}\""),
        "audit.read" => "is Airlock::AuditLog".into(),
        _ => return "resource".into(),
    };
    match rng.below(3) {
        0 => "resource".into(),
        _ => format!("resource {named}"),
    }
}

/// An action constraint and a resource constraint that fits it.
fn action_and_resource(rng: &mut Rng) -> (String, String) {
    let a = |rng: &mut Rng| format!("Airlock::Action::\"{}\"", rng.pick(ACTIONS));
    let action = match rng.below(7) {
        0 => "action".into(),
        1..=3 => {
            let one = rng.pick(ACTIONS);
            let resource = resource_constraint(rng, one);
            return (format!("action == Airlock::Action::\"{one}\""), resource);
        }
        4 => format!("action in [{}, {}]", a(rng), a(rng)),
        5 => "action in Airlock::Action::\"sandbox.*\"".into(),
        _ => format!("action in [Airlock::Action::\"sandbox.*\", {}]", a(rng)),
    };
    (action, "resource".into())
}

fn user_principal(rng: &mut Rng) -> String {
    let (u, r) = (rng.below(6), rng.below(4));
    match rng.below(7) {
        0 => "principal".into(),
        1 | 2 => format!("principal == Airlock::User::\"u{u}\""),
        3 | 4 => format!("principal in Airlock::Role::\"r{r}\""),
        5 => "principal is Airlock::User".into(),
        _ => format!("principal is Airlock::User in Airlock::Role::\"r{r}\""),
    }
}

fn workload_principal(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => "principal".into(),
        1 => format!("principal == Airlock::Workload::\"sb-u{}\"", rng.below(6)),
        _ => "principal is Airlock::Workload".into(),
    }
}

/// Conditions valid for every action, some of which fail to evaluate.
fn condition(rng: &mut Rng, workload: bool) -> String {
    let t = rng.below(1600);
    match rng.below(8) {
        0..=2 => String::new(),
        3 => format!("when {{ context.time > {t} }}"),
        4 => format!("unless {{ context.time_of_day < {t} }}"),
        5 => "when { context.time * 9223372036854775807 == 1 }".into(),
        _ if workload => "when { principal.isolation == \"gvisor\" }".into(),
        6 => format!("when {{ principal.name == \"u{}\" }}", rng.below(6)),
        _ => format!(
            "when {{ principal.hasTag(\"team\") && principal.getTag(\"team\").contains(\"t{}\") }}",
            rng.below(3)
        ),
    }
}

fn policies(rng: &mut Rng, n: usize, workload: bool) -> String {
    (0..n)
        .map(|i| {
            let effect = if rng.below(10) < 7 {
                "permit"
            } else {
                "forbid"
            };
            let principal = if workload {
                workload_principal(rng)
            } else {
                user_principal(rng)
            };
            let (action, resource) = action_and_resource(rng);
            let cond = condition(rng, workload);
            format!("@id(\"p{i}\")\n{effect}({principal}, {action}, {resource}) {cond};\n")
        })
        .collect()
}

fn user_info(rng: &mut Rng) -> UserInfo {
    let name = UserName::new(format!("u{}", rng.below(6))).unwrap();
    let roles = (0..4)
        .filter(|_| rng.below(3) == 0)
        .map(|r| RoleName::new(format!("r{r}")).unwrap())
        .collect();
    let mut info = UserInfo::new(name, roles);
    if rng.below(2) == 0 {
        let team = vec![format!("t{}", rng.below(3))];
        info.traits = BTreeMap::from([("team".to_owned(), team)]);
    }
    info
}

fn request(rng: &mut Rng) -> Request {
    let user = user_info(rng);
    let principal = if rng.below(2) == 0 {
        Principal::User(user)
    } else {
        Principal::Workload(WorkloadInfo {
            sandbox: SandboxId::new(format!("sb-{}", user.name)).unwrap(),
            user,
            isolation: [IsolationClass::Gvisor, IsolationClass::Runc][rng.below(2)],
            image: "debian".into(),
            profile: [None, Some("p".to_owned()), Some("p".to_owned())][rng.below(3)].clone(),
        })
    };
    let time = [0, 1, 500, 1000, 1500][rng.below(5)];
    let owner = format!("u{}", rng.below(6));
    let n = rng.below(3);
    let (action, resource, ctx): (&str, Resource, Context) = match rng.below(ACTIONS.len()) {
        0 => (
            "http.request",
            http_service(&format!("svc{n}")),
            http_ctx("GET", "/"),
        ),
        1 => ("inference.call", llm(&format!("llm{n}")), llm_ctx("gpt-4o")),
        2 => {
            let host = format!("host{n}");
            ("egress.connect", egress(&host, 443), egress_ctx(&host, 443))
        }
        3 => (
            "sandbox.exec",
            sandbox(&format!("sb-{n}"), &owner),
            Context::default(),
        ),
        4 => ("sandbox.list", Resource::Cluster, Context::default()),
        5 => ("audit.read", Resource::AuditLog, Context::default()),
        _ => {
            let (server, tool) = (format!("s{n}"), format!("t{}", rng.below(2)));
            let ctx = Context::default()
                .with("server", server.as_str())
                .with("tool", tool.as_str());
            ("mcp.call_tool", Resource::McpTool { server, tool }, ctx)
        }
    };
    Request::new(principal, action, resource, ctx.with("time", time))
}

#[test]
fn indexed_decisions_equal_exhaustive_evaluation() {
    let (mut checked, mut allowed, mut decided_deny) = (0, 0, 0);
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n = 1 + rng.below(80);
        let text = policies(&mut rng, n, false);
        let set = PolicySet::load(&[("random.cedar", &text)])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let m = 1 + rng.below(10);
        let profile_text = policies(&mut rng, m, true);
        let profile = Profile::load("p", &[("p.cedar", &profile_text)])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{profile_text}"));
        let engine = Engine::new(set).with_profile(profile);
        for _ in 0..100 {
            let req = request(&mut rng);
            let fast = engine.decide(&req);
            let reference = engine.explain(&req).decision;
            assert_eq!(fast, reference, "seed {seed}, request {req:?}\n{text}");
            // Asked again, the engine answers from its memo: the same.
            assert_eq!(engine.decide(&req), reference, "seed {seed}, again");
            assert_eq!(engine.evaluate(&req), reference, "seed {seed}, evaluated");
            checked += 1;
            allowed += usize::from(fast.is_allowed());
            decided_deny += usize::from(!fast.is_allowed() && !fast.policies.is_empty());
        }
    }
    assert_eq!(checked, 4000);
    // The cases must exercise every outcome, not just default denies.
    assert!(allowed > 400, "only {allowed} allowed");
    assert!(
        decided_deny > 400,
        "only {decided_deny} denied by a forbid or an error"
    );
}
