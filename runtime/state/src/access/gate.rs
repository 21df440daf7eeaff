//! The access gate: the one code path that decides every read of certificate data,
//! whether a transaction asks ([`pb::RequestAccess`]) or a contract does
//! (`read_certificate`).
//!
//! policy (casbin) → points → audit record → data. Bad input (an unknown certificate or
//! purpose) is an error and writes nothing; every decision on a real request, allowed or
//! denied, is an audit record, and its points move, even if the transaction fails later.

use govchain_types::{ExecError, pb};

use crate::access::liveness::{self, CertLapse};
use crate::access::policy::{Policy, Verdict};
use crate::access::{audit, points};
use crate::{BlockContext, Overlay, certs};

/// Who is reading, and through what.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// Requesting department (the transaction's sender).
    pub department: &'a str,
    /// Operator who signed, empty for the department key.
    pub operator: &'a str,
    /// The transaction making the request.
    pub tx_hash: &'a [u8],
    /// A direct request, or a contract (a call, or a compute job).
    pub via: Via<'a>,
    /// [`pb::AuditAction::Read`], or [`pb::AuditAction::Compute`] for a compute job of
    /// the contract in `via` (policy action `compute:<contract>`: the requester gets a
    /// result, never the document).
    pub action: pb::AuditAction,
}

impl Reader<'_> {
    fn policy_action(&self) -> String {
        match (self.action, self.via) {
            (pb::AuditAction::Compute, Via::Contract(c)) => {
                crate::access::policy::compute_action(c)
            }
            (pb::AuditAction::Compute, Via::Direct) => crate::access::policy::compute_action(""),
            _ => crate::access::policy::READ.to_string(),
        }
    }
}

/// Through what a read is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// A transaction's own request.
    Direct,
    /// A contract: a call that reads, or a compute job.
    Contract(&'a str),
}

impl Via<'_> {
    /// The audit record's `via`: empty, or `contract:<name>`.
    pub fn label(self) -> String {
        match self {
            Via::Direct => String::new(),
            Via::Contract(name) => format!("contract:{name}"),
        }
    }
}

/// A decision, as recorded.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The audit record written.
    pub record: pb::AuditRecord,
    /// The certificate (metadata and ciphertext) when allowed.
    pub certificate: Option<pb::Certificate>,
}

enum Basis {
    Own,
    Policy(String),
    Grant(u64),
}

/// Decides whether `reader` may read certificate `cert_id` for `purpose`, charges the
/// points and records the decision.
pub fn read(
    o: &mut Overlay,
    ctx: &BlockContext,
    policy: &Policy,
    reader: &Reader<'_>,
    cert_id: &str,
    purpose: &str,
) -> Result<Outcome, ExecError> {
    let _span =
        tracing::trace_span!("gate", cert = cert_id, requester = reader.department).entered();
    certs::purpose(o, purpose)?;
    let cert = certs::get(o, cert_id)?;
    let ty = certs::cert_type(o, &cert.cert_type)?;
    let basis = basis(o, ctx, policy, reader, &cert, purpose)?;
    let seq = audit::next_seq(o)?;
    let mut record = pb::AuditRecord {
        seq,
        height: ctx.height,
        tx_hash: reader.tx_hash.to_vec(),
        time_ms: ctx.time_ms,
        requester: reader.department.to_string(),
        operator: reader.operator.to_string(),
        owner: cert.issuer.clone(),
        subject_id: cert.subject_id.clone(),
        cert_id: cert.id.clone(),
        cert_type: cert.cert_type.clone(),
        purpose: purpose.to_string(),
        decision: pb::Decision::Deny as i32,
        reason: String::new(),
        points: 0,
        via: reader.via.label(),
        block_index: 0,
        grant_id: 0,
        action: reader.action as i32,
        request: 0,
    };
    // Everything that can fail happens before the first write: the decision, its
    // payment and its record are written together or not at all.
    let allowed = match basis {
        Err(reason) => {
            record.reason = reason;
            false
        }
        Ok(basis) => {
            let (why, grant_id) = match basis {
                Basis::Own => ("own certificate".to_string(), 0),
                Basis::Policy(line) => (format!("policy '{line}'"), 0),
                Basis::Grant(id) => (format!("grant {id}"), id),
            };
            record.grant_id = grant_id;
            charge(o, ctx, reader, &cert, ty.price, &why, &mut record)?
        }
    };
    if allowed {
        record.decision = pb::Decision::Allow as i32;
    }
    let record = audit::append(o, record)?;
    Ok(Outcome {
        record,
        certificate: allowed.then_some(cert),
    })
}

