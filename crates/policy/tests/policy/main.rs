//! Integration tests of airlock-policy: one binary, one module per concern.

mod decide;
mod docs;
mod examples;
mod explain;
mod index;
mod load;
mod schema;
mod starter;
mod util;
mod workload;
