//! Following the chain for the department's notifications: its audit records (its
//! requests' decisions, key shares released to it, reads of its certificates, its
//! compute jobs' results) and the grants to it that were revoked, each from a cursor
//! kept in the gateway's database. What one look finds is queued, one delivery per
//! event and webhook, in the same write as the cursor that passes it: a crash neither
//! loses an event nor queues it twice. Event ids are made from the chain (the audit
//! record, the request, the grant), so a receiver can tell a repeat delivery.
//!
//! What a node answers is checked before it is told: the audit records come as an
//! export whose inclusion proofs and commit certificates are checked against genesis
//! (a node cannot make up a decision or a read), each must name the department, and
//! key shares count towards "document ready" only once they verify against the
//! custody key set. A node can still withhold records (it is trusted for completeness,
//! as for receipts), but not move the cursor past records it did not prove.

use std::time::Duration;

use govchain_client::rpc::{AuditQuery, ListRevokedGrantsRequest};
use govchain_client::shares::Releases;
use govchain_types::{ErrorCode, pb};
use serde_json::{Value, json};

use super::EventType;
use super::records::{Delivery, DeliveryState, Found, Waiting};
use crate::api::App;
use crate::problem::Problem;

/// Records or grants asked for at once.
const PAGE: u32 = 200;