/// What allows the read, or why not.
fn basis(
    o: &Overlay,
    ctx: &BlockContext,
    policy: &Policy,
    reader: &Reader<'_>,
    cert: &pb::Certificate,
    purpose: &str,
) -> Result<Result<Basis, String>, ExecError> {
    match liveness::cert_lapse(cert, ctx)? {
        Some(CertLapse::Revoked) => {
            return Ok(Err(format!(
                "certificate revoked at height {}{}",
                cert.revoked_height,
                if cert.revoke_reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", cert.revoke_reason)
                }
            )));
        }
        Some(CertLapse::Expired) => {
            return Ok(Err(format!("certificate expired on {}", cert.expires_on)));
        }
        None => {}
    }
    if reader.department == cert.issuer {
        return Ok(Ok(Basis::Own));
    }
    match policy.check(
        reader.department,
        &reader.policy_action(),
        &cert.cert_type,
        purpose,
    )? {
        Verdict::Deny(line) => return Ok(Err(format!("denied by policy '{line}'"))),
        Verdict::Allow(line) => return Ok(Ok(Basis::Policy(line))),
        Verdict::NoMatch => {}
    }
    let mut lapsed = None;
    for g in certs::grants(o, &cert.id)? {
        if g.grantee != reader.department || g.purpose != purpose {
            continue;
        }
        match liveness::grant_lapse(&g, ctx)? {
            Some(why) => lapsed = Some(why),
            None => return Ok(Ok(Basis::Grant(g.id))),
        }
    }
    Ok(Err(lapsed.unwrap_or_else(|| {
        format!(
            "no policy line or grant lets '{}' {} '{}' certificates for '{purpose}'",
            reader.department,
            reader.policy_action(),
            cert.cert_type
        )
    })))
}

/// Charges the read: free for the owner, then a free quota if one is left, else the
/// type's price; too few points deny it. Returns whether the read is allowed; on an
/// error nothing is written.
#[allow(clippy::too_many_arguments)]
fn charge(
    o: &mut Overlay,
    ctx: &BlockContext,
    reader: &Reader<'_>,
    cert: &pb::Certificate,
    price: u64,
    why: &str,
    record: &mut pb::AuditRecord,
) -> Result<bool, ExecError> {
    if reader.department == cert.issuer || price == 0 {
        record.reason = format!("allowed: {why}");
        return Ok(true);
    }
    if let Some((period, used, quota)) = points::free_read(o, ctx, reader.department)? {
        points::use_free_read(o, reader.department, period, used);
        record.reason = format!(
            "allowed: {why}; free read {} of {quota} this period",
            used + 1
        );
        return Ok(true);
    }
    let balance = points::balance(o, reader.department)?;
    if balance < price {
        record.reason = format!("insufficient points: balance {balance}, price {price} ({why})");
        return Ok(false);
    }
    points::pay(
        o,
        &points::Cause {
            ctx,
            tx_hash: reader.tx_hash,
            kind: if reader.action == pb::AuditAction::Compute {
                points::LedgerKind::Compute
            } else {
                points::LedgerKind::Read
            },
            counterparty: "",
            audit_seq: record.seq,
            note: &cert.id,
        },
        reader.department,
        &cert.issuer,
        price,
    )?;
    record.points = price;
    record.reason = format!("allowed: {why}; paid {price} points");
    Ok(true)
}
