//! A transaction's receipt proven from genesis alone: the header of its block, checked
//! under its commit certificate (the validator set walked from genesis, as for audit
//! evidence), and the receipt's encoding under the header's receipts root. A node cannot
//! make up an outcome (a publish that "failed", a read "allowed"): it would need a block
//! certified by more than 2/3 of the validators. The custody key set is proven the same
//! way (`crate::custody`).

use govchain_crypto::merkle::{self, InclusionProof};
use govchain_types::{decode, pb};

use crate::TrustAnchor;
use crate::light::{ExportedHeader, ExportedSetChange, SetWalk};

/// The receipt at leaf `index` (with Merkle `path`) of the receipts root of `header`,
/// the header checked under its commit certificate from `genesis` through
/// `set_changes`: the header and the decoded receipt.
pub(crate) fn included(
    genesis: &TrustAnchor,
    chain_id: &str,
    header: Option<&pb::SignedHeader>,
    set_changes: &[pb::ValidatorSetChange],
    receipt: &[u8],
    index: u32,
    path: &[Vec<u8>],
) -> Result<(pb::BlockHeader, pb::Receipt), String> {
    if chain_id != genesis.chain_id {
        return Err(format!(
            "the proof is of chain '{chain_id}', genesis is of '{}'",
            genesis.chain_id
        ));
    }
    let signed = header.ok_or("no header")?;
    let mut walk = SetWalk::from_genesis(genesis)?;
    for change in set_changes {
        walk.apply(&ExportedSetChange::from_pb(change)?)?;
    }
    let header = walk.check(&ExportedHeader::from_pb(signed)?)?;
    let root: govchain_crypto::Hash = header
        .receipts_root
        .as_slice()
        .try_into()
        .map_err(|_| "the header's receipts root is not 32 bytes")?;
    let inclusion = InclusionProof {
        leaf_index: u64::from(index),
        tree_size: u64::from(header.tx_count),
        path: path
            .iter()
            .map(|h| {
                h.as_slice()
                    .try_into()
                    .map_err(|_| "a path hash is not 32 bytes")
            })
            .collect::<Result<_, _>>()?,
    };
    merkle::verify_inclusion(&root, receipt, &inclusion)
        .map_err(|e| format!("the receipt is not in block {}: {e}", header.height))?;
    let receipt: pb::Receipt = decode("receipt", receipt).map_err(|e| e.to_string())?;
    Ok((header, receipt))
}

/// Checks `proof` against `genesis` and returns the receipt it proves for the
/// transaction whose body hashes (SM3) to `tx_hash`.
///
/// # Errors
/// Naming the first check that fails: another chain, a header without a valid commit
/// certificate of the set in force, a receipt not under its root, or the receipt of
/// another transaction or height.
pub fn verify_receipt(
    genesis: &TrustAnchor,
    proof: &pb::ReceiptProof,
    tx_hash: &[u8],
) -> Result<pb::Receipt, String> {
    let (header, receipt) = included(
        genesis,
        &proof.chain_id,
        proof.header.as_ref(),
        &proof.set_changes,
        &proof.receipt,
        proof.index,
        &proof.path,
    )?;
    if receipt.tx_hash != tx_hash || receipt.height != header.height || receipt.index != proof.index
    {
        return Err(format!(
            "the proven receipt is of transaction {} at height {}, not of {} at {}",
            hex::encode(&receipt.tx_hash),
            receipt.height,
            hex::encode(tx_hash),
            header.height
        ));
    }
    Ok(receipt)
}
