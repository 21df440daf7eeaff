//! Certificates through the gateway: the types on chain, a certificate's record, the
//! certificates of a citizen, type or issuer (`read`); publishing, sealed here with the
//! national id hashed here (`publish`); asking to read one and receiving the document of
//! an allowed request, its key shares combined and checked (`request`).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use govchain_client::Entropy;
use govchain_client::rpc::{GetCertificateRequest, ListCertTypesRequest, ListCertificatesRequest};
use govchain_client::seal::seal_certificate;
use govchain_state::certs;
use govchain_types::{ErrorCode, pb};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Answer, App, body_of};
use crate::op::Op;
use crate::problem::Problem;
use crate::tokens::Scope;

#[utoipa::path(
    get,
    path = "/v1/certificate-types",
    tag = "certificates",
    summary = "The certificate types on chain with their metadata fields (any scope)",
    responses((status = 200, description = "certificate_types: id, name, name_zh, issuers, price, fields"), crate::problem::Refused)
)]
pub(crate) async fn cert_types(State(app): State<App>, headers: HeaderMap) -> Answer {
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

#[utoipa::path(
    get,
    path = "/v1/certificates/{id}",
    tag = "certificates",
    summary = "A certificate's record, never its ciphertext (scope read)",
    params(("id" = String, Path, description = "certificate id")),
    responses((status = 200, description = "id, type, number, subject_id, issuer, operator, dates, status, metadata, content_hash, height, tx_hash"), crate::problem::Refused)
)]
pub(crate) async fn certificate(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
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

#[utoipa::path(
    get,
    path = "/v1/certificates",
    operation_id = "list_certificates",
    tag = "certificates",
    summary = "Certificates of a citizen (national id hashed here), a type or an issuer (scope read)",
    params(ListQuery),
    responses((status = 200, description = "certificates, next"), crate::problem::Refused)
)]
pub(crate) async fn list(
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

/// The body of `POST /v1/certificates`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    /// The certificate type (`GET /v1/certificate-types`).
    #[serde(rename = "type")]
    cert_type: String,
    /// Its number, unique within the type.
    number: String,
    /// The holder's national ID: hashed with the chain salt here, never sent on.
    subject_national_id: String,
    #[schema(format = Date)]
    issued_on: String,
    /// Empty: none.
    #[serde(default)]
    #[schema(format = Date)]
    expires_on: String,
    /// The type's metadata fields, in clear.
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// The document, base64: sealed (SM4) here, its key enveloped to the custody key.
    #[schema(format = Byte)]
    document: String,
}

#[utoipa::path(
    post,
    path = "/v1/certificates",
    tag = "certificates",
    summary = "Seal and publish a document with its metadata (scope publish)",
    params(crate::openapi::Idempotency),
    request_body = PublishBody,
    responses((status = 201, description = "certificate_id, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
pub(crate) async fn publish(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestBody {
    certificate_id: String,
    purpose: String,
}

#[utoipa::path(
    post,
    path = "/v1/access-requests",
    tag = "certificates",
    summary = "Ask to read a certificate for a purpose: the gate decides, audits and charges (scope request)",
    params(crate::openapi::Idempotency),
    request_body = RequestBody,
    responses((status = 201, description = "request, certificate_id, decision, reason, points, owner, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
pub(crate) async fn request_access(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DocumentQuery {
    /// How long to wait for the validators' key shares, ms (default 30 s, at most 120 s).
    #[serde(default)]
    #[param(maximum = 120000)]
    wait_ms: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/access-requests/{n}/document",
    tag = "certificates",
    summary = "The document of an allowed request made with this token's key, key shares combined and checked (scope request)",
    params(("n" = u64, Path, description = "the request number"), DocumentQuery),
    responses((status = 200, description = "request, certificate, purpose, document (base64), shares_combined, checks"), crate::problem::Refused)
)]
pub(crate) async fn document(
    State(app): State<App>,
    headers: HeaderMap,
    Path(n): Path<String>,
    q: Result<Query<DocumentQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Request)?;
    let q = crate::api::query_of(q)?;
    let (request, wait) = crate::api::waiting(&n, q.wait_ms, 30_000)?;
    // The shares are encrypted to the key that asked: find whose it was.
    let asked = app.chain.releases(request).await?;
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
