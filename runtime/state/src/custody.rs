//! Threshold custody of data keys on chain (`docs/design/custody.md`): the allowed
//! requests validators may release key shares for, the release transaction, and the one
//! check both execution and the validators' custodians apply before a release.
//!
//! A validator sends as the account `validator:<id>`, signed by its validator key, and
//! may send nothing but releases. The chain cannot check a share itself (it is encrypted
//! to the requester); the requester verifies each share against the key set.

pub use govchain_proof::certificate::share_aad;
use govchain_store::Records;
use govchain_types::event::{Event, KeyReleased};
use govchain_types::{ExecError, TxError, pb};

use crate::access::accounts::Account;
use crate::access::audit;
use crate::access::release::check_release;
use crate::{BlockContext, Overlay, VerifiedTx, internal, tables};

/// Most releases in one transaction.
pub const MAX_RELEASES: usize = 1_000;
/// Longest SM2-encrypted share (DER); a 48-byte share encrypts to about 150 bytes.
pub const MAX_ENCRYPTED_SHARE: usize = 512;

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
    let threshold = key_set(o)?.map_or(0, |k| k.threshold);
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
        if rel.encrypted_share.is_empty() || rel.encrypted_share.len() > MAX_ENCRYPTED_SHARE {
            return Err(TxError::InvalidArgument {
                field: "encrypted_share",
                reason: format!(
                    "request {}: 1 to {MAX_ENCRYPTED_SHARE} bytes of ciphertext",
                    rel.request
                ),
            }
            .into());
        }
        if rel.sealed_key.len() > MAX_ENCRYPTED_SHARE {
            return Err(TxError::InvalidArgument {
                field: "sealed_key",
                reason: format!(
                    "request {}: at most {MAX_ENCRYPTED_SHARE} bytes of SM2 ciphertext",
                    rel.request
                ),
            }
            .into());
        }
        checked.push((rel, check_release(o, ctx, rel.request, v.custody_share)?));
    }
    for (rel, (req, cert)) in checked {
        let stored = pb::ReleasedShare {
            request: req.seq,
            share: v.custody_share,
            validator: v.id.clone(),
            encrypted_share: rel.encrypted_share.clone(),
            height: ctx.height,
            tx_hash: tx.hash.to_vec(),
            sealed_key: rel.sealed_key.clone(),
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
