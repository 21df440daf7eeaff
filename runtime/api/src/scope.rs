//! Who sees what: the one visibility rule every service (gRPC and the console) applies
//! to an authenticated [`Reader`].
//!
//! - The **auditor** and the departments that **operate the chain's nodes** (their
//!   stores hold every block anyway) see everything: blocks, transactions, certificate
//!   listings, every account's nonce.
//! - Any other **department** sees what it is a party to: the transactions it sent, the
//!   certificates it issued or holds a grant on, the certificates of a subject it names,
//!   its own points ledger and nonces, the releases of its requests or certificates, the
//!   audit records where it is requester or owner.
//! - Reference data every member needs (certificate types, purposes, the policy,
//!   contracts, proposals, the custody key, balances, the full status) goes to any
//!   signed department.
//! - An **outsider** (no valid signature) gets health and a minimal status.
//!
//! Each refusal is `UNAUTHORIZED` and says who may read what; where the question names
//! a record by an id one can guess, the refusal is the same whether or not it exists.

use govchain_consensus::Chain;
use govchain_types::{ErrorCode, pb};
use tonic::Status;

use crate::auth::Reader;
use crate::error::{internal, status};

/// Role that may read every record (supervisors, 等保 2.0 separation of duties).
pub(crate) const AUDITOR: &str = "auditor";

/// Whether `who` sees the whole chain: the auditor, or a department operating a node.
pub(crate) fn sees_all(chain: &Chain, who: &Reader) -> Result<bool, Status> {
    if who.has_role(AUDITOR) {
        return Ok(true);
    }
    Ok(govchain_state::query::validators(chain.store())
        .map_err(internal)?
        .iter()
        .any(|v| v.department == who.department))
}

fn refuse(why: String) -> Status {
    status(ErrorCode::Unauthorized, why)
}

/// A block in full: [`sees_all`].
pub(crate) fn block(chain: &Chain, who: &Reader) -> Result<(), Status> {
    if sees_all(chain, who)? {
        return Ok(());
    }
    Err(refuse(format!(
        "a block in full is for the departments that operate the chain's nodes and the auditor, not '{}' (a department reads the transactions it sent)",
        who.department
    )))
}

/// A committed transaction sent by `sender`: its sender, or [`sees_all`].
pub(crate) fn tx(chain: &Chain, who: &Reader, sender: &str) -> Result<(), Status> {
    if sender == who.department || sees_all(chain, who)? {
        return Ok(());
    }
    Err(refuse(format!(
        "another department's transaction is for the departments that operate the chain's nodes and the auditor, not '{}' (a department reads the transactions it sent)",
        who.department
    )))
}

/// The grants to `grantee` that were revoked: the grantee itself or the auditor (as
/// [`grant`]: a grant is its owner's, its grantee's and the auditor's).
pub(crate) fn revoked_grants(who: &Reader, grantee: &str) -> Result<(), Status> {
    if grantee == who.department || who.has_role(AUDITOR) {
        return Ok(());
    }
    Err(refuse(format!(
        "the grants revoked from '{grantee}' are for that department, not '{}'",
        who.department
    )))
}

/// The next nonce of `department`'s accounts (how many transactions it sent): the
/// department itself, or [`sees_all`].
pub(crate) fn nonce(chain: &Chain, who: &Reader, department: &str) -> Result<(), Status> {
    if department == who.department || sees_all(chain, who)? {
        return Ok(());
    }
    Err(refuse(format!(
        "'{}' may not read '{department}''s nonces: a department reads its own accounts'",
        who.department
    )))
}

/// A department's points ledger (whom it read, who read it): its own and the auditor's.
pub(crate) fn ledger(who: &Reader, department: &str) -> Result<(), Status> {
    if who.department == department || who.has_role(AUDITOR) {
        return Ok(());
    }
    Err(refuse(format!(
        "'{}' may not read '{department}''s points ledger: a department's ledger (whom it read, who read it) is its own and the auditor's",
        who.department
    )))
}

/// The audit records `who` may see (`govchain_state::access::audit::Scope`): every record
/// with the auditor role, else those where its department is a party.
pub(crate) fn audit_scope(who: &Reader) -> govchain_state::access::audit::Scope<'_> {
    (!who.has_role(AUDITOR)).then_some(who.department.as_str())
}

