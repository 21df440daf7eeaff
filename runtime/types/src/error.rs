//! Errors of transaction admission and execution, each with a stable [`ErrorCode`].

use crate::pb::ErrorCode;

/// Anything that reports a stable error code.
pub trait Coded {
    /// The stable code clients match on.
    fn code(&self) -> ErrorCode;
}

/// Why a transaction was rejected at admission or failed in execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Bytes that do not decode as the expected message.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Decoder's explanation.
        reason: String,
    },
    /// The transaction carries no payload.
    #[error("transaction has no payload")]
    MissingPayload,
    /// The sender department is not registered on this chain.
    #[error("unknown department '{department}'")]
    UnknownDepartment {
        /// The department named by the transaction.
        department: String,
    },
    /// The operator is not registered for the sender department.
    #[error("department '{department}' has no operator '{operator}'")]
    UnknownOperator {
        /// Sender department.
        department: String,
        /// Operator named by the transaction.
        operator: String,
    },
    /// The signer's public key is not the key registered for the sender/operator.
    #[error("signer key {presented} is not the key registered for {account}")]
    KeyMismatch {
        /// `department` or `department/operator`.
        account: String,
        /// Fingerprint of the key that signed.
        presented: String,
    },
    /// The signature does not verify.
    #[error("bad signature: {reason}")]
    BadSignature {
        /// What failed (key parse, signature parse, verification).
        reason: String,
    },
    /// The transaction names another chain.
    #[error("wrong chain id '{got}', this chain is '{expected}'")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The transaction's chain id.
        got: String,
    },
    /// The nonce was already used.
    #[error("nonce {got} already used by {account}; next is {expected}")]
    NonceReplayed {
        /// `department` or `department/operator`.
        account: String,
        /// The next acceptable nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce skips ahead of the next expected one.
    #[error("nonce {got} of {account} is ahead of the next expected nonce {expected}")]
    NonceGap {
        /// `department` or `department/operator`.
        account: String,
        /// The next acceptable nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The expiry height has passed.
    #[error("transaction expired at height {expiry}, chain is at {height}")]
    Expired {
        /// The transaction's expiry height.
        expiry: u64,
        /// Height the transaction would be included at.
        height: u64,
    },
    /// The encoded transaction is over the size limit.
    #[error("transaction is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// The mempool is at capacity.
    #[error("mempool is full ({capacity} transactions); retry later")]
    MempoolFull {
        /// Mempool capacity.
        capacity: usize,
    },
    /// The account has as many transactions waiting on this node as it may.
    #[error(
        "{account} already has {limit} transactions waiting on this node (mempool.per_account); wait for them to commit"
    )]
    AccountPendingFull {
        /// The account (department, or department/operator).
        account: String,
        /// The node's per-account limit.
        limit: usize,
    },
    /// The same transaction is already pending or committed.
    #[error("transaction {tx_hash} is already known")]
    Duplicate {
        /// Hex hash of the transaction.
        tx_hash: String,
    },
    /// A payload field is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The payload would create something that exists already.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What exists.
        what: String,
    },
    /// The sender may not do this.
    #[error("'{who}' may not {action}")]
    Unauthorized {
        /// The sender.
        who: String,
        /// What it tried.
        action: &'static str,
    },
    /// A referenced record does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The proposal is no longer open.
    #[error("proposal {id} is {status}")]
    ProposalClosed {
        /// Proposal id.
        id: u64,
        /// Its status.
        status: String,
    },
    /// Contract code failed preparation.
    #[error("contract code rejected: {reason}")]
    CodeRejected {
        /// Why.
        reason: String,
    },
    /// A contract call failed (contract error, abort, trap, limit).
    #[error("contract '{contract}' method '{method}' failed: {reason}")]
    ContractFailed {
        /// Contract name.
        contract: String,
        /// Method.
        method: String,
        /// What went wrong.
        reason: String,
    },
    /// A contract call ran out of gas.
    #[error("out of gas (limit {limit})")]
    OutOfGas {
        /// The gas limit.
        limit: u64,
    },
    /// The certificate type is not registered.
    #[error("unknown certificate type '{cert_type}'")]
    UnknownCertType {
        /// The type named.
        cert_type: String,
    },
    /// The purpose is not registered.
    #[error(
        "unknown purpose '{purpose}'; registered purposes are listed by `govchain cert purposes`"
    )]
    UnknownPurpose {
        /// The purpose named.
        purpose: String,
    },
    /// A required field is missing or empty.
    #[error("missing {field}")]
    MissingField {
        /// The field, e.g. `metadata.district`.
        field: String,
    },
    /// The encrypted document is over the size limit.
    #[error("document is {size} bytes encrypted, the limit is {max}")]
    DocumentTooLarge {
        /// Size of the envelope.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A certificate with this type and number exists.
    #[error("certificate '{cert_type}' number '{number}' already exists (id {id})")]
    DuplicateCertificate {
        /// Type.
        cert_type: String,
        /// Number.
        number: String,
        /// Id of the existing certificate.
        id: String,
    },
    /// A subject id or national ID that is malformed.
    #[error("invalid subject: {reason}")]
    InvalidSubject {
        /// What is wrong.
        reason: String,
    },
    /// The chain refuses to release a key share for this request.
    #[error("release for request {request} refused: {reason}")]
    ReleaseRefused {
        /// The access request.
        request: u64,
        /// Why (denied, expired, revoked, key changed).
        reason: String,
    },
    /// A validator's released key share fails its proof.
    #[error("validator {validator}'s key share for request {request} is refused: {reason}")]
    BadKeyShare {
        /// The releasing validator.
        validator: String,
        /// The access request.
        request: u64,
        /// What the check found.
        reason: String,
    },
    /// A contract transaction's state writes went over the chain's limit.
    #[error(
        "contract {contract} wrote more than {limit} bytes of state in one transaction (params.max_tx_write_bytes); nothing of it is kept"
    )]
    WriteLimit {
        /// The contract called.
        contract: String,
        /// The limit, bytes of keys and values.
        limit: u64,
    },
    /// A custody key generation step the chain refuses.
    #[error("key generation step refused (round {round}): {reason}")]
    KeygenRefused {
        /// The round the step named.
        round: u64,
        /// Why.
        reason: String,
    },
}

