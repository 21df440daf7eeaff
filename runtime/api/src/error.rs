//! Mapping errors to gRPC statuses that carry our stable error code.

use govchain_types::{Coded, ErrorCode, pb};
use tonic::{Code, Status};

/// Metadata key carrying the stable error code name.
pub const CODE_METADATA: &str = "x-govchain-code";

/// The gRPC code that fits a stable error code.
pub fn grpc_code(code: ErrorCode) -> Code {
    use ErrorCode::*;
    match code {
        TxNotFound | BlockNotFound => Code::NotFound,
        NonceReplayed | NonceGap | DuplicateTx | AlreadyExists | ProposalClosed
        | DuplicateCertificate | ReleaseRefused => Code::FailedPrecondition,
        NotFound => Code::NotFound,
        Unauthorized => Code::PermissionDenied,
        Unauthenticated => Code::Unauthenticated,
        OutOfGas => Code::ResourceExhausted,
        MempoolFull | AccountPendingFull | Busy | WriteLimit | TooManyBadSignatures => {
            Code::ResourceExhausted
        }
        UnknownDepartment | UnknownOperator | KeyMismatch | BadSignature => Code::PermissionDenied,
        Internal => Code::Internal,
        Unavailable => Code::Unavailable,
        Timeout => Code::DeadlineExceeded,
        _ => Code::InvalidArgument,
    }
}

/// A status for `code` with `message`, details and metadata set.
pub fn status(code: ErrorCode, message: impl Into<String>) -> Status {
    let message = message.into();
    let detail = pb::ErrorDetail {
        code: code as i32,
        message: message.clone(),
    };
    let mut s = Status::with_details(
        grpc_code(code),
        format!("{}: {message}", code.as_str_name()),
        govchain_types::encode(&detail).into(),
    );
    if let Ok(v) = code.as_str_name().parse() {
        s.metadata_mut().insert(CODE_METADATA, v);
    }
    s
}

/// The status of a transaction's (or the node's) error.
pub fn tx_status(e: &(impl Coded + std::fmt::Display)) -> Status {
    status(e.code(), e.to_string())
}

/// The `ErrorDetail` of a transaction's (or the node's) error.
pub fn tx_detail(e: &(impl Coded + std::fmt::Display)) -> pb::ErrorDetail {
    pb::ErrorDetail {
        code: e.code() as i32,
        message: e.to_string(),
    }
}

/// Reads our error detail back from a status (clients use this).
pub fn detail_of(s: &Status) -> Option<pb::ErrorDetail> {
    prost::Message::decode(s.details()).ok()
}

/// An internal error: logged, and returned with code INTERNAL.
pub fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "internal error");
    status(ErrorCode::Internal, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_code_in_details_and_metadata() {
        let s = tx_status(&govchain_types::TxError::NonceGap {
            account: "tax".into(),
            expected: 1,
            got: 4,
        });
        assert_eq!(s.code(), Code::FailedPrecondition);
        let d = detail_of(&s).unwrap();
        assert_eq!(d.code, ErrorCode::NonceGap as i32);
        assert!(d.message.contains("ahead"));
        assert_eq!(s.metadata().get(CODE_METADATA).unwrap(), "NONCE_GAP");
    }
}
