//! What a department manages through its gateway: grants and revocations of its
//! certificates (`publish` scope, idempotent like every transaction), and the gateway's
//! own API tokens while it runs (`admin` scope).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use govchain_types::{ErrorCode, pb};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Answer, App, body_of};
use crate::chain::Op;
use crate::problem::Problem;
use crate::tokens::{self, Scope};

/// The body of `POST /v1/certificates/{id}/grants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    grantee: String,
    purpose: String,
    /// Last date (YYYY-MM-DD) the grant is valid on; empty: none.
    #[serde(default)]
    until_date: String,
    /// Last height it is valid at; 0: none.
    #[serde(default)]
    until_height: u64,
}

pub(crate) async fn grant(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Publish)?;
    let (b, raw): (GrantBody, _) = body_of(&app, body).await?;
    let what = format!("POST /v1/certificates/{id}/grants");
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        &what,
        &raw,
        Op::Grant,
        move |_| async move {
            Ok(pb::payload::Kind::Grant(pb::GrantAccess {
                cert_id: id,
                grantee: b.grantee,
                purpose: b.purpose,
                until_height: b.until_height,
                until_date: b.until_date,
            }))
        },
    )
    .await
}

/// The body of `POST /v1/certificates/{id}/revocation`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    /// A grant to revoke; 0 or absent: the certificate itself.
    #[serde(default)]
    grant_id: u64,
    reason: String,
}

pub(crate) async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Publish)?;
    let (b, raw): (RevokeBody, _) = body_of(&app, body).await?;
    let what = format!("POST /v1/certificates/{id}/revocation");
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        &what,
        &raw,
        Op::Revoke,
        move |_| async move {
            Ok(pb::payload::Kind::Revoke(pb::Revoke {
                cert_id: id,
                grant_id: b.grant_id,
                reason: b.reason,
            }))
        },
    )
    .await
}

/// The body of `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    scopes: Vec<Scope>,
    #[serde(default)]
    operator: String,
    #[serde(default = "default_valid_days")]
    valid_days: u64,
}

fn default_valid_days() -> u64 {
    365
}

/// `POST /v1/tokens` (scope admin): a new token, shown once.
pub(crate) async fn create_token(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Admin)?;
    let (b, _): (TokenBody, _) = body_of(&app, body).await?;
    app.chain.signer(&b.operator)?;
    let token = tokens::create(&app.store, &b.name, &b.scopes, &b.operator, b.valid_days)
        .map_err(|e| Problem::bad("token", format!("{e:#}")))?;
    tracing::info!(by = %caller.record.name, name = %b.name, "API token made");
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "name": b.name, "token": token })),
    )
        .into_response())
}

/// `POST /v1/tokens/{name}/revocation` (scope admin): refused from now on.
pub(crate) async fn revoke_token(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Admin)?;
    tokens::revoke(&app.store, &name)
        .map_err(|e| Problem::new(ErrorCode::NotFound, format!("{e:#}")))?;
    tracing::info!(by = %caller.record.name, %name, "API token revoked");
    Ok(Json(json!({ "name": name, "revoked": true })).into_response())
}
