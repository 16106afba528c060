//! Driving an OCI runtime CLI (`runc`, `runsc`): both take a `--root` state
//! directory and the same `run --detach --bundle`, `delete --force`,
//! `list --quiet` commands.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;
use tracing::debug;

use crate::error::{Result, SandboxError};
use crate::layout::SandboxPaths;

/// An OCI runtime binary with its global flags.
#[derive(Debug, Clone)]
pub struct OciCli {
    /// `runc` or `runsc`, for messages.
    pub name: &'static str,
    /// The binary.
    pub binary: PathBuf,
    /// Flags before the subcommand (`--root`, platform, network, ...).
    pub global: Vec<OsString>,
}

impl OciCli {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(&self.global).kill_on_drop(true);
        c
    }

    /// `<runtime> --version`, first line.
    pub async fn version(binary: &Path) -> Result<String, String> {
        let out = Command::new(binary)
            .arg("--version")
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().next() {
            Some(l) if out.status.success() => Ok(l.trim().to_string()),
            _ => Err(format!("{} --version failed", binary.display())),
        }
    }

    /// Runs the bundle detached. The container's stdio (init's) goes to
    /// `init.log`; so does the runtime's own error output, whose tail
    /// becomes the error message when the start fails.
    pub async fn run_detached(&self, id: &str, paths: &SandboxPaths) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.init_log())
            .map_err(SandboxError::io(format!(
                "opening {}",
                paths.init_log().display()
            )))?;
        let err = log
            .try_clone()
            .map_err(SandboxError::io("duplicating the init log descriptor"))?;
        let status = self
            .command()
            .args(["run", "--detach", "--bundle"])
            .arg(paths.bundle())
            .arg(id)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .status()
            .await
            .map_err(SandboxError::io(format!(
                "running {}",
                self.binary.display()
            )))?;
        if status.success() {
            return Ok(());
        }
        Err(self.failed("run", tail(&paths.init_log())))
    }

    /// `delete --force`: kills whatever runs, removes state and cgroups.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let out = self
            .command()
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(SandboxError::io(format!(
                "running {}",
                self.binary.display()
            )))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || is_not_found(&stderr) {
            debug!(runtime = self.name, id, "deleted");
            return Ok(());
        }
        Err(self.failed("delete", last_lines(&stderr)))
    }

    /// `list --quiet`: the ids in this runtime's state directory.
    pub async fn list(&self) -> Result<Vec<String>> {
        let out = self
            .command()
            .args(["list", "--quiet"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(SandboxError::io(format!(
                "running {}",
                self.binary.display()
            )))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(self.failed("list", last_lines(&stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    fn failed(&self, action: &'static str, detail: String) -> SandboxError {
        SandboxError::Runtime {
            runtime: self.name,
            action,
            detail,
        }
    }
}

/// Whether a runtime's error says the container is not there.
fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("does not exist") || s.contains("not found") || s.contains("no such")
}

/// The last lines of a log, as a one-line error detail.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    last_lines(&text)
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let joined = lines[start..].join(" | ");
    if joined.is_empty() {
        "no error output".to_string()
    } else {
        joined.chars().take(600).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_messages() {
        assert!(is_not_found("container \"x\" does not exist"));
        assert!(is_not_found("Error: container not found"));
        assert!(!is_not_found("permission denied"));
    }

    #[test]
    fn last_lines_are_short() {
        assert_eq!(last_lines("a\n\nb\nc\nd\n"), "b | c | d");
        assert_eq!(last_lines(""), "no error output");
    }
}
