//! The custody key a publisher encrypts to and a requester checks shares against, proven
//! from genesis alone (`docs/design/threshold-sm2.md`): the validators generate it on
//! chain, so no file holds it in advance. A node serves the key set with the header of
//! the block that completed key generation (checked under its commit certificate, the
//! validator set walked from genesis as for audit evidence), the receipt in that block
//! whose `keygen_ended` event names the key set, and the receipt's inclusion proof under
//! the header's receipts root. A node cannot serve a key set of its choosing: it would
//! need a block certified by more than 2/3 of the validators.

use govchain_crypto::merkle::{self, InclusionProof};
use govchain_types::event::Event;
use govchain_types::{decode, pb};

use crate::TrustAnchor;
use crate::light::{ExportedHeader, ExportedSetChange, SetWalk};

/// A custody key set proven from genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenKeySet {
    /// The key set (the joint commitments; the first 65 bytes are the custody public
    /// key).
    pub public_key_set: Vec<u8>,
    /// Shares needed to open an envelope.
    pub threshold: u32,
    /// The height at which key generation completed.
    pub height: u64,
}

/// Checks `proof` against `genesis` and returns the key set it proves.
///
/// # Errors
/// Naming the first check that fails: another chain, a header without a valid commit
/// certificate of the set in force, a receipt not under its root, or a key set other
/// than the one the receipt names.
pub fn verify_key_set(
    genesis: &TrustAnchor,
    proof: &pb::CustodyKeyProof,
) -> Result<ProvenKeySet, String> {
    if proof.chain_id != genesis.chain_id {
        return Err(format!(
            "the key set is of chain '{}', genesis is of '{}'",
            proof.chain_id, genesis.chain_id
        ));
    }
    let custody = proof.custody.as_ref().ok_or("no key set")?;
    let signed = proof.header.as_ref().ok_or("no header")?;
    let mut walk = SetWalk::from_genesis(genesis)?;
    for change in &proof.set_changes {
        walk.apply(&ExportedSetChange::from_pb(change)?)?;
    }
    let header = walk.check(&ExportedHeader::from_pb(signed)?)?;
    if header.height != custody.height {
        return Err(format!(
            "the header is of height {}, the key set was generated at {}",
            header.height, custody.height
        ));
    }
    let root: govchain_crypto::Hash = header
        .receipts_root
        .as_slice()
        .try_into()
        .map_err(|_| "the header's receipts root is not 32 bytes")?;
    let inclusion = InclusionProof {
        leaf_index: u64::from(proof.index),
        tree_size: u64::from(header.tx_count),
        path: proof
            .path
            .iter()
            .map(|h| {
                h.as_slice()
                    .try_into()
                    .map_err(|_| "a path hash is not 32 bytes")
            })
            .collect::<Result<_, _>>()?,
    };
    merkle::verify_inclusion(&root, &proof.receipt, &inclusion)
        .map_err(|e| format!("the receipt is not in block {}: {e}", header.height))?;
    let receipt: pb::Receipt = decode("receipt", &proof.receipt).map_err(|e| e.to_string())?;
    if receipt.status != pb::TxStatus::Ok as i32 {
        return Err("the receipt is of a failed transaction".into());
    }
    let ended = receipt
        .events
        .iter()
        .find_map(|e| match Event::parse(e) {
            Ok(Event::KeygenEnded(k)) if !k.key_set.is_empty() => Some(k),
            _ => None,
        })
        .ok_or("the receipt carries no generated key set")?;
    if hex::decode(&ended.key_set).ok().as_deref() != Some(custody.public_key_set.as_slice()) {
        return Err("the key set served differs from the one the chain generated".into());
    }
    let points = custody.public_key_set.len() / 65;
    if custody.threshold as usize != points || points == 0 {
        return Err(format!(
            "threshold {} does not match a key set of {points} points",
            custody.threshold
        ));
    }
    Ok(ProvenKeySet {
        public_key_set: custody.public_key_set.clone(),
        threshold: custody.threshold,
        height: header.height,
    })
}
