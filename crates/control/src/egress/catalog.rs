//! The proxy's view of registered resources, with secrets resolved. An
//! immutable snapshot swapped whole on every change, so a request sees one
//! consistent catalog and lookups take no lock beyond an `Arc` clone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use airlock_proxy::http::HeaderName;
use airlock_proxy::{
    BudgetScope, Budgets, Catalog, HttpService, InferenceEndpoint, InferenceKind, Secret, Upstream,
};
use airlock_store::ResourceRecord;

use super::resources::{ResourceSpec, render};

/// One consistent set of resources.
#[derive(Debug, Default)]
pub struct Snapshot {
    http: HashMap<(String, u16), Arc<HttpService>>,
    inference: HashMap<String, Arc<InferenceEndpoint>>,
}

impl Snapshot {
    /// The inference endpoint a sandbox's `<PROVIDER>_BASE_URL` points at:
    /// the one named after the provider, else the first by name.
    pub fn default_endpoint(&self, kind: InferenceKind) -> Option<String> {
        let mut names: Vec<&String> = self
            .inference
            .iter()
            .filter(|(_, e)| e.kind == kind)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        let preferred = names.iter().find(|n| n.as_str() == kind_name(kind));
        preferred.or(names.first()).map(|n| (*n).clone())
    }
}

fn kind_name(kind: InferenceKind) -> &'static str {
    match kind {
        InferenceKind::Openai => "openai",
        InferenceKind::Anthropic => "anthropic",
    }
}

/// Builds a snapshot; resources that cannot be resolved (a secret was
/// removed) are left out and reported.
pub fn build(
    records: &[ResourceRecord],
    secret: &dyn Fn(&str) -> Option<String>,
) -> (Snapshot, Vec<String>) {
    let mut snap = Snapshot::default();
    let mut problems = Vec::new();
    for r in records {
        match entry(r, secret) {
            Ok(Entry::Http(s)) => {
                let key = (s.upstream.host.clone(), s.upstream.port);
                snap.http.insert(key, Arc::new(s));
            }
            Ok(Entry::Inference(e)) => {
                snap.inference.insert(e.name.clone(), Arc::new(e));
            }
            Err(e) => problems.push(format!("resource {}: {e}", r.name)),
        }
    }
    (snap, problems)
}

enum Entry {
    Http(HttpService),
    Inference(InferenceEndpoint),
}

fn entry(r: &ResourceRecord, secret: &dyn Fn(&str) -> Option<String>) -> Result<Entry, String> {
    let spec: ResourceSpec = serde_json::from_value(r.spec.clone()).map_err(|e| e.to_string())?;
    match spec {
        ResourceSpec::Http {
            url,
            inject_headers,
            ca_pem,
        } => {
            let mut headers = Vec::new();
            for h in inject_headers {
                let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|e| e.to_string())?;
                headers.push((name, Secret::new(render(&h.value, secret)?)));
            }
            Ok(Entry::Http(HttpService {
                name: r.name.clone(),
                upstream: Upstream::parse(&url).map_err(|e| e.to_string())?,
                inject_headers: headers,
                upstream_ca_pem: ca_pem,
            }))
        }
        ResourceSpec::Inference {
            provider,
            url,
            secret: key_name,
            models,
            requests_per_minute,
            tokens_per_day,
            log_bodies,
            ca_pem,
        } => {
            let kind = match provider.as_str() {
                "openai" => InferenceKind::Openai,
                "anthropic" => InferenceKind::Anthropic,
                other => return Err(format!("unknown provider {other:?}")),
            };
            let key = secret(&key_name).ok_or_else(|| format!("no secret named {key_name:?}"))?;
            Ok(Entry::Inference(InferenceEndpoint {
                name: r.name.clone(),
                kind,
                upstream: Upstream::parse(&url).map_err(|e| e.to_string())?,
                api_key: Secret::new(key),
                models,
                budgets: Budgets {
                    requests_per_minute,
                    tokens_per_day,
                    scope: BudgetScope::User,
                },
                log_bodies,
                upstream_ca_pem: ca_pem,
            }))
        }
    }
}

/// The live catalog the proxy reads.
#[derive(Debug, Default)]
pub struct LiveCatalog {
    current: RwLock<Arc<Snapshot>>,
}

impl LiveCatalog {
    /// Puts a new snapshot in force (for the next request).
    pub fn replace(&self, snap: Snapshot) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Catalog for LiveCatalog {
    fn http_service_for(&self, host: &str, port: u16) -> Option<Arc<HttpService>> {
        self.snapshot().http.get(&(host.to_owned(), port)).cloned()
    }

    fn inference_named(&self, name: &str) -> Option<Arc<InferenceEndpoint>> {
        self.snapshot().inference.get(name).cloned()
    }
}
