//! Compute-to-data jobs (`docs/design/compute.md`): a department asks for an approved
//! contract's `job_<method>` to run over a certificate it may not read. The gate decides
//! it like a read (policy action `compute`), audits and charges it; validators release
//! key shares to the job's executor, a validator of the certificate's issuing
//! department; the executor runs the job off chain over the decrypted document and posts
//! only the result, signed. The requester never receives the document or its key.

use govchain_crypto::{PublicKey, Signature, sm3};
use govchain_store::Records;
use govchain_types::event::{ComputeRequested, ComputeResult, Event};
use govchain_types::{ExecError, TxError, pb};

use crate::access::accounts::Account;
use crate::access::policy::Policy;
use crate::access::{audit, gate};
use crate::custody;
use crate::{BlockContext, Overlay, VerifiedTx, certs, governance, internal, tables};

/// Longest job arguments.
pub const MAX_ARGS: usize = 16 * 1024;
/// Longest plaintext output (or failure message) of a job.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// SM2 encryption (DER) adds at most this much to the output.
const SM2_OVERHEAD: usize = 160;
/// Bytes of the commitment key sealed ahead of the plaintext output ([`seal_output`]).
pub const OPENING: usize = 32;
/// Domain of the output commitment.
const OUTPUT_DOMAIN: &[u8] = b"govchain-result-v2\0";

/// The commitment to a job's plaintext output `plain` under the random key `opening`:
/// HMAC-SM3(opening, domain || plain). It hides the output from everyone who sees the
/// block (a short result, a yes/no or a band, cannot be found by trying values), and
/// the requester, who decrypts the opening with the output, can open it to a third
/// party against the executor's signature.
pub fn output_commitment(opening: &[u8], plain: &[u8]) -> [u8; 32] {
    govchain_crypto::hmac_sm3(opening, &[OUTPUT_DOMAIN, plain])
}

/// What the executor encrypts to the requester: the commitment key, then the output.
pub fn seal_output(opening: &[u8; OPENING], plain: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut b = zeroize::Zeroizing::new(Vec::with_capacity(OPENING + plain.len()));
    b.extend_from_slice(opening);
    b.extend_from_slice(plain);
    b
}

/// The output in `sealed` (what the requester decrypted) if it opens `commitment`.
pub fn open_output<'a>(sealed: &'a [u8], commitment: &[u8]) -> Option<&'a [u8]> {
    let (opening, plain) = sealed.split_at_checked(OPENING)?;
    (output_commitment(opening, plain).as_slice() == commitment).then_some(plain)
}
/// Compute jobs one department may run over one citizen's certificates (any of them: a
/// subject's budget, not a certificate's) in a period of [`JOB_PERIOD_DAYS`] days of
/// block time (China Standard Time days, as [`certs::block_date`] counts them): enough
/// for a real application, too few to search a model's answers for the data
/// (`docs/design/compute.md`, "What a requester can learn").
pub const MAX_JOBS_PER_SUBJECT: u64 = 3;
/// The length of a job budget's period, days.
pub const JOB_PERIOD_DAYS: i64 = 30;
/// Domain of the executor's result signature.
const RESULT_DOMAIN: &[u8] = b"govchain/compute-result/v1\0";

/// The digest the executor signs for `r` on chain `chain_id`: domain, chain, code,
/// input, encrypted output and its plaintext hash (length-prefixed), then request,
/// outcome, gas and the state height the job read.
pub fn result_digest(chain_id: &str, r: &pb::ComputeResult) -> [u8; 32] {
    let mut b = RESULT_DOMAIN.to_vec();
    for part in [
        chain_id.as_bytes(),
        &r.code_hash,
        &r.input_hash,
        &r.output,
        &r.output_hash,
    ] {
        b.extend_from_slice(&(part.len() as u64).to_be_bytes());
        b.extend_from_slice(part);
    }
    b.extend_from_slice(&r.request.to_be_bytes());
    b.push(u8::from(r.failed));
    b.extend_from_slice(&r.gas_used.to_be_bytes());
    b.extend_from_slice(&r.state_height.to_be_bytes());
    sm3(&b)
}

