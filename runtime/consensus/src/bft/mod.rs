//! Byzantine fault tolerant ordering (`docs/design/bft.md`): Malachite's Tendermint core,
//! driven by our host.
//!
//! - [`context`]: govchain's types as Malachite's `Context` (validators by id, power 1;
//!   a value is a block hash; SM2 signatures; round-robin proposers);
//! - [`core`]: one validator's consensus, sans I/O: every effect is answered with the
//!   signing bytes and checks of `govchain_proof::commit`, signatures go through a
//!   guard that never signs two values for one step, and what must leave the machine
//!   comes back as [`core::Action`]s;
//! - [`wire`]: the messages on the wire (`proto/govchain/v1/consensus.proto`);
//! - [`wal`]: the write-ahead log of the height being decided, replayed at a restart;
//! - [`Health`]: the height, round and peers the engine shows `status` and the metrics;
//! - `node`: the node's task around the core ([`start`]), the `Consensus` gRPC service
//!   peers call and the links to them.

#[cfg(feature = "byzantine")]
mod byzantine;
mod catchup;
mod certs;
pub mod context;
pub mod core;
mod engine;
mod guard;
mod health;
mod links;
mod node;
mod pass_on;
mod propose;
mod service;
pub mod wal;
pub mod wire;

pub use health::{Health, HealthView, PeerView};
pub use node::{BftHandle, BftSettings, Caught, start};

/// Whether this node misbehaves on purpose (the test-only `byzantine` feature and a
/// fault named at start): such a proposer proposes blocks its own importer refuses.
#[cfg(feature = "byzantine")]
fn misbehaves() -> bool {
    byzantine::fault().is_some()
}

/// Whether this node misbehaves on purpose: never, without the `byzantine` feature.
#[cfg(not(feature = "byzantine"))]
fn misbehaves() -> bool {
    false
}

#[cfg(test)]
mod tests;
