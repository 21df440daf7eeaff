//! Webhooks: the department's systems are told what happened on chain that concerns
//! them (`docs/design/gateway.md`, "Notifications"). An `admin` token registers a URL,
//! the event types and an HMAC key; the gateway follows the department's audit records
//! and the grants revoked from it (`notify`), queues one delivery per event and
//! webhook in the same write as its cursor, and POSTs each, signed with HMAC-SM3,
//! retried with backoff (`deliver`); every attempt stays in the delivery log.

mod deliver;
mod notify;
pub mod records;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use govchain_client::rpc::GetStatusRequest;
use govchain_types::ErrorCode;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{Answer, App, body_of};
use crate::config::Webhooks;
use crate::problem::Problem;
use crate::tokens::Scope;
use records::{Cursor, Delivery, DeliveryState, Webhook};

pub(crate) use deliver::deliver;
pub(crate) use notify::follow;

/// The types of event a webhook receives.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum EventType {
    /// The department's request (a read or a compute job) was allowed.
    #[serde(rename = "access.allowed")]
    AccessAllowed,
    /// The department's request was denied.
    #[serde(rename = "access.denied")]
    AccessDenied,
    /// Enough key shares are released for the department's allowed read.
    #[serde(rename = "document.ready")]
    DocumentReady,
    /// Another department read (or computed over) one of its certificates.
    #[serde(rename = "certificate.read")]
    CertificateRead,
    /// A grant to the department was revoked.
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    /// The department's compute job's result was posted.
    #[serde(rename = "compute.finished")]
    ComputeFinished,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 6] = [
        EventType::AccessAllowed,
        EventType::AccessDenied,
        EventType::DocumentReady,
        EventType::CertificateRead,
        EventType::GrantRevoked,
        EventType::ComputeFinished,
    ];

    /// Its name, as a webhook and a delivery's `type` give it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccessAllowed => "access.allowed",
            EventType::AccessDenied => "access.denied",
            EventType::DocumentReady => "document.ready",
            EventType::CertificateRead => "certificate.read",
            EventType::GrantRevoked => "grant.revoked",
            EventType::ComputeFinished => "compute.finished",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The webhooks' shared state.
#[derive(Debug)]
pub(crate) struct Hooks {
    pub(crate) cfg: Webhooks,
    /// Wakes the deliverer: deliveries were queued.
    pub(crate) wake: tokio::sync::Notify,
    /// Deliveries being attempted now, with their webhooks.
    pub(crate) in_flight: Mutex<BTreeMap<u64, String>>,
    /// When reads waiting for key shares were last all looked at.
    last_sweep: Mutex<Option<Instant>>,
    /// Held while following the chain and while a webhook is made, so that a new
    /// webhook receives every event above its height.
    pub(crate) following: tokio::sync::Mutex<()>,
}

impl Hooks {
    pub(crate) fn new(cfg: Webhooks) -> Self {
        Hooks {
            cfg,
            wake: tokio::sync::Notify::new(),
            in_flight: Mutex::default(),
            last_sweep: Mutex::default(),
            following: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether every waiting read is to be looked at again now (every few seconds).
    pub(crate) fn sweep_due(&self) -> bool {
        let mut last = self.last_sweep.lock();
        let due = last.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// How often reads waiting for key shares are all looked at again.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    url: String,
    /// The HMAC-SM3 key deliveries are signed with.
    #[schema(min_length = 32, max_length = 512)]
    secret: String,
    /// Default: every type.
    #[serde(default)]
    events: Vec<EventType>,
    /// The receiver's CA certificates (PEM), for an `https://` URL.
    #[serde(default)]
    ca_pem: String,
}

/// The JSON of a webhook (never its secret).
fn view(w: &Webhook) -> serde_json::Value {
    json!({
        "id": w.id, "url": w.url, "events": w.events, "from_height": w.from_height,
        "created_ms": w.created_ms, "created_by": w.created_by, "tls_ca": !w.ca_pem.is_empty(),
    })
}

/// Checks what a webhook is given: a URL the deliverer can reach, a key of at least
/// 256 bits, known event types.
fn check(b: &mut WebhookBody) -> Result<(), Problem> {
    let uri: Uri = b
        .url
        .parse()
        .map_err(|e| Problem::bad("url", format!("'{}' is not a URL: {e}", b.url)))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Problem::bad(
            "url",
            "no user or password in the URL: the HMAC signature authenticates deliveries",
        ));
    }
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(_)) => {}
        (Some("https"), Some(_)) => {
            deliver::roots(&b.ca_pem).map_err(|why| Problem::bad("ca_pem", why))?;
        }
        _ => {
            return Err(Problem::bad(
                "url",
                format!("'{}' is not an http:// or https:// URL with a host", b.url),
            ));
        }
    }
    if !(32..=512).contains(&b.secret.len()) {
        return Err(Problem::bad(
            "secret",
            "32 to 512 characters (the HMAC-SM3 key deliveries are signed with)",
        ));
    }
    if b.events.is_empty() {
        b.events = EventType::ALL.to_vec();
    }
    b.events.sort();
    b.events.dedup();
    Ok(())
}

