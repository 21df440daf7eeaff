//! What a department reads about itself through its gateway: its points balance and
//! ledger, and the audit records where it is the requester or the owner (a page, or an
//! export with proofs that the gateway checks against genesis before answering).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use govchain_client::rpc::{AuditQuery, GetBalancesRequest, GetHistoryRequest};
use govchain_state::access::audit::RecordView;
use govchain_types::{ErrorCode, pb};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Answer, App};
use crate::problem::Problem;
use crate::tokens::Scope;

/// The query of `GET /v1/points`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PointsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: u32,
}

#[utoipa::path(
    get,
    path = "/v1/points",
    tag = "department",
    summary = "The department's points balance and ledger (scope read)",
    params(PointsQuery),
    responses((status = 200, description = "department, balance, height, entries, next"), crate::problem::Refused)
)]
pub(crate) async fn points(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<PointsQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let q = crate::api::query_of(q)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let department = app.department.clone();
    let (balances, history) = app
        .chain
        .call(|c| {
            let department = department.clone();
            async move {
                let req = c.signed(
                    signer,
                    "/govchain.v1.Points/GetBalances",
                    GetBalancesRequest {
                        department: department.clone(),
                    },
                )?;
                let balances = c.points().get_balances(req).await?.into_inner();
                let req = c.signed(
                    signer,
                    "/govchain.v1.Points/GetHistory",
                    GetHistoryRequest {
                        department,
                        after: q.after,
                        limit: q.limit,
                    },
                )?;
                Ok((balances, c.points().get_history(req).await?.into_inner()))
            }
        })
        .await?;
    let balance = balances.balances.first().map_or(0, |b| b.balance);
    let entries: Vec<_> = history
        .entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq, "height": e.height, "time_ms": e.time_ms, "delta": e.delta,
                "balance": e.balance, "kind": e.kind, "counterparty": e.counterparty,
                "audit_seq": e.audit_seq, "note": e.note, "tx_hash": hex::encode(&e.tx_hash),
            })
        })
        .collect();
    Ok(Json(json!({
        "department": app.department, "balance": balance, "height": balances.height,
        "entries": entries, "next": history.next,
    }))
    .into_response())
}

/// The query of `GET /v1/audit` and `/v1/audit/export`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// The department's reads, or reads of its certificates; default both.
    role: Option<Role>,
    #[serde(default)]
    certificate_id: String,
    #[serde(default)]
    purpose: String,
    /// Default both.
    decision: Option<Verdict>,
    /// Block time from (Unix ms, inclusive; 0: open).
    #[serde(default)]
    from_ms: u64,
    /// Block time to (Unix ms, inclusive; 0: open).
    #[serde(default)]
    to_ms: u64,
    /// Records after this sequence (the `next` of the page before).
    #[serde(default)]
    after: u64,
    /// Records per page (default 100, at most 1,000).
    #[serde(default)]
    limit: u32,
}

/// Whose reads.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// The department's own reads.
    Requester,
    /// Reads of the department's certificates.
    Owner,
}

/// A gate decision.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

impl AuditParams {
    /// The Audit service's query over the department's own records.
    fn query(self, department: &str) -> AuditQuery {
        let mut q = AuditQuery {
            cert_id: self.certificate_id,
            purpose: self.purpose,
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            after: self.after,
            limit: self.limit,
            decision: match self.decision {
                None => pb::Decision::Unspecified,
                Some(Verdict::Allow) => pb::Decision::Allow,
                Some(Verdict::Deny) => pb::Decision::Deny,
            } as i32,
            ..Default::default()
        };
        match self.role {
            None => q.party = department.to_string(),
            Some(Role::Requester) => q.requester = department.to_string(),
            Some(Role::Owner) => q.owner = department.to_string(),
        }
        q
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "department",
    summary = "The department's audit records, as requester or owner (scope read)",
    params(AuditParams),
    responses((status = 200, description = "records, next"), crate::problem::Refused)
)]
pub(crate) async fn audit(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let q = crate::api::query_of(q)?;
    let q = q.query(&app.department);
    let signer = app.chain.signer(&caller.record.operator)?;
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
    let records: Vec<RecordView> = page.records.iter().map(RecordView::from).collect();
    Ok(Json(json!({ "records": records, "next": page.next })).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "department",
    summary = "The same with Merkle proofs and commit certificates, checked against genesis here (scope read)",
    params(AuditParams),
    responses((status = 200, description = "an audit export file (govchain-audit-export/v2)"), crate::problem::Refused)
)]
pub(crate) async fn export(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let q = crate::api::query_of(q)?;
    let q = q.query(&app.department);
    let signer = app.chain.signer(&caller.record.operator)?;
    let (_, file) = app
        .chain
        .call(|c| {
            let q = q.clone();
            async move {
                govchain_node::network::export_audit(&c, signer, q)
                    .await
                    .map_err(|e| {
                        e.downcast::<govchain_client::ClientError>()
                            .unwrap_or_else(|e| {
                                govchain_client::ClientError::Answer(format!("{e:#}"))
                            })
                    })
            }
        })
        .await?;
    // Checked here against genesis: a node cannot hand the department a forged proof.
    let anchor = govchain_proof::TrustAnchor::from_genesis_json(&app.chain.genesis.to_json())
        .map_err(|e| Problem::new(ErrorCode::Internal, e))?;
    file.verify(&anchor).map_err(|e| {
        Problem::new(
            ErrorCode::Internal,
            format!("the node's export does not verify against genesis: {e}"),
        )
    })?;
    Ok(Json(file).into_response())
}
