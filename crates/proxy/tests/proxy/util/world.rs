//! A whole test world: upstreams, the proxy serving one sandbox on its unix
//! socket, a TCP bridge standing in for the sandbox's 127.0.0.1:3128 relay,
//! a rule-based Decider, a mutable Catalog and an in-memory audit sink that
//! checks every event against the audit schema.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use airlock_core::{Decision, IsolationClass, SandboxId, SpiffeId, TrustDomain, UserName};
use airlock_proxy::http::HeaderName;
use airlock_proxy::{
    AuditSink, Budgets, Caller, Catalog, Decider, HttpService, InferenceEndpoint, InferenceKind,
    ProxyCa, ProxyConfig, ProxyEvent, ProxyRequest, ProxyServer, RecordFuture, SandboxProxy,
    Secret, SinkError, Upstream,
};
use tempfile::TempDir;
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::Notify;

use super::upstream::{self, TestCa};

pub const OPENAI_KEY: &str = "sk-real-openai-key-0123456789";
pub const ANTHROPIC_KEY: &str = "sk-ant-real-key-9876543210";
pub const API_TOKEN: &str = "Bearer real-api-token-abcdef";

/// A rule of the test Decider.
type Matcher = Box<dyn Fn(&ProxyRequest) -> bool + Send + Sync>;

/// permit/forbid rules with ids; forbid wins; default deny; a lock flag
/// that refuses everything (as the control plane's lock table would).
pub struct TestDecider {
    rules: RwLock<Vec<(String, bool, Matcher)>>,
    pub locked: AtomicBool,
    pub calls: std::sync::atomic::AtomicUsize,
    record_bodies: RwLock<Option<usize>>,
}

impl TestDecider {
    fn new() -> Self {
        Self {
            rules: RwLock::new(Vec::new()),
            locked: AtomicBool::new(false),
            calls: Default::default(),
            record_bodies: RwLock::new(None),
        }
    }

    /// Every allow from now on asks for bodies capped at `cap`, as a permit
    /// annotated `@record_bodies` does.
    pub fn record_bodies(&self, cap: Option<usize>) {
        *self.record_bodies.write().unwrap() = cap;
    }

    pub fn permit(&self, id: &str, m: impl Fn(&ProxyRequest) -> bool + Send + Sync + 'static) {
        self.rules
            .write()
            .unwrap()
            .push((id.into(), true, Box::new(m)));
    }

    pub fn forbid(&self, id: &str, m: impl Fn(&ProxyRequest) -> bool + Send + Sync + 'static) {
        self.rules
            .write()
            .unwrap()
            .push((id.into(), false, Box::new(m)));
    }
}

impl Decider for TestDecider {
    fn decide(&self, caller: &Caller, req: &ProxyRequest) -> Decision {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.locked.load(Ordering::SeqCst) {
            return Decision::deny(
                format!("user {} is locked", caller.user),
                vec!["lock:user:alice".into()],
            );
        }
        let rules = self.rules.read().unwrap();
        let hits = |effect: bool| -> Vec<String> {
            rules
                .iter()
                .filter(|(_, e, m)| *e == effect && m(req))
                .map(|(id, _, _)| id.clone())
                .collect()
        };
        let forbids = hits(false);
        if !forbids.is_empty() {
            return Decision::deny("forbidden by policy", forbids);
        }
        let permits = hits(true);
        if permits.is_empty() {
            return Decision::deny("no policy permits this", vec![]);
        }
        let mut d = Decision::allow("permitted", permits);
        d.record_bodies = *self.record_bodies.read().unwrap();
        d
    }
}

/// Services and endpoints, changeable while the proxy runs.
#[derive(Default)]
pub struct TestCatalog {
    pub services: RwLock<HashMap<(String, u16), Arc<HttpService>>>,
    pub inference: RwLock<HashMap<String, Arc<InferenceEndpoint>>>,
}

impl TestCatalog {
    pub fn add_service(&self, host: &str, port: u16, s: HttpService) {
        self.services
            .write()
            .unwrap()
            .insert((host.into(), port), Arc::new(s));
    }