/// An event for the department's systems.
#[derive(Debug)]
struct Event {
    id: String,
    kind: EventType,
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
    let mut found = Found {
        cursor: app.store.cursor()?,
        ..Found::default()
    };
    let dept = app.department.as_str();
    let records = audit_records(app, &found.cursor).await?;
    let mut events = Vec::new();
    for r in &records {
        events.extend(of_record(r, dept));
        let release = r.action == pb::AuditAction::KeyRelease as i32;
        if release && r.requester == dept && !app.store.ready_told(r.request)? {
            let w = Waiting {
                height: r.height,
                time_ms: r.time_ms,
                cert_id: r.cert_id.clone(),
                cert_type: r.cert_type.clone(),
                purpose: r.purpose.clone(),
                since_ms: crate::now_ms(),
            };
            found.waiting.retain(|(q, _)| *q != r.request);
            found.waiting.push((r.request, w));
        }
        found.cursor.audit_after = r.seq;
    }
    // The reads a release record named now, and every few seconds each read still short
    // of key shares (a share may commit, or a lagging node catch up, later).
    let mut waits: Vec<(u64, Waiting)> = found.waiting.drain(..).collect();
    if app.hooks.sweep_due() {
        for (q, w) in app.store.waiting()? {
            if !waits.iter().any(|(r, _)| *r == q) {
                waits.push((q, w));
            }
        }
    }
    for (request, w) in waits {
        match document_ready(app, request, &w).await? {
            Readiness::Ready(e) => {
                found.ready.push(request);
                found.unwaited.push(request);
                events.push(e);
            }
            Readiness::Never => found.unwaited.push(request),
            Readiness::Waiting => found.waiting.push((request, w)),
        }
    }
    let revoked = revoked_grants(app, &found.cursor).await?;
    for g in &revoked {
        events.push(Event {
            id: format!("grant.revoked:{}/{}", g.cert_id, g.id),
            kind: EventType::GrantRevoked,
            height: g.revoked_height,
            time_ms: 0,
            data: json!({
                "grant_id": g.id, "certificate_id": g.cert_id, "grantor": g.grantor,
                "purpose": g.purpose, "granted_height": g.height,
            }),
        });
        found.cursor.revoked = (g.revoked_height, g.cert_id.clone(), g.id);
    }
    let more = records.len() == PAGE as usize || revoked.len() == PAGE as usize;
    let now = crate::now_ms();
    let mut seq = app.store.next_seq()?;
    for e in events {
        let body = json!({
            "id": e.id, "type": e.kind, "department": dept, "height": e.height,
            "time_ms": e.time_ms, "data": e.data,
        });
        for w in &hooks {
            if e.height > w.from_height && w.events.contains(&e.kind) {
                found.deliveries.push(Delivery {
                    seq,
                    webhook: w.id.clone(),
                    event_id: e.id.clone(),
                    event_type: e.kind,
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

/// The department's audit records after the cursor, as an export whose proofs are
/// checked against genesis; each must be the department's, after the cursor, in order.
async fn audit_records(
    app: &App,
    cursor: &super::records::Cursor,
) -> Result<Vec<pb::AuditRecord>, Problem> {
    let signer = app.chain.signer("")?;
    let dept = app.department.as_str();
    let q = AuditQuery {
        party: dept.to_string(),
        after: cursor.audit_after,
        from_ms: cursor.audit_from_ms,
        limit: PAGE,
        ..Default::default()
    };
    let (_, file) = app
        .chain
        .call(|c| {
            let q = q.clone();
            async move {
                govchain_node::network::export_audit(&c, signer, q)
                    .await
                    .map_err(|e| govchain_client::ClientError::Answer(format!("{e:#}")))
            }
        })
        .await?;
    let anchor = govchain_proof::TrustAnchor::from_genesis_json(&app.chain.genesis.to_json())
        .map_err(|e| Problem::new(ErrorCode::Internal, e))?;
    let forged = |why: String| {
        Problem::new(
            ErrorCode::Internal,
            format!("the node's audit records for webhooks do not check: {why}"),
        )
    };
    file.verify(&anchor).map_err(forged)?;
    let mut out: Vec<pb::AuditRecord> = Vec::with_capacity(file.records.len());
    for r in &file.records {
        let bytes = hex::decode(&r.encoded).map_err(|e| forged(e.to_string()))?;
        let rec: pb::AuditRecord =
            prost::Message::decode(bytes.as_slice()).map_err(|e| forged(e.to_string()))?;
        let after = out.last().map_or(cursor.audit_after, |p| p.seq);
        if rec.seq <= after || (rec.requester != dept && rec.owner != dept) {
            return Err(forged(format!(
                "record {} is not a record of {dept} after {after}",
                rec.seq
            )));
        }
        out.push(rec);
    }
    Ok(out)
}

/// The grants to the department revoked after the cursor; each must be to the
/// department, revoked, and after the cursor.
async fn revoked_grants(
    app: &App,
    cursor: &super::records::Cursor,
) -> Result<Vec<pb::Grant>, Problem> {
    let signer = app.chain.signer("")?;
    let dept = app.department.as_str();
    let (h, cert, grant) = cursor.revoked.clone();
    let q = ListRevokedGrantsRequest {
        grantee: dept.to_string(),
        after_height: h,
        after_cert: cert.clone(),
        after_grant: grant,
        limit: PAGE,
    };
    let grants = app
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
    let mut at = (h, cert, grant);
    for g in &grants {
        let pos = (g.revoked_height, g.cert_id.clone(), g.id);
        let after = if at.1.is_empty() {
            pos.0 > at.0
        } else {
            pos > at
        };
        if g.grantee != dept || !g.revoked || !after {
            return Err(Problem::new(
                ErrorCode::Internal,
                format!(
                    "the node's revoked grants for webhooks do not check: grant {} of {} is not one to {dept} revoked after {}",
                    g.id, g.cert_id, at.0
                ),
            ));
        }
        at = pos;
    }
    Ok(grants)
}

/// The events an audit record of the department makes: its own request decided (a read
/// or a compute job), its certificate read or computed over by another department, its
/// compute job's result posted.
fn of_record(r: &pb::AuditRecord, dept: &str) -> Vec<Event> {
    let allowed = r.decision == pb::Decision::Allow as i32;
    let event = |kind: EventType, request: u64, data: Value| Event {
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
                EventType::ComputeFinished,
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
                EventType::AccessAllowed
            } else {
                EventType::AccessDenied
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
            EventType::CertificateRead,
            r.seq,
            json!({
                "kind": kind, "requester": r.requester, "operator": r.operator,
                "points": r.points, "via": r.via,
            }),
        ));
    }
    out
}

/// Where an allowed read of the department stands with its key shares.
enum Readiness {
    /// As many verified shares as the custody key needs: the event to tell.
    Ready(Event),
    /// Not yet.
    Waiting,
    /// Never (a compute job, whose shares go to its executor, or a read whose release
    /// window closed short of shares).
    Never,
}

/// Whether read `request` has as many key shares released as the custody key needs,
/// each verified against the custody key set (with the key of the operator who asked,
/// when this gateway holds it).
async fn document_ready(app: &App, request: u64, w: &Waiting) -> Result<Readiness, Problem> {
    let got = app.chain.releases(request).await?;
    let asked = got.request.clone().unwrap_or_default();
    let window = got.custody.as_ref().map_or(0, |k| k.release_window_ms);
    let closed = got.tip_time_ms > asked.time_ms.saturating_add(window);
    if asked.job.is_some() || asked.requester != app.department {
        return Ok(Readiness::Never);
    }
    let trust = app.chain.trust().await?;
    let threshold = trust.custody.threshold();
    let shares = match app.chain.signer(&asked.operator) {
        Ok(signer) => Releases::verify(got, request, signer, trust)?.verified(),
        Err(_) => got.releases.len(),
    };
    if shares < threshold {
        // No share is released after the request's window: it will never open.
        return Ok(if closed {
            Readiness::Never
        } else {
            Readiness::Waiting
        });
    }
    Ok(Readiness::Ready(Event {
        id: format!("document.ready:{request}"),
        kind: EventType::DocumentReady,
        height: w.height,
        time_ms: w.time_ms,
        data: json!({
            "request": request, "certificate_id": w.cert_id,
            "certificate_type": w.cert_type, "purpose": w.purpose,
            "operator": asked.operator, "shares": shares, "threshold": threshold,
            "document": format!("/v1/access-requests/{request}/document"),
        }),
    }))
}
