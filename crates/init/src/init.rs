//! PID 1: set up, start every duty, wait for SIGTERM/SIGINT, shut down.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airlock_sys::seccomp::{self, Program};
use airlock_sys::{netif, selfproc};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{Config, SECCOMP_ENV, TOKEN_ENV};
use crate::hostlink::{self, HostLink};
use crate::identity::{self, Identity};
use crate::reaper::Reaper;
use crate::{proxy, svc};

/// How long children get to exit after SIGTERM when init stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the request handlers share.
#[derive(Debug)]
pub struct Ctx {
    /// Paths and the agent user.
    pub config: Config,
    /// Spawns children and reaps every zombie.
    pub reaper: Arc<Reaper>,
    /// Services.
    pub services: Arc<svc::Manager>,
    /// The host channel.
    pub link: HostLink,
    /// The workload SVID.
    pub identity: Identity,
}

/// The init entry point.
pub fn main() -> ExitCode {
    // First, while single-threaded: take the token out of our environment
    // so no child (and no reader of /proc/1/environ) ever sees it.
    let token = match selfproc::take_env(TOKEN_ENV) {
        Ok(Some(t)) if !t.is_empty() => t,
        Ok(_) => {
            return fail(&format!(
                "{TOKEN_ENV} is not set: start airlock-init through an Airlock runtime"
            ));
        }
        Err(e) => return fail(&format!("cannot scrub the environment: {e}")),
    };
    // Still single-threaded: every thread and child from here on inherits
    // the filter. Fails closed: a sandbox meant to be filtered never runs
    // unfiltered.
    if let Err(e) = install_seccomp() {
        return fail(&e);
    }
    init_tracing();
    if let Err(e) = selfproc::set_non_dumpable() {
        tracing::warn!(error = %e, "cannot make init non-dumpable");
    }
    if std::process::id() != 1
        && let Err(e) = selfproc::set_child_subreaper()
    {
        tracing::warn!(error = %e, "cannot become the subreaper of orphans");
    }
    let environ: Vec<(String, String)> = std::env::vars().collect();
    let config = Config::from_env(|k| std::env::var(k).ok(), &environ);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(run(config, token))
}

/// Installs the programs of the file `$AIRLOCK_SECCOMP` names, if set.
fn install_seccomp() -> Result<(), String> {
    let Some(path) = std::env::var_os(SECCOMP_ENV) else {
        return Ok(());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read the seccomp programs at {shown}: {e}"))?;
    let programs = Program::decode_all(&bytes)
        .map_err(|e| format!("the seccomp programs at {shown} are damaged: {e}"))?;
    for p in &programs {
        seccomp::install(p).map_err(|e| format!("cannot install the seccomp filter: {e}"))?;
    }
    Ok(())
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("airlock-init: {msg}");
    ExitCode::from(2)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_INIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn run(config: Config, token: String) -> ExitCode {
    match netif::bring_up("lo") {
        Ok(true) => tracing::info!("brought up lo"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot bring up lo"),
    }
    if let Err(e) = install_cli(&config) {
        tracing::warn!(error = %e, "cannot install the airlock command");
    }
    let reaper = Arc::new(Reaper::default());
    let ctx = Arc::new(Ctx {
        services: svc::Manager::new(config.clone(), reaper.clone()),
        config,
        reaper: reaper.clone(),
        link: HostLink::new(),
        identity: Identity::new(),
    });
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => return fail("cannot install signal handlers"),
    };
    tokio::spawn(async move {
        if let Err(e) = reaper.run().await {
            tracing::error!(error = %e, "cannot reap children");
        }
    });
    start_duties(&ctx, token);
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown(&ctx).await;
    ExitCode::SUCCESS
}

/// Makes `airlock svc ...` available inside: a symlink named `airlock` to
/// this very binary (multi-call on argv[0]), in a directory exec'd processes
/// have first in PATH. The image needs nothing for it.
fn install_cli(config: &Config) -> std::io::Result<()> {
    let dir = config.bin_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let link = dir.join("airlock");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(std::env::current_exe()?, link)
}

fn start_duties(ctx: &Arc<Ctx>, token: String) {
    tokio::spawn(hostlink::run(ctx.clone(), token));
    tokio::spawn(identity::run(ctx.clone()));
    let c = ctx.clone();
    tokio::spawn(async move {
        if let Err(e) = identity::serve(c.clone(), &c.config.workload_sock()).await {
            tracing::error!(error = %e, "cannot serve the Workload API");
        }
    });
    let c = ctx.clone();
    tokio::spawn(async move {
        let sock = c.config.svc_sock();
        if let Err(e) = svc::serve_local_socket(c.services.clone(), &sock, &c.config.agent).await {
            tracing::error!(error = %e, "cannot serve {}", sock.display());
        }
    });
    let c = ctx.clone();
    tokio::spawn(async move {
        if let Err(e) = proxy::serve(c.config.proxy_listen, c.config.proxy_sock()).await {
            tracing::error!(error = %e, "cannot run the proxy bridge");
        }
    });
}

/// Forwards SIGTERM to services and every other child, waits for them a
/// while, then kills what is left.
async fn shutdown(ctx: &Ctx) {
    const SIGTERM: i32 = 15;
    const SIGKILL: i32 = 9;
    let waits = ctx.services.terminate_all();
    ctx.reaper.signal_all(SIGTERM);
    let all_gone = async {
        for mut w in waits {
            let _ = w.wait_for(|done| *done).await;
        }
        while ctx.reaper.live() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, all_gone)
        .await
        .is_err()
    {
        ctx.reaper.signal_all(SIGKILL);
    }
}
