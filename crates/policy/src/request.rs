//! What a caller asks the engine: who, what action, on which resource, in
//! what context. Plain data, serializable, so a decision can be replayed from
//! an audit event and examples can be written in TOML.

use std::collections::BTreeMap;
use std::fmt;

use airlock_core::{IsolationClass, RoleName, SandboxId, UserName};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One authorization question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Who asks.
    pub principal: Principal,
    /// The action's name, e.g. `"http.request"` (see the schema's actions).
    pub action: String,
    /// What the action is on.
    pub resource: Resource,
    /// Attributes of this one request (method, path, model, `time`, ...).
    #[serde(default)]
    pub context: Context,
}

impl Request {
    /// A request with the given parts.
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: Resource,
        context: Context,
    ) -> Self {
        Self {
            principal,
            action: action.into(),
            resource,
            context,
        }
    }

    /// One line naming the action, its salient context and the resource,
    /// e.g. `http.request GET /v1/repos on HttpService "github"`.
    pub fn summary(&self) -> String {
        let detail = self.context.salient(&self.action);
        let sep = if detail.is_empty() { "" } else { " " };
        format!("{}{sep}{detail} on {}", self.action, self.resource)
    }
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Principal {
    /// A human, with the roles and traits of their certificate.
    User(UserInfo),
    /// The agent in a sandbox, acting for a human.
    Workload(WorkloadInfo),
}

impl Principal {
    /// The human: the user themself, or the user a workload acts for.
    pub fn user(&self) -> &UserInfo {
        match self {
            Self::User(u) => u,
            Self::Workload(w) => &w.user,
        }
    }
}

/// A human and what their identity carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInfo {
    /// The login name.
    pub name: UserName,
    /// Roles (Cedar: the user is `in Role::"<name>"`).
    #[serde(default)]
    pub roles: Vec<RoleName>,
    /// Free-form traits (Cedar: tags, each a `Set<String>`).
    #[serde(default)]
    pub traits: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with the given roles and no traits.
    pub fn new(name: UserName, roles: Vec<RoleName>) -> Self {
        Self {
            name,
            roles,
            traits: BTreeMap::new(),
        }
    }
}

/// A workload: which sandbox it runs in and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadInfo {
    /// The human it acts for (the sandbox's owner).
    pub user: UserInfo,
    /// Its sandbox.
    pub sandbox: SandboxId,
    /// The sandbox's isolation class.
    pub isolation: IsolationClass,
    /// The sandbox's image.
    pub image: String,
    /// The delegation profile narrowing it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// What an action is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Resource {
    /// A sandbox; for `sandbox.create`, the one about to be created.
    Sandbox {
        /// Its id.
        id: SandboxId,
        /// Who owns it.
        owner: UserName,
        /// How it is isolated.
        isolation: IsolationClass,
        /// Its image.
        image: String,
    },
    /// A registered HTTP API.
    HttpService {
        /// Its registered name.
        name: String,
        /// The upstream host.
        host: String,
    },
    /// A registered LLM endpoint.
    Inference {
        /// Its registered name.
        name: String,
        /// Which API it speaks.
        kind: InferenceKind,
    },
    /// Any other destination.
    Egress {
        /// Host name (or literal address) asked for.
        host: String,
        /// Destination port.
        port: u16,
    },
    /// A registered database.
    Database {
        /// Its registered name.
        name: String,
        /// Its engine, e.g. `"postgres"`.
        kind: String,
    },
    /// One tool of a registered MCP server.
    McpTool {
        /// The server's registered name.
        server: String,
        /// The tool's name.
        tool: String,
    },
    /// The cluster (administrative actions, `sandbox.list`).
    Cluster,
    /// The audit log.
    AuditLog,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sandbox { id, owner, .. } => write!(f, "Sandbox {id} (owner {owner})"),
            Self::HttpService { name, .. } => write!(f, "HttpService {name:?}"),
            Self::Inference { name, .. } => write!(f, "InferenceEndpoint {name:?}"),
            Self::Egress { host, port } => write!(f, "Egress {host}:{port}"),
            Self::Database { name, .. } => write!(f, "Database {name:?}"),
            Self::McpTool { server, tool } => write!(f, "McpTool {server}/{tool}"),
            Self::Cluster => f.write_str("the cluster"),
            Self::AuditLog => f.write_str("the audit log"),
        }
    }
}

/// The API an inference endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InferenceKind {
    /// OpenAI-compatible.
    OpenAi,
    /// Anthropic-compatible.
    Anthropic,
}

impl InferenceKind {
    /// `"openai"` or `"anthropic"`, as policies see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

/// The request's context: a JSON object checked against the action's
/// context type in the schema. Every action's context needs `time` (unix
/// seconds): the engine reads no clock, so the caller says when it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Context(Map<String, Value>);

impl Context {
    /// A context at `time` (unix seconds), with nothing else yet.
    pub fn at(time: i64) -> Self {
        Self::default().with("time", time)
    }

    /// Adds (or replaces) one attribute.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// One attribute.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// All attributes.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The attributes worth naming in a one-line reason for `action`.
    fn salient(&self, action: &str) -> String {
        let keys: &[&str] = match action {
            "http.request" => &["method", "path"],
            "inference.call" => &["model"],
            "db.query" => &["statement"],
            "db.connect" => &["db_user", "db_name"],
            "sandbox.exec" => &["command"],
            "admin.user.add" | "admin.user.remove" | "admin.role.set" => &["target"],
            _ => &[],
        };
        keys.iter()
            .filter_map(|k| self.0.get(*k))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl From<Map<String, Value>> for Context {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}