/// `POST /v1/webhooks` (admin): registers a webhook; it receives the events of blocks
/// committed from now on.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "create_webhook",
    tag = "admin",
    summary = "Register a webhook: events of blocks from now on are POSTed to its URL, signed with HMAC-SM3 (scope admin)",
    request_body = WebhookBody,
    responses((status = 201, description = "id, url, events, from_height, created_ms, created_by"), crate::problem::Refused)
)]
pub(crate) async fn create(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Admin)?;
    let (mut b, _): (WebhookBody, _) = body_of(&app, body).await?;
    check(&mut b)?;
    let _following = app.hooks.following.lock().await;
    let tip = app
        .chain
        .call(|c| async move {
            Ok(c.chain()
                .get_status(GetStatusRequest {})
                .await?
                .into_inner())
        })
        .await?;
    let w = Webhook {
        id: format!("wh-{}", hex::encode(&govchain_crypto::random_seed()[..8])),
        url: b.url,
        secret: b.secret,
        events: b.events,
        ca_pem: b.ca_pem,
        created_ms: crate::now_ms(),
        created_by: caller.record.name.clone(),
        from_height: tip.height,
    };
    // The first webhook starts following the chain here; later ones share the cursor.
    let cursor = app.store.webhooks()?.is_empty().then(|| Cursor {
        audit_after: 0,
        audit_from_ms: tip.tip_time_ms,
        revoked: (tip.height, String::new(), 0),
    });
    app.store.put_webhook(&w, cursor.as_ref())?;
    tracing::info!(by = %caller.record.name, id = %w.id, url = %w.url, "webhook made");
    Ok((StatusCode::CREATED, Json(view(&w))).into_response())
}

/// `GET /v1/webhooks` (admin).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "admin",
    summary = "The webhooks, never their keys (scope admin)",
    responses((status = 200, description = "webhooks"), crate::problem::Refused)
)]
pub(crate) async fn list(State(app): State<App>, headers: HeaderMap) -> Answer {
    app.allowed(&headers, Scope::Admin)?;
    let all: Vec<_> = app.store.webhooks()?.iter().map(view).collect();
    Ok(Json(json!({ "webhooks": all })).into_response())
}

fn found(app: &App, id: &str) -> Result<Webhook, Problem> {
    app.store
        .webhook(id)?
        .ok_or_else(|| Problem::new(ErrorCode::NotFound, format!("no webhook '{id}'")))
}

/// `DELETE /v1/webhooks/{id}` (admin): nothing more is delivered to it; its log goes
/// with it.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "remove_webhook",
    tag = "admin",
    summary = "Remove a webhook with its pending deliveries and log (scope admin)",
    params(("id" = String, Path, description = "webhook")),
    responses((status = 200, description = "id, removed"), crate::problem::Refused)
)]
pub(crate) async fn remove(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Admin)?;
    found(&app, &id)?;
    app.store.remove_webhook(&id)?;
    app.hooks.wake.notify_one();
    tracing::info!(by = %caller.record.name, %id, "webhook removed");
    Ok(Json(json!({ "id": id, "removed": true })).into_response())
}

