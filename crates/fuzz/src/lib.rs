//! Fuzz targets for every Airlock parser that reads untrusted bytes.
//!
//! Each target takes arbitrary bytes and feeds them to one entry point the
//! way Airlock does in production: frames from inside a sandbox, CSRs and
//! certificates presented to the CA, JWT-SVIDs, the audit log's files as a
//! reviewer's offline `verify` finds them, signed checkpoint notes, proof
//! bundles, session recordings, inference streams from an upstream, and the
//! names and sizes users type. None of them may panic, loop or allocate
//! without bound; where a parse succeeds, the target also checks what must
//! then hold (a decoded frame re-encodes to the same frame, a stream tap
//! gives the same answer however the bytes were split, ...).
//!
//! Two ways to run them:
//! - `cargo test -p airlock-fuzz`: every seed, then a fixed number of
//!   deterministic mutations of them (part of the ordinary test suite, on
//!   stable Rust; `AIRLOCK_FUZZ_ITERS` sets the number).
//! - `scripts/fuzz.sh [TARGET] [SECONDS]`: coverage-guided, with cargo-fuzz
//!   and libFuzzer on nightly (the harness is in `fuzz/`), starting from
//!   the same seeds.
//!
//! Each target's seeds are built by the real encoders (a real CSR, a real
//! log written by `AuditLog`), so mutations start from inputs that reach
//! deep into each parser.

pub mod audit;
pub mod ca;
pub mod mutate;
pub mod policy;
pub mod proxy;
pub mod text;
pub mod wire;

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name (also the cargo-fuzz target's).
    pub name: &'static str,
    /// Runs one input; panics only on a bug.
    pub run: fn(&[u8]),
    /// Valid inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "wire_frames",
        run: wire::frames,
        seeds: wire::seeds,
    },
    Target {
        name: "ca_csr",
        run: ca::csr,
        seeds: ca::csr_seeds,
    },
    Target {
        name: "ca_certificate",
        run: ca::certificate,
        seeds: ca::certificate_seeds,
    },
    Target {
        name: "ca_jwt",
        run: ca::jwt,
        seeds: ca::jwt_seeds,
    },
    Target {
        name: "ca_jwks",
        run: ca::jwks,
        seeds: ca::jwt_seeds,
    },
    Target {
        name: "audit_store",
        run: audit::store,
        seeds: audit::store_seeds,
    },
    Target {
        name: "audit_note",
        run: audit::note,
        seeds: audit::note_seeds,
    },
    Target {
        name: "audit_proof",
        run: audit::proof,
        seeds: audit::proof_seeds,
    },
    Target {
        name: "audit_event",
        run: audit::event,
        seeds: audit::event_seeds,
    },
    Target {
        name: "audit_query",
        run: audit::query,
        seeds: audit::query_seeds,
    },
    Target {
        name: "audit_postings",
        run: audit::postings,
        seeds: audit::postings_seeds,
    },
    Target {
        name: "audit_recording",
        run: audit::recording,
        seeds: audit::recording_seeds,
    },
    Target {
        name: "proxy_sse",
        run: proxy::sse,
        seeds: proxy::sse_seeds,
    },
    Target {
        name: "proxy_destination",
        run: proxy::destination_of,
        seeds: proxy::destination_seeds,
    },
    Target {
        name: "proxy_glob",
        run: proxy::glob,
        seeds: proxy::glob_seeds,
    },
    Target {
        name: "policy_decide",
        run: policy::decide,
        seeds: policy::seeds,
    },
    Target {
        name: "text_inputs",
        run: text::inputs,
        seeds: text::seeds,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The input after its first byte, and that rest split at a point the
/// first byte chooses: for targets that must not care how their bytes
/// arrive.
pub(crate) fn split_by_first_byte(data: &[u8]) -> (&[u8], (&[u8], &[u8])) {
    let Some((&first, rest)) = data.split_first() else {
        return (&[], (&[], &[]));
    };
    (rest, rest.split_at(usize::from(first).min(rest.len())))
}
