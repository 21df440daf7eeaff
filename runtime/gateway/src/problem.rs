//! Errors as the gateway answers them: RFC 9457 problem details with the stable error
//! code and name of `docs/errors.md`, so that a caller branches on `name`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use govchain_client::ClientError;
use govchain_types::ErrorCode;
use serde::Serialize;

/// A refusal or failure: HTTP status, stable code, what is wrong and what to do.
#[derive(Debug)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: ErrorCode,
    /// What is wrong, what to do.
    pub detail: String,
}

impl Problem {
    /// A problem of `code` with `detail`, at the status that fits the code.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            status: status_of(code),
            code,
            detail: detail.into(),
        }
    }

    /// A `400` naming the bad field.
    pub fn bad(field: &str, why: impl std::fmt::Display) -> Self {
        Problem::new(ErrorCode::InvalidArgument, format!("{field}: {why}"))
    }

    /// The body: `{type, title, status, detail, code, name}`.
    pub fn body(&self) -> serde_json::Value {
        let name = self.code.as_str_name();
        serde_json::to_value(ProblemDetails {
            kind: format!("urn:govchain:error:{name}"),
            title: title_of(name),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code as u32,
            name: name.to_string(),
        })
        .unwrap_or_default()
    }
}

/// RFC 9457 problem details, as every refusal is answered
/// (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// `urn:govchain:error:<NAME>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name in words.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What is wrong and what to do.
    pub detail: String,
    /// The stable code (`docs/errors.md`).
    pub code: u32,
    /// The stable name, e.g. `INVALID_ARGUMENT`: branch on it, never on the text.
    pub name: String,
}

/// The refusals and failures every call may answer, for the OpenAPI document.
#[derive(Debug, utoipa::IntoResponses)]
pub enum Refused {
    /// Refused: bad input, a missing, wrong or under-scoped token, or the chain's
    /// refusal, with its stable code.
    #[response(status = "4XX", content_type = "application/problem+json")]
    Client(ProblemDetails),
    /// Failed: no node reachable, a timeout, or an answer that did not check.
    #[response(status = "5XX", content_type = "application/problem+json")]
    Server(ProblemDetails),
}

/// `INVALID_ARGUMENT` → "Invalid argument".
fn title_of(name: &str) -> String {
    let lower = name.replace('_', " ").to_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The HTTP status of a stable code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::Unauthenticated => StatusCode::UNAUTHORIZED,
        E::Unauthorized
        | E::UnknownDepartment
        | E::UnknownOperator
        | E::KeyMismatch
        | E::BadSignature => StatusCode::FORBIDDEN,
        E::NotFound | E::TxNotFound | E::BlockNotFound => StatusCode::NOT_FOUND,
        E::AlreadyExists | E::DuplicateCertificate | E::ProposalClosed => StatusCode::CONFLICT,
        E::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        E::BodyTooLarge | E::DocumentTooLarge | E::TxTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        E::MempoolFull | E::AccountPendingFull | E::Busy | E::TooManyBadSignatures => {
            StatusCode::TOO_MANY_REQUESTS
        }
        E::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        E::Timeout => StatusCode::GATEWAY_TIMEOUT,
        E::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body())).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}

impl From<ClientError> for Problem {
    fn from(e: ClientError) -> Self {
        match (&e, e.code()) {
            (_, Some(code)) => Problem::new(code, e.to_string()),
            (ClientError::Connect { .. }, None) => {
                Problem::new(ErrorCode::Unavailable, format!("no node answers: {e}"))
            }
            (ClientError::Rpc { grpc, .. }, None) if *grpc == tonic::Code::Unavailable => {
                Problem::new(ErrorCode::Unavailable, e.to_string())
            }
            _ => Problem::new(ErrorCode::Internal, e.to_string()),
        }
    }
}

impl From<anyhow::Error> for Problem {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<ClientError>() {
            Ok(c) => c.into(),
            Err(e) => Problem::new(ErrorCode::Internal, format!("{e:#}")),
        }
    }
}

/// The answer of a transaction not committed within a minute, for the OpenAPI document
/// (every call that writes).
#[derive(Debug, utoipa::IntoResponses)]
pub enum Pending {
    /// Sent, not committed yet: poll the operation in `Location`, or send the request
    /// again with its Idempotency-Key.
    #[response(status = 202)]
    Pending,
}
