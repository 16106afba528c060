//! The local terminal: raw mode while a remote shell owns it, and its size.

use std::io::IsTerminal;

use rustix::termios::{self, OptionalActions, Termios};

/// Puts stdin's terminal into raw mode; restores it when dropped (also on
/// errors and early returns).
#[derive(Debug)]
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal.
    pub fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// (rows, cols) of the terminal on stdout, if it is one.
pub fn size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let ws = termios::tcgetwinsize(&stdout).ok()?;
    Some((ws.ws_row, ws.ws_col))
}
