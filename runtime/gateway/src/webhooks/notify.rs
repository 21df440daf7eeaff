//! Following the chain for the department's notifications: its audit records (its
//! requests' decisions, key shares released to it, reads of its certificates, its
//! compute jobs' results) and the grants to it that were revoked, each from a cursor
//! kept in the gateway's database. What one look finds is queued, one delivery per
//! event and webhook, in the same write as the cursor that passes it: a crash neither
//! loses an event nor queues it twice. Event ids are made from the chain (the audit
//! record, the request, the grant), so a receiver can tell a repeat delivery.

use std::time::Duration;

use govchain_client::rpc::{AuditQuery, GetReleasesRequest, ListRevokedGrantsRequest};
use govchain_types::pb;
use serde_json::{Value, json};

use crate::api::App;
use crate::problem::Problem;
use crate::store::{Delivery, DeliveryState, Found};

/// Records or grants asked for at once.
const PAGE: u32 = 200;

/// An event for the department's systems.
#[derive(Debug)]
struct Event {
    id: String,
    kind: &'static str,
    height: u64,
    time_ms: u64,
    data: Value,
}

/// Follows the chain for as long as the gateway runs: looks again when a block
/// commits, or after a second.
pub(crate) async fn follow(app: App) {
    let mut blocks = app.chain.blocks();
    loop {
        let more = match look(&app).await {
            Ok(more) => more,
            Err(p) => {
                tracing::warn!("following the chain for webhooks: {}", p.detail);
                false
            }
        };
        if !more {
            let _ = tokio::time::timeout(Duration::from_secs(1), blocks.recv()).await;
        }
    }
}

/// One look past the cursor: queues what it finds; `true` if there is more to see.
async fn look(app: &App) -> Result<bool, Problem> {
    let _following = app.hooks.following.lock().await;
    let hooks = app.store.webhooks()?;
    if hooks.is_empty() {
        return Ok(false);
    }
    let mut cursor = app.store.cursor()?;
    let dept = app.department.as_str();
    let signer = app.chain.signer("")?;
    let q = AuditQuery {
        party: dept.to_string(),
        after: cursor.audit_after,
        from_ms: cursor.audit_from_ms,
        limit: PAGE,
        ..Default::default()
    };
    let page = app
        .chain
        .call(|c| {
            let q = q.clone();
            async move {
                let req = c.signed(signer, "/govchain.v1.Audit/Query", q)?;
                Ok(c.audit().query(req).await?.into_inner())
            }
        })
        .await?;
    let mut events = Vec::new();
    let mut ready = Vec::new();
    for r in &page.records {
        events.extend(of_record(r, dept));
        let release = r.action == pb::AuditAction::KeyRelease as i32;
        if release
            && r.requester == dept
            && !ready.contains(&r.request)
            && !app.store.ready_told(r.request)?
            && let Some(e) = document_ready(app, r).await?
        {
            ready.push(r.request);
            events.push(e);
        }
    }
    cursor.audit_after = match page.next {
        0 => page.records.last().map_or(cursor.audit_after, |r| r.seq),
        next => next,
    };
    let (h, cert, grant) = cursor.revoked.clone();
    let q = ListRevokedGrantsRequest {
        grantee: dept.to_string(),
        after_height: h,
        after_cert: cert,
        after_grant: grant,
        limit: PAGE,
    };
    let revoked = app
        .chain
        .call(|c| {
            let q = q.clone();
            async move {
                let req = c.signed(signer, "/govchain.v1.Certificates/ListRevokedGrants", q)?;
                Ok(c.certificates()
                    .list_revoked_grants(req)
                    .await?
                    .into_inner()
                    .grants)
            }
        })
        .await?;
    for g in &revoked {
        events.push(Event {
            id: format!("grant.revoked:{}/{}", g.cert_id, g.id),
            kind: "grant.revoked",
            height: g.revoked_height,
            time_ms: 0,
            data: json!({
                "grant_id": g.id, "certificate_id": g.cert_id, "grantor": g.grantor,
                "purpose": g.purpose, "granted_height": g.height,
            }),
        });
    }
    if let Some(g) = revoked.last() {
        cursor.revoked = (g.revoked_height, g.cert_id.clone(), g.id);
    }
    let more = page.next != 0 || revoked.len() == PAGE as usize;
    let mut found = Found {
        deliveries: Vec::new(),
        ready,
        cursor,
    };
    let now = crate::now_ms();
    let mut seq = app.store.next_delivery()?;
    for e in events {
        let body = json!({
            "id": e.id, "type": e.kind, "department": dept, "height": e.height,
            "time_ms": e.time_ms, "data": e.data,
        });
        for w in &hooks {
            if e.height > w.from_height && w.events.iter().any(|k| k == e.kind) {
                found.deliveries.push(Delivery {
                    seq,
                    webhook: w.id.clone(),
                    event_id: e.id.clone(),
                    event_type: e.kind.to_string(),
                    body: body.clone(),
                    at_ms: now,
                    state: DeliveryState::Pending,
                    next_ms: now,
                    attempts: Vec::new(),
                    retried_from: 0,
                });
                seq += 1;
            }
        }
    }
    app.store.record_found(&found)?;
    if !found.deliveries.is_empty() {
        app.hooks.wake.notify_one();
    }
    Ok(more)
}

