//! Writes every fuzz target's seeds to `DIR/<target>/seed-<n>`: the
//! starting corpus for cargo-fuzz (`scripts/fuzz.sh` runs this first).
#![allow(clippy::print_stderr)] // a tool's report

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: airlock-fuzz-seeds DIR");
        return ExitCode::from(2);
    };
    for target in airlock_fuzz::TARGETS {
        let to = dir.join(target.name);
        if let Err(e) = std::fs::create_dir_all(&to) {
            eprintln!("cannot create {}: {e}", to.display());
            return ExitCode::FAILURE;
        }
        for (n, seed) in (target.seeds)().iter().enumerate() {
            let path = to.join(format!("seed-{n}"));
            if let Err(e) = std::fs::write(&path, seed) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
