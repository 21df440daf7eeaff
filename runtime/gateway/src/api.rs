//! The gateway's REST/JSON API (`docs/design/gateway.md`, "API"): token checks, bodies
//! read within the limit, idempotent transactions through the journal, and answers as
//! JSON or RFC 9457 problems.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use govchain_client::Entropy;
use govchain_client::rpc::{
    GetCertificateRequest, GetReleasesRequest, ListCertTypesRequest, ListCertificatesRequest,
};
use govchain_client::seal::seal_certificate;
use govchain_state::certs;
use govchain_types::{ErrorCode, pb};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chain::{Chain, Op};
use crate::problem::Problem;
use crate::store::Store;
use crate::tokens::{self, Caller, Scope};

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    /// The chain side.
    pub chain: Arc<Chain>,
    /// The database.
    pub store: Arc<Store>,
    /// The department.
    pub department: String,
    /// Largest body accepted.
    pub max_body: usize,
    /// Idempotency keys being worked on now.
    pub(crate) busy: Arc<Mutex<HashSet<String>>>,
    /// Webhooks' shared state.
    pub(crate) hooks: Arc<crate::webhooks::Hooks>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("department", &self.department)
            .finish_non_exhaustive()
    }
}

impl App {
    /// The app of `cfg` over `chain` and `store`.
    pub fn new(chain: Arc<Chain>, store: Arc<Store>, cfg: &crate::GatewayConfig) -> Self {
        App {
            chain,
            store,
            department: cfg.department.clone(),
            max_body: cfg.max_body_bytes,
            busy: Arc::default(),
            hooks: Arc::new(crate::webhooks::Hooks::new(cfg.webhooks.clone())),
        }
    }

    /// The caller, refused unless its token has `scope`.
    pub(crate) fn allowed(&self, headers: &HeaderMap, scope: Scope) -> Result<Caller, Problem> {
        let caller = self.caller(headers)?;
        caller.needs(scope)?;
        Ok(caller)
    }

    pub(crate) fn caller(&self, headers: &HeaderMap) -> Result<Caller, Problem> {
        let auth = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        tokens::authenticate(&self.store, auth)
    }
}

/// A call's query parameters, or a problem naming what is wrong with them.
pub(crate) fn query_of<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, Problem> {
    q.map(|Query(q)| q)
        .map_err(|e| Problem::bad("query", e.body_text()))
}

/// The request number `n` of a path, and how long to wait for it: `wait_ms`, else
/// `default_ms`, at most 120 s.
pub(crate) fn waiting(
    n: &str,
    wait_ms: Option<u64>,
    default_ms: u64,
) -> Result<(u64, Duration), Problem> {
    let request = n
        .parse()
        .map_err(|_| Problem::bad("request", format!("'{n}' is not a request number")))?;
    Ok((
        request,
        Duration::from_millis(wait_ms.unwrap_or(default_ms).min(120_000)),
    ))
}

/// The routes.
pub fn router(app: App) -> axum::Router {
    axum::Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/status", get(status))
        .route("/v1/certificate-types", get(cert_types))
        .route("/v1/certificates", post(publish).get(list))
        .route("/v1/certificates/{id}", get(certificate))
        .route("/v1/certificates/{id}/grants", post(crate::manage::grant))
        .route(
            "/v1/certificates/{id}/revocation",
            post(crate::manage::revoke),
        )
        .route("/v1/access-requests", post(request_access))
        .route("/v1/access-requests/{n}/document", get(document))
        .route("/v1/operations/{name}", get(crate::journal::operation))
        .route("/v1/tokens", post(crate::manage::create_token))
        .route(
            "/v1/tokens/{name}/revocation",
            post(crate::manage::revoke_token),
        )
        .route("/v1/contracts/{name}/calls", post(crate::work::call))
        .route("/v1/contracts/{name}/queries", post(crate::work::query))
        .route("/v1/compute-jobs", post(crate::work::compute))
        .route("/v1/compute-jobs/{n}/result", get(crate::work::result))
        .route(
            "/v1/proposals",
            post(crate::govern::propose).get(crate::govern::list),
        )
        .route("/v1/proposals/{id}", get(crate::govern::get))
        .route("/v1/proposals/{id}/votes", post(crate::govern::vote))
        .route("/v1/policy", get(crate::govern::policy))
        .route("/v1/points", get(crate::views::points))
        .route("/v1/audit", get(crate::views::audit))
        .route("/v1/audit/export", get(crate::views::export))
        .route(
            "/v1/webhooks",
            post(crate::webhooks::create).get(crate::webhooks::list),
        )
        .route("/v1/webhooks/{id}", delete(crate::webhooks::remove))
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(crate::webhooks::deliveries),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{seq}/retry",
            post(crate::webhooks::retry),
        )
        .fallback(|| async {
            Problem::new(
                ErrorCode::NotFound,
                "no such path: see /openapi.json for the gateway's API",
            )
        })
        .with_state(app)
}

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

