//! Control messages: JSON, internally tagged by `"type"`, snake_case.
//!
//! Unknown fields are ignored so either side can add optional fields without
//! a version bump; unknown message types are an error the receiver reports on
//! the stream they arrived on.
//!
//! Which messages open a stream, and who may send them, is part of the
//! protocol: see [`Control::opener`]. Each stream ends with exactly one
//! terminal message ([`Control::is_terminal`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::WireError;
use crate::frame::Role;

/// Every control message of the host↔init channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    // --- connection (stream 0) -------------------------------------------
    /// init → host, first frame: who is calling and the proof (the token the
    /// host put in init's environment). The host answers `Welcome` or closes.
    Hello {
        /// [`crate::PROTOCOL_VERSION`] of init.
        version: u32,
        /// The per-sandbox secret, hex.
        token: String,
        /// The sandbox id init was started for.
        sandbox_id: String,
    },
    /// host → init: the hello was accepted.
    Welcome {
        /// The host's protocol version.
        version: u32,
    },
    /// Liveness probe, either direction.
    Ping {
        /// Echoed in the `Pong`.
        nonce: u64,
    },
    /// Answer to `Ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },

    // --- exec (host opens) ----------------------------------------------
    /// Run a process. Answered by `Started`, then stdout/stderr data, then
    /// `Exited` (or `Error` if it could not start).
    Exec(ExecRequest),
    /// The process is running.
    Started {
        /// Its pid inside the sandbox.
        pid: u32,
    },
    /// host → init: no more stdin (close the process's stdin).
    StdinEof,
    /// host → init: the terminal changed size (PTY sessions only).
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// host → init: deliver a signal to the process's group.
    Signal {
        /// Signal number (Linux numbering).
        signo: i32,
    },
    /// init → host: the process ended and its output is drained. Terminal.
    Exited {
        /// How it ended.
        status: ExitStatus,
    },

    // --- file copy (host opens) -----------------------------------------
    /// Write data frames to `path` inside the sandbox, until `DataEnd`.
    /// Answered by `Done` or `Error`.
    CopyIn {
        /// Absolute destination path inside the sandbox.
        path: String,
        /// A single file or a tar archive unpacked into the directory `path`.
        format: CopyFormat,
        /// Mode for a single file (default 0644).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        /// Owner of what is written.
        #[serde(default)]
        user: User,
    },
    /// Read `path` inside the sandbox: data frames then `Done`, or `Error`.
    CopyOut {
        /// Absolute source path inside the sandbox.
        path: String,
        /// A single file's bytes, or a tar archive of the directory tree.
        format: CopyFormat,
        /// Whose permissions the read is made with.
        #[serde(default)]
        user: User,
    },
    /// The sender has no more data frames for this stream.
    DataEnd,
    /// Success. Terminal.
    Done {
        /// Bytes transferred (copy) or 0.
        #[serde(default)]
        bytes: u64,
    },

    // --- services (host opens; also the in-sandbox `airlock svc`) --------
    /// A service command. Answered by `Services`, `Done`, log data + `Done`,
    /// or `Error`.
    Svc(SvcRequest),
    /// The state of services. Terminal.
    Services {
        /// One entry per known service.
        services: Vec<ServiceInfo>,
    },
    /// Either side: stop this stream's work (e.g. a followed log). The
    /// receiver answers with the stream's terminal message.
    Cancel,

    // --- identity (init opens) ------------------------------------------
    /// init → host: issue the workload X.509-SVID for this CSR (the key was
    /// generated inside the sandbox and never leaves it).
    SvidRequest {
        /// PKCS#10 DER.
        #[serde(with = "b64")]
        csr_der: Vec<u8>,
    },
    /// host → init: the SVID. Terminal.
    SvidResponse {
        /// The SPIFFE ID in the certificate.
        spiffe_id: String,
        /// Leaf first, then intermediates; DER.
        #[serde(with = "b64::list")]
        cert_chain_der: Vec<Vec<u8>>,
        /// Trusted CA certificates of the trust domain; DER.
        #[serde(with = "b64::list")]
        bundle_der: Vec<Vec<u8>>,
        /// The leaf's notAfter, seconds since the epoch.
        expires_unix: u64,
    },
    /// init → host: mint a JWT-SVID.
    JwtRequest {
        /// The single audience.
        audience: String,
        /// Requested lifetime in seconds (the host clamps it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_secs: Option<u32>,
    },
    /// host → init: the JWT-SVID. Terminal.
    JwtResponse {
        /// The SPIFFE ID in `sub`.
        spiffe_id: String,
        /// Compact JWS.
        token: String,
    },
    /// init → host: the JWT signing keys.
    JwtBundleRequest,
    /// host → init: the JWKS. Terminal.
    JwtBundleResponse {
        /// Trust domain the keys belong to.
        trust_domain: String,
        /// JWK Set, JSON text.
        jwks: String,
    },

    /// The request failed; the message is meant for a human. Terminal.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Control {
    /// The JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("control messages always serialize")
    }

    /// Parses a JSON control payload.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WireError> {
        serde_json::from_slice(bytes).map_err(|e| WireError::BadMessage(e.to_string()))
    }

    /// An `Error` message.
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
        }
    }

    /// If this message opens a stream: the role allowed to send it.
    /// Anything else arriving on an unknown stream is a protocol error.
    pub fn opener(&self) -> Option<Role> {
        match self {
            Self::Exec(_) | Self::CopyIn { .. } | Self::CopyOut { .. } | Self::Svc(_) => {
                Some(Role::Host)
            }
            Self::SvidRequest { .. } | Self::JwtRequest { .. } | Self::JwtBundleRequest => {
                Some(Role::Init)
            }
            _ => None,
        }
    }

    /// Whether this message ends its stream.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Exited { .. }
                | Self::Done { .. }
                | Self::Services { .. }
                | Self::SvidResponse { .. }
                | Self::JwtResponse { .. }
                | Self::JwtBundleResponse { .. }
                | Self::Error { .. }
        )
    }
}

