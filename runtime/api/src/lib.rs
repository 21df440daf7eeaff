//! The network interface of a govchain node: tonic gRPC services (one per area, plus
//! `grpc.health.v1`), and on an HTTP port Prometheus metrics, a health check and the
//! supervisor console ([`console`]).
//!
//! Every error a service returns carries the stable [`govchain_types::ErrorCode`] twice:
//! in the status details (an encoded `govchain.v1.ErrorDetail`) and in the
//! `x-govchain-code` metadata entry, with a gRPC code that fits (see [`error`]).

pub mod auth;
pub mod console;
pub mod error;
mod https;
pub mod limits;
pub mod metrics;
mod scope;
mod server;
mod services;

pub use https::{HttpTls, TlsListener};
pub use limits::ApiLimits;
pub use server::{ServeConfig, serve};

/// Generated gRPC servers (the clients are in govchain-client).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod rpc {
    pub use govchain_types::pb::*;
    include!(concat!(env!("OUT_DIR"), "/govchain.v1.rs"));
}