pub(crate) type Answer = Result<Response, Problem>;

async fn status(State(app): State<App>, headers: HeaderMap) -> Answer {
    let caller = app.caller(&headers)?;
    let client = app.chain.client().await?;
    let s = client.status();
    Ok(Json(json!({
        "chain_id": s.chain_id, "node_id": s.node_id, "height": s.height,
        "department": app.department, "operator": caller.record.operator,
        "token": caller.record.name,
        "scopes": caller.record.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn cert_types(State(app): State<App>, headers: HeaderMap) -> Answer {
    let caller = app.caller(&headers)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let types = app
        .chain
        .call(|c| async move {
            let req = c.signed(
                signer,
                "/govchain.v1.Certificates/ListCertTypes",
                ListCertTypesRequest {},
            )?;
            Ok(c.certificates()
                .list_cert_types(req)
                .await?
                .into_inner()
                .cert_types)
        })
        .await?;
    let types: Vec<Value> = types
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id, "name": t.name, "name_zh": t.name_zh, "issuers": t.issuers,
                "price": t.price,
                "fields": t.fields.iter().map(|f| json!({"name": f.name, "description": f.description, "required": f.required})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "certificate_types": types })).into_response())
}

/// The JSON of a certificate's record (never its ciphertext or key envelope).
fn certificate_json(c: &pb::Certificate) -> Value {
    let metadata: BTreeMap<&str, &str> = c
        .metadata
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_str()))
        .collect();
    json!({
        "id": c.id, "type": c.cert_type, "number": c.number,
        "subject_id": hex::encode(&c.subject_id), "issuer": c.issuer, "operator": c.operator,
        "issued_on": c.issued_on, "expires_on": c.expires_on,
        "status": pb::CertStatus::try_from(c.status).map_or("UNKNOWN", |s| s.as_str_name()),
        "metadata": metadata, "content_hash": hex::encode(&c.content_hash),
        "height": c.height, "tx_hash": hex::encode(&c.tx_hash),
        "revoked_height": c.revoked_height, "revoke_reason": c.revoke_reason,
    })
}

async fn certificate(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let c = app
        .chain
        .call(|c| {
            let id = id.clone();
            async move {
                let req = c.signed(
                    signer,
                    "/govchain.v1.Certificates/GetCertificate",
                    GetCertificateRequest { id },
                )?;
                Ok(c.certificates().get_certificate(req).await?.into_inner())
            }
        })
        .await?;
    Ok(Json(certificate_json(&c)).into_response())
}

/// The query of `GET /v1/certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    subject_national_id: String,
    #[serde(default)]
    subject_id: String,
    #[serde(default, rename = "type")]
    cert_type: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    limit: u32,
}

async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let q = crate::api::query_of(q)?;
    let subject_id = match (q.subject_national_id.as_str(), q.subject_id.as_str()) {
        ("", "") => vec![],
        (id, "") => certs::subject_id(&app.chain.salt, id)
            .map_err(|e| {
                Problem::new(
                    ErrorCode::InvalidSubject,
                    format!("subject_national_id: {e}"),
                )
            })?
            .to_vec(),
        ("", hex_id) => hex::decode(hex_id)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| Problem::new(ErrorCode::InvalidSubject, "subject_id: 64 hex digits"))?,
        _ => {
            return Err(Problem::bad(
                "subject_national_id",
                "give it or subject_id, not both",
            ));
        }
    };
    let signer = app.chain.signer(&caller.record.operator)?;
    let r = app
        .chain
        .call(|c| {
            let req = ListCertificatesRequest {
                subject_id: subject_id.clone(),
                issuer: q.issuer.clone(),
                cert_type: q.cert_type.clone(),
                after: q.after.clone(),
                limit: q.limit,
            };
            async move {
                let req = c.signed(signer, "/govchain.v1.Certificates/ListCertificates", req)?;
                Ok(c.certificates().list_certificates(req).await?.into_inner())
            }
        })
        .await?;
    Ok(Json(json!({
        "certificates": r.certificates.iter().map(certificate_json).collect::<Vec<_>>(),
        "next": r.next,
    }))
    .into_response())
}

/// Reads the body, within the limit, as JSON of `T` (unknown fields refused).
pub(crate) async fn body_of<T: serde::de::DeserializeOwned>(
    app: &App,
    body: Body,
) -> Result<(T, Vec<u8>), Problem> {
    let bytes = axum::body::to_bytes(body, app.max_body)
        .await
        .map_err(|_| {
            Problem::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "the request body is over this gateway's {} bytes (max_body_bytes)",
                    app.max_body
                ),
            )
        })?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad("body", format!("not the JSON this call takes: {e}")))?;
    Ok((value, bytes.to_vec()))
}

/// The body of `POST /v1/certificates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    #[serde(rename = "type")]
    cert_type: String,
    number: String,
    subject_national_id: String,
    issued_on: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// The document, base64.
    document: String,
}

