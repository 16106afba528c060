//! Small builders so each test reads like the rule it pins.

use airlock_core::{Decision, Effect, IsolationClass, RoleName, SandboxId, UserName};
use airlock_policy::{
    Context, Engine, InferenceKind, PolicySet, Principal, Profile, Request, Resource, UserInfo,
    WorkloadInfo,
};

/// A fixed "now": the engine reads no clock.
pub const NOW: i64 = 1_700_000_000;

pub fn user_info(name: &str, roles: &[&str]) -> UserInfo {
    let roles = roles.iter().map(|r| RoleName::new(*r).unwrap()).collect();
    UserInfo::new(UserName::new(name).unwrap(), roles)
}

pub fn user(name: &str, roles: &[&str]) -> Principal {
    Principal::User(user_info(name, roles))
}

/// The workload of sandbox `sb-<user>` acting for `name`.
pub fn workload(name: &str, roles: &[&str], profile: Option<&str>) -> Principal {
    Principal::Workload(WorkloadInfo {
        user: user_info(name, roles),
        sandbox: SandboxId::new(format!("sb-{name}")).unwrap(),
        isolation: IsolationClass::Gvisor,
        image: "debian".into(),
        profile: profile.map(str::to_owned),
    })
}

pub fn sandbox(id: &str, owner: &str) -> Resource {
    Resource::Sandbox {
        id: SandboxId::new(id).unwrap(),
        owner: UserName::new(owner).unwrap(),
        isolation: IsolationClass::Gvisor,
        image: "debian".into(),
    }
}

pub fn http_service(name: &str) -> Resource {
    Resource::HttpService {
        name: name.into(),
        host: format!("{name}.example.com"),
    }
}

pub fn llm(name: &str) -> Resource {
    Resource::Inference {
        name: name.into(),
        kind: InferenceKind::OpenAi,
    }
}

pub fn egress(host: &str, port: u16) -> Resource {
    Resource::Egress {
        host: host.into(),
        port,
    }
}

pub fn http_ctx(method: &str, path: &str) -> Context {
    Context::at(NOW)
        .with("method", method)
        .with("path", path)
        .with("host", "api.example.com")
        .with("port", 443)
}

pub fn llm_ctx(model: &str) -> Context {
    Context::at(NOW)
        .with("method", "POST")
        .with("path", "/v1/chat/completions")
        .with("model", model)
}

pub fn egress_ctx(host: &str, port: u16) -> Context {
    Context::at(NOW).with("host", host).with("port", port)
}

/// `GET <path>` on HttpService `name` by `principal`.
pub fn get(principal: Principal, name: &str, path: &str) -> Request {
    Request::new(
        principal,
        "http.request",
        http_service(name),
        http_ctx("GET", path),
    )
}

pub fn post(principal: Principal, name: &str, path: &str) -> Request {
    Request::new(
        principal,
        "http.request",
        http_service(name),
        http_ctx("POST", path),
    )
}

/// A policy set from one file named `test.cedar`; panics with the
/// diagnostics if it does not load.
pub fn set(text: &str) -> PolicySet {
    PolicySet::load(&[("test.cedar", text)]).unwrap_or_else(|e| panic!("{e}"))
}

pub fn engine(text: &str) -> Engine {
    Engine::new(set(text))
}

pub fn profile(name: &str, text: &str) -> Profile {
    Profile::load(name, &[("profile.cedar", text)]).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts the effect and returns the decision for further checks.
#[track_caller]
pub fn expect(engine: &Engine, req: &Request, effect: Effect) -> Decision {
    let d = engine.decide(req);
    assert_eq!(d.effect, effect, "{}: {d:?}", req.summary());
    d
}

#[track_caller]
pub fn allowed(engine: &Engine, req: &Request) -> Decision {
    expect(engine, req, Effect::Allow)
}

#[track_caller]
pub fn denied(engine: &Engine, req: &Request) -> Decision {
    expect(engine, req, Effect::Deny)
}