/// The validator that runs jobs over `issuer`'s certificates: its first voting validator
/// in id order.
pub fn executor_for(o: &Overlay, issuer: &str) -> Result<Option<pb::Validator>, ExecError> {
    Ok(
        crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?
            .into_iter()
            .find(|v| v.department == issuer && !v.observer),
    )
}

/// A validator's record, if it still is one.
pub fn validator(o: &Overlay, id: &str) -> Result<Option<pb::Validator>, ExecError> {
    o.read(&tables::VALIDATOR, id).map_err(internal)
}

/// A job's posted result.
pub fn result(o: &Overlay, request: u64) -> Result<Option<pb::JobResult>, ExecError> {
    o.read(&tables::JOB_RESULT, request).map_err(internal)
}

/// Executes a [`pb::ComputeJob`]: the gate decides (action `compute`); an allowed job is
/// kept as an access request whose shares go to the executor.
pub(crate) fn submit(
    o: &mut Overlay,
    ctx: &BlockContext,
    policy: &Policy,
    tx: &VerifiedTx,
    job: &pb::ComputeJob,
    events: &mut Vec<pb::Event>,
) -> Result<pb::AuditRecord, ExecError> {
    if custody::key_set(o)?.is_none() {
        return Err(TxError::InvalidArgument {
            field: "compute",
            reason: custody::no_key_set(o)?,
        }
        .into());
    }
    let rec = governance::contract(o, &job.contract)?;
    if !rec.jobs.contains(&job.method) {
        return Err(TxError::NotFound {
            what: format!(
                "job '{}' of contract '{}' (its jobs: {})",
                job.method,
                job.contract,
                if rec.jobs.is_empty() {
                    "none".to_string()
                } else {
                    rec.jobs.join(", ")
                }
            ),
        }
        .into());
    }
    if job.args.len() > MAX_ARGS {
        return Err(TxError::InvalidArgument {
            field: "compute.args",
            reason: format!("at most {MAX_ARGS} bytes, got {}", job.args.len()),
        }
        .into());
    }
    let cert = certs::get(o, &job.cert_id)?;
    let subject = hex::encode(&cert.subject_id);
    let period = certs::block_date(ctx.time_ms).div_euclid(JOB_PERIOD_DAYS);
    let quota_key = ((tx.body.sender.as_str(), subject.as_str()), period);
    let used = o
        .read_or_default(&tables::JOB_QUOTA, quota_key)
        .map_err(internal)?;
    if used >= MAX_JOBS_PER_SUBJECT {
        return Err(TxError::InvalidArgument {
            field: "compute",
            reason: format!(
                "'{}' ran {used} compute jobs over this citizen's certificates in the current {JOB_PERIOD_DAYS}-day period, the most it may ({MAX_JOBS_PER_SUBJECT})",
                tx.body.sender
            ),
        }.into());
    }
    let executor = executor_for(o, &cert.issuer)?.ok_or_else(|| TxError::InvalidArgument {
        field: "compute.cert_id",
        reason: format!(
            "certificate {} is issued by '{}', which runs no validator node: a job runs on the data owner's node",
            cert.id, cert.issuer
        ),
    })?;
    let reader = gate::Reader {
        department: &tx.body.sender,
        operator: &tx.body.operator,
        tx_hash: &tx.hash,
        via: gate::Via::Contract(&job.contract),
        action: pb::AuditAction::Compute,
    };
    let out = gate::read(o, ctx, policy, &reader, &job.cert_id, &job.purpose)?;
    if out.certificate.is_some() {
        let spec = pb::ComputeSpec {
            contract: job.contract.clone(),
            method: job.method.clone(),
            args: job.args.clone(),
            code_hash: rec.code_hash.clone(),
            executor: executor.id.clone(),
            requester_key: tx.tx.signer_pubkey.clone(),
        };
        o.write(&tables::JOB_QUOTA, quota_key, &(used + 1));
        custody::record_request(o, tx, &out.record, executor.public_key.clone(), Some(spec));
        events.push(
            Event::from(ComputeRequested {
                request: out.record.seq,
                contract: job.contract.clone(),
                method: job.method.clone(),
                executor: executor.id,
            })
            .to_pb(),
        );
    }
    Ok(out.record)
}

