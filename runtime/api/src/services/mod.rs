//! gRPC service implementations.

pub(crate) mod chain;
pub(crate) mod contracts;
