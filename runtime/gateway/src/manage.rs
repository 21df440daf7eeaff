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
use crate::op::Op;
use crate::problem::Problem;
use crate::tokens::{self, Scope};

/// The body of `POST /v1/certificates/{id}/grants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    grantee: String,
    purpose: String,
    /// Last date (YYYY-MM-DD) the grant is valid on; empty: none.
    #[serde(default)]
    #[schema(format = Date)]
    until_date: String,
    /// Last height it is valid at; 0: none.
    #[serde(default)]
    until_height: u64,
}

#[utoipa::path(
    post,
    path = "/v1/certificates/{id}/grants",
    tag = "grants",
    summary = "Grant a department access to a certificate for a purpose (scope publish)",
    params(("id" = String, Path, description = "certificate id"), crate::openapi::Idempotency),
    request_body = GrantBody,
    responses((status = 201, description = "grant_id, certificate_id, grantee, purpose, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    /// A grant to revoke; 0 or absent: the certificate itself.
    #[serde(default)]
    grant_id: u64,
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/certificates/{id}/revocation",
    tag = "grants",
    summary = "Revoke a certificate, or one of its grants (scope publish)",
    params(("id" = String, Path, description = "certificate id"), crate::openapi::Idempotency),
    request_body = RevokeBody,
    responses((status = 201, description = "certificate_id, grant_id, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    name: String,
    scopes: Vec<Scope>,
    #[serde(default)]
    operator: String,
    /// How long it is valid: `365d`, `8h`, `30m`, `90s`, or `0` for no expiry.
    #[serde(default = "default_validity")]
    valid_for: String,
}

fn default_validity() -> String {
    "365d".into()
}

/// `POST /v1/tokens` (scope admin): a new token, shown once.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "admin",
    summary = "Make an API token, shown once (scope admin)",
    request_body = TokenBody,
    responses((status = 201, description = "name, token"), crate::problem::Refused)
)]
pub(crate) async fn create_token(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Admin)?;
    let (b, _): (TokenBody, _) = body_of(&app, body).await?;
    // The department's committee vote is not an admin's to hand out: `govern` is made
    // with `govern` (or offline, with `govchain gateway token create`).
    if b.scopes.contains(&Scope::Govern) && !caller.record.scopes.contains(&Scope::Govern) {
        return Err(Problem::new(
            ErrorCode::Unauthorized,
            "a token with the govern scope is made by a token that has it, or with govchain gateway token create",
        ));
    }
    app.chain.signer(&b.operator)?;
    let valid = tokens::validity(&b.valid_for).map_err(|why| Problem::bad("valid_for", why))?;
    let token = tokens::create(&app.store, &b.name, &b.scopes, &b.operator, valid)
        .map_err(|e| Problem::bad("token", format!("{e:#}")))?;
    tracing::info!(by = %caller.record.name, name = %b.name, "API token made");
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "name": b.name, "token": token })),
    )
        .into_response())
}

/// `POST /v1/tokens/{name}/revocation` (scope admin): refused from now on.
#[utoipa::path(
    post,
    path = "/v1/tokens/{name}/revocation",
    tag = "admin",
    summary = "Revoke an API token: refused from now on (scope admin)",
    params(("name" = String, Path, description = "the token's name")),
    responses((status = 200, description = "name, revoked"), crate::problem::Refused)
)]
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
