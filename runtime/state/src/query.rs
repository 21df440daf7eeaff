//! Read-only queries over committed state, for the API.

use govchain_store::{Column, Store};
use govchain_types::{decode, pb};

use crate::{Result, StateError, keys};

fn all<M: prost::Message + Default>(
    store: &Store,
    prefix: &'static [u8],
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
    let raw = store
        .state(keys::COMMITTEE)?
        .ok_or_else(|| StateError::Genesis("committee missing".into()))?;
    serde_json::from_slice(&raw).map_err(|e| StateError::Corrupt {
        key: "c/committee".into(),
        reason: e.to_string(),
    })
}
