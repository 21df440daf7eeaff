//! The custody key a publisher encrypts to and a requester checks shares against, proven
//! from genesis alone (`docs/design/threshold-sm2.md`): the validators generate it on
//! chain, so no file holds it in advance. A node serves the key set with the header of
//! the block that completed key generation (checked under its commit certificate, the
//! validator set walked from genesis as for audit evidence), the receipt in that block
//! whose `keygen_ended` event names the key set, and the receipt's inclusion proof under
//! the header's receipts root. A node cannot serve a key set of its choosing: it would
//! need a block certified by more than 2/3 of the validators.

use govchain_types::event::Event;
use govchain_types::pb;

use crate::TrustAnchor;

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
    let custody = proof.custody.as_ref().ok_or("no key set")?;
    let (header, receipt) = crate::receipt::included(
        genesis,
        &proof.chain_id,
        proof.header.as_ref(),
        &proof.set_changes,
        &proof.receipt,
        proof.index,
        &proof.path,
    )?;
    if header.height != custody.height {
        return Err(format!(
            "the header is of height {}, the key set was generated at {}",
            header.height, custody.height
        ));
    }
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
