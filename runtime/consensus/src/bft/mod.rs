//! Byzantine fault tolerant ordering (`docs/design/bft.md`): Malachite's Tendermint core,
//! driven by our host.
//!
//! - [`context`]: govchain's types as Malachite's `Context` (validators by id, power 1;
//!   a value is a block hash; SM2 signatures; round-robin proposers);
//! - [`core`]: one validator's consensus, sans I/O: every effect is answered with the
//!   signing bytes and checks of `govchain_proof::commit`, and what must leave the
//!   machine comes back as [`core::Action`]s.
//!
//! The node's task around it (the gRPC `Consensus` service, block parts, timers, the
//! write-ahead log, import and commit) is step 3 of the design's order of work and is not
//! wired into the node yet; this module is exercised by the in-memory network of its
//! tests.

pub mod context;
pub mod core;

#[cfg(test)]
mod tests;
