//! Integration tests of airlock-ca: one binary, one module per behaviour.
//! Every certificate property is checked with parsers independent of the
//! writer: x509-parser and the `openssl` CLI.

mod bundle;
mod ca;
mod csr;
mod gnutls;
mod jwt;
mod keyfile;
mod server;
mod svid;
mod user;
mod util;
mod verify;
