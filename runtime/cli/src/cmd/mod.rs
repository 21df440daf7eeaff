//! Command implementations.

pub(crate) mod audit;
mod bft;
pub(crate) mod cert;
pub(crate) mod chain;
pub(crate) mod compute;
pub(crate) mod contract;
pub(crate) mod custody;
mod evidence;
pub(crate) mod gateway;
pub(crate) mod gov;
pub(crate) mod keys;
pub(crate) mod node;
pub(crate) mod points;
