//! Read-only queries over committed state, for the API.

use std::sync::Arc;

use govchain_store::table::{Id, Seg, Unit};
use govchain_store::{KeyCodec, Records, Store, Table, ValueCodec};
use govchain_types::{ExecError, TxError, pb};

use crate::access::{points, policy};
use crate::tables::{self, CERT_BY_ISSUER, CERT_BY_SUBJECT, CERTIFICATE};
use crate::{Overlay, Result, certs, internal};

/// Every record of a table, in key order.
fn all<K: KeyCodec, V: ValueCodec>(store: &Store, table: &Table<K, V>) -> Result<Vec<V::Value>> {
    store
        .scan(table, table.all(), None)
        .map(|r| Ok(r?.1))
        .collect()
}

/// Every department, by id.
pub fn departments(store: &Store) -> Result<Vec<pb::Department>> {
    all(store, &tables::DEPARTMENT)
}

/// Every validator, by id.
pub fn validators(store: &Store) -> Result<Vec<pb::Validator>> {
    all(store, &tables::VALIDATOR)
}

/// Every recorded equivocation, the most recently recorded first.
pub fn evidence(store: &Store) -> Result<Vec<pb::EvidenceRecord>> {
    let mut all = all(store, &tables::EVIDENCE)?;
    all.sort_by(|a, b| {
        (b.recorded_height, &b.validator, b.height, b.round).cmp(&(
            a.recorded_height,
            &a.validator,
            a.height,
            a.round,
        ))
    });
    Ok(all)
}

/// Every deployed contract, by name.
pub fn contracts(store: &Store) -> Result<Vec<pb::ContractRecord>> {
    all(store, &tables::CONTRACT)
}

/// Every proposal, by id.
pub fn proposals(store: &Store) -> Result<Vec<pb::ProposalRecord>> {
    all(store, &tables::PROPOSAL)
}

/// The management committee.
pub fn committee(store: &Store) -> Result<crate::genesis::Committee> {
    crate::genesis_record(store, &tables::COMMITTEE)
}

/// Every certificate type, by id.
pub fn cert_types(store: &Store) -> Result<Vec<pb::CertType>> {
    all(store, &tables::CERT_TYPE)
}

/// Every registered purpose, by id.
pub fn purposes(store: &Store) -> Result<Vec<pb::Purpose>> {
    all(store, &tables::PURPOSE)
}

/// One certificate.
pub fn certificate(
    store: &Arc<Store>,
    id: &str,
) -> std::result::Result<pb::Certificate, ExecError> {
    certs::get(&Overlay::new(store.clone()), id)
}

/// The grants of a certificate.
pub fn grants(store: &Arc<Store>, cert_id: &str) -> std::result::Result<Vec<pb::Grant>, ExecError> {
    let o = Overlay::new(store.clone());
    certs::get(&o, cert_id)?;
    certs::grants(&o, cert_id)
}

/// The grants to `grantee` revoked after the position `after` (a height, and within it
/// a certificate and grant id; `None`: after the whole height), in the order they were
/// revoked, at most `limit`.
pub fn revoked_grants(
    store: &Store,
    grantee: &str,
    after: (u64, Option<(&str, u64)>),
    limit: usize,
) -> std::result::Result<Vec<pb::Grant>, ExecError> {
    let t = &tables::GRANT_REVOKED;
    let start = match after {
        (h, Some((cert, id))) => t.key((grantee, (h, (cert, id)))),
        (h, None) => tables::revoked_from(grantee, h.saturating_add(1)),
    };
    let mut out = Vec::new();
    for r in store.scan(t, t.within(grantee), Some(start)) {
        let ((_, (height, (cert, id))), ()) = r.map_err(internal)?;
        if (height, Some((cert.as_str(), id))) == after {
            continue;
        }
        if out.len() == limit {
            break;
        }
        let g = store
            .read(&tables::GRANT, (cert.as_str(), id))
            .map_err(internal)?
            .ok_or_else(|| internal(format!("revoked grant {id} of {cert} has no record")))?;
        out.push(g);
    }
    Ok(out)
}

/// The encoded receipts of `block`, in transaction order (the leaves of its header's
/// receipts root).
pub fn block_receipts(
    store: &Store,
    block: &pb::Block,
) -> std::result::Result<Vec<Vec<u8>>, ExecError> {
    block
        .txs
        .iter()
        .map(|tx| {
            store
                .receipt(&govchain_crypto::sm3(&tx.body))
                .map_err(internal)?
                .ok_or_else(|| internal("a receipt of a committed block is missing"))
        })
        .collect()
}

