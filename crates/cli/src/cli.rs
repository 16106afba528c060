//! The command line, defined once: clap derives parsing and `--help` from
//! these types.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_CODES_HELP;

/// Airlock runs AI agents in isolated, ephemeral sandboxes whose every action
/// goes through identity, policy and a tamper-evident audit log.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run or set up an Airlock server (control plane).
    #[command(subcommand)]
    Server(ServerCommand),
    /// Log in: make a key here, get a short-lived certificate for it.
    ///
    /// The first login to a server pins its cluster CA (shown as a SHA-256
    /// fingerprint); later logins refuse a server whose CA differs.
    Login(LoginArgs),
    /// Forget the current login (key and certificate).
    Logout(LogoutArgs),
    /// Show who the server thinks you are.
    Whoami(JsonFlag),
    /// Administer users, roles and locks (needs an admin role).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Search, follow, export and verify the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Replay a recorded interactive session with its original timing.
    Play(PlayArgs),
    /// Ask the policy engine what it decides for a request, and why.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Create, list and remove sandboxes.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Run a command in a sandbox; its exit code becomes airlock's.
    Exec(ExecArgs),
    /// Open an interactive shell in a sandbox (recorded).
    Ssh(SshArgs),
    /// Copy files into or out of a sandbox: one side is NAME:PATH.
    Cp(CpArgs),
    /// Manage services that keep running in a sandbox after you leave.
    Svc(SvcArgs),
    /// Build, list and remove sandbox images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Show which isolation backends work on the server's node, and why not.
    Doctor(JsonFlag),
}

/// `--json` on listings.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `airlock server ...`
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Create a new cluster in DIR: CA, keys, state, audit log, first admin.
    ///
    /// Refuses a directory that already holds a cluster.
    Init(InitArgs),
    /// Serve the API from an initialized DIR.
    Start(StartArgs),
}

/// `airlock server init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory (created with mode 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Name of the first admin user.
    #[arg(long, value_name = "NAME")]
    pub admin: String,
    /// Read the admin password from the first line of stdin instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
    /// SPIFFE trust domain of the cluster's workload identities.
    #[arg(long, default_value = "airlock.local", value_name = "DOMAIN")]
    pub trust_domain: String,
    /// Human name of the cluster (shown at login, used as the audit log origin).
    #[arg(long, default_value = "airlock", value_name = "NAME")]
    pub cluster_name: String,
}

/// `airlock server start`
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Data directory made by `airlock server init`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Listen address (overrides `listen` in DIR/airlock.toml; default 127.0.0.1:8443).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// `airlock login`
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server URL, e.g. https://127.0.0.1:8443 (default: the current login's server).
    #[arg(long, value_name = "URL", env = "AIRLOCK_SERVER")]
    pub server: Option<String>,
    /// User name (default: the current login's user).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password from the first line of stdin instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
    /// Certificate lifetime to ask for (capped by your roles), e.g. 2h.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Expected SHA-256 fingerprint of the cluster CA (as printed by
    /// `airlock server init`); verified on first contact instead of trusting it.
    #[arg(long, value_name = "SHA256")]
    pub ca_fingerprint: Option<String>,
}

/// `airlock logout`
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Also forget the pinned CA of the server (after a cluster was re-created).
    #[arg(long)]
    pub forget: bool,
}

/// `airlock admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// List roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Refuse a user, sandbox or login session at once, certificates or not.
    #[command(subcommand)]
    Lock(LockCommand),
    /// Load or show the cluster's Cedar policy set.
    #[command(subcommand)]
    Policy(AdminPolicyCommand),
    /// Delegation profiles: what a sandbox's workload may do, at most.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Secrets the proxy injects (encrypted at rest, never shown, never in a sandbox).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Register HTTP services and LLM endpoints reachable through the proxy.
    #[command(subcommand)]
    Resource(ResourceCommand),
}

/// `airlock admin user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add(UserAddArgs),
    /// List users.
    Ls(JsonFlag),
    /// Remove a user; their certificates stop working at once.
    Rm {
        /// User name.
        name: String,
    },
}

/// `airlock admin user add`
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// User name.
    pub name: String,
    /// Comma-separated roles, e.g. developer,auditor.
    #[arg(long, value_delimiter = ',', required = true)]
    pub roles: Vec<String>,
    /// Read the password from the first line of stdin instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
    /// A trait for policy, KEY=VALUE (repeatable).
    #[arg(long = "trait", value_name = "KEY=VALUE")]
    pub traits: Vec<String>,
}

/// `airlock admin role ...`
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List roles.
    Ls(JsonFlag),
    /// Create or change a role's limits (what it may do is written in policy:
    /// `principal in Airlock::Role::"NAME"`).
    Set {
        /// Role name.
        name: String,
        /// One line describing it.
        #[arg(long)]
        description: Option<String>,
        /// Longest login, e.g. 8h.
        #[arg(long, value_name = "DURATION")]
        max_ttl: Option<String>,
        /// Longest sandbox lifetime, e.g. 4h.
        #[arg(long, value_name = "DURATION")]
        max_sandbox_ttl: Option<String>,
    },
}

