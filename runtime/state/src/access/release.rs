//! Release eligibility: whether a validator may approve releasing its key share for a
//! request. Execution checks it for every approval in a [`pb::ReleaseShares`], and a
//! validator's custodian checks it before it approves (`docs/design/custody.md`).

use govchain_store::Records;
use govchain_types::{ExecError, TxError, pb};

use crate::access::accounts::registered_key_in;
use crate::access::liveness;
use crate::custody::{key_set, request};
use crate::{BlockContext, Overlay, certs, internal, tables};

/// Release window when genesis sets none: one hour of block time.
pub const DEFAULT_RELEASE_WINDOW_MS: u64 = 3_600_000;

/// How long after a request its key shares may be released, in block time.
pub fn window_ms(custody: &pb::CustodyKeySet) -> u64 {
    match custody.release_window_ms {
        0 => DEFAULT_RELEASE_WINDOW_MS,
        w => w,
    }
}

pub(crate) fn refused(request: u64, reason: String) -> TxError {
    TxError::ReleaseRefused { request, reason }
}

/// Whether the release of share `share` for request `seq` may be approved in a block at
/// `ctx`. Both execution and a validator's custodian (before it approves) run this.
pub fn check_release(
    o: &Overlay,
    ctx: &BlockContext,
    seq: u64,
    share: u32,
) -> Result<(pb::AccessRequest, pb::Certificate), ExecError> {
    let custody = key_set(o)?.ok_or_else(|| refused(seq, "this chain has no custody".into()))?;
    let req = request(o, seq)?.ok_or_else(|| {
        refused(
            seq,
            "no allowed access request has this id (it was denied, or is not a request)".into(),
        )
    })?;
    let window = window_ms(&custody);
    let closes = req.time_ms.saturating_add(window);
    if ctx.time_ms > closes {
        return Err(refused(
            seq,
            format!(
                "its release window closed {} s after the request",
                window / 1000
            ),
        )
        .into());
    }
    if o.contains(&tables::RELEASE_APPROVAL, (seq, share))
        .map_err(internal)?
    {
        return Err(TxError::AlreadyExists {
            what: format!("an approval of releasing share {share} for request {seq}"),
        }
        .into());
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
            )
            .into());
        }
        Some(liveness::CertLapse::Expired) => {
            return Err(refused(
                seq,
                format!("certificate {} expired on {}", cert.id, cert.expires_on),
            )
            .into());
        }
        None => {}
    }
    if req.grant_id != 0 {
        let g = o
            .read(&tables::GRANT, (&cert.id, req.grant_id))
            .map_err(internal)?
            .ok_or_else(|| internal(format!("grant {} missing", req.grant_id)))?;
        if let Some(why) = liveness::grant_lapse(&g, ctx)? {
            return Err(refused(seq, why).into());
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
        )
        .into());
    }
    if cert.key_envelope.is_empty() {
        return Err(refused(seq, format!("certificate {} has no key envelope", cert.id)).into());
    }
    Ok((req, cert))
}
