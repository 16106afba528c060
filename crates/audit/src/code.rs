//! The table of audit event codes: one row per kind of event, defined once.
//!
//! Each code has a stable id (`A1001`, never reused or renumbered), a dotted
//! name, the actions it may carry, the decisions it may record, the fields it
//! requires, and its OCSF class. `docs/audit-events.md` is generated from this
//! table and a test fails when the two disagree.
//!
//! Numbering: `A1xxx` identity, `A2xxx` administration, `A3xxx` control-plane
//! API, `A4xxx` sandboxes, `A5xxx` proxy decisions.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which actions an event code accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionRule {
    /// Exactly this action.
    Exact(&'static str),
    /// Any action (the code records a refusal of whatever was attempted).
    Any,
}

/// Which decisions an event code may record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionRule {
    /// Only `allow` (the event reports something that happened).
    Allow,
    /// Only `deny` (the event reports a refusal).
    Deny,
    /// Either: the event records a policy decision.
    Either,
}

/// When a field must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Optional.
    No,
    /// Required when the decision is `allow` (a refused request may have
    /// failed before the field was known).
    OnAllow,
    /// Always required.
    Always,
}

/// An OCSF event class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcsfClass {
    /// `class_uid`.
    pub uid: u32,
    /// `class_name`.
    pub name: &'static str,
}

impl OcsfClass {
    /// `category_uid`: OCSF numbers classes as category × 1000 + n.
    pub fn category_uid(self) -> u32 {
        self.uid / 1000
    }

    /// `category_name`.
    pub fn category_name(self) -> &'static str {
        match self.category_uid() {
            1 => "System Activity",
            2 => "Findings",
            3 => "Identity & Access Management",
            4 => "Network Activity",
            5 => "Discovery",
            6 => "Application Activity",
            _ => "Other",
        }
    }
}

/// OCSF File System Activity.
pub const FILE_SYSTEM: OcsfClass = OcsfClass {
    uid: 1001,
    name: "File System Activity",
};
/// OCSF Process Activity.
pub const PROCESS: OcsfClass = OcsfClass {
    uid: 1007,
    name: "Process Activity",
};
/// OCSF Account Change.
pub const ACCOUNT_CHANGE: OcsfClass = OcsfClass {
    uid: 3001,
    name: "Account Change",
};
/// OCSF Authentication.
pub const AUTHENTICATION: OcsfClass = OcsfClass {
    uid: 3002,
    name: "Authentication",
};
/// OCSF Network Activity.
pub const NETWORK: OcsfClass = OcsfClass {
    uid: 4001,
    name: "Network Activity",
};
/// OCSF HTTP Activity.
pub const HTTP: OcsfClass = OcsfClass {
    uid: 4002,
    name: "HTTP Activity",
};
/// OCSF DNS Activity.
pub const DNS: OcsfClass = OcsfClass {
    uid: 4003,
    name: "DNS Activity",
};
/// OCSF API Activity.
pub const API: OcsfClass = OcsfClass {
    uid: 6003,
    name: "API Activity",
};
/// OCSF Datastore Activity.
pub const DATASTORE: OcsfClass = OcsfClass {
    uid: 6005,
    name: "Datastore Activity",
};