/// Executes an executor's [`pb::ComputeResult`].
pub(crate) fn post_result(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    r: &pb::ComputeResult,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let sender = tx.body.sender.as_str();
    let not_executor = |action| TxError::Unauthorized {
        who: sender.to_string(),
        action,
    };
    let Account::Validator(id) = Account::parse(sender) else {
        return Err(not_executor("post a job result (only the job's executor does)").into());
    };
    let req = custody::request(o, r.request)?.ok_or_else(|| TxError::NotFound {
        what: format!("compute job {}", r.request),
    })?;
    let job = req.job.as_ref().ok_or_else(|| TxError::InvalidArgument {
        field: "result.request",
        reason: format!("request {} is a read, not a compute job", r.request),
    })?;
    if job.executor != id {
        return Err(not_executor("post the result of a job another validator executes").into());
    }
    if result(o, r.request)?.is_some() {
        return Err(TxError::AlreadyExists {
            what: format!("the result of compute job {}", r.request),
        }
        .into());
    }
    let bad = |field, reason: String| Err(TxError::InvalidArgument { field, reason }.into());
    if r.output.is_empty() || r.output.len() > OPENING + MAX_OUTPUT + SM2_OVERHEAD {
        return bad(
            "result.output",
            format!("1 to {MAX_OUTPUT} bytes of output, SM2-encrypted to the requester"),
        );
    }
    if r.output_hash.len() != 32 {
        return bad(
            "result.output_hash",
            "the commitment (32 bytes) to the plaintext output".into(),
        );
    }
    if r.code_hash != job.code_hash {
        return bad(
            "result.code_hash",
            format!(
                "the job runs code {}, not {}",
                hex::encode(&job.code_hash),
                hex::encode(&r.code_hash)
            ),
        );
    }
    let cert = certs::get(o, &req.cert_id)?;
    // A failed job may not have got as far as the document.
    if !(r.input_hash == cert.content_hash || r.failed && r.input_hash.is_empty()) {
        return bad(
            "result.input_hash",
            format!(
                "not the SM3 content hash of certificate {}: the job must run over the certified document",
                cert.id
            ),
        );
    }
    let v = validator(o, id)?.ok_or(not_executor("post a job result (not a validator)"))?;
    let signed = PublicKey::from_sec1(&v.public_key)
        .map_err(internal)
        .map(|k| {
            Signature::from_slice(&r.signature)
                .and_then(|s| k.verify(&result_digest(&tx.body.chain_id, r), &s))
                .is_ok()
        })?;
    if !signed {
        return bad(
            "result.signature",
            format!("not validator {id}'s SM2 signature over the result digest"),
        );
    }
    let posted = pb::JobResult {
        result: Some(r.clone()),
        executor: id.to_string(),
        height: ctx.height,
        tx_hash: tx.hash.to_vec(),
    };
    o.write(&tables::JOB_RESULT, r.request, &posted);
    // The output, or why the job failed, is for the requester only.
    let outcome = if r.failed { "failed" } else { "result" };
    let reason = format!(
        "compute job {} ({}.{}) run by validator {id} ({}) on {}'s node: {outcome} posted, encrypted to the requester, {} gas",
        req.seq, job.contract, job.method, v.department, cert.issuer, r.gas_used
    );
    let record = audit::follow_up(
        ctx,
        &tx.hash,
        &req,
        &cert,
        pb::AuditAction::ComputeResult,
        reason,
    );
    audit::append(o, record)?;
    events.push(
        Event::from(ComputeResult {
            request: req.seq,
            executor: id.to_string(),
            status: if r.failed { "failed" } else { "ok" }.into(),
            gas_used: r.gas_used,
        })
        .to_pb(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_opens_its_commitment_only_with_its_opening() {
        let (a, b) = ([1u8; OPENING], [2u8; OPENING]);
        let c = output_commitment(&a, b"band 3");
        assert_eq!(
            open_output(&seal_output(&a, b"band 3"), &c),
            Some(&b"band 3"[..])
        );
        // The commitment is not the output's hash, and another opening or output fails.
        assert_ne!(c, sm3(b"band 3"));
        assert_ne!(c, output_commitment(&b, b"band 3"));
        assert_eq!(open_output(&seal_output(&b, b"band 3"), &c), None);
        assert_eq!(open_output(&seal_output(&a, b"band 4"), &c), None);
        assert_eq!(open_output(&a[..31], &c), None);
    }
}
