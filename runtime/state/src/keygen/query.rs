//! The read side of custody key generation and resharing: its state and steps as
//! stored, the key set's holders and public shares, a holder's share summed from the
//! chain, and the key set's proof for clients.

use govchain_custody::keygen;
use govchain_store::Records;
use govchain_types::event::Event;
use govchain_types::{ExecError, pb};

use crate::{Overlay, internal, tables};

use pb::KeygenPhase as Phase;

/// The key generation's state, if the chain has custody.
pub fn state(o: &Overlay) -> Result<Option<pb::KeygenState>, ExecError> {
    o.read(&tables::KEYGEN, ()).map_err(internal)
}

/// The dealings of round `round`, by dealer.
pub fn deals(o: &Overlay, round: u64) -> Result<Vec<pb::KeygenDealRecord>, ExecError> {
    crate::values(o, &tables::KEYGEN_DEAL, tables::KEYGEN_DEAL.within(round))
}

/// The complaints of round `round`, by holder.
pub fn complaints(o: &Overlay, round: u64) -> Result<Vec<pb::KeygenComplaintRecord>, ExecError> {
    crate::values(
        o,
        &tables::KEYGEN_COMPLAINT,
        tables::KEYGEN_COMPLAINT.within(round),
    )
}

/// The answers of round `round`, by dealer and holder.
pub fn answers(o: &Overlay, round: u64) -> Result<Vec<pb::KeygenAnswerRecord>, ExecError> {
    crate::values(
        o,
        &tables::KEYGEN_ANSWER,
        tables::KEYGEN_ANSWER.within(round),
    )
}

/// Holder `number`'s sub-share in dealing `d` of a round whose holders (ascending) are
/// `holders`, decrypted with its custody key `key` and checked against the dealer's
/// commitments: an error is its ground to complain.
///
/// # Errors
/// If the dealing has no sub-share for it, or the sub-share fails its check.
pub fn sub_share_of(
    key: &govchain_crypto::PrivateKey,
    number: u32,
    holders: &[u32],
    d: &pb::KeygenDealRecord,
) -> govchain_custody::Result<zeroize::Zeroizing<[u8; govchain_custody::SECRET_LEN]>> {
    // Sub-shares are in the order of the round's holders.
    let Some(ciphertext) = holders
        .iter()
        .position(|&h| h == number)
        .and_then(|i| d.sub_shares.get(i))
    else {
        return Err(govchain_custody::CustodyError::BadDeal(format!(
            "no sub-share for holder {number}"
        )));
    };
    keygen::open_sub_share(key, number, &d.commitments, ciphertext)
}

/// The holders of key set `set` (ascending share numbers): the numbers with a public
/// share.
pub fn set_holders(set: &pb::CustodyKeySet) -> Vec<u32> {
    (1..)
        .zip(&set.public_shares)
        .filter(|(_, p)| !p.is_empty())
        .map(|(n, _)| n)
        .collect()
}

/// Holder `number`'s public share in `set`, if it holds one.
pub fn public_share(set: &pb::CustodyKeySet, number: u32) -> Option<&[u8]> {
    let i = (number as usize).checked_sub(1)?;
    set.public_shares
        .get(i)
        .map(Vec::as_slice)
        .filter(|p| !p.is_empty())
}

/// The dealers of round `st`: the holders in key generation, the old holders in a
/// resharing.
pub fn dealers(st: &pb::KeygenState) -> &[u32] {
    if st.dealers.is_empty() {
        &st.holders
    } else {
        &st.dealers
    }
}

/// Holder `number`'s share of the key set `set` generated in `set.round`: the sum of the
/// sub-shares its qualified dealers sent it (the revealed one where it complained),
/// checked against its public share. What a holder's node computes at every start; no
/// file keeps it.
///
/// # Errors
/// If a qualified dealer's sub-share to this holder is bad and was not revealed (the
/// holder did not complain in time): its share would not match its public share, and it
/// must not release anything.
pub fn holder_share(
    key: &govchain_crypto::PrivateKey,
    number: u32,
    set: &pb::CustodyKeySet,
    deals: &[pb::KeygenDealRecord],
    answers: &[pb::KeygenAnswerRecord],
) -> Result<govchain_custody::SecretShare, String> {
    let holders = set_holders(set);
    let mut subs = Vec::with_capacity(set.qualified.len());
    for dealer in &set.qualified {
        let revealed = answers
            .iter()
            .find(|a| a.dealer == *dealer && a.holder == number)
            .and_then(|a| <[u8; 32]>::try_from(a.sub_share.as_slice()).ok());
        let sub = match revealed {
            Some(s) => zeroize::Zeroizing::new(s),
            None => {
                let d = deals.iter().find(|d| d.dealer == *dealer).ok_or_else(|| {
                    format!("the dealing of qualified dealer {dealer} is missing")
                })?;
                sub_share_of(key, number, &holders, d).map_err(|e| {
                    format!("dealer {dealer} ({}): {e}; this holder did not complain in time, so its share is unusable until the holders reshare", d.validator)
                })?
            }
        };
        subs.push((*dealer, sub));
    }
    let refs: Vec<(u32, &[u8])> = subs.iter().map(|(d, s)| (*d, &s[..])).collect();
    let share = keygen::share(number, &refs, set.reshared).map_err(|e| e.to_string())?;
    if public_share(set, number) != Some(&share.public_key_share()[..]) {
        return Err(format!(
            "the share summed from round {} does not match public share {number}",
            set.round
        ));
    }
    Ok(share)
}

/// A phase's name as errors and the CLI show it.
pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::KeygenDeal => "deal",
        Phase::KeygenComplain => "complain",
        Phase::KeygenAnswer => "answer",
        Phase::KeygenDone => "done",
    }
}

/// The custody key set with what proves it from genesis (`govchain_proof::custody`):
/// the signed header of the block that completed key generation, the receipt in it
/// whose `keygen_ended` event names the key set with its inclusion proof, and the
/// validator set changes below that height. `None` before the key exists.
pub fn key_proof(
    store: &govchain_store::Store,
    chain_id: &str,
) -> Result<Option<pb::CustodyKeyProof>, ExecError> {
    let Some(set) = store.read(&tables::CUSTODY, ()).map_err(internal)? else {
        return Ok(None);
    };
    let block = crate::access::audit::stored_block(store, set.height)?;
    let receipts = crate::query::block_receipts(store, &block)?;
    let index = receipts
        .iter()
        .position(|r| {
            govchain_types::decode::<pb::Receipt>("receipt", r).is_ok_and(|r| {
                r.events.iter().any(|e| {
                    matches!(Event::parse(e), Ok(Event::KeygenEnded(k)) if !k.key_set.is_empty())
                })
            })
        })
        .ok_or_else(|| {
            internal(format!(
                "no receipt of block {} ends key generation",
                set.height
            ))
        })?;
    let p = crate::query::receipt_proof(
        store,
        chain_id,
        (set.height, block),
        &receipts,
        index as u32,
    )?;
    Ok(Some(pb::CustodyKeyProof {
        chain_id: p.chain_id,
        set_changes: p.set_changes,
        header: p.header,
        receipt: p.receipt,
        index: p.index,
        path: p.path,
        custody: Some(set),
    }))
}
