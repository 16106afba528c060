//! Services: named processes that outlive the session that started them,
//! with their output appended to `/var/log/airlock/<name>.log`.
//!
//! Reached two ways, with the same requests: from the host over the channel
//! (`airlock svc --sandbox NAME ...`) and from inside over a local socket
//! (`airlock svc ...`), where every service runs as the agent.

mod logs;
mod serve;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use airlock_sys::process::kill_group;
use airlock_wire::{ExecRequest, ExitStatus, ServiceInfo, ServiceState, User};
use tokio::sync::watch;

use crate::config::Config;
use crate::exec;
use crate::reaper::Reaper;

pub use serve::{Reply, handle, serve_local_socket};

/// How long a stopping service gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

/// Every service of the sandbox.
#[derive(Debug)]
pub struct Manager {
    config: Config,
    reaper: Arc<Reaper>,
    services: Mutex<HashMap<String, Service>>,
}

#[derive(Debug)]
struct Service {
    exec: ExecRequest,
    restart_on_failure: bool,
    state: ServiceState,
    pid: Option<u32>,
    last_exit: Option<ExitStatus>,
    restarts: u32,
    /// Bumped on every (re)start, so a monitor of an old run stands down.
    generation: u64,
    /// Turns true when the current run has been reaped.
    exited: watch::Receiver<bool>,
}