impl Coded for TxError {
    fn code(&self) -> ErrorCode {
        match self {
            TxError::Malformed { .. } => ErrorCode::MalformedTx,
            TxError::MissingPayload => ErrorCode::MissingPayload,
            TxError::UnknownDepartment { .. } => ErrorCode::UnknownDepartment,
            TxError::UnknownOperator { .. } => ErrorCode::UnknownOperator,
            TxError::KeyMismatch { .. } => ErrorCode::KeyMismatch,
            TxError::BadSignature { .. } => ErrorCode::BadSignature,
            TxError::WrongChain { .. } => ErrorCode::WrongChain,
            TxError::NonceReplayed { .. } => ErrorCode::NonceReplayed,
            TxError::NonceGap { .. } => ErrorCode::NonceGap,
            TxError::Expired { .. } => ErrorCode::TxExpired,
            TxError::TooLarge { .. } => ErrorCode::TxTooLarge,
            TxError::MempoolFull { .. } => ErrorCode::MempoolFull,
            TxError::AccountPendingFull { .. } => ErrorCode::AccountPendingFull,
            TxError::Duplicate { .. } => ErrorCode::DuplicateTx,
            TxError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            TxError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            TxError::Unauthorized { .. } => ErrorCode::Unauthorized,
            TxError::NotFound { .. } => ErrorCode::NotFound,
            TxError::ProposalClosed { .. } => ErrorCode::ProposalClosed,
            TxError::CodeRejected { .. } => ErrorCode::CodeRejected,
            TxError::ContractFailed { .. } => ErrorCode::ContractFailed,
            TxError::OutOfGas { .. } => ErrorCode::OutOfGas,
            TxError::UnknownCertType { .. } => ErrorCode::UnknownCertType,
            TxError::UnknownPurpose { .. } => ErrorCode::UnknownPurpose,
            TxError::MissingField { .. } => ErrorCode::MissingField,
            TxError::DocumentTooLarge { .. } => ErrorCode::DocumentTooLarge,
            TxError::DuplicateCertificate { .. } => ErrorCode::DuplicateCertificate,
            TxError::InvalidSubject { .. } => ErrorCode::InvalidSubject,
            TxError::ReleaseRefused { .. } => ErrorCode::ReleaseRefused,
            TxError::BadKeyShare { .. } => ErrorCode::BadKeyShare,
            TxError::KeygenRefused { .. } => ErrorCode::KeygenRefused,
            TxError::WriteLimit { .. } => ErrorCode::WriteLimit,
        }
    }
}

/// A failure of this node, not of a transaction: storage, a corrupt record, a broken
/// local invariant. Another node would not see it, so it is never a transaction's
/// outcome: execution abandons the block instead of recording it, and the API answers
/// `INTERNAL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error: {0}")]
pub struct NodeError(pub String);

impl NodeError {
    /// A node failure described by `e`.
    pub fn new(e: impl std::fmt::Display) -> Self {
        NodeError(e.to_string())
    }
}

impl Coded for NodeError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Internal
    }
}

/// How checking or executing a transaction can end other than in success: the
/// transaction's own failure ([`TxError`]: refused at admission, or recorded in its
/// receipt), or this node's ([`NodeError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The transaction's failure.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The node's failure.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl Coded for ExecError {
    fn code(&self) -> ErrorCode {
        match self {
            ExecError::Tx(e) => e.code(),
            ExecError::Node(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        // These numbers are a public contract (docs/errors.md); changing one breaks clients.
        assert_eq!(ErrorCode::MalformedTx as i32, 1001);
        assert_eq!(ErrorCode::BadSignature as i32, 1005);
        assert_eq!(ErrorCode::NonceReplayed as i32, 1007);
        assert_eq!(ErrorCode::TxTooLarge as i32, 1010);
        assert_eq!(ErrorCode::UnknownCertType as i32, 3009);
        assert_eq!(ErrorCode::InvalidSubject as i32, 3014);
        assert_eq!(ErrorCode::ReleaseRefused as i32, 3015);
        assert_eq!(
            TxError::NonceGap {
                account: "tax".into(),
                expected: 1,
                got: 3
            }
            .code(),
            ErrorCode::NonceGap
        );
        assert_eq!(ErrorCode::NonceGap.as_str_name(), "NONCE_GAP");
    }
}