/// `airlock admin lock ...`
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Place a lock.
    Add(LockAddArgs),
    /// List locks in force (`--all` includes lapsed ones).
    Ls {
        /// Include lapsed locks.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a lock.
    Rm {
        /// Lock id (from `lock ls`).
        id: String,
    },
}

/// `airlock admin lock add`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["user", "sandbox", "session"])))]
pub struct LockAddArgs {
    /// Lock a user (and every workload acting for them).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Lock a sandbox.
    #[arg(long, value_name = "ID")]
    pub sandbox: Option<String>,
    /// Lock one login session.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// How long, e.g. 1h (default: until removed).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Why (shown to whoever is refused).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// `airlock audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Search events, newest first.
    Search(AuditSearchArgs),
    /// Show the latest events; with -f, keep following new ones.
    Tail {
        /// Keep printing new events as they are written.
        #[arg(short, long)]
        follow: bool,
        /// How many recent events to show first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Export events for a SIEM, one JSON object per line.
    Export {
        /// `jsonl` (canonical events, hashable) or `ocsf`.
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "ocsf"])]
        format: String,
        /// Only events since a duration ago (24h) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Write to a file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Recompute the whole log and check every signed checkpoint; exits
    /// non-zero and names the first damaged event if anything was edited,
    /// deleted, inserted, reordered or truncated.
    ///
    /// With --data-dir it works offline on a stopped server's data directory,
    /// trusting nothing the server says.
    Verify {
        /// Verify this data directory offline instead of asking the server.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The published audit key (`server init` printed it); offline
        /// default: derived from DIR's own key file.
        #[arg(long, value_name = "VKEY")]
        key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an inclusion proof of one event that verifies offline.
    Prove {
        /// Event id, e.g. ev-42.
        id: String,
        /// Write to a file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Verify a proof made by `audit prove`, offline.
    VerifyProof {
        /// The proof file.
        file: PathBuf,
        /// The published audit key (default: ask the server you are logged in to).
        #[arg(long, value_name = "VKEY")]
        key: Option<String>,
    },
}

/// `airlock audit search`
#[derive(Debug, Args)]
pub struct AuditSearchArgs {
    /// Only this user's events.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this sandbox's events.
    #[arg(long)]
    pub sandbox: Option<String>,
    /// An action (`user.login`) or a prefix (`sandbox.`, `sandbox.*`).
    #[arg(long)]
    pub action: Option<String>,
    /// `allow` or `deny`.
    #[arg(long)]
    pub decision: Option<String>,
    /// Since a duration ago (1h) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Until a duration ago or an RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `airlock play`
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// A recording id (rec-..., from the audit log) or a local asciicast v2 file.
    pub recording: PathBuf,
    /// Playback speed factor (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Shorten pauses longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_idle: Option<f64>,
}

/// `airlock sandbox ...`
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create a sandbox and open a shell in it (`--detach` to only create).
    Create(CreateArgs),
    /// List your sandboxes.
    Ls {
        /// Every user's sandboxes (admins).
        #[arg(long)]
        all: bool,
        /// Include sandboxes that ended (removed, expired).
        #[arg(long)]
        ended: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Destroy a sandbox now; nothing of it remains.
    Rm {
        /// Sandbox name (or id).
        name: String,
    },
}

/// `airlock sandbox create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name, unique among your live sandboxes.
    #[arg(long)]
    pub name: Option<String>,
    /// Time to live, e.g. 2h (default 8h, at most your roles' maximum).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Isolation backend: auto (the strongest usable), gvisor, runc or microvm.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Image (default: host, a minimal root from the host's /usr).
    #[arg(long)]
    pub image: Option<String>,
    /// CPUs, e.g. 2 or 0.5.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Memory, e.g. 2G.
    #[arg(long)]
    pub memory: Option<String>,
    /// Size of the writable layer, e.g. 4G.
    #[arg(long)]
    pub disk: Option<String>,
    /// Delegation profile narrowing what the agent may do.
    #[arg(long)]
    pub profile: Option<String>,
    /// Only create it; do not open a shell.
    #[arg(long, short)]
    pub detach: bool,
    /// Print the sandbox as JSON (implies --detach).
    #[arg(long)]
    pub json: bool,
}

/// `airlock exec`
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Allocate a terminal (default: when stdin is a terminal).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run as root inside the sandbox (never root on the host).
    #[arg(long)]
    pub root: bool,
    /// Working directory inside the sandbox.
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Sandbox name (or id).
    pub name: String,
    /// The command and its arguments (after --).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `airlock ssh`
#[derive(Debug, Args)]
pub struct SshArgs {
    /// Sandbox name (or id).
    pub name: String,
    /// Log in as root inside the sandbox.
    #[arg(long)]
    pub root: bool,
}

/// `airlock cp`
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Copy directories recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Source: a local path or NAME:PATH.
    pub src: String,
    /// Destination: a local path or NAME:PATH.
    pub dst: String,
}

/// `airlock svc`
#[derive(Debug, Args)]
pub struct SvcArgs {
    /// The sandbox (required outside a sandbox).
    #[arg(long, value_name = "NAME")]
    pub sandbox: String,
    /// What to do.
    #[command(subcommand)]
    pub command: SvcCommand,
}

