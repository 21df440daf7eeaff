//! Threshold custody of data keys on chain (`docs/design/custody.md`): the allowed
//! requests validators may release key shares for, the release transaction, and the one
//! check both execution and the validators' custodians apply before a release.
//!
//! A validator sends as the account `validator:<id>`, signed by its validator key, and
//! may send nothing but releases. The chain cannot check a share itself (it is encrypted
//! to the requester); the requester verifies each share against the key set.

use govchain_store::Records;
use govchain_types::{TxError, pb};

use crate::admission::registered_key_in;
use crate::{BlockContext, Overlay, VerifiedTx, certs, event, internal, liveness, tables};

/// Prefix of a validator's transaction account.
pub const VALIDATOR_ACCOUNT: &str = "validator:";
/// Most releases in one transaction.
pub const MAX_RELEASES: usize = 1_000;
/// Longest SM2-encrypted share (DER); a 48-byte share encrypts to about 150 bytes.
pub const MAX_ENCRYPTED_SHARE: usize = 512;

/// Associated data of a share sealed under a release's SM4 key: the request and the
/// share number, big-endian, so a sealed share cannot pass for another request's.
pub fn share_aad(request: u64, share: u32) -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(&request.to_be_bytes());
    aad[8..].copy_from_slice(&share.to_be_bytes());
    aad
}
/// Release window when genesis sets none: one hour of block time.
pub const DEFAULT_RELEASE_WINDOW_MS: u64 = 3_600_000;

/// The transaction account of validator `id`.
pub fn validator_account(id: &str) -> String {
    format!("{VALIDATOR_ACCOUNT}{id}")
}

fn refused(request: u64, reason: String) -> TxError {
    TxError::ReleaseRefused { request, reason }
}

/// The custody key set, if the chain has one.
pub fn key_set(o: &Overlay) -> Result<Option<pb::CustodyKeySet>, TxError> {
    o.read(&tables::CUSTODY, ()).map_err(internal)
}

/// An allowed access request kept for release.
pub fn request(o: &Overlay, seq: u64) -> Result<Option<pb::AccessRequest>, TxError> {
    o.read(&tables::ACCESS_REQUEST, seq).map_err(internal)
}

