//! The gateway's REST/JSON API (`docs/design/gateway.md`, "API"): token checks, bodies
//! read within the limit, idempotent transactions through the journal, and answers as
//! JSON or RFC 9457 problems.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use govchain_types::ErrorCode;
use parking_lot::Mutex;
use serde_json::json;

use crate::chain::Chain;
use crate::problem::Problem;
use crate::store::Store;
use crate::tokens::{self, Caller, Scope};

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

/// A number in a path (a request, a proposal, a delivery), or a problem naming `what`
/// (axum's own rejection would be plain text).
pub(crate) fn number(what: &str, n: &str) -> Result<u64, Problem> {
    n.parse()
        .map_err(|_| Problem::bad(what, format!("'{n}' is not a {what} number")))
}

/// The request number `n` of a path, and how long to wait for it: `wait_ms`, else
/// `default_ms`, at most 120 s.
pub(crate) fn waiting(
    n: &str,
    wait_ms: Option<u64>,
    default_ms: u64,
) -> Result<(u64, Duration), Problem> {
    let request = number("request", n)?;
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
        .route("/v1/certificate-types", get(crate::certs::cert_types))
        .route(
            "/v1/certificates",
            post(crate::certs::publish).get(crate::certs::list),
        )
        .route("/v1/certificates/{id}", get(crate::certs::certificate))
        .route("/v1/certificates/{id}/grants", post(crate::manage::grant))
        .route(
            "/v1/certificates/{id}/revocation",
            post(crate::manage::revoke),
        )
        .route("/v1/access-requests", post(crate::certs::request_access))
        .route(
            "/v1/access-requests/{n}/document",
            get(crate::certs::document),
        )
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
        crate::openapi::document(),
    )
}

pub(crate) type Answer = Result<Response, Problem>;

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "department",
    summary = "Chain, node, height; this gateway's department and the token's operator and scopes (any scope)",
    responses((status = 200, description = "chain_id, node_id, height, department, operator, token, scopes"), crate::problem::Refused)
)]
pub(crate) async fn status(State(app): State<App>, headers: HeaderMap) -> Answer {
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
