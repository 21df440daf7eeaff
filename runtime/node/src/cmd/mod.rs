//! Command implementations.

pub(crate) mod access;
pub(crate) mod chain;
pub(crate) mod compute;
pub(crate) mod contract;
pub(crate) mod keys;
pub(crate) mod node;
