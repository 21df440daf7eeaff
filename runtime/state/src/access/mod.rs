//! The rules of access, each in one place. Execution, the validators' custodians, the
//! gRPC services and the supervisor console call these; nothing else decides who may
//! read what, what it costs, what is recorded or who may see the record.
//!
//! - [`gate`]: the decision on every read of certificate data, direct or from a
//!   contract, and on every compute job (policy → liveness → points → audit record).
//! - [`policy`]: the casbin policy on chain (which department may read which type, for
//!   which purpose).
//! - [`liveness`]: whether a certificate or a grant is still in force.
//! - [`points`]: balances, charging a read, rewards, the ledger.
//! - [`audit`]: the audit log (appending a record, the block's root, queries, export
//!   with proofs) and who may see which record ([`audit::visible`]).
//! - [`release`]: whether a validator may release its key share for a request.
//! - [`accounts`]: which key an account signs with (transactions and signed reads).

pub mod accounts;
pub mod audit;
pub mod gate;
pub mod liveness;
pub mod points;
pub mod policy;
pub mod release;
