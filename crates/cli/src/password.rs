//! Reading passwords: from stdin for scripts, from a no-echo prompt for people.

use std::io::{BufRead, IsTerminal};

use crate::exit::usage;

/// Reads a password: the first line of stdin with `from_stdin`, else a
/// prompt (twice when `confirm`) on the terminal.
pub fn read(from_stdin: bool, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\n', '\r']).to_owned();
        if pw.is_empty() {
            return Err(usage(
                "--password-stdin: stdin had no password; pipe one, e.g. `echo \"$PW\" | airlock ...`",
            ));
        }
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "no terminal to ask for a password: pass --password-stdin and pipe the password",
        ));
    }
    let pw = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("Repeat password: ")? != pw {
        return Err(usage("the passwords do not match"));
    }
    Ok(pw)
}