/// The shares released for a request, by share number.
pub fn releases(o: &Overlay, seq: u64) -> Result<Vec<pb::ReleasedShare>, TxError> {
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
pub fn holder(o: &Overlay, sender: &str) -> Result<pb::Validator, TxError> {
    let not_holder = |action| TxError::Unauthorized {
        who: sender.to_string(),
        action,
    };
    let id = sender
        .strip_prefix(VALIDATOR_ACCOUNT)
        .ok_or(not_holder("release key shares (only validators do)"))?;
    let v = o
        .read(&tables::VALIDATOR, id)
        .map_err(internal)?
        .ok_or(not_holder("release key shares (not a validator)"))?;
    if v.observer || v.custody_share == 0 {
        return Err(not_holder(
            "release key shares (this validator holds no custody share)",
        ));
    }
    Ok(v)
}

/// Whether share `share` may be released for request `seq` in a block at `ctx`. Both
/// execution and a validator's custodian (before it computes anything) run this.
pub fn check_release(
    o: &Overlay,
    ctx: &BlockContext,
    seq: u64,
    share: u32,
) -> Result<(pb::AccessRequest, pb::Certificate), TxError> {
    let custody = key_set(o)?.ok_or_else(|| refused(seq, "this chain has no custody".into()))?;
    let req = request(o, seq)?.ok_or_else(|| {
        refused(
            seq,
            "no allowed access request has this id (it was denied, or is not a request)".into(),
        )
    })?;
    let window = if custody.release_window_ms == 0 {
        DEFAULT_RELEASE_WINDOW_MS
    } else {
        custody.release_window_ms
    };
    let closes = req.time_ms.saturating_add(window);
    if ctx.time_ms > closes {
        return Err(refused(
            seq,
            format!(
                "its release window closed {} s after the request",
                window / 1000
            ),
        ));
    }
    if o.contains(&tables::RELEASE, (seq, share))
        .map_err(internal)?
    {
        return Err(TxError::AlreadyExists {
            what: format!("share {share} for request {seq}"),
        });
    }
    let cert = certs::get(o, &req.cert_id)?;
    match liveness::cert_lapse(&cert, ctx)? {
        Some(liveness::CertLapse::Revoked) => {
            return Err(refused(
                seq,
                format!(
                    "certificate {} was revoked at height {}",
                    cert.id, cert.revoked_height
                ),
            ));
        }
        Some(liveness::CertLapse::Expired) => {
            return Err(refused(
                seq,
                format!("certificate {} expired on {}", cert.id, cert.expires_on),
            ));
        }
        None => {}
    }
    if req.grant_id != 0 {
        let g = o
            .read(&tables::GRANT, (&cert.id, req.grant_id))
            .map_err(internal)?
            .ok_or_else(|| internal(format!("grant {} missing", req.grant_id)))?;
        if let Some(why) = liveness::grant_lapse(&g, ctx)? {
            return Err(refused(seq, why));
        }
    }
    let key = match &req.job {
        None => registered_key_in(o, &req.requester, &req.operator)
            .map_err(|e| refused(seq, format!("the requester's account: {e}")))?,
        Some(job) => {
            crate::compute::validator(o, &job.executor)?
                .filter(|v| !v.observer)
                .ok_or_else(|| {
                    refused(
                        seq,
                        format!(
                            "the job's executor {} is no longer a validator",
                            job.executor
                        ),
                    )
                })?
                .public_key
        }
    };
    if key != req.requester_key {
        return Err(refused(
            seq,
            "the key the shares go to changed since the request".into(),
        ));
    }
    if cert.key_envelope.is_empty() {
        return Err(refused(
            seq,
            format!("certificate {} has no key envelope", cert.id),
        ));
    }
    Ok((req, cert))
}

/// Executes a validator's [`pb::ReleaseShares`]: every release is checked before any is
/// written, so the transaction releases all of them or none.
pub(crate) fn release(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    r: &pb::ReleaseShares,
    events: &mut Vec<pb::Event>,
) -> Result<(), TxError> {
    let v = holder(o, &tx.body.sender)?;
    if r.releases.is_empty() {
        return Err(TxError::MissingField {
            field: "releases".into(),
        });
    }
    if r.releases.len() > MAX_RELEASES {
        return Err(TxError::InvalidArgument {
            field: "releases",
            reason: format!("at most {MAX_RELEASES} per transaction"),
        });
    }
    let threshold = key_set(o)?.map_or(0, |k| k.threshold);
    let mut seen = std::collections::BTreeSet::new();
    let mut checked = Vec::with_capacity(r.releases.len());
    for rel in &r.releases {
        if !seen.insert(rel.request) {
            return Err(TxError::InvalidArgument {
                field: "releases",
                reason: format!("request {} listed twice", rel.request),
            });
        }
        if rel.encrypted_share.is_empty() || rel.encrypted_share.len() > MAX_ENCRYPTED_SHARE {
            return Err(TxError::InvalidArgument {
                field: "encrypted_share",
                reason: format!(
                    "request {}: 1 to {MAX_ENCRYPTED_SHARE} bytes of ciphertext",
                    rel.request
                ),
            });
        }
        if rel.sealed_key.len() > MAX_ENCRYPTED_SHARE {
            return Err(TxError::InvalidArgument {
                field: "sealed_key",
                reason: format!(
                    "request {}: at most {MAX_ENCRYPTED_SHARE} bytes of SM2 ciphertext",
                    rel.request
                ),
            });
        }
        checked.push((rel, check_release(o, ctx, rel.request, v.custody_share)?));
    }
    let mut seq = o
        .read_or_default(&tables::AUDIT_SEQ, ())
        .map_err(internal)?;
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
        seq += 1;
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
        let record = follow_up_record(
            o,
            ctx,
            tx,
            seq,
            &req,
            &cert,
            pb::AuditAction::KeyRelease,
            reason,
        );
        o.push_audit(record);
        events.push(event(
            "key_released",
            &[
                ("request", req.seq.to_string()),
                ("share", v.custody_share.to_string()),
                ("validator", v.id.clone()),
                ("requester", req.requester.clone()),
                ("cert", cert.id.clone()),
            ],
        ));
    }
    o.write_sticky(&tables::AUDIT_SEQ, (), &seq);
    Ok(())
}

/// The audit record of something done for kept request `req` on certificate `cert` by
/// `tx` in block `ctx` (a key release, a compute job's result), numbered `seq`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn follow_up_record(
    o: &Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    seq: u64,
    req: &pb::AccessRequest,
    cert: &pb::Certificate,
    action: pb::AuditAction,
    reason: String,
) -> pb::AuditRecord {
    pb::AuditRecord {
        seq,
        height: ctx.height,
        tx_hash: tx.hash.to_vec(),
        time_ms: ctx.time_ms,
        requester: req.requester.clone(),
        operator: req.operator.clone(),
        owner: cert.issuer.clone(),
        subject_id: cert.subject_id.clone(),
        cert_id: cert.id.clone(),
        cert_type: cert.cert_type.clone(),
        purpose: req.purpose.clone(),
        decision: pb::Decision::Allow as i32,
        reason,
        points: 0,
        via: req
            .job
            .as_ref()
            .map_or_else(String::new, |j| format!("contract:{}", j.contract)),
        block_index: o.audit().len() as u32,
        grant_id: req.grant_id,
        action: action as i32,
        request: req.seq,
    }
}
