//! `airlock server start`: load the data directory and serve the API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use airlock_ca::{CertificateAuthority, JwtSigner, KeyPair};
use airlock_core::{Claims, TrustDomain};
use airlock_store::{SqliteStore, Store};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::audit::Auditor;
use crate::auth::ConnInfo;
use crate::config::{Config, ConfigError};
use crate::datadir::DataDir;
use crate::locks::LockCache;
use crate::ratelimit::FailureLimiter;
use crate::state::{AppState, LoginLimiters, SharedState};

/// Lifetime of the API's own TLS certificate; it is renewed at half-life.
const SERVER_CERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The directory was never initialized.
    #[error("{0} is not an Airlock data directory; run `airlock server init --data-dir {0}` first")]
    NotInitialized(String),
    /// The config file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file in the data directory is unreadable or corrupt.
    #[error("cannot load {what}: {detail}")]
    Load {
        /// Which file.
        what: String,
        /// Why.
        detail: String,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

fn load_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> ServerError {
    ServerError::Load {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

fn read(path: &std::path::Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(|e| load_err(path.display(), e))
}

/// A loaded, ready-to-serve server.
#[derive(Debug)]
pub struct Server {
    state: SharedState,
    listener: TcpListener,
    certs: Arc<ServerCertResolver>,
}

impl Server {
    /// Loads `dir` and binds the listen address (`listen` overrides the config).
    pub async fn load(dir: &DataDir, listen: Option<SocketAddr>) -> Result<Self, ServerError> {
        if !dir.is_initialized() {
            return Err(ServerError::NotInitialized(
                dir.root().display().to_string(),
            ));
        }
        let mut config = Config::load(&dir.config_file())?;
        if let Some(addr) = listen {
            config.listen = addr;
        }
        let store = SqliteStore::open(&dir.state_db()).map_err(|e| load_err("state.db", e))?;
        let meta = |k: &str| -> Result<String, ServerError> {
            store
                .meta(k)
                .map_err(|e| load_err("state.db", e))?
                .ok_or_else(|| load_err("state.db", format!("missing {k}")))
        };
        let cluster_name = meta("cluster_name")?;
        let trust_domain =
            TrustDomain::new(meta("trust_domain")?).map_err(|e| load_err("state.db", e))?;
        let ca = CertificateAuthority::from_pem(&read(&dir.ca_cert())?, &read(&dir.ca_key())?)
            .map_err(|e| load_err("the CA", e))?;
        let jwt_key =
            KeyPair::from_pkcs8_pem(&read(&dir.jwt_key())?).map_err(|e| load_err("jwt.key", e))?;
        let jwt = JwtSigner::new(jwt_key).map_err(|e| load_err("jwt.key", e))?;
        let origin = crate::audit::origin_for(trust_domain.as_str());
        let audit = Auditor::open(dir, &origin).map_err(|e| load_err("the audit log", e))?;

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let bound = listener.local_addr().map_err(|e| load_err("listener", e))?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| default_public_url(bound));
        let window = config.login.window()?;
        let locks = LockCache::default();
        locks.refresh(&store).map_err(|e| load_err("locks", e))?;
        let policy = Arc::new(
            crate::policy::PolicyState::load(&store).map_err(|e| load_err("the policy set", e))?,
        );
        let secrets = crate::secrets::SecretBox::load_or_create(&dir.secrets_key())
            .map_err(|e| load_err("secrets.key", e))?;
        let proxy_ca = crate::egress::load_or_create_ca(
            &dir.proxy_ca_cert(),
            &dir.proxy_ca_key(),
            &cluster_name,
            &trust_domain,
        )
        .map_err(|e| load_err("the proxy CA", e))?;

        let ca = Arc::new(ca);
        let jwt = Arc::new(jwt);
        let store: Arc<dyn Store> = Arc::new(airlock_store::CachedStore::new(store));
        let catalog = Arc::new(crate::egress::catalog::LiveCatalog::default());
        let proxy = airlock_proxy::ProxyServer::new(
            airlock_proxy::ProxyConfig::default(),
            proxy_ca,
            Arc::new(crate::egress::decider::PolicyDecider {
                store: Arc::clone(&store),
                locks: locks.clone(),
                policy: Arc::clone(&policy),
            }),
            Arc::clone(&catalog) as _,
            Arc::new(airlock_proxy::AuditLogSink::new(Arc::new(
                audit.log().clone(),
            ))),
        )
        .map_err(|e| load_err("the access proxy", e))?;
        let restored = crate::egress::budgets::restore(&proxy, audit.log())
            .map_err(|e| load_err("today's inference usage in the audit log", e))?;
        tracing::info!(
            calls = restored,
            "daily token budgets restored from the audit log"
        );
        let sandboxes = crate::sandboxes::Sandboxes::new(
            node_config(dir, &config, ca.fingerprint()),
            proxy,
            crate::sandboxes::issuer::CaIssuer {
                ca: Arc::clone(&ca),
                jwt: Arc::clone(&jwt),
                store: Arc::clone(&store),
                locks: locks.clone(),
                audit: audit.log().clone(),
                trust_domain: trust_domain.clone(),
                issuer_url: public_url.clone(),
            },
        );
        let certs = Arc::new(ServerCertResolver::new(
            Arc::clone(&ca),
            server_names(&config, bound),
        )?);
        let state = Arc::new(AppState {
            store,
            ca,
            jwt,
            locks,
            login_limits: Mutex::new(LoginLimiters {
                per_user: FailureLimiter::new(config.login.max_failures_per_user, window),
                per_source: FailureLimiter::new(config.login.max_failures_per_source, window),
            }),
            audit,
            public_url,
            trust_domain,
            cluster_name,
            config,
            started: Instant::now(),
            data_dir: dir.clone(),
            sandboxes,
            policy,
            secrets,
            catalog,
        });
        state
            .refresh_catalog()
            .await
            .map_err(|e| load_err("registered resources", e))?;
        Ok(Self {
            state,
            listener,
            certs,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.listen)
    }

    /// The URL clients should use.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The CA fingerprint clients pin.
    pub fn ca_fingerprint(&self) -> &str {
        self.state.ca.fingerprint()
    }

    /// Serves until `shutdown` resolves, then stops accepting and flushes
    /// the audit log.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let tls = crate::tls::server_config_with_resolver(Arc::clone(&self.certs) as _);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let app = crate::api::router(Arc::clone(&self.state));
        spawn_background(&self.state, &self.certs);
        tokio::spawn(crate::sandboxes::reaper::run(Arc::clone(&self.state)));
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                a = self.listener.accept() => a,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_connection(acceptor.clone(), app.clone(), tcp, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        tracing::info!("shutting down");
        if let Some(node) = self.state.sandboxes.started_node() {
            match node.release_if_empty().await {
                Ok(true) => tracing::info!("no sandbox left: the node's run directory is removed"),
                Ok(false) => tracing::info!("sandboxes keep running without the server"),
                Err(e) => tracing::warn!(error = %e, "could not remove the node's run directory"),
            }
        }
        self.state.audit.shutdown().await;
    }
}

/// Where the node keeps its state and runtime files.
fn node_config(
    dir: &DataDir,
    config: &Config,
    ca_fingerprint: &str,
) -> airlock_sandbox::NodeConfig {
    let run_dir = config.sandbox.run_dir.clone().unwrap_or_else(|| {
        std::path::PathBuf::from("/run/airlock")
            .join(&ca_fingerprint[..8.min(ca_fingerprint.len())])
    });
    airlock_sandbox::NodeConfig {
        state_dir: dir.node_dir(),
        run_dir,
        init_binary: crate::sandboxes::find_init_binary(config.sandbox.init_binary.as_deref()),
        runtime_dir: None,
    }
}

fn default_public_url(bound: SocketAddr) -> String {
    let host = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("https://{host}:{}", bound.port())
}

/// DNS names and IPs the server certificate covers.
fn server_names(config: &Config, bound: SocketAddr) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = vec!["localhost".to_owned()];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && !dns.iter().any(|d| d == h) {
            dns.push(h.to_owned());
        }
    }
    dns.extend(config.dns_names.iter().cloned());
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    if !bound.ip().is_unspecified() && !ips.contains(&bound.ip()) {
        ips.push(bound.ip());
    }
    (dns, ips)
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let client_cert: Option<CertificateDer<'static>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    let info = ConnInfo { peer, client_cert };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(info.clone());
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn spawn_background(state: &SharedState, certs: &Arc<ServerCertResolver>) {
    let locks_state = Arc::clone(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if let Err(e) = locks_state.refresh_locks().await {
                tracing::warn!(error = %e, "lock refresh failed");
            }
        }
    });
    let certs = Arc::clone(certs);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SERVER_CERT_TTL / 2);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = certs.renew() {
                tracing::error!(error = %e, "server certificate renewal failed");
            }
        }
    });
}

