//! `airlock`: the one binary. Client commands talk to the control plane's
//! HTTPS API; `airlock server` runs it.

mod cli;
mod client;
mod cmd;
mod exit;
mod home;
mod output;
mod password;
mod terminal;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ServerCommand};

/// mimalloc instead of glibc's malloc: the proxy and the API allocate per
/// request on every worker thread, and glibc's arenas made a fifth of the
/// proxy's CPU time allocation and arena-lock waits; with mimalloc the proxy
/// serves about 1.6 times the requests per second (docs/benchmarks.md).
/// SQLite still allocates through glibc; `main` tunes that
/// (`airlock_sys::malloc::keep_freed_memory`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_panics();
    let cli = Cli::parse();
    init_tracing(&cli.command);
    if let Err(e) = airlock_sys::malloc::keep_freed_memory() {
        tracing::warn!("keeping glibc's freed memory: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(cmd::run(cli));
    // Do not wait for blocking readers (a terminal's stdin never ends).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints the error as one line and maps it to its exit code.
fn fail(err: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {err:#}");
    ExitCode::from(exit::code_of(err) as u8)
}

/// Logs go to stderr; the server logs at info, clients only warn. Override
/// with `AIRLOCK_LOG` (e.g. `AIRLOCK_LOG=debug`).
fn init_tracing(command: &Command) {
    let default = match command {
        Command::Server(ServerCommand::Start(_)) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// A panic is a bug; report it in one line (set RUST_BACKTRACE=1 for the
/// trace) instead of showing users a backtrace.
fn quiet_panics() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "error: internal error ({info}); this is a bug, please report it"
        );
    }));
}
