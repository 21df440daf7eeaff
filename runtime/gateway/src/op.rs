//! What a journaled transaction does, and how its (proven) receipt is answered: `201`
//! with what it did, or the problem of a failed transaction with its stable code.

use govchain_client::Receipt;
use govchain_types::ErrorCode;
use govchain_types::event::{
    Access, CertificateRevoked, GrantCreated, GrantRevoked, ProposalCreated, ProposalExpired, Vote,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::problem::Problem;

/// What a journaled transaction does: how to answer from its receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Publishes certificate `certificate_id`.
    Publish {
        /// Its id.
        certificate_id: String,
    },
    /// Asks to read a certificate.
    Request,
    /// Grants a department access to a certificate.
    Grant,
    /// Revokes a certificate or one of its grants.
    Revoke,
    /// Calls a contract.
    Call,
    /// Makes a governance proposal.
    Propose,
    /// Votes on a proposal.
    Vote,
}

impl Op {
    /// The HTTP answer to this operation's receipt: `201` with what it did, or the
    /// problem of a failed transaction.
    pub fn answer(&self, r: &Receipt) -> (u16, Value) {
        if !r.succeeded() {
            let code =
                ErrorCode::try_from(r.receipt.error_code as i32).unwrap_or(ErrorCode::Internal);
            let p = Problem::new(code, r.receipt.error_message.clone());
            return (p.status.as_u16(), p.body());
        }
        let tx = json!({"height": r.receipt.height, "tx_hash": hex::encode(&r.tx_hash)});
        let mut body = match self {
            Op::Publish { certificate_id } => json!({ "certificate_id": certificate_id }),
            Op::Request => match r.event::<Access>() {
                Some(a) => json!({
                    "request": a.request, "certificate_id": a.cert, "decision": a.decision,
                    "reason": a.reason, "points": a.points, "owner": a.owner,
                }),
                None => json!({}),
            },
            Op::Grant => match r.event::<GrantCreated>() {
                Some(g) => json!({
                    "grant_id": g.grant, "certificate_id": g.cert, "grantee": g.grantee,
                    "purpose": g.purpose,
                }),
                None => json!({}),
            },
            Op::Call => json!({
                "output": crate::work::output_of(&r.receipt.output), "gas_used": r.receipt.gas_used,
            }),
            Op::Propose => match r.event::<ProposalCreated>() {
                Some(p) => json!({
                    "proposal_id": p.id, "action": p.action, "expiry_height": p.expiry_height,
                }),
                None => json!({}),
            },
            Op::Vote => match (r.event::<Vote>(), r.event::<ProposalExpired>()) {
                (Some(v), _) => json!({
                    "proposal_id": v.id, "approve": v.approve,
                    "events": r.receipt.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
                }),
                // The chain closed the expired proposal instead of counting the vote.
                (None, Some(x)) => {
                    let p = Problem::new(
                        ErrorCode::ProposalClosed,
                        format!(
                            "proposal {} had expired: it is closed now, and the vote was not counted",
                            x.id
                        ),
                    );
                    return (p.status.as_u16(), p.body());
                }
                (None, None) => json!({}),
            },
            Op::Revoke => match (r.event::<GrantRevoked>(), r.event::<CertificateRevoked>()) {
                (Some(g), _) => json!({ "certificate_id": g.cert, "grant_id": g.grant }),
                (None, Some(c)) => json!({ "certificate_id": c.cert, "grant_id": 0 }),
                (None, None) => json!({}),
            },
        };
        if let (Value::Object(b), Value::Object(t)) = (&mut body, tx) {
            b.extend(t);
        }
        (201, body)
    }
}