/// The receipt of transaction `index` of `block` at `height` (whose receipts are
/// `receipts`) with what proves it from genesis (`govchain_proof::receipt`): the block's
/// signed header with its commit certificate, the receipt's Merkle path under the
/// receipts root, and the validator set changes below the block.
pub fn receipt_proof(
    store: &Store,
    chain_id: &str,
    (height, block): (u64, pb::Block),
    receipts: &[Vec<u8>],
    index: u32,
) -> std::result::Result<pb::ReceiptProof, ExecError> {
    let at = index as usize;
    let path = govchain_crypto::merkle::MerkleTree::new(receipts)
        .proof(at)
        .ok_or_else(|| internal(format!("block {height} has no transaction {index}")))?
        .path;
    Ok(pb::ReceiptProof {
        chain_id: chain_id.to_string(),
        set_changes: crate::access::audit::set_changes_below(store, height)?,
        header: Some(crate::access::audit::signed_header(block)),
        receipt: receipts[at].clone(),
        index,
        path: path.iter().map(|h| h.to_vec()).collect(),
    })
}

/// An allowed request and what fetching its certificate needs.
#[derive(Debug)]
pub struct Releases {
    /// The request.
    pub request: pb::AccessRequest,
    /// Shares released for it, by share number.
    pub releases: Vec<pb::ReleasedShare>,
    /// Its certificate.
    pub certificate: pb::Certificate,
    /// The custody key set.
    pub custody: Option<pb::CustodyKeySet>,
    /// Validators holding a custody share (without their keys).
    pub holders: Vec<pb::Validator>,
    /// For a compute job: its result, once posted.
    pub result: Option<pb::JobResult>,
}

impl Releases {
    /// What `GetReleases` answers, on a chain whose tip has time `tip_time_ms`.
    pub fn into_response(self, tip_time_ms: u64) -> pb::GetReleasesResponse {
        pb::GetReleasesResponse {
            request: Some(self.request),
            releases: self.releases,
            certificate: Some(self.certificate),
            custody: self.custody,
            holders: self.holders,
            tip_time_ms,
            result: self.result,
        }
    }
}

/// An allowed request with its released shares, certificate, custody key set and share
/// holders.
pub fn releases(store: &Arc<Store>, request: u64) -> std::result::Result<Releases, ExecError> {
    let o = Overlay::new(store.clone());
    let req = crate::custody::request(&o, request)?.ok_or_else(|| TxError::NotFound {
        what: format!(
            "allowed access request {request} (a denied request has no key shares; see `govchain audit query`)"
        ),
    })?;
    let holders = validators(store)
        .map_err(internal)?
        .into_iter()
        .filter(|v| v.custody_share != 0)
        .map(|v| pb::Validator {
            public_key: vec![],
            ..v
        })
        .collect();
    Ok(Releases {
        releases: crate::custody::releases(&o, request)?,
        certificate: certs::get(&o, &req.cert_id)?,
        custody: crate::custody::key_set(&o)?,
        result: crate::compute::result(&o, request)?,
        request: req,
        holders,
    })
}

fn page_limit(limit: u32) -> usize {
    match limit {
        0 => 100,
        n => n.min(1000) as usize,
    }
}

/// Certificates by subject, issuer or type, without their ciphertexts. Examines at most
/// `max_scan` records: past that the answer holds what it found and `next` goes on
/// from the last record examined, so a page may be short and still have a `next`.
pub fn certificates(
    store: &Arc<Store>,
    req: &pb::ListCertificatesRequest,
    max_scan: usize,
) -> std::result::Result<pb::ListCertificatesResponse, ExecError> {
    if !req.subject_id.is_empty() && req.subject_id.len() != 32 {
        return Err(TxError::InvalidSubject {
            reason: "subject_id must be 32 bytes".into(),
        }
        .into());
    }
    let limit = page_limit(req.limit);
    let o = Overlay::new(store.clone());
    let mut out = pb::ListCertificatesResponse::default();
    let by_id = |id: std::result::Result<String, ExecError>| certs::get(&o, &id?);
    // The subject's or issuer's index, or all certificates.
    let found: Box<dyn Iterator<Item = std::result::Result<pb::Certificate, ExecError>> + '_> =
        if !req.subject_id.is_empty() {
            Box::new(ids(&o, &CERT_BY_SUBJECT, &req.subject_id, &req.after).map(by_id))
        } else if !req.issuer.is_empty() {
            Box::new(ids(&o, &CERT_BY_ISSUER, &req.issuer, &req.after).map(by_id))
        } else {
            let from = (!req.after.is_empty()).then(|| CERTIFICATE.key(&req.after));
            Box::new(
                o.records(&CERTIFICATE, CERTIFICATE.all(), from)
                    .map(|r| r.map(|(_, c)| c).map_err(internal)),
            )
        };
    for (scanned, c) in found.enumerate() {
        let mut c = c?;
        if (!req.issuer.is_empty() && c.issuer != req.issuer)
            || (!req.cert_type.is_empty() && c.cert_type != req.cert_type)
        {
            // Examined enough for one call: what was found, and where to go on.
            if scanned + 1 >= max_scan {
                out.next = c.id;
                break;
            }
            continue;
        }
        c.ciphertext.clear();
        c.key_envelope.clear();
        let id = c.id.clone();
        out.certificates.push(c);
        if out.certificates.len() == limit {
            out.next = id;
            break;
        }
    }
    Ok(out)
}

