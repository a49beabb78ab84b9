//! rbench's integration tests, one binary (as ripgrep's `tests/integration`): the support code is
//! compiled once and linked once, not into a binary per file. A file's tests are `FILE::name`
//! (`cargo test --release --test integration -- flags::`).

mod support;

mod accounting;
mod architecture;
mod cluster;
mod compare_cli;
mod compose;
mod connections;
mod engine;
mod experiments;
mod fake_cluster;
mod fake_server;
mod faults;
mod flags;
mod hdr_files;
mod kube;
mod memory;
mod nightly;
mod observe;
mod observed;
mod pacing;
mod profiles;
mod replay;
mod report;
mod shapes;
mod shards;
mod signals;
mod slo;
mod standalone;
mod workloads;