    pub fn add_inference(&self, e: InferenceEndpoint) {
        self.inference
            .write()
            .unwrap()
            .insert(e.name.clone(), Arc::new(e));
    }
}

impl Catalog for TestCatalog {
    fn http_service_for(&self, host: &str, port: u16) -> Option<Arc<HttpService>> {
        self.services
            .read()
            .unwrap()
            .get(&(host.to_owned(), port))
            .cloned()
    }

    fn inference_named(&self, name: &str) -> Option<Arc<InferenceEndpoint>> {
        self.inference.read().unwrap().get(name).cloned()
    }
}

/// Keeps events in memory; each is mapped to the audit crate's event and
/// validated, so every test also checks the mapping. Can be told to fail.
#[derive(Default)]
pub struct MemorySink {
    pub events: Mutex<Vec<ProxyEvent>>,
    pub invalid: Mutex<Vec<String>>,
    pub fail: AtomicBool,
    pub delay: Mutex<Duration>,
}

impl AuditSink for MemorySink {
    fn record(&self, event: ProxyEvent) -> RecordFuture {
        if let Err(e) = event.to_audit_event().validate() {
            self.invalid.lock().unwrap().push(format!("{e}: {event:?}"));
        }
        let fail = self.fail.load(Ordering::SeqCst);
        if !fail {
            self.events.lock().unwrap().push(event);
        }
        let delay = *self.delay.lock().unwrap();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if fail {
                Err(SinkError("disk on fire".into()))
            } else {
                Ok(())
            }
        })
    }
}

/// Everything a test needs.
pub struct World {
    pub dir: TempDir,
    pub port: u16,
    pub ca_file: PathBuf,
    pub upstream_ca: TestCa,
    pub api_port: u16,
    pub llm_port: u16,
    pub decider: Arc<TestDecider>,
    pub catalog: Arc<TestCatalog>,
    pub sink: Arc<MemorySink>,
    pub release: Arc<Notify>,
    _sandbox: SandboxProxy,
}

pub fn caller() -> Caller {
    let td = TrustDomain::new("airlock.test").unwrap();
    let sandbox = SandboxId::new("sb-0102030405060708").unwrap();
    Caller {
        workload: SpiffeId::workload(&td, &sandbox),
        sandbox,
        user: UserName::new("alice").unwrap(),
        isolation: IsolationClass::Runc,
        profile: Some("coding".into()),
    }
}

impl World {
    pub async fn start() -> World {
        Self::start_with(Arc::new(MemorySink::default()), ProxyConfig::default()).await
    }

    pub async fn start_with(sink: Arc<MemorySink>, config: ProxyConfig) -> World {
        let dir = tempfile::tempdir().unwrap();
        let upstream_ca = TestCa::new();
        let release = Arc::new(Notify::new());
        let api_port = upstream::serve_https(&upstream_ca, upstream::echo_handler()).await;
        let llm_port =
            upstream::serve_https(&upstream_ca, upstream::llm_handler(release.clone())).await;
        let bridge = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = bridge.local_addr().unwrap().port();
        let catalog = Arc::new(TestCatalog::default());
        let decider = Arc::new(TestDecider::new());
        let proxy_ca = ProxyCa::generate(
            "test",
            TrustDomain::new("airlock.test").unwrap(),
            Duration::from_secs(86400),
        )
        .unwrap();
        let config = ProxyConfig {
            self_authorities: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            connect_timeout: Duration::from_secs(5),
            ..config
        };
        let server = ProxyServer::new(
            config,
            proxy_ca,
            decider.clone(),
            catalog.clone(),
            sink.clone(),
        )
        .unwrap();
        let ca_file = dir.path().join("proxy-ca.pem");
        std::fs::write(&ca_file, server.ca_cert_pem()).unwrap();
        let sock_dir = dir.path().join("sb/sb-0102030405060708/host");
        std::fs::create_dir_all(&sock_dir).unwrap();
        let sock = sock_dir.join("proxy.sock");
        let sandbox = server.serve_sandbox(caller(), UnixListener::bind(&sock).unwrap());
        tokio::spawn(bridge_to_unix(bridge, sock));
        let world = World {
            dir,
            port,
            ca_file,
            upstream_ca,
            api_port,
            llm_port,
            decider,
            catalog,
            sink,
            release,
            _sandbox: sandbox,
        };
        world.register_defaults();
        world
    }

