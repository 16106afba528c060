//! Exit codes that mean something, and the error type that carries one.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | failure not covered below |
//! | 2 | bad usage or bad input (also clap's usage errors) |
//! | 3 | not logged in, or the login is no longer valid |
//! | 4 | not allowed |
//! | 5 | not found |
//! | 6 | already exists, or conflicts with the current state |
//! | 7 | server unreachable, unavailable or throttling |

use std::fmt;

/// A process exit code with a meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Failure not covered below.
    Failure = 1,
    /// Bad usage or input.
    Usage = 2,
    /// Not logged in, or login no longer valid.
    Auth = 3,
    /// Not allowed.
    Denied = 4,
    /// Not found.
    NotFound = 5,
    /// Already exists / conflict.
    Conflict = 6,
    /// Server unreachable or unavailable.
    Unavailable = 7,
}

/// The exit-code table, for `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 success, 1 failure, 2 bad usage or input, \
3 not logged in or login invalid, 4 not allowed, 5 not found, 6 already exists or conflict, \
7 server unreachable or unavailable.";

/// An error whose exit code is known.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub exit: Exit,
    /// One line for the user.
    pub message: String,
}

impl CliError {
    /// Builds an error.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Shorthand for a usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    CliError::new(Exit::Usage, message).into()
}

/// The exit code for any error: a [`CliError`] anywhere in the chain decides,
/// otherwise 1.
pub fn code_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|e| e.downcast_ref::<CliError>())
        .map_or(Exit::Failure, |e| e.exit)
}
