//! End-to-end tests: the real `airlock` binary, a real server, real clients
//! (the CLI itself, curl, openssl). One test binary, one module per area.

mod util;

mod admin;
mod audit;
mod bad_input;
mod escape;
mod identity;
mod identity_inside;
mod locks;
mod login;
mod proxy;
mod sandbox;