    fn register_defaults(&self) {
        let api = self.api_service("api");
        for port in [443, 80] {
            self.catalog.add_service("api.test", port, api.clone());
        }
        self.catalog
            .add_service("other.test", 443, self.api_service("other"));
        self.catalog.add_inference(self.endpoint(
            "openai",
            InferenceKind::Openai,
            Budgets::default(),
        ));
        self.catalog.add_inference(self.endpoint(
            "anthropic",
            InferenceKind::Anthropic,
            Budgets::default(),
        ));
        let d = &self.decider;
        d.permit("allow-api-reads", |r| matches!(r, ProxyRequest::Http { service: Some(s), method, .. } if s == "api" && (method == "GET" || method == "HEAD")));
        d.forbid("forbid-api-admin", |r| matches!(r, ProxyRequest::Http { service: Some(s), path, .. } if s == "api" && path.starts_with("/admin")));
        d.permit(
            "allow-other",
            |r| matches!(r, ProxyRequest::Http { service: Some(s), .. } if s == "other"),
        );
        d.permit("allow-inference", |r| {
            matches!(r, ProxyRequest::Inference { .. })
        });
        d.permit("allow-egress-internal-names", |r| matches!(r, ProxyRequest::Egress { host, .. } if host == "localhost" || host == "127.0.0.1"));
    }

    pub fn api_service(&self, name: &str) -> HttpService {
        HttpService {
            name: name.into(),
            upstream: Upstream::parse(&format!("https://localhost:{}", self.api_port)).unwrap(),
            inject_headers: vec![(
                HeaderName::from_static("authorization"),
                Secret::new(API_TOKEN),
            )],
            upstream_ca_pem: Some(self.upstream_ca.cert_pem()),
        }
    }

    pub fn endpoint(&self, name: &str, kind: InferenceKind, budgets: Budgets) -> InferenceEndpoint {
        let (base, key, models) = match kind {
            InferenceKind::Openai => (
                "/v1",
                OPENAI_KEY,
                vec!["gpt-4o*".to_owned(), "text-embedding-*".to_owned()],
            ),
            InferenceKind::Anthropic => ("", ANTHROPIC_KEY, vec!["claude-*".to_owned()]),
        };
        InferenceEndpoint {
            name: name.into(),
            kind,
            upstream: Upstream::parse(&format!("https://localhost:{}{base}", self.llm_port))
                .unwrap(),
            api_key: Secret::new(key),
            models,
            budgets,
            log_bodies: None,
            upstream_ca_pem: Some(self.upstream_ca.cert_pem()),
        }
    }

    /// `http://127.0.0.1:<port>`, the sandbox's HTTP_PROXY.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until at least `n` events are recorded, then returns them all.
    pub async fn events(&self, n: usize) -> Vec<ProxyEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.sink.events.lock().unwrap().clone();
            if events.len() >= n || Instant::now() > deadline {
                let invalid = self.sink.invalid.lock().unwrap();
                assert!(
                    invalid.is_empty(),
                    "events the audit log would refuse: {invalid:#?}"
                );
                assert!(events.len() >= n, "expected {n} events, got {events:#?}");
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last event, once `n` exist.
    pub async fn last_event(&self, n: usize) -> ProxyEvent {
        self.events(n).await.pop().unwrap()
    }
}

/// What the sandbox's init does: relay each TCP connection on 127.0.0.1 to
/// the sandbox's unix socket.
async fn bridge_to_unix(listener: TcpListener, sock: PathBuf) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let sock = sock.clone();
        tokio::spawn(async move {
            tcp.set_nodelay(true).ok();
            if let Ok(mut unix) = UnixStream::connect(&sock).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            }
        });
    }
}
