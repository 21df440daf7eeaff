//! Delivering queued events: each POSTed to its webhook's URL (HTTP/1.1 through hyper,
//! TLS through rustls with the receiver's CA), signed with HMAC-SM3 under the webhook's
//! key; a 2xx answer within the timeout delivers it, anything else is retried after a
//! wait that doubles from `first_retry_ms` up to an hour, until `max_attempts`. Every
//! attempt is kept in the delivery log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::records::{Attempt, Delivery, DeliveryState, Webhook};
use crate::api::App;

/// Attempts under way at once.
const AT_ONCE: usize = 16;
/// Attempts under way at once to one webhook.
const PER_WEBHOOK: usize = 4;
/// How long the log keeps a delivery after it ended.
const KEEP_MS: u64 = 7 * 86_400_000;
/// How often the log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait between two attempts.
const MAX_WAIT_MS: u64 = 3_600_000;

/// The signature header's value for a delivery of event `id` at `timestamp` (Unix
/// seconds) with `body`: `hmac-sm3=` and the hex of HMAC-SM3(key, id "." timestamp "."
/// body). The receiver recomputes it, and refuses an old timestamp.
fn signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = govchain_crypto::hmac_sm3(key, &[id.as_bytes(), b".", t.as_bytes(), b".", body]);
    format!("hmac-sm3={}", hex::encode(mac))
}

/// The trust roots of an `https://` webhook: its CA certificates (PEM).
pub(super) fn roots(ca_pem: &str) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let c = c.map_err(|e| format!("not PEM certificates: {e}"))?;
        roots
            .add(c)
            .map_err(|e| format!("a CA certificate rustls refuses: {e}"))?;
    }
    if roots.is_empty() {
        return Err(
            "an https:// webhook needs the receiver's CA certificates (PEM) to check it by".into(),
        );
    }
    Ok(roots)
}

/// Delivers pending deliveries for as long as the gateway runs, at most [`AT_ONCE`]
/// at once and [`PER_WEBHOOK`] to one webhook (a receiver that hangs holds back only
/// its own); forgets the log's old entries every hour.
pub(crate) async fn deliver(app: App) {
    let slots = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut pruned: Option<Instant> = None;
    loop {
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let cutoff = crate::now_ms().saturating_sub(KEEP_MS);
            if let Err(e) = app.store.prune_webhooks(cutoff) {
                tracing::warn!("pruning the webhooks' delivery log: {e:#}");
            }
        }
        let now = crate::now_ms();
        let mut wake_at = now + 1_000;
        let pending = app.store.pending().unwrap_or_else(|e| {
            tracing::warn!("reading pending webhook deliveries: {e:#}");
            Vec::new()
        });
        for (seq, p) in pending {
            if p.next_ms > now {
                wake_at = wake_at.min(p.next_ms);
                continue;
            }
            {
                let mut busy = app.hooks.in_flight.lock();
                let mine = busy.values().filter(|w| **w == p.webhook).count();
                if busy.contains_key(&seq) || mine >= PER_WEBHOOK {
                    continue;
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                busy.insert(seq, p.webhook.clone());
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) = attempt(&app, &p.webhook, seq).await {
                        tracing::warn!(seq, "webhook delivery: {e:#}");
                    }
                    app.hooks.in_flight.lock().remove(&seq);
                    drop(slot);
                    app.hooks.wake.notify_one();
                });
            }
        }
        let wait = Duration::from_millis(wake_at.saturating_sub(crate::now_ms()));
        let _ = tokio::time::timeout(wait, app.hooks.wake.notified()).await;
    }
}

/// One attempt at delivery `seq` of `webhook`, if it is due, recorded.
async fn attempt(app: &App, webhook: &str, seq: u64) -> anyhow::Result<()> {
    let Some(mut d) = app.store.delivery(webhook, seq)? else {
        return Ok(());
    };
    if d.state != DeliveryState::Pending || d.next_ms > crate::now_ms() {
        return Ok(());
    }
    let Some(w) = app.store.webhook(webhook)? else {
        return Ok(());
    };
    let cfg = &app.hooks.cfg;
    let at_ms = crate::now_ms();
    let started = Instant::now();
    let sent = tokio::time::timeout(Duration::from_millis(cfg.timeout_ms), post(&w, &d, at_ms))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", cfg.timeout_ms)));
    let ms = started.elapsed().as_millis() as u64;
    let (status, error) = match sent {
        Ok(s) if (200..300).contains(&s) => (s, String::new()),
        Ok(s) => (s, format!("the receiver answered {s}")),
        Err(e) => (0, e),
    };
    d.attempts.push(Attempt {
        at_ms,
        status,
        error: error.clone(),
        ms,
    });
    let tries = d.attempts.len() as u32 - d.retried_from;
    if error.is_empty() {
        d.state = DeliveryState::Delivered;
    } else if tries >= cfg.max_attempts {
        d.state = DeliveryState::Failed;
        tracing::warn!(webhook = %w.id, event = %d.event_id, "webhook delivery failed {tries} times: {error}");
    } else {
        let wait = cfg
            .first_retry_ms
            .saturating_mul(1 << (tries - 1).min(30))
            .min(MAX_WAIT_MS);
        d.next_ms = crate::now_ms() + wait;
    }
    app.store.put_delivery(&d)
}

/// POSTs delivery `d` to webhook `w`: the receiver's HTTP status.
async fn post(w: &Webhook, d: &Delivery, at_ms: u64) -> Result<u16, String> {
    let uri: Uri = w.url.parse().map_err(|e| format!("url: {e}"))?;
    let host = uri.host().ok_or("url: no host")?.to_string();
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let body = serde_json::to_vec(&d.body).map_err(|e| e.to_string())?;
    let timestamp = at_ms / 1000;
    let req = Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "govchain-gateway")
        .header("govchain-event-id", &d.event_id)
        .header("govchain-event-type", d.event_type.as_str())
        .header("govchain-delivery", d.seq)
        .header("govchain-timestamp", timestamp)
        .header(
            "govchain-signature",
            signature(w.secret.as_bytes(), &d.event_id, timestamp, &body),
        )
        .body(Body::from(body))
        .map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    if tls {
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots(&w.ca_pem)?)
            .with_no_client_auth();
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("url: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        exchange(stream, req).await
    } else {
        exchange(tcp, req).await
    }
}

/// One HTTP/1.1 exchange on `io`.
async fn exchange<S>(io: S, req: Request<Body>) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let answer = send.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(answer.status().as_u16())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_openssls_hmac_sm3() {
        // `printf 'access.allowed:7.1700000000.{"a":1}' | openssl dgst -sm3 -hmac <32 k>`
        assert_eq!(
            super::signature(
                &[b'k'; 32],
                "access.allowed:7",
                1_700_000_000,
                br#"{"a":1}"#
            ),
            "hmac-sm3=56b1b7f1302402ab439db7d7706b5d79e557510ea899679258dbc90811438cd2"
        );
    }
}
