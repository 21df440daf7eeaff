//! Direct access requests: a department asks to read a certificate; the gate decides,
//! and an allowed request is kept for the validators' key-share releases.

use govchain_types::event::{Access, Event};
use govchain_types::{ExecError, pb};

use crate::access::gate;
use crate::access::policy::Policy;
use crate::{BlockContext, Overlay, VerifiedTx, custody};

/// A direct access request: the gate decides, and the decision is the receipt's
/// `access` event (a denial is a successful transaction: it is on record).
pub(crate) fn request(
    o: &mut Overlay,
    ctx: &BlockContext,
    policy: &Policy,
    tx: &VerifiedTx,
    r: &pb::RequestAccess,
    events: &mut Vec<pb::Event>,
) -> std::result::Result<(), ExecError> {
    let reader = gate::Reader {
        department: &tx.body.sender,
        operator: &tx.body.operator,
        tx_hash: &tx.hash,
        via: gate::Via::Direct,
        action: pb::AuditAction::Read,
    };
    let out = gate::read(o, ctx, policy, &reader, &r.cert_id, &r.purpose)?;
    if out.certificate.is_some() {
        custody::record_request(o, tx, &out.record, tx.tx.signer_pubkey.clone(), None);
    }
    events.push(access_event(&out.record));
    Ok(())
}

/// The `access` event of a gate decision.
pub fn access_event(r: &pb::AuditRecord) -> pb::Event {
    let decision = if r.decision == pb::Decision::Allow as i32 {
        "allow"
    } else {
        "deny"
    };
    Event::from(Access {
        request: r.seq,
        cert: r.cert_id.clone(),
        requester: r.requester.clone(),
        owner: r.owner.clone(),
        purpose: r.purpose.clone(),
        decision: decision.into(),
        reason: r.reason.clone(),
        points: r.points,
    })
    .to_pb()
}
