//! The proxy's `Decider`: a workload's request is allowed only if it is not
//! locked, its sandbox is live and unexpired, its user still exists, and
//! Cedar allows it (the user's policies AND the sandbox's delegation
//! profile). Called for every request: the lock, the sandbox and the user
//! are looked up every time, and the engine in force is asked every time
//! (it answers a request equal to one it decided twice before from its memo, and
//! a policy change puts a new engine in force), so lock, state and policy
//! changes apply to the next request.

use std::sync::Arc;

use airlock_core::{Claims, Decision};
use airlock_policy::{Context, Principal, Request, Resource, UserInfo, WorkloadInfo};
use airlock_proxy::{Caller, Decider, InferenceKind, ProxyRequest};
use airlock_store::Store;
use time::OffsetDateTime;

use crate::locks::{self, LockCache};
use crate::policy::PolicyState;

/// Decides proxy requests for the control plane.
#[derive(Debug)]
pub struct PolicyDecider {
    /// State (users, sandboxes).
    pub store: Arc<dyn Store>,
    /// Locks.
    pub locks: LockCache,
    /// The policy engine in force.
    pub policy: Arc<PolicyState>,
}

fn deny(reason: String, rule: &str) -> Decision {
    Decision::deny(reason, vec![rule.to_owned()])
}

impl PolicyDecider {
    fn workload(&self, caller: &Caller, now: OffsetDateTime) -> Result<WorkloadInfo, Decision> {
        let claims = Claims::workload(
            caller.user.clone(),
            caller.sandbox.clone(),
            caller.isolation,
            caller.profile.clone(),
        );
        if let Some(lock) = self.locks.find(&claims, now) {
            return Err(deny(locks::describe(&lock), "airlock/lock"));
        }
        let sb = self
            .store
            .sandbox(&caller.sandbox)
            .map_err(|e| deny(format!("state unavailable: {e}"), "airlock/error"))?
            .filter(|s| s.state.is_live() && s.expires > now)
            .ok_or_else(|| {
                deny(
                    format!("sandbox {} has ended", caller.sandbox),
                    "airlock/sandbox-ended",
                )
            })?;
        let user = self
            .store
            .user(&caller.user)
            .map_err(|e| deny(format!("state unavailable: {e}"), "airlock/error"))?
            .ok_or_else(|| {
                deny(
                    format!("user {} no longer exists", caller.user),
                    "airlock/user-removed",
                )
            })?;
        Ok(WorkloadInfo {
            user: UserInfo {
                name: user.name,
                roles: user.roles,
                traits: user.traits,
            },
            sandbox: sb.id,
            isolation: sb.backend,
            image: sb.image,
            profile: sb.profile,
        })
    }
}

/// The policy resource and context of a proxy request.
fn resource_and_context(req: &ProxyRequest, now: i64) -> (Resource, Context) {
    let ctx = Context::at(now);
    match req {
        ProxyRequest::Http {
            service,
            method,
            host,
            port,
            path,
        } => (
            Resource::HttpService {
                name: service.clone().unwrap_or_else(|| host.clone()),
                host: host.clone(),
            },
            ctx.with("method", method.as_str())
                .with("path", path.as_str())
                .with("host", host.as_str())
                .with("port", i64::from(*port)),
        ),
        ProxyRequest::Inference {
            endpoint,
            kind,
            model,
            operation,
        } => (
            Resource::Inference {
                name: endpoint.clone(),
                kind: match kind {
                    InferenceKind::Openai => airlock_policy::InferenceKind::OpenAi,
                    InferenceKind::Anthropic => airlock_policy::InferenceKind::Anthropic,
                },
            },
            ctx.with("method", "POST")
                .with("path", operation.as_str())
                .with("model", model.as_str()),
        ),
        ProxyRequest::Egress { host, port } => (
            Resource::Egress {
                host: host.clone(),
                port: *port,
            },
            ctx.with("host", host.as_str())
                .with("port", i64::from(*port)),
        ),
    }
}

impl Decider for PolicyDecider {
    fn decide(&self, caller: &Caller, req: &ProxyRequest) -> Decision {
        let now = OffsetDateTime::now_utc();
        let workload = match self.workload(caller, now) {
            Ok(w) => w,
            Err(decision) => return decision,
        };
        let (resource, context) = resource_and_context(req, now.unix_timestamp());
        let request = Request::new(
            Principal::Workload(workload),
            req.action(),
            resource,
            context,
        );
        self.policy.engine().decide(&request)
    }
}
