//! Read-only queries over committed state, for the API.

use std::sync::Arc;

use govchain_store::{Column, Store};
use govchain_types::{TxError, decode, pb};

use crate::internal;
use crate::{Overlay, Result, StateError, certs, keys, points, policy};

fn all<M: prost::Message + Default>(
    store: &Store,
    prefix: &[u8],
    what: &'static str,
) -> Result<Vec<M>> {
    store
        .scan_prefix(Column::State, prefix, None)
        .map(|r| {
            let (k, v) = r?;
            decode(what, &v).map_err(|e| StateError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Every department, by id.
pub fn departments(store: &Store) -> Result<Vec<pb::Department>> {
    all(store, keys::DEPARTMENTS, "department")
}

/// Every validator, by id.
pub fn validators(store: &Store) -> Result<Vec<pb::Validator>> {
    all(store, keys::VALIDATORS, "validator")
}

/// Every deployed contract, by name.
pub fn contracts(store: &Store) -> Result<Vec<pb::ContractRecord>> {
    all(store, keys::CONTRACTS, "contract")
}

/// Every proposal, by id.
pub fn proposals(store: &Store) -> Result<Vec<pb::ProposalRecord>> {
    all(store, keys::PROPOSALS, "proposal")
}

/// The management committee.
pub fn committee(store: &Store) -> Result<crate::genesis::Committee> {
    crate::json_record(store.state(keys::COMMITTEE)?, "c/committee")
}

/// Every certificate type, by id.
pub fn cert_types(store: &Store) -> Result<Vec<pb::CertType>> {
    all(store, keys::CERT_TYPES, "certificate type")
}

/// Every registered purpose, by id.
pub fn purposes(store: &Store) -> Result<Vec<pb::Purpose>> {
    all(store, keys::PURPOSES, "purpose")
}

/// One certificate.
pub fn certificate(store: &Arc<Store>, id: &str) -> std::result::Result<pb::Certificate, TxError> {
    certs::get(&Overlay::new(store.clone()), id)
}

/// The grants of a certificate.
pub fn grants(store: &Arc<Store>, cert_id: &str) -> std::result::Result<Vec<pb::Grant>, TxError> {
    let o = Overlay::new(store.clone());
    certs::get(&o, cert_id)?;
    certs::grants(&o, cert_id)
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

/// An allowed request with its released shares, certificate, custody key set and share
/// holders.
pub fn releases(store: &Arc<Store>, request: u64) -> std::result::Result<Releases, TxError> {
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

/// Certificates by subject, issuer or type, without their ciphertexts.
pub fn certificates(
    store: &Arc<Store>,
    req: &pb::ListCertificatesRequest,
) -> std::result::Result<pb::ListCertificatesResponse, TxError> {
    if !req.subject_id.is_empty() && req.subject_id.len() != 32 {
        return Err(TxError::InvalidSubject {
            reason: "subject_id must be 32 bytes".into(),
        });
    }
    // Index keys end in the certificate id; the record key is `cert/{id}`.
    let prefix = if !req.subject_id.is_empty() {
        keys::certs_of_subject(&req.subject_id)
    } else if !req.issuer.is_empty() {
        keys::certs_of_issuer(&req.issuer)
    } else {
        keys::certificate("")
    };
    let limit = page_limit(req.limit);
    let o = Overlay::new(store.clone());
    let mut out = pb::ListCertificatesResponse::default();
    let after = (!req.after.is_empty()).then(|| [prefix.as_slice(), req.after.as_bytes()].concat());
    for r in o.scan(&prefix, after.as_deref()) {
        let (k, _) = r.map_err(internal)?;
        let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        let mut c = certs::get(&o, &id)?;
        if (!req.issuer.is_empty() && c.issuer != req.issuer)
            || (!req.cert_type.is_empty() && c.cert_type != req.cert_type)
        {
            continue;
        }
        c.ciphertext.clear();
        c.key_envelope.clear();
        out.certificates.push(c);
        if out.certificates.len() == limit {
            out.next = id;
            break;
        }
    }
    Ok(out)
}

/// The casbin model, the policy lines in force and the policy version.
pub fn policy(store: &Arc<Store>) -> Result<pb::GetPolicyResponse> {
    let o = Overlay::new(store.clone());
    let model = o.get(keys::POLICY_MODEL)?.unwrap_or_default();
    Ok(pb::GetPolicyResponse {
        model: String::from_utf8_lossy(&model).into_owned(),
        lines: policy::lines(&o)?,
        version: policy::version(&o)?,
    })
}

/// Balances (one department's, or all), supply counters and parameters.
pub fn balances(
    store: &Arc<Store>,
    department: &str,
) -> std::result::Result<pb::GetBalancesResponse, TxError> {
    let o = Overlay::new(store.clone());
    let depts: Vec<String> = if department.is_empty() {
        departments(store)
            .map_err(internal)?
            .into_iter()
            .map(|d| d.id)
            .collect()
    } else {
        if o.get(&keys::department(department))
            .map_err(internal)?
            .is_none()
        {
            return Err(TxError::UnknownDepartment {
                department: department.to_string(),
            });
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
        .collect::<std::result::Result<_, TxError>>()?;
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
) -> std::result::Result<pb::GetHistoryResponse, TxError> {
    let prefix = keys::index::points_of(department);
    let Some(first) = after.checked_add(1) else {
        return Ok(pb::GetHistoryResponse::default());
    };
    let start = keys::index::points_entry(department, first);
    let limit = page_limit(limit);
    let mut out = pb::GetHistoryResponse::default();
    for item in store.scan_prefix(Column::Index, &prefix, Some(&start)) {
        let (_, v) = item.map_err(internal)?;
        let e: pb::PointsEntry = decode("points entry", &v)?;
        let seq = e.seq;
        out.entries.push(e);
        if out.entries.len() == limit {
            out.next = seq;
            break;
        }
    }
    Ok(out)
}