/// Who a process runs as inside the sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum User {
    /// The unprivileged `agent` user (uid/gid 1000), with every capability
    /// dropped and `no_new_privs`. The default.
    #[default]
    Agent,
    /// Root inside the sandbox (mapped to an unprivileged host uid).
    Root,
}

/// A terminal to allocate for the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tty {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// `TERM` for the process, e.g. `xterm-256color`.
    pub term: String,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// Program and arguments; the program is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Extra environment, on top of the user's defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory (default: `/workspace` for agent, `/root` for root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Who runs it.
    #[serde(default)]
    pub user: User,
    /// A PTY instead of pipes; then all output arrives as stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<Tty>,
}

impl ExecRequest {
    /// Runs `argv` as the agent user with pipes.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            user: User::Agent,
            tty: None,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// The shell convention: the code, or 128 + signal.
    pub fn shell_code(self) -> i32 {
        match self {
            Self::Code(c) => c,
            Self::Signal(s) => 128 + s,
        }
    }
}

/// The shape of copied data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyFormat {
    /// One regular file's bytes.
    File,
    /// A tar archive of a directory tree (`cp -r`).
    Tar,
}

/// A service command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SvcRequest {
    /// Start a named service that outlives the session that started it.
    Start {
        /// Service name (letters, digits, `-`, `_`, `.`).
        name: String,
        /// What to run, as for exec.
        exec: ExecRequest,
        /// Restart it when it exits abnormally.
        #[serde(default)]
        restart_on_failure: bool,
    },
    /// Stop it (SIGTERM, then SIGKILL after a grace period).
    Stop {
        /// Service name.
        name: String,
    },
    /// Stop, then start again with the same command.
    Restart {
        /// Service name.
        name: String,
    },
    /// List services.
    Ls,
    /// Stream its log file: the last `tail` lines, then (with `follow`) new
    /// lines as they are written, until `Cancel`.
    Logs {
        /// Service name.
        name: String,
        /// Keep streaming.
        #[serde(default)]
        follow: bool,
        /// Only the last N lines (all if absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tail: Option<usize>,
    },
}

