//! The govchain node as a library: a node's assembly from its configuration (`run`:
//! storage, execution, consensus, the gRPC API and the HTTP port), the validators'
//! background workers (`follower`: the key-share `custodian` and the compute-job runner
//! `jobs`), network folders (`init`, `config`, `keyfile`, `tls`), a department's side of
//! a network checked against genesis (`network`), an in-process node (`embedded`), and
//! the CLI's output helpers (`output`). The `govchain` binary (`runtime/cli`), the demo
//! (`runtime/demo`) and the benchmark suite (`runtime/bench`) are built on it.

pub mod config;
#[cfg(test)]
mod conformance;
pub mod console_cert;
pub mod custodian;
pub mod embedded;
pub mod follower;
pub mod init;
pub mod jobs;
pub mod keyfile;
pub mod keygen;
pub mod network;
pub mod output;
mod reporter;
pub mod run;
pub mod tls;
