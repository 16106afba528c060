//! `airlock-init`: PID 1 inside every Airlock sandbox.
//!
//! One static binary, two personalities chosen by the name it was run as:
//! - `airlock-init` (the OCI process): the init ([`init::run`]).
//! - `airlock` (a symlink or copy inside the sandbox): the small in-sandbox
//!   CLI, `airlock svc ...`, which asks init over a local socket ([`cli`]).
//! - `airlock-copy`: the unprivileged helper init starts for each file copy
//!   ([`copy::helper`]).
//!
//! Architecture invariants:
//! - Everything from the host channel is a request to serve, never code to
//!   run as init: exec'd processes run as `agent` (no capabilities,
//!   no_new_privs) unless root is asked for, and file copies are done with
//!   the requesting user's identity.
//! - The channel token is removed from init's environment before any thread
//!   starts, and init is non-dumpable, so the workload cannot read it.
//! - The workload's private key is generated here and never sent anywhere.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod copy;
mod env;
mod exec;
mod hostlink;
mod identity;
mod init;
mod pipes;
mod proxy;
mod reaper;
mod svc;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match name.as_str() {
        "airlock" => return cli::main(args),
        copy::HELPER_NAME => return copy::helper::main(&args),
        _ => {}
    }
    init::main()
}