/// Whether a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Running.
    Running,
    /// Exited (see `last_exit`) and not restarting.
    Exited,
    /// Stopped on request.
    Stopped,
}

/// One row of `svc ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Service name.
    pub name: String,
    /// State.
    pub state: ServiceState,
    /// Pid while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How it last ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<ExitStatus>,
    /// Times it was restarted after a crash.
    #[serde(default)]
    pub restarts: u32,
    /// The command line.
    pub argv: Vec<String>,
    /// Where its log is.
    pub log_path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(msg: Control) {
        let json = msg.to_json();
        assert_eq!(
            Control::from_json(&json).unwrap(),
            msg,
            "{}",
            String::from_utf8_lossy(&json)
        );
    }

    #[test]
    fn every_message_round_trips() {
        let exec = ExecRequest {
            tty: Some(Tty {
                rows: 24,
                cols: 80,
                term: "xterm".into(),
            }),
            user: User::Root,
            cwd: Some("/tmp".into()),
            env: [("A".to_string(), "b".to_string())].into(),
            ..ExecRequest::new(["sh", "-c", "true"])
        };
        for msg in [
            Control::Hello {
                version: 1,
                token: "ab".into(),
                sandbox_id: "sb-1".into(),
            },
            Control::Welcome { version: 1 },
            Control::Ping { nonce: 9 },
            Control::Exec(exec.clone()),
            Control::Exited {
                status: ExitStatus::Signal(9),
            },
            Control::CopyIn {
                path: "/w".into(),
                format: CopyFormat::Tar,
                mode: Some(0o600),
                user: User::Agent,
            },
            Control::Svc(SvcRequest::Start {
                name: "web".into(),
                exec,
                restart_on_failure: true,
            }),
            Control::Svc(SvcRequest::Logs {
                name: "web".into(),
                follow: true,
                tail: Some(10),
            }),
            Control::SvidRequest {
                csr_der: vec![0, 1, 255],
            },
            Control::SvidResponse {
                spiffe_id: "spiffe://td/x".into(),
                cert_chain_der: vec![vec![1, 2], vec![3]],
                bundle_der: vec![vec![4]],
                expires_unix: 42,
            },
            Control::JwtBundleRequest,
            Control::error("nope"),
        ] {
            round_trip(msg);
        }
    }

    #[test]
    fn wire_shape_is_readable_json() {
        let json = String::from_utf8(
            Control::Exited {
                status: ExitStatus::Code(3),
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(json, r#"{"type":"exited","status":{"code":3}}"#);
        let csr = String::from_utf8(
            Control::SvidRequest {
                csr_der: vec![1, 2, 3],
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(csr, r#"{"type":"svid_request","csr_der":"AQID"}"#);
    }

    #[test]
    fn unknown_fields_are_ignored_unknown_types_refused() {
        let m = Control::from_json(br#"{"type":"ping","nonce":1,"future":true}"#).unwrap();
        assert_eq!(m, Control::Ping { nonce: 1 });
        assert!(matches!(
            Control::from_json(br#"{"type":"teleport"}"#),
            Err(WireError::BadMessage(_))
        ));
        assert!(Control::from_json(br#"{"type":"svid_request","csr_der":"!!"}"#).is_err());
    }

    #[test]
    fn defaults_keep_requests_short() {
        let m = Control::from_json(br#"{"type":"exec","argv":["id"]}"#).unwrap();
        assert_eq!(m, Control::Exec(ExecRequest::new(["id"])));
    }

    #[test]
    fn openers_and_terminals() {
        assert_eq!(
            Control::Exec(ExecRequest::new(["x"])).opener(),
            Some(Role::Host)
        );
        assert_eq!(Control::JwtBundleRequest.opener(), Some(Role::Init));
        assert_eq!(Control::Ping { nonce: 0 }.opener(), None);
        assert!(Control::error("x").is_terminal());
        assert!(!Control::Started { pid: 1 }.is_terminal());
        assert_eq!(ExitStatus::Signal(15).shell_code(), 143);
    }
}
