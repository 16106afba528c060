//! One module per command family.

mod admin;
mod audit;
mod cp;
mod exec;
mod login;
mod policy;
mod sandbox;
mod server;

use crate::cli::{Cli, Command};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(c) => server::run(c).await,
        Command::Login(a) => login::login(a).await,
        Command::Logout(a) => login::logout(a).await,
        Command::Whoami(a) => login::whoami(a).await,
        Command::Admin(c) => admin::run(c).await,
        Command::Audit(c) => audit::run(c).await,
        Command::Play(a) => audit::play(a).await,
        Command::Policy(c) => policy::check(c).await,
        Command::Sandbox(c) => sandbox::run(c).await,
        Command::Exec(a) => exec::exec(a).await,
        Command::Ssh(a) => exec::ssh(a).await,
        Command::Cp(a) => cp::cp(a).await,
        Command::Svc(a) => sandbox::svc(a).await,
        Command::Image(c) => sandbox::image(c).await,
        Command::Doctor(a) => sandbox::doctor(a).await,
    }
}
