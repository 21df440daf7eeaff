//! gRPC service implementations.

pub(crate) mod access;
pub(crate) mod chain;
pub(crate) mod contracts;
