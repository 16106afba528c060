//! One module per command family.

mod admin;
mod audit;
mod login;
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
        Command::Play(a) => audit::play(a),
    }
}
