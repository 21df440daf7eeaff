//! gRPC service implementations.

pub(crate) mod chain;