/// Serves the API's TLS certificate, renewing it without a restart.
#[derive(Debug)]
pub struct ServerCertResolver {
    ca: Arc<CertificateAuthority>,
    names: (Vec<String>, Vec<IpAddr>),
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCertResolver {
    fn new(
        ca: Arc<CertificateAuthority>,
        names: (Vec<String>, Vec<IpAddr>),
    ) -> Result<Self, ServerError> {
        let current = RwLock::new(issue_server_cert(&ca, &names)?);
        Ok(Self { ca, names, current })
    }

    fn renew(&self) -> Result<(), ServerError> {
        let fresh = issue_server_cert(&self.ca, &self.names)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

impl ResolvesServerCert for ServerCertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

fn issue_server_cert(
    ca: &CertificateAuthority,
    (dns, ips): &(Vec<String>, Vec<IpAddr>),
) -> Result<Arc<CertifiedKey>, ServerError> {
    let key = KeyPair::generate().map_err(|e| load_err("server key", e))?;
    let claims = Claims::server();
    let cert = ca
        .issue_server(
            &key.public_key(),
            dns,
            ips,
            &claims,
            SERVER_CERT_TTL,
            SystemTime::now(),
        )
        .map_err(|e| load_err("server certificate", e))?;
    let chain = vec![
        CertificateDer::from(cert.der.clone()),
        CertificateDer::from(ca.cert_der().to_vec()),
    ];
    let signing_key = rustls::crypto::ring::sign::any_ecdsa_type(&key.private_key_der())
        .map_err(|e| load_err("server key", e))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}
