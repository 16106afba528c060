//! `airlock server init|start`.

use airlock_control::{DataDir, InitError, InitOptions, Server, ServerError};
use airlock_core::{TrustDomain, UserName};

use crate::cli::{InitArgs, ServerCommand, StartArgs};
use crate::exit::{CliError, Exit, usage};
use crate::{output, password};

pub async fn run(cmd: ServerCommand) -> anyhow::Result<()> {
    match cmd {
        // Init does blocking work (key generation, argon2, fsync); keep it
        // off the async runtime's threads.
        ServerCommand::Init(a) => tokio::task::spawn_blocking(move || init(a)).await?,
        ServerCommand::Start(a) => start(a).await,
    }
}

fn init(a: InitArgs) -> anyhow::Result<()> {
    let admin = UserName::new(a.admin).map_err(|e| usage(e.to_string()))?;
    let trust_domain = TrustDomain::new(a.trust_domain).map_err(|e| usage(e.to_string()))?;
    let dir = DataDir::new(&a.data_dir);
    if dir.has_cluster_files() {
        // Checked before asking for a password, so a mistake costs nothing.
        return Err(init_error(InitError::AlreadyInitialized(
            a.data_dir.display().to_string(),
        )));
    }
    let password = password::read(a.password_stdin, "Admin password: ", true)?;
    let opts = InitOptions {
        admin: admin.clone(),
        password,
        trust_domain: trust_domain.clone(),
        cluster_name: a.cluster_name.clone(),
    };
    let summary = airlock_control::init(&dir, &opts).map_err(init_error)?;
    let fp = airlock_ca::format_fingerprint(&summary.ca_fingerprint);
    output::say(format!(
        "Initialized cluster {:?} in {}",
        a.cluster_name,
        a.data_dir.display()
    ));
    output::say(format!("  CA fingerprint: {fp}"));
    output::say(format!("  trust domain:   {trust_domain}"));
    output::say(format!("  admin:          {admin}"));
    output::say(format!("  audit key:      {}", summary.audit_key));
    output::say(format!(
        "Next: airlock server start --data-dir {}",
        a.data_dir.display()
    ));
    Ok(())
}

fn init_error(e: InitError) -> anyhow::Error {
    let exit = match e {
        InitError::AlreadyInitialized(_) => Exit::Conflict,
        InitError::WeakPassword(_) => Exit::Usage,
        _ => Exit::Failure,
    };
    CliError::new(exit, e.to_string()).into()
}

async fn start(a: StartArgs) -> anyhow::Result<()> {
    let dir = DataDir::new(&a.data_dir);
    let server = Server::load(&dir, a.listen).await.map_err(|e| {
        let exit = match e {
            ServerError::NotInitialized(_) | ServerError::Config(_) => Exit::Usage,
            _ => Exit::Failure,
        };
        CliError::new(exit, e.to_string())
    })?;
    let url = server.public_url().to_owned();
    output::say(format!("Airlock server listening on {url}"));
    output::say(format!(
        "  CA fingerprint: {}",
        airlock_ca::format_fingerprint(server.ca_fingerprint())
    ));
    output::say(format!(
        "  log in with:    airlock login --server {url} --user NAME --ca-fingerprint {}",
        server.ca_fingerprint()
    ));
    server.serve(shutdown_signal()).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
