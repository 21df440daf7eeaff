//! Threshold custody of data keys on chain (`docs/design/custody.md`): the allowed
//! requests validators may release key shares for, the release transaction, and the one
//! check both execution and the validators' custodians apply before a release.
//!
//! A validator sends as the account `validator:<id>`, signed by its validator key, and
//! may send nothing but releases. Each share is encrypted to the request's recipient
//! with a proof that execution checks against the validator's public key share: a wrong
//! share is refused (`BAD_KEY_SHARE`) and its validator named.

use govchain_store::Records;
use govchain_types::event::{Event, KeyReleased};
use govchain_types::{ExecError, TxError, pb};

use crate::access::accounts::Account;
use crate::access::audit;
use crate::access::release::check_release;
use crate::{BlockContext, Overlay, VerifiedTx, internal, tables};

/// Most releases in one transaction.
pub const MAX_RELEASES: usize = 1_000;

/// The custody key set, if the chain has one.
pub fn key_set(o: &Overlay) -> Result<Option<pb::CustodyKeySet>, ExecError> {
    o.read(&tables::CUSTODY, ()).map_err(internal)
}

/// An allowed access request kept for release.
pub fn request(o: &Overlay, seq: u64) -> Result<Option<pb::AccessRequest>, ExecError> {
    o.read(&tables::ACCESS_REQUEST, seq).map_err(internal)
}

/// The shares released for a request, by share number.
pub fn releases(o: &Overlay, seq: u64) -> Result<Vec<pb::ReleasedShare>, ExecError> {
    crate::values(o, &tables::RELEASE, tables::RELEASE.within(seq))
}

/// Keeps an allowed request so validators can release key shares for it, encrypted to
/// `recipient_key`: the requester's own key, or for a compute job its executor's.
pub(crate) fn record_request(
    o: &mut Overlay,
    tx: &VerifiedTx,
    record: &pb::AuditRecord,
    recipient_key: Vec<u8>,
    job: Option<pb::ComputeSpec>,
) {
    let rec = pb::AccessRequest {
        seq: record.seq,
        cert_id: record.cert_id.clone(),
        requester: record.requester.clone(),
        operator: record.operator.clone(),
        purpose: record.purpose.clone(),
        height: record.height,
        time_ms: record.time_ms,
        grant_id: record.grant_id,
        tx_hash: tx.hash.to_vec(),
        requester_key: recipient_key,
        job,
    };
    o.write(&tables::ACCESS_REQUEST, record.seq, &rec);
}

/// The validator behind a `validator:<id>` sender, if it holds a custody share.
pub fn holder(o: &Overlay, sender: &str) -> Result<pb::Validator, ExecError> {
    let not_holder = |action| TxError::Unauthorized {
        who: sender.to_string(),
        action,
    };
    let Account::Validator(id) = Account::parse(sender) else {
        return Err(not_holder("release key shares (only validators do)").into());
    };
    let v = o
        .read(&tables::VALIDATOR, id)
        .map_err(internal)?
        .ok_or(not_holder("release key shares (not a validator)"))?;
    if v.observer || v.custody_share == 0 {
        return Err(
            not_holder("release key shares (this validator holds no custody share)").into(),
        );
    }
    Ok(v)
}

/// Executes a validator's [`pb::ReleaseShares`]: every release is checked before any is
/// written, so the transaction releases all of them or none.
pub(crate) fn release(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    r: &pb::ReleaseShares,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let v = holder(o, &tx.body.sender)?;
    if r.releases.is_empty() {
        return Err(TxError::MissingField {
            field: "releases".into(),
        }
        .into());
    }
    if r.releases.len() > MAX_RELEASES {
        return Err(TxError::InvalidArgument {
            field: "releases",
            reason: format!("at most {MAX_RELEASES} per transaction"),
        }
        .into());
    }
    let custody = key_set(o)?.unwrap_or_default();
    let public_share = custody
        .public_shares
        .get(v.custody_share as usize - 1)
        .ok_or_else(|| TxError::Unauthorized {
            who: tx.body.sender.clone(),
            action: "release key shares (its share number is not in the custody key set)",
        })?;
    let mut seen = std::collections::BTreeSet::new();
    let mut checked = Vec::with_capacity(r.releases.len());
    for rel in &r.releases {
        if !seen.insert(rel.request) {
            return Err(TxError::InvalidArgument {
                field: "releases",
                reason: format!("request {} listed twice", rel.request),
            }
            .into());
        }
        let (req, cert) = check_release(o, ctx, rel.request, v.custody_share)?;
        let bad = |reason: String| TxError::BadKeyShare {
            validator: v.id.clone(),
            request: req.seq,
            reason,
        };
        let envelope = govchain_custody::Envelope::parse(&cert.key_envelope)
            .map_err(|e| internal(format!("certificate {}: {e}", cert.id)))?;
        govchain_custody::verify_share(
            public_share,
            v.custody_share,
            &rel.encrypted_share,
            &envelope,
            &req.requester_key,
            &govchain_custody::release_context(&tx.body.chain_id, req.seq),
        )
        .map_err(|e| bad(e.to_string()))?;
        checked.push((rel, (req, cert)));
    }
    let threshold = custody.threshold;
    for (rel, (req, cert)) in checked {
        let stored = pb::ReleasedShare {
            request: req.seq,
            share: v.custody_share,
            validator: v.id.clone(),
            encrypted_share: rel.encrypted_share.clone(),
            height: ctx.height,
            tx_hash: tx.hash.to_vec(),
        };
        o.write(&tables::RELEASE, (req.seq, v.custody_share), &stored);
        let reason = format!(
            "key share {} (of {threshold} needed) released by validator {} ({}) for request {}{}",
            v.custody_share,
            v.id,
            v.department,
            req.seq,
            req.job.as_ref().map_or_else(String::new, |j| format!(
                ", to compute job executor {} (not to {})",
                j.executor, req.requester
            ))
        );
        let record = audit::follow_up(
            ctx,
            &tx.hash,
            &req,
            &cert,
            pb::AuditAction::KeyRelease,
            reason,
        );
        audit::append(o, record)?;
        events.push(
            Event::from(KeyReleased {
                request: req.seq,
                share: v.custody_share,
                validator: v.id.clone(),
                requester: req.requester.clone(),
                cert: cert.id.clone(),
            })
            .to_pb(),
        );
    }
    Ok(())
}
