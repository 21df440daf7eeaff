//! Contracts and compute-to-data through the gateway: a contract call (a department's
//! part of a multi-department workflow, `publish` scope) and query (`read`); a
//! compute job over a certificate the department may not read (`request`) and its
//! result, checked against genesis (the executor's signature, the job's code, the
//! certificate's content hash) and decrypted with the requesting operator's key.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use govchain_client::rpc::QueryRequest;
use govchain_types::{ErrorCode, pb};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Answer, App, body_of};
use crate::op::Op;
use crate::problem::Problem;
use crate::tokens::Scope;

/// The body of a contract call or query.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    method: String,
    /// The arguments, JSON.
    #[serde(default)]
    args: Value,
    /// Gas the call may use; 0: the chain's default.
    #[serde(default)]
    gas_limit: u64,
}

/// Arguments as the contract takes them: JSON (`null` when none were given, as the CLI
/// sends).
fn args_of(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// `POST /v1/contracts/{name}/calls` (scope publish): the call's output.
#[utoipa::path(
    post,
    path = "/v1/contracts/{name}/calls",
    tag = "contracts",
    summary = "Call an approved contract: this department's part of a workflow (scope publish)",
    params(("name" = String, Path, description = "contract"), crate::openapi::Idempotency),
    request_body = CallBody,
    responses((status = 201, description = "output, gas_used, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
pub(crate) async fn call(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Publish)?;
    let (b, raw): (CallBody, _) = body_of(&app, body).await?;
    let what = format!("POST /v1/contracts/{name}/calls");
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        &what,
        &raw,
        Op::Call,
        move |_| async move {
            Ok(pb::payload::Kind::Call(pb::ContractCall {
                contract: name,
                method: b.method,
                args: args_of(b.args),
                gas_limit: b.gas_limit,
            }))
        },
    )
    .await
}

/// `POST /v1/contracts/{name}/queries` (scope read): a read-only call, signed as the
/// token's operator (a contract may answer only the departments it concerns).
#[utoipa::path(
    post,
    path = "/v1/contracts/{name}/queries",
    tag = "contracts",
    summary = "A contract's read-only answer, signed as the token's operator (scope read)",
    params(("name" = String, Path, description = "contract")),
    request_body = CallBody,
    responses((status = 200, description = "output, gas_used, height"), crate::problem::Refused)
)]
pub(crate) async fn query(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let (b, _): (CallBody, _) = body_of(&app, body).await?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let q = QueryRequest {
        contract: name,
        method: b.method,
        args: args_of(b.args),
        gas_limit: b.gas_limit,
    };
    let r = app
        .chain
        .call(|c| {
            let q = q.clone();
            async move {
                let req = c.signed(signer, "/govchain.v1.Contracts/Query", q)?;
                Ok(c.contracts().query(req).await?.into_inner())
            }
        })
        .await?;
    Ok(Json(json!({
        "output": output_of(&r.output), "gas_used": r.gas_used, "height": r.height,
    }))
    .into_response())
}

/// A contract's output: its JSON, or the text if it is not JSON.
pub(crate) fn output_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The body of `POST /v1/compute-jobs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobBody {
    certificate_id: String,
    purpose: String,
    contract: String,
    method: String,
    #[serde(default)]
    args: Value,
}

/// `POST /v1/compute-jobs` (scope request): the gate's decision on running an approved
/// contract's job over a certificate on its owner's node.
#[utoipa::path(
    post,
    path = "/v1/compute-jobs",
    tag = "contracts",
    summary = "Run an approved contract's job over a certificate on its owner's node (scope request)",
    params(crate::openapi::Idempotency),
    request_body = JobBody,
    responses((status = 201, description = "request, certificate_id, decision, reason, points, owner, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
pub(crate) async fn compute(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Request)?;
    let (b, raw): (JobBody, _) = body_of(&app, body).await?;
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        "POST /v1/compute-jobs",
        &raw,
        Op::Request,
        move |_| async move {
            Ok(pb::payload::Kind::Compute(pb::ComputeJob {
                cert_id: b.certificate_id,
                purpose: b.purpose,
                contract: b.contract,
                method: b.method,
                args: args_of(b.args),
            }))
        },
    )
    .await
}

/// The query of `GET /v1/compute-jobs/{n}/result`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResultQuery {
    /// How long to wait for the result, ms (default 60 s, at most 120 s).
    #[serde(default)]
    #[param(maximum = 120000)]
    wait_ms: Option<u64>,
}

/// `GET /v1/compute-jobs/{n}/result` (scope request): the job's result, checked and
/// decrypted, once its executor posted it.
#[utoipa::path(
    get,
    path = "/v1/compute-jobs/{n}/result",
    tag = "contracts",
    summary = "A compute job's result, checked against genesis and decrypted (scope request)",
    params(("n" = u64, Path, description = "the job's request number"), ResultQuery),
    responses((status = 200, description = "request, executor, height, ok, output, error, gas_used, code_hash, input_hash, checks"), crate::problem::Refused)
)]
pub(crate) async fn result(
    State(app): State<App>,
    headers: HeaderMap,
    Path(n): Path<String>,
    q: Result<Query<ResultQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Request)?;
    let q = crate::api::query_of(q)?;
    let (request, wait) = crate::api::waiting(&n, q.wait_ms, 60_000)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let genesis = &app.chain.genesis;
    let client = app.chain.client().await?;
    let (r, plain) = govchain_node::network::await_result(&client, genesis, request, wait, signer)
        .await
        .map_err(|e| match e.downcast::<govchain_client::ClientError>() {
            Ok(c) => Problem::from(c),
            Err(e) => Problem::new(ErrorCode::Timeout, format!("{e:#}")),
        })?;
    let res = r.result.unwrap_or_default();
    let out = res.result.unwrap_or_default();
    Ok(Json(json!({
        "request": request, "executor": res.executor, "height": res.height, "ok": !out.failed,
        "output": if out.failed { Value::Null } else { output_of(&plain) },
        "error": if out.failed { String::from_utf8_lossy(&plain).into_owned() } else { String::new() },
        "gas_used": out.gas_used, "code_hash": hex::encode(&out.code_hash),
        "input_hash": hex::encode(&out.input_hash), "checks": {"executor_signature": true},
    }))
    .into_response())
}