/// The certificate ids an index (by subject, by issuer) holds under `first`, after the
/// id `after` when it is not empty.
fn ids<'a, 'k, A: KeyCodec>(
    o: &'a Overlay,
    index: &'a Table<Seg<A, Id>, Unit>,
    first: A::Key<'k>,
    after: &'k str,
) -> impl Iterator<Item = std::result::Result<String, ExecError>> + 'a {
    let from = (!after.is_empty()).then(|| index.key((first, after)));
    o.records(index, index.within(first), from)
        .map(|r| r.map(|((_, id), ())| id).map_err(internal))
}

/// The casbin model, the policy lines in force and the policy version.
pub fn policy(store: &Arc<Store>) -> Result<pb::GetPolicyResponse> {
    let o = Overlay::new(store.clone());
    Ok(pb::GetPolicyResponse {
        model: o.read_or_default(&tables::POLICY_MODEL, ())?,
        lines: policy::lines(&o)?,
        version: policy::version(&o)?,
    })
}

/// Balances (one department's, or all), supply counters and parameters.
pub fn balances(
    store: &Arc<Store>,
    department: &str,
) -> std::result::Result<pb::GetBalancesResponse, ExecError> {
    let o = Overlay::new(store.clone());
    let depts: Vec<String> = if department.is_empty() {
        departments(store)
            .map_err(internal)?
            .into_iter()
            .map(|d| d.id)
            .collect()
    } else {
        if !o
            .contains(&tables::DEPARTMENT, department)
            .map_err(internal)?
        {
            return Err(TxError::UnknownDepartment {
                department: department.to_string(),
            }
            .into());
        }
        vec![department.to_string()]
    };
    let balances = depts
        .into_iter()
        .map(|d| {
            Ok(pb::Balance {
                balance: points::balance(&o, &d)?,
                department: d,
            })
        })
        .collect::<std::result::Result<_, ExecError>>()?;
    let (genesis, minted, burned) = points::supply(&o)?;
    Ok(pb::GetBalancesResponse {
        balances,
        genesis,
        minted,
        burned,
        params: Some(points::params(&o)?),
        height: 0,
    })
}

/// A department's points ledger, oldest first, a page at a time.
pub fn history(
    store: &Store,
    department: &str,
    after: u64,
    limit: u32,
) -> std::result::Result<pb::GetHistoryResponse, ExecError> {
    let Some(first) = after.checked_add(1) else {
        return Ok(pb::GetHistoryResponse::default());
    };
    let table = &tables::POINTS_ENTRY;
    let (within, start) = (table.within(department), table.key((department, first)));
    let limit = page_limit(limit);
    let mut out = pb::GetHistoryResponse::default();
    for item in store.scan(table, within, Some(start)) {
        let (_, e) = item.map_err(internal)?;
        let seq = e.seq;
        out.entries.push(e);
        if out.entries.len() == limit {
            out.next = seq;
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use govchain_store::Store;
    use govchain_types::pb;

    use crate::genesis::nanjing_access;
    use crate::local::LocalChain;

    fn list(
        c: &LocalChain,
        cert_type: &str,
        after: &str,
        max_scan: usize,
    ) -> pb::ListCertificatesResponse {
        let req = pb::ListCertificatesRequest {
            cert_type: cert_type.into(),
            after: after.into(),
            ..Default::default()
        };
        super::certificates(&c.store, &req, max_scan).unwrap()
    }

    #[test]
    fn a_listing_examines_at_most_max_scan_records_and_goes_on_from_there() {
        let mut c = LocalChain::nanjing(
            Store::in_memory().unwrap(),
            1_780_000_000_000,
            [5; 32],
            nanjing_access(),
        )
        .unwrap();
        let txs: Vec<_> = (0..5)
            .map(|i| c.property_title(&format!("P-{i}"), [i; 32]).1)
            .collect();
        c.block(&txs, 1_000).unwrap();
        // No marriage certificate: each call examines 2 records and says where to go on.
        let (mut after, mut calls) = (String::new(), 0);
        loop {
            let page = list(&c, "marriage", &after, 2);
            assert!(page.certificates.is_empty());
            calls += 1;
            if page.next.is_empty() {
                break;
            }
            after = page.next;
        }
        assert_eq!(calls, 3, "5 records, 2 per call, then the end");
        // Matches fill the page: the bound counts records passed over.
        assert_eq!(list(&c, "property", "", 2).certificates.len(), 5);
        assert_eq!(list(&c, "marriage", "", 10_000).next, "");
    }
}
