//! Test helpers: the world, local upstreams, and running real clients.

pub mod cmd;
pub mod upstream;
pub mod world;

pub use cmd::*;
pub use world::*;