/// The events an audit record of the department makes: its own request decided (a read
/// or a compute job), its certificate read or computed over by another department, its
/// compute job's result posted.
fn of_record(r: &pb::AuditRecord, dept: &str) -> Vec<Event> {
    let allowed = r.decision == pb::Decision::Allow as i32;
    let event = |kind: &'static str, request: u64, data: Value| Event {
        id: format!("{kind}:{}", r.seq),
        kind,
        height: r.height,
        time_ms: r.time_ms,
        data: {
            let mut d = json!({
                "request": request, "certificate_id": r.cert_id,
                "certificate_type": r.cert_type, "purpose": r.purpose,
                "audit_seq": r.seq, "tx_hash": hex::encode(&r.tx_hash),
            });
            if let (Some(d), Value::Object(more)) = (d.as_object_mut(), data) {
                d.extend(more);
            }
            d
        },
    };
    let kind = match pb::AuditAction::try_from(r.action) {
        Ok(pb::AuditAction::Read) => "read",
        Ok(pb::AuditAction::Compute) => "compute",
        Ok(pb::AuditAction::ComputeResult) if r.requester == dept => {
            return vec![event(
                "compute.finished",
                r.request,
                json!({ "owner": r.owner, "reason": r.reason }),
            )];
        }
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    if r.requester == dept {
        out.push(event(
            if allowed {
                "access.allowed"
            } else {
                "access.denied"
            },
            r.seq,
            json!({
                "kind": kind, "owner": r.owner, "operator": r.operator,
                "decision": if allowed { "allow" } else { "deny" }, "reason": r.reason,
                "points": r.points, "via": r.via, "grant_id": r.grant_id,
            }),
        ));
    }
    if r.owner == dept && r.requester != dept && allowed {
        out.push(event(
            "certificate.read",
            r.seq,
            json!({
                "kind": kind, "requester": r.requester, "operator": r.operator,
                "points": r.points, "via": r.via,
            }),
        ));
    }
    out
}

/// "Document ready" for the department's read `r.request` once as many key shares
/// are released for it as the custody key needs (a compute job's shares go to its
/// executor: none).
async fn document_ready(app: &App, r: &pb::AuditRecord) -> Result<Option<Event>, Problem> {
    let signer = app.chain.signer("")?;
    let request = r.request;
    let got = app
        .chain
        .call(|c| async move {
            let req = c.signed(
                signer,
                "/govchain.v1.Certificates/GetReleases",
                GetReleasesRequest { request },
            )?;
            Ok(c.certificates().get_releases(req).await?.into_inner())
        })
        .await?;
    let threshold = got.custody.as_ref().map_or(u32::MAX, |k| k.threshold) as usize;
    let is_job = got.request.as_ref().is_none_or(|q| q.job.is_some());
    if is_job || got.releases.len() < threshold {
        return Ok(None);
    }
    Ok(Some(Event {
        id: format!("document.ready:{request}"),
        kind: "document.ready",
        height: r.height,
        time_ms: r.time_ms,
        data: json!({
            "request": request, "certificate_id": r.cert_id,
            "certificate_type": r.cert_type, "purpose": r.purpose,
            "operator": got.request.as_ref().map_or("", |q| q.operator.as_str()),
            "shares": got.releases.len(), "threshold": threshold,
            "document": format!("/v1/access-requests/{request}/document"),
        }),
    }))
}
