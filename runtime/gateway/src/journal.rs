//! Transactions done once per idempotency key, through the journal: the signed
//! transaction is written (synced) before it is sent, the answer when its receipt is
//! known; after a restart the journal is settled before the gateway listens
//! (`docs/design/gateway.md`, "Reliability").

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use govchain_types::{ErrorCode, pb};
use prost::Message;
use serde_json::Value;

use crate::api::{Answer, App};
use crate::chain::Op;
use crate::problem::Problem;
use crate::store::{Idempotent, Progress, Store};
use crate::tokens::Caller;

/// Signs, journals, sends and answers a transaction once per idempotency key: a retry
/// with the same key and body gets the first answer, with another body a refusal.
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
    F: FnOnce(govchain_client::Signer) -> Fut,
    Fut: std::future::Future<Output = Result<pb::payload::Kind, Problem>>,
{
    let key = match headers.get("idempotency-key") {
        Some(k) => {
            let k = k
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    Problem::bad("Idempotency-Key", "1 to 255 visible ASCII characters")
                })?;
            format!("{}/{k}", caller.token)
        }
        None => format!(
            "auto/{}",
            hex::encode(&govchain_crypto::random_seed()[..16])
        ),
    };
    let fingerprint = hex::encode(govchain_crypto::sm3(
        &[what.as_bytes(), b"\0", body].concat(),
    ));
    if !app.busy.lock().insert(key.clone()) {
        return Err(Problem::new(
            ErrorCode::AlreadyExists,
            "a request with this Idempotency-Key is being worked on: retry in a moment",
        ));
    }
    let answer = once(app, caller, &key, fingerprint, op, payload).await;
    app.busy.lock().remove(&key);
    answer
}

async fn once<F, Fut>(
    app: &App,
    caller: &Caller,
    key: &str,
    fingerprint: String,
    op: Op,
    payload: F,
) -> Answer
where
    F: FnOnce(govchain_client::Signer) -> Fut,
    Fut: std::future::Future<Output = Result<pb::payload::Kind, Problem>>,
{
    let signer = app.chain.signer(&caller.record.operator)?.clone();
    let (op, tx) = match app.store.idempotent(key)? {
        Some(r) if r.fingerprint != fingerprint => {
            return Err(Problem::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request: use a new key for a new request",
            ));
        }
        Some(Idempotent {
            state: Progress::Done { status, body },
            ..
        }) => {
            return Ok(stored(status, body));
        }
        Some(Idempotent {
            state: Progress::Sent { op, tx, .. },
            ..
        }) => {
            let tx = pb::SignedTx::decode(hex::decode(tx).unwrap_or_default().as_slice()).map_err(
                |e| Problem::new(ErrorCode::Internal, format!("journaled transaction: {e}")),
            )?;
            (op, tx)
        }
        None => {
            let tx = app
                .chain
                .sign(&signer, payload(signer.clone()).await?)
                .await?;
            journal(
                &app.store,
                key,
                &fingerprint,
                &op,
                &tx,
                &caller.record.operator,
            )?;
            (op, tx)
        }
    };
    finish(app, key, &fingerprint, op, tx, &signer).await
}

fn stored(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, Json(body)).into_response();
    if !status.is_success() {
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
    }
    r
}

/// Writes (synced) that `tx` is sent for `key`.
fn journal(
    store: &Store,
    key: &str,
    fingerprint: &str,
    op: &Op,
    tx: &pb::SignedTx,
    operator: &str,
) -> Result<(), Problem> {
    store.put_idempotent(
        key,
        &Idempotent {
            fingerprint: fingerprint.to_string(),
            at_ms: now_ms(),
            state: Progress::Sent {
                op: op.clone(),
                tx: hex::encode(tx.encode_to_vec()),
                operator: operator.to_string(),
            },
        },
    )?;
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Settles `tx` and records the answer for `key`.
pub(crate) async fn finish(
    app: &App,
    key: &str,
    fingerprint: &str,
    op: Op,
    tx: pb::SignedTx,
    signer: &govchain_client::Signer,
) -> Answer {
    let store = app.store.clone();
    let (k, f, o, who) = (
        key.to_string(),
        fingerprint.to_string(),
        op.clone(),
        signer.operator.clone(),
    );
    let settled = app
        .chain
        .settle(tx, signer, move |t| {
            journal(&store, &k, &f, &o, t, &who).map_err(|p| anyhow::anyhow!(p.detail))
        })
        .await;
    let (status, body) = match settled {
        Ok(receipt) => op.answer(&receipt),
        // Not known either way (no node, a full mempool): stays journaled; a retry
        // with the key, or the next start, goes on with it.
        Err(p) if transient(p.code) => return Err(p),
        // Refused for good: that is the answer.
        Err(p) => (p.status.as_u16(), p.body()),
    };
    app.store.put_idempotent(
        key,
        &Idempotent {
            fingerprint: fingerprint.to_string(),
            at_ms: now_ms(),
            state: Progress::Done {
                status,
                body: body.clone(),
            },
        },
    )?;
    Ok(stored(status, body))
}

/// Whether a failure to settle may pass: the transaction may still commit.
fn transient(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Unavailable
            | ErrorCode::Timeout
            | ErrorCode::Internal
            | ErrorCode::MempoolFull
            | ErrorCode::AccountPendingFull
            | ErrorCode::Busy
    )
}

/// Settles, in the background, every journaled transaction not known committed (the
/// gateway stopped between sending it and its receipt). Each key is claimed before the
/// gateway listens: a retry with it waits for this, never settles it a second time.
pub(crate) fn resume(app: &App) -> anyhow::Result<()> {
    for (key, r) in app.store.unfinished()? {
        let Progress::Sent { op, tx, operator } = r.state else {
            continue;
        };
        app.busy.lock().insert(key.clone());
        let app = app.clone();
        tokio::spawn(async move {
            let settled = async {
                let signer = app.chain.signer(&operator)?.clone();
                let tx = hex::decode(&tx)
                    .ok()
                    .and_then(|b| pb::SignedTx::decode(b.as_slice()).ok())
                    .ok_or_else(|| {
                        Problem::new(
                            ErrorCode::Internal,
                            "the journaled transaction does not decode",
                        )
                    })?;
                finish(&app, &key, &r.fingerprint, op, tx, &signer).await
            }
            .await;
            app.busy.lock().remove(&key);
            match settled {
                Ok(_) => tracing::info!(%key, "journaled transaction settled after a restart"),
                Err(p) => tracing::warn!(%key, "journaled transaction not settled: {}", p.detail),
            }
        });
    }
    Ok(())
}