/// `airlock svc ...`
#[derive(Debug, Subcommand)]
pub enum SvcCommand {
    /// Start a service: NAME -- COMMAND ARGS...
    #[command(trailing_var_arg = true)]
    Start {
        /// Service name.
        name: String,
        /// Restart it when it exits abnormally.
        #[arg(long)]
        restart: bool,
        /// The command and its arguments.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Stop a service.
    Stop {
        /// Service name.
        name: String,
    },
    /// Restart a service.
    Restart {
        /// Service name.
        name: String,
    },
    /// List services.
    Ls(JsonFlag),
    /// Show a service's log (kept on disk in the sandbox).
    Logs {
        /// Service name.
        name: String,
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long)]
        tail: Option<usize>,
    },
}

/// `airlock image ...`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a Debian image with debootstrap (cached: same inputs, no rebuild).
    Build {
        /// Image name.
        name: String,
        /// Comma-separated Debian packages, e.g. git,python3,nodejs.
        #[arg(long, value_delimiter = ',')]
        packages: Vec<String>,
        /// Debian suite (default bookworm).
        #[arg(long)]
        suite: Option<String>,
    },
    /// List images.
    Ls(JsonFlag),
    /// Remove an image (refused while a sandbox uses it).
    Rm {
        /// Image name.
        name: String,
    },
}

/// `airlock admin policy ...`
#[derive(Debug, Subcommand)]
pub enum AdminPolicyCommand {
    /// Replace the policy set with FILE or every *.cedar (and *.toml/*.json
    /// examples) in DIR; refused sets change nothing.
    Set {
        /// A .cedar file or a directory of them.
        path: PathBuf,
    },
    /// Show the policy set in force.
    Get(JsonFlag),
    /// Go back to the built-in starter set.
    Reset,
}

/// `airlock policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Explain the decision for one request: every matching policy, and why.
    Check(PolicyCheckArgs),
}

/// `airlock policy check`
#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The user.
    #[arg(long)]
    pub user: String,
    /// Decide as this sandbox's workload (user's policies AND its profile).
    #[arg(long, value_name = "ID")]
    pub sandbox: Option<String>,
    /// The action, e.g. http.request, inference.call, sandbox.exec.
    #[arg(long)]
    pub action: String,
    /// cluster, audit, sandbox:ID, http:NAME, inference:NAME or egress:HOST:PORT.
    #[arg(long)]
    pub resource: String,
    /// Context as a JSON object, e.g. '{"method":"GET","path":"/repos"}'.
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `airlock admin profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Load profile NAME from a .cedar file (policies over Workload principals).
    Set {
        /// Profile name (`sandbox create --profile NAME`).
        name: String,
        /// The .cedar file.
        file: PathBuf,
    },
    /// List profiles.
    Ls(JsonFlag),
    /// Remove a profile (refused while a live sandbox uses it).
    Rm {
        /// Profile name.
        name: String,
    },
}

/// `airlock admin secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set a secret; the value is read from stdin (or a no-echo prompt).
    Set {
        /// Name (`${secret:NAME}` refers to it).
        name: String,
        /// Read the value from stdin (all of it, trailing newline removed).
        #[arg(long)]
        value_stdin: bool,
    },
    /// List secret names (values are never shown).
    Ls(JsonFlag),
    /// Remove a secret (refused while a resource uses it).
    Rm {
        /// Name.
        name: String,
    },
}

/// `airlock admin resource ...`
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register a resource.
    #[command(subcommand)]
    Add(ResourceAdd),
    /// List resources.
    Ls(JsonFlag),
    /// Remove a resource.
    Rm {
        /// Name.
        name: String,
    },
}

/// `airlock admin resource add ...`
#[derive(Debug, Subcommand)]
pub enum ResourceAdd {
    /// An HTTP API; requests to its host go through policy and get its headers.
    Http {
        /// Name policy refers to.
        name: String,
        /// Base URL, e.g. https://api.github.com.
        #[arg(long)]
        url: String,
        /// Header to inject, 'Name: value with ${secret:NAME}' (repeatable).
        #[arg(long = "inject-header", value_name = "HEADER")]
        inject_headers: Vec<String>,
        /// Trust only this CA (PEM file) for the upstream.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
    /// An LLM endpoint (OpenAI- or Anthropic-compatible).
    Inference {
        /// Name policy refers to.
        name: String,
        /// openai or anthropic.
        #[arg(long, value_parser = ["openai", "anthropic"])]
        kind: String,
        /// Base URL, e.g. https://api.openai.com/v1.
        #[arg(long)]
        url: String,
        /// The secret holding the API key.
        #[arg(long)]
        secret: String,
        /// Allowed model patterns, comma-separated (e.g. 'gpt-4o*,o3-mini').
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Requests per minute per user.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens per day per user.
        #[arg(long)]
        tokens_per_day: Option<u64>,
        /// Record bodies in audit events, capped at this many bytes.
        #[arg(long, value_name = "BYTES")]
        log_bodies: Option<usize>,
        /// Trust only this CA (PEM file) for the upstream.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
}
