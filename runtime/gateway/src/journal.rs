//! Transactions done once per idempotency key, through the journal: the signed
//! transaction is written (synced) before it is sent, the answer once its receipt is
//! known; a call whose transaction has not committed within a minute is answered `202`
//! with the operation to poll; after a restart the journal is settled before the
//! gateway listens (`docs/design/gateway.md`, "Reliability").

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use govchain_client::Signer;
use govchain_types::{ErrorCode, pb};
use prost::Message;
use serde_json::{Value, json};

use crate::api::{Answer, App};
use crate::op::Op;
use crate::problem::Problem;
use crate::store::{Idempotent, Progress};
use crate::tokens::Caller;

/// How long a call waits for its transaction to commit before answering `202`.
const COMMIT_WAIT: Duration = Duration::from_secs(60);
/// How long answers are kept for retries and polls.
const KEEP_MS: u64 = 7 * 86_400_000;

/// Marks an idempotency record as being worked on until dropped.
struct Claim {
    app: App,
    key: String,
}

impl Claim {
    /// Claims `key`, or `None` if it is being worked on.
    fn take(app: &App, key: &str) -> Option<Claim> {
        app.busy.lock().insert(key.to_string()).then(|| Claim {
            app: app.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.app.busy.lock().remove(&self.key);
    }
}

/// The caller's name for the record `key` (`<token hash>/<name>`).
fn public(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, k)| k)
}

/// Signs, journals, sends and answers a transaction once per idempotency key: a retry
/// with the same key and body gets the first answer, with another body a refusal. A
/// call without a key gets one (`auto-…`), returned as the operation to poll if the
/// answer is not known within a minute. The work goes on if the caller hangs up.
pub(crate) async fn idempotent<F, Fut>(
    app: &App,
    caller: &Caller,
    headers: &HeaderMap,
    what: &str,
    body: &[u8],
    op: Op,
    payload: F,
) -> Answer
where
    F: FnOnce(Signer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<pb::payload::Kind, Problem>> + Send,
{
    let name = match headers.get("idempotency-key") {
        Some(k) => k
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && !k.starts_with("auto-"))
            .ok_or_else(|| {
                Problem::bad(
                    "Idempotency-Key",
                    "1 to 255 visible ASCII characters, not starting with auto-",
                )
            })?
            .to_string(),
        None => format!(
            "auto-{}",
            hex::encode(&govchain_crypto::random_seed()[..16])
        ),
    };
    let key = format!("{}/{name}", caller.token);
    let fingerprint = hex::encode(govchain_crypto::sm3(
        &[what.as_bytes(), b"\0", body].concat(),
    ));
    let claim = Claim::take(app, &key).ok_or_else(|| Problem {
        status: axum::http::StatusCode::CONFLICT,
        ..Problem::new(
            ErrorCode::Busy,
            "a request with this Idempotency-Key is being worked on: retry in a moment",
        )
    })?;
    let (app, operator) = (app.clone(), caller.record.operator.clone());
    let work = tokio::spawn(async move {
        let _claim = claim;
        once(&app, &key, fingerprint, &operator, op, payload).await
    });
    work.await
        .map_err(|e| Problem::new(ErrorCode::Internal, format!("the call's task: {e}")))?
}

async fn once<F, Fut>(
    app: &App,
    key: &str,
    fingerprint: String,
    operator: &str,
    op: Op,
    payload: F,
) -> Answer
where
    F: FnOnce(Signer) -> Fut,
    Fut: std::future::Future<Output = Result<pb::payload::Kind, Problem>>,
{
    let signer = app.chain.signer(operator)?.clone();
    let tx = match app.store.idempotent(key)? {
        Some(r) if r.fingerprint != fingerprint => {
            return Err(Problem::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request: use a new key for a new request",
            ));
        }
        Some(Idempotent {
            state: Progress::Done { status, body },
            ..
        }) => return Ok(stored(status, body)),
        Some(Idempotent {
            state: Progress::Sent { tx, .. },
            ..
        }) => decode(&tx)?,
        None => {
            let payload = payload(signer.clone()).await?;
            let journal = |tx: &pb::SignedTx| {
                write(
                    app,
                    key,
                    &fingerprint,
                    Progress::Sent {
                        op: op.clone(),
                        tx: hex::encode(tx.encode_to_vec()),
                        operator: operator.to_string(),
                    },
                )
            };
            match app.chain.send(&signer, payload, journal).await {
                Ok(tx) => tx,
                Err(p) => {
                    // Refused for good after it was journaled: that is the answer. (No
                    // node answering a second attempt is not: the journaled transaction
                    // stays to be settled by a retry.)
                    let settled = !matches!(
                        p.code,
                        ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::Timeout
                    );
                    if settled && app.store.idempotent(key)?.is_some() {
                        done(app, key, &fingerprint, p.status.as_u16(), p.body())?;
                    }
                    return Err(p);
                }
            }
        }
    };
    finish(app, key, &fingerprint, op, &tx, &signer, Some(COMMIT_WAIT)).await
}