/// The query of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: u32,
}

/// `GET /v1/webhooks/{id}/deliveries` (admin): the delivery log, oldest first.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "list_deliveries",
    tag = "admin",
    summary = "A webhook's delivery log, oldest first (scope admin)",
    params(("id" = String, Path, description = "webhook"), DeliveriesQuery),
    responses((status = 200, description = "deliveries (seq, event_id, event_type, body, state, attempts, next_ms), next"), crate::problem::Refused)
)]
pub(crate) async fn deliveries(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    app.allowed(&headers, Scope::Admin)?;
    let q = crate::api::query_of(q)?;
    found(&app, &id)?;
    let limit = match q.limit {
        0 => 100,
        n => n.min(1000) as usize,
    };
    let page: Vec<Delivery> = app.store.deliveries(&id, q.after, limit)?;
    let next = if page.len() == limit {
        page.last().map_or(0, |d| d.seq)
    } else {
        0
    };
    Ok(Json(json!({ "deliveries": page, "next": next })).into_response())
}

/// `POST /v1/webhooks/{id}/deliveries/{seq}/retry` (admin): a failed delivery is tried
/// again now (after the receiver was mended), with its backoff from the start.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{seq}/retry",
    operation_id = "retry_delivery",
    tag = "admin",
    summary = "Send a failed delivery again now (scope admin)",
    params(("id" = String, Path, description = "webhook"), ("seq" = u64, Path, description = "delivery")),
    responses((status = 200, description = "seq, state"), crate::problem::Refused)
)]
pub(crate) async fn retry(
    State(app): State<App>,
    headers: HeaderMap,
    Path((id, seq)): Path<(String, String)>,
) -> Answer {
    app.allowed(&headers, Scope::Admin)?;
    let seq = crate::api::number("delivery", &seq)?;
    found(&app, &id)?;
    let mut d = app.store.delivery(&id, seq)?.ok_or_else(|| {
        Problem::new(
            ErrorCode::NotFound,
            format!("no delivery {seq} of webhook '{id}'"),
        )
    })?;
    if d.state != DeliveryState::Failed {
        return Err(Problem::bad(
            "delivery",
            format!("delivery {seq} is {:?}, not failed", d.state).to_lowercase(),
        ));
    }
    d.state = DeliveryState::Pending;
    d.next_ms = crate::now_ms();
    d.retried_from = d.attempts.len() as u32;
    app.store.put_delivery(&d)?;
    app.hooks.wake.notify_one();
    Ok(Json(json!({ "seq": seq, "state": "pending" })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(url: &str, secret: &str, ca: &str) -> WebhookBody {
        WebhookBody {
            url: url.into(),
            secret: secret.into(),
            events: vec![],
            ca_pem: ca.into(),
        }
    }

    #[test]
    fn a_webhook_needs_a_reachable_url_a_long_key_and_known_events() {
        let key = "k".repeat(32);
        let mut b = body("http://127.0.0.1:9000/hook", &key, "");
        check(&mut b).unwrap();
        assert_eq!(b.events, EventType::ALL);
        let bad = [
            body("ftp://example/hook", &key, ""),
            body("/hook", &key, ""),
            body("http://user:pw@127.0.0.1/hook", &key, ""),
            body("http://127.0.0.1/hook", "short", ""),
            body("https://case.example/hook", &key, ""),
            body("https://case.example/hook", &key, "not a pem"),
        ];
        for (mut b, field) in bad
            .into_iter()
            .zip(["url", "url", "url", "secret", "ca_pem", "ca_pem"])
        {
            let p = check(&mut b).unwrap_err();
            assert_eq!(p.code, ErrorCode::InvalidArgument);
            assert!(p.detail.contains(field), "{}", p.detail);
        }
        // Event types are the names a delivery carries; another name is refused.
        for e in EventType::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        let unknown = r#"{"url": "http://h/x", "secret": "k", "events": ["access.maybe"]}"#;
        let e = serde_json::from_str::<WebhookBody>(unknown).unwrap_err();
        assert!(e.to_string().contains("access.allowed"), "{e}");
    }
}
