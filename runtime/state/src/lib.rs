//! Replicated application state of govchain and the deterministic executor that changes it.
//!
//! - [`genesis`]: the genesis document (departments, validators, committee, parameters)
//!   and the built-in presets.
//! - [`admission`]: checks a signed transaction before it enters the mempool — decoding,
//!   chain id, size, expiry, sender and operator keys and the SM2 signature. This is the
//!   only place a signature is verified on a node.
//! - [`executor`]: executes an ordered list of admitted transactions into receipts, a
//!   write set and the new state root. It never reads the clock, randomness or the order
//!   of a hash map: time comes from the block header.
//!
//! - [`access`]: the rules of access, each once: the gate every certificate read and
//!   compute job goes through (policy → liveness → points → audit record), the audit
//!   log and who sees it, release eligibility and the account → key lookup.
//! - the payload kinds' handlers, one module each: [`certs`] (publish, grant, revoke),
//!   [`requests`] (direct access requests), [`governance`] (proposals and votes),
//!   [`custody`] (key-share releases), [`compute`] (jobs and their results), anchors;
//!   contract calls run in the VM over [`contracts`].
//!
//! Every record lives in one of the [`tables`] (prefix, key codec, value codec): state in
//! the store's `state` column, audit records and ledgers in its `index` column.

pub mod access;
pub mod admission;
mod anchors;
pub mod certs;
pub mod compute;
pub mod contracts;
pub mod custody;
pub mod evidence;
pub mod executor;
pub mod genesis;
pub mod governance;
pub mod keygen;
pub mod keys;
pub mod local;
mod nodes;
pub use nodes::voting_set;
mod overlay;
pub mod query;
pub mod requests;
pub mod supervision;
pub mod tables;

pub use admission::{Admission, VerifiedTx};
pub use executor::{BlockContext, ExecutedBlock, Executor};
pub use genesis::{ChainParams, Genesis};
pub use govchain_types::account_label;
pub use overlay::{Overlay, StateWrites, Writes};

use govchain_store::table::Single;
use govchain_store::{KeyCodec, Records, Table, ValueCodec};

/// Errors reading or initialising state (not transaction failures: those are
/// [`govchain_types::TxError`]).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] govchain_store::StoreError),
    /// The genesis document is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// The contract runtime could not start.
    #[error("contract runtime: {0}")]
    Vm(String),
    /// Execution hit a node-local failure (storage, a corrupt record): the block is not
    /// produced or applied, and the node must stop.
    #[error("node-local failure during execution, block not committed: {0}")]
    Node(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, StateError>;

/// The values of a state table under `within` ([`Table::all`] or [`Table::within`]),
/// in key order.
pub(crate) fn values<K: KeyCodec, V: ValueCodec>(
    o: &Overlay,
    table: &Table<K, V>,
    within: Vec<u8>,
) -> std::result::Result<Vec<V::Value>, govchain_types::ExecError> {
    o.records(table, within, None)
        .map(|r| r.map(|(_, v)| v).map_err(internal))
        .collect()
}

/// A node-local failure: execution abandons the block on one (see [`StateError::Node`]).
pub(crate) fn internal(e: impl std::fmt::Display) -> govchain_types::ExecError {
    govchain_types::NodeError::new(e).into()
}

/// A record genesis writes (chain parameters, the committee): missing is a genesis
/// error.
pub(crate) fn genesis_record<V: ValueCodec>(
    records: &impl Records,
    table: &Table<Single, V>,
) -> Result<V::Value> {
    records
        .read(table, ())?
        .ok_or_else(|| StateError::Genesis(format!("{} missing from state", table.name())))
}