fn decode(tx: &str) -> Result<pb::SignedTx, Problem> {
    hex::decode(tx)
        .ok()
        .and_then(|b| pb::SignedTx::decode(b.as_slice()).ok())
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::Internal,
                "a journaled transaction does not decode",
            )
        })
}

fn write(app: &App, key: &str, fingerprint: &str, state: Progress) -> Result<(), Problem> {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    app.store.put_idempotent(
        key,
        &Idempotent {
            fingerprint: fingerprint.to_string(),
            at_ms,
            state,
        },
    )?;
    Ok(())
}

fn done(app: &App, key: &str, fingerprint: &str, status: u16, body: Value) -> Result<(), Problem> {
    write(app, key, fingerprint, Progress::Done { status, body })
}

/// A recorded answer as sent.
fn stored(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, Json(body)).into_response();
    if !status.is_success() {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
    }
    r
}

/// `202`: the transaction is sent and not yet known committed.
fn pending(key: &str) -> Response {
    let name = public(key);
    let location = format!("/v1/operations/{name}");
    let mut r = (
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "pending", "operation": name,
            "detail": format!("sent, not committed yet: GET {location}, or send the request again with Idempotency-Key: {name}"),
        })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Waits up to `wait` for `tx` (journaled for `key`) to settle and records the answer:
/// the receipt's, or the problem if it never can commit; `202` if still pending.
async fn finish(
    app: &App,
    key: &str,
    fingerprint: &str,
    op: Op,
    tx: &pb::SignedTx,
    signer: &Signer,
    wait: Option<Duration>,
) -> Answer {
    let (status, body) = match app.chain.settle(tx, signer, wait).await {
        Ok(Some(receipt)) => op.answer(&receipt),
        Ok(None) => return Ok(pending(key)),
        Err(p) => (p.status.as_u16(), p.body()),
    };
    done(app, key, fingerprint, status, body.clone())?;
    Ok(stored(status, body))
}

/// `GET /v1/operations/{name}`: the answer of a call made with this token under that
/// Idempotency-Key (or the `auto-…` one a `202` named), or `202` while pending.
#[utoipa::path(
    get,
    path = "/v1/operations/{name}",
    tag = "department",
    summary = "The answer of a call made with this token under this Idempotency-Key, or 202 while pending (any scope)",
    params(("name" = String, Path, description = "the Idempotency-Key, or the auto-… one a 202 named")),
    responses(
        (status = 201, description = "The call's answer, as it was first given (a refusal keeps its status)"),
        (status = 202, description = "Still pending: poll again"),
        crate::problem::Refused
    )
)]
pub(crate) async fn operation(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Answer {
    let caller = app.caller(&headers)?;
    let key = format!("{}/{name}", caller.token);
    match app.store.idempotent(&key)? {
        Some(Idempotent {
            state: Progress::Done { status, body },
            ..
        }) => Ok(stored(status, body)),
        Some(_) => Ok(pending(&key)),
        None => Err(Problem::new(
            ErrorCode::NotFound,
            format!("no operation '{name}' of this token (answers are kept 7 days)"),
        )),
    }
}

/// Settles, in the background, every journaled transaction not known committed (the
/// gateway stopped between sending it and its receipt), and forgets answers older
/// than 7 days. Each key is claimed before the gateway listens: a retry with it waits
/// for this, never settles it a second time.
pub(crate) fn resume(app: &App) -> anyhow::Result<()> {
    app.store
        .forget_done_before(crate::now_ms().saturating_sub(KEEP_MS))?;
    for (key, r) in app.store.unfinished()? {
        let Progress::Sent { op, tx, operator } = r.state else {
            continue;
        };
        let Some(claim) = Claim::take(app, &key) else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _claim = claim;
            let settled = async {
                let signer = app.chain.signer(&operator)?.clone();
                let tx = decode(&tx)?;
                finish(&app, &key, &r.fingerprint, op, &tx, &signer, None).await
            }
            .await;
            match settled {
                Ok(_) => tracing::info!(
                    operation = public(&key),
                    "journaled transaction settled after a restart"
                ),
                Err(p) => tracing::warn!(
                    operation = public(&key),
                    "journaled transaction: {}",
                    p.detail
                ),
            }
        });
    }
    Ok(())
}