impl Manager {
    /// A manager with no services.
    pub fn new(config: Config, reaper: Arc<Reaper>) -> Arc<Self> {
        Arc::new(Self {
            config,
            reaper,
            services: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Service>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log file of service `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.config.log_dir.join(format!("{name}.log"))
    }

    /// Starts service `name`.
    pub fn start(
        self: &Arc<Self>,
        name: &str,
        exec: ExecRequest,
        restart_on_failure: bool,
    ) -> Result<ServiceInfo, String> {
        check_name(name)?;
        let mut services = self.lock();
        if let Some(s) = services.get(name)
            && s.state == ServiceState::Running
        {
            return Err(format!("service {name} is already running"));
        }
        let generation = services.get(name).map_or(0, |s| s.generation) + 1;
        let (pid, exited) = self.spawn(name, &exec, generation)?;
        let restarts = services.get(name).map_or(0, |s| s.restarts);
        let service = Service {
            exec,
            restart_on_failure,
            state: ServiceState::Running,
            pid: Some(pid),
            last_exit: None,
            restarts,
            generation,
            exited,
        };
        let info = self.info(name, &service);
        services.insert(name.to_owned(), service);
        tracing::info!(service = name, pid, "service started");
        Ok(info)
    }

    /// Stops service `name`: SIGTERM to its process group, SIGKILL after
    /// the grace period.
    pub async fn stop(self: &Arc<Self>, name: &str) -> Result<ServiceInfo, String> {
        let (pid, mut exited) = {
            let mut services = self.lock();
            let s = services
                .get_mut(name)
                .ok_or_else(|| format!("no service named {name}"))?;
            match (s.state, s.pid) {
                (ServiceState::Running, Some(pid)) => {
                    s.state = ServiceState::Stopped;
                    (pid, s.exited.clone())
                }
                _ => return Ok(self.info(name, s)),
            }
        };
        let _ = kill_group(pid, SIGTERM);
        let waited = tokio::time::timeout(STOP_GRACE, exited.wait_for(|done| *done))
            .await
            .is_ok();
        if !waited {
            let _ = kill_group(pid, SIGKILL);
            let _ = exited.wait_for(|done| *done).await;
        }
        self.get(name)
    }

    /// Stops (if running) and starts service `name` with the same command.
    pub async fn restart(self: &Arc<Self>, name: &str) -> Result<ServiceInfo, String> {
        self.stop(name).await?;
        let (exec, restart) = {
            let services = self.lock();
            let s = services
                .get(name)
                .ok_or_else(|| format!("no service named {name}"))?;
            (s.exec.clone(), s.restart_on_failure)
        };
        self.start(name, exec, restart)
    }

    /// One service's state.
    pub fn get(&self, name: &str) -> Result<ServiceInfo, String> {
        let services = self.lock();
        let s = services
            .get(name)
            .ok_or_else(|| format!("no service named {name}"))?;
        Ok(self.info(name, s))
    }

    /// Every service, by name.
    pub fn list(&self) -> Vec<ServiceInfo> {
        let services = self.lock();
        let mut list: Vec<_> = services.iter().map(|(n, s)| self.info(n, s)).collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Sends SIGTERM to every running service (init is shutting down).
    pub fn terminate_all(&self) -> Vec<watch::Receiver<bool>> {
        let mut waits = Vec::new();
        for s in self.lock().values_mut() {
            if let (ServiceState::Running, Some(pid)) = (s.state, s.pid) {
                s.state = ServiceState::Stopped;
                let _ = kill_group(pid, SIGTERM);
                waits.push(s.exited.clone());
            }
        }
        waits
    }

    fn info(&self, name: &str, s: &Service) -> ServiceInfo {
        ServiceInfo {
            name: name.to_owned(),
            state: s.state,
            pid: s.pid,
            last_exit: s.last_exit,
            restarts: s.restarts,
            argv: s.exec.argv.clone(),
            log_path: self.log_path(name).display().to_string(),
        }
    }

    /// Starts one run of a service with its output appended to its log.
    fn spawn(
        self: &Arc<Self>,
        name: &str,
        exec: &ExecRequest,
        generation: u64,
    ) -> Result<(u32, watch::Receiver<bool>), String> {
        let mut log = self
            .open_log(name, exec.user)
            .map_err(|e| format!("cannot open the log of {name}: {e}"))?;
        let (mut cmd, opts) = exec::command(&self.config, exec).map_err(|e| e.to_string())?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let out_log = log.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out_log))
            .stderr(Stdio::from(err_log));
        // Before the spawn, so the marker precedes the service's own output.
        let _ = writeln!(log, "--- airlock: starting {:?}", exec.argv);
        let spawned = self
            .reaper
            .spawn(&mut cmd, opts)
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let (tx, rx) = watch::channel(false);
        let manager = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let status = spawned.exit.await.unwrap_or(ExitStatus::Signal(SIGKILL));
            manager.on_exit(&name, generation, status);
            let _ = tx.send(true);
        });
        Ok((spawned.pid, rx))
    }

    fn open_log(&self, name: &str, user: User) -> std::io::Result<File> {
        fs::create_dir_all(&self.config.log_dir)?;
        let path = self.log_path(name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if user == User::Agent {
            // The agent reads its services' logs directly too.
            let a = &self.config.agent;
            let _ = std::os::unix::fs::chown(&path, Some(a.uid), Some(a.gid));
        }
        Ok(file)
    }

    /// Records how a run ended and restarts it if that is the policy.
    fn on_exit(self: &Arc<Self>, name: &str, generation: u64, status: ExitStatus) {
        let restart_after = {
            let mut services = self.lock();
            let Some(s) = services
                .get_mut(name)
                .filter(|s| s.generation == generation)
            else {
                return;
            };
            s.pid = None;
            s.last_exit = Some(status);
            if s.state == ServiceState::Running {
                s.state = ServiceState::Exited;
            }
            let crashed = s.state == ServiceState::Exited && status != ExitStatus::Code(0);
            (crashed && s.restart_on_failure).then(|| backoff(s.restarts))
        };
        if let Ok(mut log) = OpenOptions::new().append(true).open(self.log_path(name)) {
            let _ = writeln!(log, "--- airlock: exited ({status:?})");
        }
        tracing::info!(service = name, ?status, "service exited");
        if let Some(delay) = restart_after {
            let manager = self.clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                manager.restart_crashed(&name, generation);
            });
        }
    }

    fn restart_crashed(self: &Arc<Self>, name: &str, generation: u64) {
        let (exec, restart) = {
            let mut services = self.lock();
            let Some(s) = services
                .get_mut(name)
                .filter(|s| s.generation == generation && s.state == ServiceState::Exited)
            else {
                return; // stopped or restarted by hand meanwhile
            };
            s.restarts += 1;
            (s.exec.clone(), s.restart_on_failure)
        };
        if let Err(e) = self.start(name, exec, restart) {
            tracing::warn!(service = name, error = %e, "restart failed");
        }
    }
}

/// 1 s, 2 s, 4 s ... capped at 30 s, so a crash loop does not spin.
fn backoff(restarts: u32) -> Duration {
    Duration::from_secs((1u64 << restarts.min(5)).min(30))
}

/// Service names become file names: letters, digits, `-`, `_`, `.`, not
/// starting with `.`, at most 64.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid service name {name:?}: use 1-64 letters, digits, '-', '_', '.' (not starting with '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["web", "api-1", "a.b_c"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn restart_backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