/// Everything the table says about one code.
#[derive(Debug, Clone, Copy)]
pub struct CodeSpec {
    /// Stable id, e.g. `A1001`.
    pub id: &'static str,
    /// Dotted name, e.g. `user.login`.
    pub name: &'static str,
    /// Accepted actions.
    pub action: ActionRule,
    /// Accepted decisions.
    pub decision: DecisionRule,
    /// Whether the event must name the human user.
    pub user: Need,
    /// Whether it must name the workload (SPIFFE ID).
    pub workload: Need,
    /// Whether it must name the sandbox.
    pub sandbox: Need,
    /// OCSF class.
    pub ocsf: OcsfClass,
    /// OCSF `activity_id` and `activity_name` (HTTP events refine it by method).
    pub activity: (u32, &'static str),
    /// When the event is emitted.
    pub when: &'static str,
    /// The code-specific keys expected in `details`.
    pub details: &'static str,
}

macro_rules! event_codes {
    ($($variant:ident {
        id: $id:literal, name: $name:literal, action: $action:expr, decision: $decision:ident,
        user: $user:ident, workload: $workload:ident, sandbox: $sandbox:ident,
        ocsf: $ocsf:ident, activity: ($aid:literal, $aname:literal),
        when: $when:literal, details: $details:literal $(,)?
    })*) => {
        /// A stable audit event code. Serialized as its id (`"A1001"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventCode {
            $(#[doc = $when] $variant,)*
        }

        impl EventCode {
            /// Every code, in table order.
            pub const ALL: &'static [EventCode] = &[$(EventCode::$variant,)*];

            /// The table row of this code.
            pub fn spec(self) -> &'static CodeSpec {
                match self {
                    $(EventCode::$variant => &CodeSpec {
                        id: $id, name: $name, action: $action,
                        decision: DecisionRule::$decision,
                        user: Need::$user, workload: Need::$workload, sandbox: Need::$sandbox,
                        ocsf: $ocsf, activity: ($aid, $aname), when: $when, details: $details,
                    },)*
                }
            }
        }
    };
}

use ActionRule::{Any, Exact};

