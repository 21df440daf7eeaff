//! A department's program talking to a govchain node: what the `govchain` CLI, the
//! demo, the benchmarks, the integration tests and the node's own workers use, and what
//! an agency's Rust program depends on. It needs neither the node nor its storage.
//!
//! - [`Client`]: a connection to a node's gRPC API with the chain's id, one typed stub
//!   per service ([`rpc`]), [`Client::submit`] (next nonce, sign, submit, wait for the
//!   receipt) and signed reads ([`Client::signed`]);
//! - [`Signer`]: a department (or one of its operators) and its SM2 key; it builds and
//!   signs transactions and the header of a signed read;
//! - [`Nonces`]: the next nonce of each account, read from the node once and counted
//!   locally after that;
//! - [`Receipt`]: a receipt with its events typed ([`event`]);
//! - [`seal`]: a certificate sealed on the issuer's machine (document under a fresh SM4
//!   key, that key encrypted to the custody key set, the issuer's signature);
//! - [`shares`]: released key shares fetched, decrypted and verified, combined into the
//!   data key, and the document opened and checked against its hash and its issuer's
//!   signature.
//!
//! Every error a node returns keeps its stable code ([`ClientError::code`]).

mod client;
pub mod entropy;
mod error;
pub mod seal;
pub mod shares;
mod signer;

pub use client::{Client, DEFAULT_EXPIRY_BLOCKS, Nonces, Receipt};
pub use entropy::Entropy;
pub use error::{ClientError, Result};
pub use govchain_types::event;
pub use signer::{Signer, sign_body_with};

/// Generated gRPC clients of the node's services; the messages are
/// [`govchain_types::pb`]'s.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod rpc {
    pub use govchain_types::pb::*;
    include!(concat!(env!("OUT_DIR"), "/govchain.v1.rs"));
}

pub use rpc::audit_client::AuditClient;
pub use rpc::certificates_client::CertificatesClient;
pub use rpc::chain_client::ChainClient;
pub use rpc::contracts_client::ContractsClient;
pub use rpc::governance_client::GovernanceClient;
pub use rpc::points_client::PointsClient;