/// One audit record by its number, given its (requester, owner) if it exists: the
/// auditor any; another department one where it is a party, with the same refusal
/// whether the number is missing or someone else's record.
pub(crate) fn audit_record(
    who: &Reader,
    seq: u64,
    parties: Option<(&str, &str)>,
) -> Result<(), Status> {
    let me = who.department.as_str();
    match (audit_scope(who), parties) {
        (None, Some(_)) => Ok(()),
        (None, None) => Err(status(
            ErrorCode::NotFound,
            format!("no audit record {seq}"),
        )),
        (Some(_), Some((requester, owner))) if me == requester || me == owner => Ok(()),
        (Some(_), _) => Err(refuse(format!(
            "no audit record {seq} with '{me}' as its requester or owner: a department reads the records it is a party to; the '{AUDITOR}' role reads all"
        ))),
    }
}

/// Audit query `q` as `who` may run it (`audit::scope_query`).
pub(crate) fn audit_query(who: &Reader, q: pb::AuditQuery) -> Result<pb::AuditQuery, Status> {
    let me = &who.department;
    govchain_state::access::audit::scope_query(audit_scope(who), q).ok_or_else(|| {
        refuse(format!(
            "'{me}' may query only audit records where it is the requester or the owner (drop the other department, or add --requester {me} or --owner {me}); the '{AUDITOR}' role may query all"
        ))
    })
}

/// A request's releases (its purpose, the requester's key, a job's arguments and
/// result): its requester, the certificate's owner and the auditor.
pub(crate) fn releases(
    who: &Reader,
    request: u64,
    requester: &str,
    owner: &str,
) -> Result<(), Status> {
    if who.department == requester || who.department == owner || who.has_role(AUDITOR) {
        return Ok(());
    }
    Err(no_releases(who, request))
}

/// The refusal of [`releases`], also for a request that is not an allowed one (request
/// numbers are sequential: a different answer would tell which were allowed).
pub(crate) fn no_releases(who: &Reader, request: u64) -> Status {
    refuse(format!(
        "request {request} is no allowed request that '{}' may read: releases answer the requester, the certificate's owner and the auditor, and a denied request has none (see `govchain audit query`)",
        who.department
    ))
}

/// Whether `who` sees grant `g` of a certificate issued by `owner`: the owner and the
/// auditor every grant, a grantee its own.
pub(crate) fn grant(who: &Reader, owner: &str, g: &pb::Grant) -> bool {
    who.department == owner || who.has_role(AUDITOR) || g.grantee == who.department
}

/// One certificate's record (issuer, type, subject, content hash) looked up by id: its
/// issuer, a department holding a grant on it, or [`sees_all`]. Certificate ids are the
/// issuer's and can be guessed, so the refusal does not say whether `id` exists.
pub(crate) fn certificate(
    chain: &Chain,
    who: &Reader,
    id: &str,
) -> Result<pb::Certificate, Status> {
    let store = chain.store();
    match govchain_state::query::certificate(store, id) {
        Ok(c) => {
            let granted = || -> Result<bool, Status> {
                Ok(govchain_state::query::grants(store, id)
                    .map_err(internal)?
                    .iter()
                    .any(|g| g.grantee == who.department))
            };
            if c.issuer == who.department || sees_all(chain, who)? || granted()? {
                return Ok(c);
            }
        }
        Err(e)
            if govchain_types::Coded::code(&e) != ErrorCode::NotFound || sees_all(chain, who)? =>
        {
            return Err(crate::error::tx_status(&e));
        }
        Err(_) => {}
    }
    Err(refuse(format!(
        "certificate '{id}' is answered to its issuer, its grantees, the departments that operate the chain's nodes and the auditor; '{}' is none of them, or there is no such certificate (list a subject's certificates with --subject)",
        who.department
    )))
}

/// A certificate listing: by subject for any department (it names the citizen it
/// serves); by issuer for that issuer; across issuers (by type, or all) only for
/// [`sees_all`]. Listings without a subject carry every subject id they find, so they
/// are the enumeration a dictionary attack on national ids needs.
pub(crate) fn certificate_listing(
    chain: &Chain,
    who: &Reader,
    req: &pb::ListCertificatesRequest,
) -> Result<(), Status> {
    if !req.subject_id.is_empty() || req.issuer == who.department || sees_all(chain, who)? {
        return Ok(());
    }
    Err(refuse(format!(
        "'{}' may list certificates by subject, or its own by --issuer {}; listings of other issuers' certificates are for the departments that operate the chain's nodes and the auditor",
        who.department, who.department
    )))
}
