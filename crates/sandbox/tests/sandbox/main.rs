//! Integration tests: real runc and runsc run the bundles this crate
//! writes. They need root (CI runs as root) and the packages that
//! `scripts/setup.sh --test` installs. Every test that starts a sandbox
//! destroys it through `TestNode::destroy_clean`, which fails if anything
//! of it (directory, mount, cgroup, runtime state, process) is left.

mod util;

mod doctor;
mod images;
mod isolation;
mod lifecycle;
mod limits;
