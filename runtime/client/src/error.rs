//! What can go wrong on the client's side of a call.

use govchain_types::{ErrorCode, pb};

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

/// A failure of a client operation. A node's refusal keeps its stable code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a URL.
    #[error("bad endpoint '{endpoint}': {reason}")]
    Endpoint {
        /// What was given.
        endpoint: String,
        /// Why it is not one.
        reason: String,
    },
    /// No node answers there.
    #[error("cannot reach a govchain node at {url} (is `govchain dev` running?): {source}")]
    Connect {
        /// The URL tried.
        url: String,
        /// The transport's error.
        source: tonic::transport::Error,
    },
    /// The node refused or failed a call.
    #[error("{}", rpc_text(*.code, *.grpc, .message))]
    Rpc {
        /// The stable code, when the node sent one.
        code: Option<ErrorCode>,
        /// The gRPC status code.
        grpc: tonic::Code,
        /// The node's message.
        message: String,
    },
    /// The transaction was executed and failed.
    #[error("transaction failed: {} ({}): {message}", .code.as_str_name(), *.code as i32)]
    Failed {
        /// Its stable code.
        code: ErrorCode,
        /// The receipt's message.
        message: String,
    },
    /// The signer cannot sign this request.
    #[error("cannot sign as '{account}': {reason}")]
    Signer {
        /// The account.
        account: String,
        /// Why.
        reason: String,
    },
    /// An answer does not hold what the call promises.
    #[error("the node's answer is wrong: {0}")]
    Answer(String),
    /// A receipt's event does not parse.
    #[error(transparent)]
    Event(#[from] govchain_types::event::EventError),
    /// A signature, key or cipher operation failed.
    #[error(transparent)]
    Crypto(#[from] govchain_crypto::CryptoError),
    /// A custody envelope, share or key set is malformed or does not verify.
    #[error(transparent)]
    Custody(#[from] govchain_custody::CustodyError),
    /// A certificate's document cannot be opened or does not check out.
    #[error("certificate {cert}: {reason}")]
    Document {
        /// Certificate id.
        cert: String,
        /// What is wrong.
        reason: String,
    },
}

impl ClientError {
    /// The stable code of a node's refusal or a failed transaction.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Rpc { code, .. } => *code,
            ClientError::Failed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn rpc_text(code: Option<ErrorCode>, grpc: tonic::Code, message: &str) -> String {
    match code {
        Some(c) => format!("{} ({}): {message}", c.as_str_name(), c as i32),
        None => format!("{grpc:?}: {message}"),
    }
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        let code = <pb::ErrorDetail as prost::Message>::decode(s.details())
            .ok()
            .filter(|d| d.code != 0)
            .and_then(|d| ErrorCode::try_from(d.code).ok());
        ClientError::Rpc {
            code,
            grpc: s.code(),
            message: s.message().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_keeps_the_stable_code() {
        let detail = pb::ErrorDetail {
            code: ErrorCode::NonceReplayed as i32,
            message: "nonce 3 was used".into(),
        };
        let s = tonic::Status::with_details(
            tonic::Code::FailedPrecondition,
            "nonce 3 was used",
            prost::Message::encode_to_vec(&detail).into(),
        );
        let e = ClientError::from(s);
        assert_eq!(e.code(), Some(ErrorCode::NonceReplayed));
        assert!(e.to_string().starts_with("NONCE_REPLAYED ("), "{e}");
        let plain = ClientError::from(tonic::Status::unavailable("down"));
        assert_eq!(plain.code(), None);
        assert_eq!(plain.to_string(), "Unavailable: down");
    }
}
