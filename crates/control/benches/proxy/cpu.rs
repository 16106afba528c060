//! Where the CPU goes during a throughput run: this process's threads by
//! name (the runtime's workers serve both the proxies and the upstream; the
//! audit log has its writer and indexer threads), squid's process, and the
//! time the machine's CPUs sat idle. Read from /proc before and after each
//! run and divided by the requests the run completed, so that a slow phase
//! of a shared machine shows up as time, not as a different cost.

use std::collections::BTreeMap;

/// Clock ticks per second of /proc's CPU times (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU seconds so far, by who spent them.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    threads: BTreeMap<String, f64>,
    squid: f64,
    idle: f64,
}

impl Sample {
    /// Now, for this process and the squid process `squid_pid`.
    pub fn take(squid_pid: u32) -> Self {
        let mut threads = BTreeMap::new();
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten() {
            let dir = task.expect("task entry").path();
            // A thread may end between the listing and the reads.
            let (Ok(comm), Some(cpu)) = (
                std::fs::read_to_string(dir.join("comm")),
                stat_cpu(&dir.join("stat")),
            ) else {
                continue;
            };
            *threads.entry(comm.trim().to_owned()).or_insert(0.0) += cpu;
        }
        let squid = stat_cpu(format!("/proc/{squid_pid}/stat").as_ref()).unwrap_or(0.0);
        Self {
            threads,
            squid,
            idle: machine_idle(),
        }
    }
}

/// user + system time of a /proc stat file, in seconds.
fn stat_cpu(path: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / TICKS)
}

/// Idle time of all CPUs since boot, in seconds.
fn machine_idle() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or_default();
    cpu.split_whitespace()
        .nth(4)
        .and_then(|t| t.parse::<f64>().ok())
        .map_or(0.0, |t| t / TICKS)
}

/// One path's CPU over its throughput runs.
#[derive(Debug, Default, Clone)]
pub struct PathCpu {
    requests: f64,
    spent: Sample,
}

impl PathCpu {
    /// Adds a run that completed `requests` between `before` and `after`.
    pub fn add(&mut self, requests: f64, before: &Sample, after: &Sample) {
        self.requests += requests;
        for (name, cpu) in &after.threads {
            let was = before.threads.get(name).copied().unwrap_or(0.0);
            *self.spent.threads.entry(name.clone()).or_insert(0.0) += cpu - was;
        }
        self.spent.squid += after.squid - before.squid;
        self.spent.idle += after.idle - before.idle;
    }

    /// Microseconds per request spent by the named threads of this process.
    fn thread(&self, name: &str) -> f64 {
        self.per_request(self.spent.threads.get(name).copied().unwrap_or(0.0))
    }

    fn per_request(&self, seconds: f64) -> f64 {
        seconds / self.requests.max(1.0) * 1e6
    }
}

/// Prints one row per path: µs of CPU per request.
pub fn print(names: &[&str], paths: &[PathCpu]) {
    println!(
        "\nCPU per request over the throughput runs, µs (runtime workers: the proxy and the upstream; idle: both CPUs' idle time):\n"
    );
    println!("| path | runtime workers | audit writer | audit indexer | squid | idle |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, cpu) in names.iter().zip(paths) {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            cpu.thread("tokio-rt-worker"),
            cpu.thread("audit-writer"),
            cpu.thread("audit-index"),
            cpu.per_request(cpu.spent.squid),
            cpu.per_request(cpu.spent.idle),
        );
    }
}
