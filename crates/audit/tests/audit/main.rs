//! Integration tests of airlock-audit, one binary (see util.rs for helpers).

mod docs;
mod durability;
mod files;
mod full_disk;
mod log;
mod proofs;
mod query;
mod recording;
mod tamper;
mod util;
