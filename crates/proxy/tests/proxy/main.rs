//! airlock-proxy integration tests: real clients (curl, git, the official
//! OpenAI and Anthropic Python SDKs) through the proxy serving a sandbox on
//! its unix socket, against local upstreams.

mod audit;
mod events;
mod git;
mod http;
mod inference;
mod util;
