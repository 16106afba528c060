//! Every fuzz target on its seeds, then on deterministic mutations of them.
//! A panic names the target and writes the input to `target/fuzz-failures/`
//! (feed it to `cargo +nightly fuzz run TARGET FILE` or to the target's
//! function in a test).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use airlock_fuzz::mutate::Mutator;
use airlock_fuzz::{TARGETS, Target};

/// Mutated inputs per target; `AIRLOCK_FUZZ_ITERS` overrides.
const DEFAULT_ITERS: usize = 10_000;

fn iterations() -> usize {
    std::env::var("AIRLOCK_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERS)
}

fn run_one(target: &Target, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| (target.run)(input))).is_ok() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
    std::fs::create_dir_all(&dir).expect("failure dir");
    let path = dir.join(format!("{}-{:016x}", target.name, fnv(input)));
    std::fs::write(&path, input).expect("write failing input");
    panic!("fuzz target {} failed on {}", target.name, path.display());
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn fuzz(name: &str) {
    let target = airlock_fuzz::target(name).expect("target");
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "{name} has no seeds");
    for seed in &seeds {
        run_one(target, seed);
    }
    let mut m = Mutator::new(fnv(name.as_bytes()));
    for i in 0..iterations() {
        let input = &seeds[i % seeds.len()];
        let other = &seeds[(i / seeds.len()) % seeds.len()];
        run_one(target, &m.mutate(input, other));
    }
}

#[test]
fn every_target_has_a_test_below() {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, TESTED);
}

#[test]
fn the_seed_log_verifies() {
    // Mutations of a log that did not verify to begin with would test
    // little beyond the first check.
    assert!(airlock_fuzz::audit::seed_store_verifies());
}

#[test]
fn the_policy_seeds_are_answered_both_ways() {
    let (allowed, denied) = airlock_fuzz::policy::seed_effects();
    assert!(
        allowed >= 2 && denied >= 2,
        "{allowed} allowed, {denied} denied"
    );
}

/// One test per target, and the list of the targets tested.
macro_rules! fuzz_tests {
    ($($name:ident),* $(,)?) => {
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name));
            }
        )*
    };
}

fuzz_tests!(
    wire_frames,
    ca_csr,
    ca_certificate,
    ca_jwt,
    ca_jwks,
    audit_store,
    audit_note,
    audit_proof,
    audit_event,
    audit_query,
    audit_postings,
    audit_recording,
    proxy_sse,
    proxy_destination,
    proxy_glob,
    policy_decide,
    text_inputs,
);