async fn publish(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Publish)?;
    let (b, raw): (PublishBody, _) = body_of(&app, body).await?;
    let doc = B64
        .decode(b.document.trim())
        .map_err(|e| Problem::bad("document", format!("not base64: {e}")))?;
    if doc.is_empty() {
        return Err(Problem::new(ErrorCode::MissingField, "document: empty"));
    }
    let subject_id = certs::subject_id(&app.chain.salt, &b.subject_national_id).map_err(|e| {
        Problem::new(
            ErrorCode::InvalidSubject,
            format!("subject_national_id: {e}"),
        )
    })?;
    let certificate_id = certs::cert_id(&b.cert_type, &b.number);
    let app2 = app.clone();
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        "POST /v1/certificates",
        &raw,
        Op::Publish { certificate_id },
        move |signer| async move {
            let trust = app2.chain.trust().await?;
            Ok(pb::payload::Kind::Publish(seal_certificate(
                &app2.chain.genesis.chain_id,
                &trust.custody,
                &signer.key,
                pb::PublishCertificate {
                    cert_type: b.cert_type,
                    number: b.number,
                    subject_id: subject_id.to_vec(),
                    issued_on: b.issued_on,
                    expires_on: b.expires_on,
                    metadata: b
                        .metadata
                        .into_iter()
                        .map(|(key, value)| pb::Attribute { key, value })
                        .collect(),
                    ..Default::default()
                },
                &doc,
                &Entropy::Os,
            )))
        },
    )
    .await
}

/// The body of `POST /v1/access-requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    certificate_id: String,
    purpose: String,
}

async fn request_access(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Request)?;
    let (b, raw): (RequestBody, _) = body_of(&app, body).await?;
    for (field, v) in [
        ("certificate_id", &b.certificate_id),
        ("purpose", &b.purpose),
    ] {
        if v.is_empty() {
            return Err(Problem::new(
                ErrorCode::MissingField,
                format!("{field}: empty"),
            ));
        }
    }
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        "POST /v1/access-requests",
        &raw,
        Op::Request,
        move |_| async move {
            Ok(pb::payload::Kind::Request(pb::RequestAccess {
                cert_id: b.certificate_id,
                purpose: b.purpose,
            }))
        },
    )
    .await
}

/// The query of the document call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentQuery {
    /// How long to wait for the validators' key shares, ms (default 30 s, at most 120 s).
    #[serde(default)]
    wait_ms: Option<u64>,
}

async fn document(
    State(app): State<App>,
    headers: HeaderMap,
    Path(n): Path<String>,
    q: Result<Query<DocumentQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Request)?;
    let q = crate::api::query_of(q)?;
    let (request, wait) = crate::api::waiting(&n, q.wait_ms, 30_000)?;
    // The shares are encrypted to the key that asked: find whose it was.
    let dept = app.chain.signer("")?;
    let asked = app
        .chain
        .call(|c| async move {
            let req = c.signed(
                dept,
                "/govchain.v1.Certificates/GetReleases",
                GetReleasesRequest { request },
            )?;
            Ok(c.certificates().get_releases(req).await?.into_inner())
        })
        .await?;
    // Only the token's own requests: a token acts, and reads, as its operator.
    let asked = asked.request.unwrap_or_default();
    if asked.requester != app.department || asked.operator != caller.record.operator {
        return Err(Problem::new(
            ErrorCode::Unauthorized,
            format!(
                "request {request} was not made with this token's key ({}): a token receives the documents of its own requests",
                govchain_types::account_label(&app.department, &caller.record.operator)
            ),
        ));
    }
    let signer = app.chain.signer(&caller.record.operator)?;
    let trust = app.chain.trust().await?;
    let releases = app
        .chain
        .call(|c| async move {
            c.wait_for_releases(signer, trust, request, wait, |_| {})
                .await
        })
        .await?;
    let opened = releases.open(trust).map_err(|e| {
        Problem::new(
            ErrorCode::ReleaseRefused,
            format!("request {request} cannot be opened yet: {e} ({} of {} key shares verified; validators release them while the request is in its window, unless it was denied or its grant revoked)", releases.verified(), trust.custody.threshold()),
        )
    })?;
    Ok(Json(json!({
        "request": request,
        "certificate": certificate_json(&opened.certificate),
        "purpose": opened.request.purpose,
        "document": B64.encode(&*opened.document),
        "shares_combined": opened.combined,
        "checks": {"content_hash": true, "issuer_signature": true},
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let src = include_str!("api.rs");
        let routed: Vec<&str> = src
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".route(\""))
            .filter_map(|l| l.split('"').next())
            .filter(|p| p.starts_with("/v1/"))
            .collect();
        assert!(routed.len() >= 6, "{routed:?}");
        for p in routed {
            assert!(doc["paths"].get(p).is_some(), "{p} is not in openapi.json");
        }
    }
}