event_codes! {
    UserLogin {
        id: "A1001", name: "user.login", action: Exact("user.login"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: AUTHENTICATION, activity: (1, "Logon"),
        when: "A user logged in and received a user certificate.",
        details: "method, cert_serial, expires",
    }
    UserLoginFailed {
        id: "A1002", name: "user.login_failed", action: Exact("user.login"), decision: Deny,
        user: No, workload: No, sandbox: No, ocsf: AUTHENTICATION, activity: (1, "Logon"),
        when: "A login attempt was refused (unknown user, wrong password, locked).",
        details: "method, attempted_user",
    }
    CertIssued {
        id: "A1003", name: "cert.issued", action: Exact("cert.issue"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: AUTHENTICATION,
        activity: (3, "Authentication Ticket"),
        when: "The CA issued a certificate (user, sandbox or workload SVID, JWT-SVID).",
        details: "kind, subject, serial, expires",
    }
    UserAdded {
        id: "A2001", name: "user.added", action: Exact("admin.user.add"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: ACCOUNT_CHANGE, activity: (1, "Create"),
        when: "An admin added a user; `user` is the admin, `resource` the new user.",
        details: "roles",
    }
    UserRemoved {
        id: "A2002", name: "user.removed", action: Exact("admin.user.remove"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: ACCOUNT_CHANGE, activity: (6, "Delete"),
        when: "An admin removed a user; `resource` is the removed user.",
        details: "",
    }
    LockAdded {
        id: "A2003", name: "lock.added", action: Exact("admin.lock.add"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (1, "Create"),
        when: "An admin locked a user, sandbox or session.",
        details: "target_kind, target, expires, message",
    }
    LockRemoved {
        id: "A2004", name: "lock.removed", action: Exact("admin.lock.remove"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (4, "Delete"),
        when: "An admin removed a lock.",
        details: "target_kind, target",
    }
    PolicySet {
        id: "A2005", name: "policy.set", action: Exact("admin.policy.set"), decision: Either,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (3, "Update"),
        when: "An admin loaded a policy set (deny: it failed validation and the old one stays).",
        details: "policy_hash, policies",
    }
    RoleSet {
        id: "A2006", name: "role.set", action: Exact("admin.role.set"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (3, "Update"),
        when: "An admin created or changed a role.",
        details: "role",
    }
    ResourceAdded {
        id: "A2007", name: "resource.added", action: Exact("admin.resource.add"),
        decision: Allow, user: Always, workload: No, sandbox: No, ocsf: API,
        activity: (1, "Create"),
        when: "An admin registered a resource (LLM endpoint, HTTP API, database, MCP server).",
        details: "kind, endpoint",
    }
    ResourceRemoved {
        id: "A2008", name: "resource.removed", action: Exact("admin.resource.remove"),
        decision: Allow, user: Always, workload: No, sandbox: No, ocsf: API,
        activity: (4, "Delete"),
        when: "An admin removed a resource.",
        details: "kind",
    }
    SecretSet {
        id: "A2009", name: "secret.set", action: Exact("admin.secret.set"), decision: Allow,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (3, "Update"),
        when: "An admin set a secret (its value is never recorded).",
        details: "",
    }
    SecretRemoved {
        id: "A2010", name: "secret.removed", action: Exact("admin.secret.remove"),
        decision: Allow, user: Always, workload: No, sandbox: No, ocsf: API,
        activity: (4, "Delete"),
        when: "An admin removed a secret.",
        details: "",
    }
    ProfileSet {
        id: "A2011", name: "profile.set", action: Exact("admin.profile.set"), decision: Either,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (3, "Update"),
        when: "An admin loaded or removed a delegation profile (deny: it failed validation).",
        details: "profile, policies",
    }
    ApiRefused {
        id: "A3001", name: "api.refused", action: Any, decision: Deny,
        user: No, workload: No, sandbox: No, ocsf: API, activity: (99, "Other"),
        when: "The control plane refused an API call (unauthenticated, locked, or not allowed).",
        details: "method, path, status",
    }
    AuditRead {
        id: "A3002", name: "audit.read", action: Exact("audit.read"), decision: Either,
        user: Always, workload: No, sandbox: No, ocsf: API, activity: (2, "Read"),
        when: "A user searched, tailed, exported or verified the audit log.",
        details: "query",
    }
    SandboxCreated {
        id: "A4001", name: "sandbox.created", action: Exact("sandbox.create"), decision: Either,
        user: Always, workload: No, sandbox: OnAllow, ocsf: API, activity: (1, "Create"),
        when: "A sandbox was created (or its creation refused).",
        details: "name, image, ttl, backend, limits",
    }
    SandboxExec {
        id: "A4002", name: "sandbox.exec", action: Exact("sandbox.exec"), decision: Either,
        user: Always, workload: No, sandbox: Always, ocsf: PROCESS, activity: (1, "Launch"),
        when: "A command was started in a sandbox (`airlock exec`, or a service by `airlock svc start`); recorded before it runs.",
        details: "argv, tty, as_root, service",
    }
    SandboxSsh {
        id: "A4003", name: "sandbox.ssh", action: Exact("sandbox.ssh"), decision: Either,
        user: Always, workload: No, sandbox: Always, ocsf: PROCESS, activity: (1, "Launch"),
        when: "An interactive shell was opened in a sandbox; its recording is closed by a `recording.finished` event.",
        details: "argv, tty, as_root",
    }
    SandboxCopy {
        id: "A4004", name: "sandbox.cp", action: Exact("sandbox.cp"), decision: Either,
        user: Always, workload: No, sandbox: Always, ocsf: FILE_SYSTEM, activity: (99, "Other"),
        when: "Files were copied into or out of a sandbox (`airlock cp`).",
        details: "direction, path",
    }
    SandboxExpired {
        id: "A4005", name: "sandbox.expired", action: Exact("sandbox.expire"), decision: Allow,
        user: Always, workload: No, sandbox: Always, ocsf: API, activity: (4, "Delete"),
        when: "The control plane destroyed a sandbox whose TTL ran out; `user` is its owner.",
        details: "ttl, created",
    }
    SandboxRemoved {
        id: "A4006", name: "sandbox.removed", action: Exact("sandbox.remove"), decision: Either,
        user: Always, workload: No, sandbox: Always, ocsf: API, activity: (4, "Delete"),
        when: "A user removed a sandbox (`airlock sandbox rm`).",
        details: "",
    }
    RecordingFinished {
        id: "A4007", name: "recording.finished", action: Exact("sandbox.record"),
        decision: Allow, user: Always, workload: No, sandbox: Always, ocsf: API,
        activity: (1, "Create"),
        when: "An interactive session recording was closed; its SHA-256 is now in the log.",
        details: "recording, sha256, bytes, duration_ms",
    }
    HttpRequest {
        id: "A5001", name: "http.request", action: Exact("http.request"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: HTTP, activity: (99, "Other"),
        when: "The proxy decided an HTTP request from a sandbox.",
        details: "method, host, path, status, bytes_in, bytes_out, latency_ms",
    }
    InferenceCall {
        id: "A5002", name: "inference.call", action: Exact("inference.call"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: HTTP, activity: (6, "Post"),
        when: "The proxy decided a call to an LLM endpoint.",
        details: "endpoint, kind, operation, model, input_tokens, output_tokens, status, bytes_in, bytes_out, latency_ms; request_body, response_body when a policy (`@record_bodies`) or the endpoint turns recording on",
    }
    EgressConnect {
        id: "A5003", name: "egress.connect", action: Exact("egress.connect"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: NETWORK, activity: (1, "Open"),
        when: "A sandbox opened (or was refused) a connection to a destination outside.",
        details: "host, port, protocol",
    }
    DbConnect {
        id: "A5004", name: "db.connect", action: Exact("db.connect"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: DATASTORE,
        activity: (3, "Connect"),
        when: "The proxy decided a PostgreSQL connection.",
        details: "database, db_user",
    }
    DbQuery {
        id: "A5005", name: "db.query", action: Exact("db.query"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: DATASTORE, activity: (4, "Query"),
        when: "The proxy decided a PostgreSQL query (simple or extended protocol).",
        details: "database, db_user, query, protocol, rows",
    }
    McpCall {
        id: "A5006", name: "mcp.call", action: Exact("mcp.call_tool"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: API, activity: (99, "Other"),
        when: "The proxy decided an MCP tool call.",
        details: "server, tool, arguments (redacted)",
    }
    DnsQuery {
        id: "A5007", name: "dns.query", action: Exact("dns.query"), decision: Either,
        user: Always, workload: Always, sandbox: Always, ocsf: DNS, activity: (1, "Query"),
        when: "The sandbox DNS resolver answered or refused a name.",
        details: "name, type",
    }
}

impl EventCode {
    /// The stable id, e.g. `A1001`.
    pub fn id(self) -> &'static str {
        self.spec().id
    }

    /// The dotted name, e.g. `user.login`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Looks a code up by id (`A1001`) or name (`user.login`).
    pub fn lookup(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.id() == s || c.name() == s)
    }

    /// The action to use when the caller gives none (codes with one action).
    pub fn default_action(self) -> Option<&'static str> {
        match self.spec().action {
            Exact(a) => Some(a),
            Any => None,
        }
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}

impl Serialize for EventCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for EventCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::lookup(&s)
            .filter(|c| c.id() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event code {s:?}")))
    }
}

fn need(n: Need) -> &'static str {
    match n {
        Need::No => "",
        Need::OnAllow => " (on allow)",
        Need::Always => "",
    }
}

/// The Markdown table of every code, as it stands in `docs/audit-events.md`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| code | name | action | decision | requires | OCSF class | when emitted | details |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for code in EventCode::ALL {
        let s = code.spec();
        let action = match s.action {
            Exact(a) => format!("`{a}`"),
            Any => "the refused action".to_owned(),
        };
        let decision = match s.decision {
            DecisionRule::Allow => "allow",
            DecisionRule::Deny => "deny",
            DecisionRule::Either => "allow, deny",
        };
        let mut requires = Vec::new();
        for (field, n) in [
            ("user", s.user),
            ("workload", s.workload),
            ("sandbox", s.sandbox),
        ] {
            if n != Need::No {
                requires.push(format!("{field}{}", need(n)));
            }
        }
        let details = if s.details.is_empty() { "" } else { s.details };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} {} / {} {} | {} | {} |\n",
            s.id,
            s.name,
            action,
            decision,
            requires.join(", "),
            s.ocsf.uid,
            s.ocsf.name,
            s.activity.0,
            s.activity.1,
            s.when,
            details
        ));
    }
    out
}
