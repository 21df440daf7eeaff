//! Key generation without a dealer, in the encodings the chain carries
//! (`docs/design/threshold-sm2.md`): a validator's dealing (Feldman commitments and one
//! sub-share per holder, SM2-encrypted to the holder's custody key), the holder's check
//! of its sub-share (the ground of a complaint), the dealer's answer to a complaint (the
//! sub-share in the clear), and the key set and shares over the qualified dealers.
//!
//! A dealer's polynomial and the randomness of its encryptions are derived from its
//! custody key and the round ([`PrivateKey::derive_secret`]), so a validator that
//! restarts deals, and answers for, the same polynomial without having kept it.

use govchain_crypto::threshold::{self, dkg};
use govchain_crypto::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::{CustodyError, KeySet, POINT_LEN, Result, SECRET_LEN, SecretShare};

/// One validator's dealing as a transaction carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// `threshold` commitments `a_k·G`, SEC1 uncompressed, lowest degree first.
    pub commitments: Vec<Vec<u8>>,
    /// One per holder, in the order of the holders given: the holder's sub-share
    /// SM2-encrypted (DER `SM2Cipher`) to its custody key.
    pub sub_shares: Vec<Vec<u8>>,
}

fn bad(reason: impl Into<String>) -> CustodyError {
    CustodyError::BadDeal(reason.into())
}

fn derivation(what: &str, chain_id: &str, round: u64, holder: u32) -> Vec<u8> {
    let mut out = b"govchain-keygen-v1\0".to_vec();
    out.extend_from_slice(what.as_bytes());
    out.push(0);
    out.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    out.extend_from_slice(chain_id.as_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    out.extend_from_slice(&holder.to_be_bytes());
    out
}

/// What a validator deals in a round: a fresh secret (key generation) or its current
/// share (a resharing, which must leave the key unchanged).
#[derive(Debug, Clone, Copy)]
pub enum Dealt<'a> {
    /// Key generation: a fresh polynomial.
    Fresh,
    /// Resharing: a polynomial whose constant is this share.
    Share(&'a SecretShare),
}

fn dealing(
    key: &PrivateKey,
    chain_id: &str,
    round: u64,
    threshold: u32,
    dealt: Dealt<'_>,
) -> Result<dkg::Dealing> {
    let seed = key.derive_secret(&derivation("polynomial", chain_id, round, 0));
    match dealt {
        Dealt::Fresh => dkg::Dealing::seeded(threshold, &seed),
        Dealt::Share(share) => dkg::Dealing::reshare(&share.0, threshold, &seed),
    }
    .map_err(|e| bad(e.to_string()))
}

/// The dealing of the validator whose custody key is `key` in round `round`, for
/// `holders` (share number and custody key, SEC1). The same key, round and share
/// always deal the same polynomial.
pub fn deal(
    key: &PrivateKey,
    chain_id: &str,
    round: u64,
    threshold: u32,
    dealt: Dealt<'_>,
    holders: &[(u32, Vec<u8>)],
) -> Result<Deal> {
    let d = dealing(key, chain_id, round, threshold, dealt)?;
    let sub_shares = holders
        .iter()
        .map(|(number, holder_key)| {
            let to = PublicKey::from_sec1(holder_key)
                .map_err(|e| bad(format!("holder {number}'s custody key: {e}")))?;
            let s = d.sub_share(*number).map_err(|e| bad(e.to_string()))?;
            let seed = key.derive_secret(&derivation("encrypt", chain_id, round, *number));
            Ok(to.encrypt_with_seed(&s[..], &seed))
        })
        .collect::<Result<_>>()?;
    Ok(Deal {
        commitments: d.commitments().to_bytes(),
        sub_shares,
    })
}

/// The dealer's answer to holder `holder`'s complaint: its sub-share in the clear.
pub fn answer(
    key: &PrivateKey,
    chain_id: &str,
    round: u64,
    threshold: u32,
    dealt: Dealt<'_>,
    holder: u32,
) -> Result<Zeroizing<[u8; SECRET_LEN]>> {
    dealing(key, chain_id, round, threshold, dealt)?
        .sub_share(holder)
        .map_err(|e| bad(e.to_string()))
}

/// Execution's check of a dealing's shape: `threshold` points on the curve and one
/// SM2 ciphertext of a 32-byte message per holder. (Whether a sub-share is right only
/// its holder can tell; it complains.)
pub fn check_deal(threshold: u32, holders: usize, deal: &Deal) -> Result<()> {
    if deal.commitments.len() != threshold as usize {
        return Err(bad(format!(
            "{} commitments for a threshold of {threshold}",
            deal.commitments.len()
        )));
    }
    if let Some(p) = deal.commitments.iter().position(|c| c.len() != POINT_LEN) {
        return Err(bad(format!(
            "commitment {p} is not a {POINT_LEN}-byte point"
        )));
    }
    dkg::Commitments::parse(&deal.commitments).map_err(|e| bad(e.to_string()))?;
    if deal.sub_shares.len() != holders {
        return Err(bad(format!(
            "{} sub-shares for {holders} holders",
            deal.sub_shares.len()
        )));
    }
    for (i, c) in deal.sub_shares.iter().enumerate() {
        let e =
            threshold::Envelope::parse(c).map_err(|e| bad(format!("sub-share {}: {e}", i + 1)))?;
        if e.message_len() != SECRET_LEN {
            return Err(bad(format!(
                "sub-share {} encrypts {} bytes, not {SECRET_LEN}",
                i + 1,
                e.message_len()
            )));
        }
    }
    Ok(())
}

/// Holder `holder`'s sub-share from a dealing: decrypted with its custody key `key`
/// and checked against the dealer's commitments. An error is the holder's ground to
/// complain against the dealer.
pub fn open_sub_share(
    key: &PrivateKey,
    holder: u32,
    commitments: &[Vec<u8>],
    ciphertext: &[u8],
) -> Result<Zeroizing<[u8; SECRET_LEN]>> {
    let plain = Zeroizing::new(
        key.decrypt(ciphertext)
            .map_err(|_| bad("the sub-share does not decrypt with this holder's custody key"))?,
    );
    let sub: [u8; SECRET_LEN] = plain[..]
        .try_into()
        .map_err(|_| bad(format!("the sub-share is {} bytes", plain.len())))?;
    let sub = Zeroizing::new(sub);
    check_answer(commitments, holder, &sub[..])?;
    Ok(sub)
}

/// Checks a sub-share revealed in the clear (a dealer's answer) against the dealer's
/// commitments.
pub fn check_answer(commitments: &[Vec<u8>], holder: u32, sub_share: &[u8]) -> Result<()> {
    dkg::Commitments::parse(commitments)
        .and_then(|c| c.verify_sub_share(holder, sub_share))
        .map_err(|e| bad(e.to_string()))
}

/// The key set of the qualified dealers' commitments (the joint polynomial's): its
/// first point is the custody public key.
pub fn key_set(qualified: &[&[Vec<u8>]]) -> Result<KeySet> {
    let parsed = qualified
        .iter()
        .map(|c| dkg::Commitments::parse(c))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let refs: Vec<&dkg::Commitments> = parsed.iter().collect();
    dkg::combine(&refs)
        .map(KeySet::new)
        .map_err(|e| CustodyError::BadKeySet(e.to_string()))
}

/// A resharing's key set: the Lagrange combination over the qualified old holders
/// `(share number, commitments)` of their commitments. Its public key equals the old
/// one when each dealer's first commitment is its old public share (execution checks
/// both).
pub fn reshared_key_set(qualified: &[(u32, &[Vec<u8>])]) -> Result<KeySet> {
    let parsed = qualified
        .iter()
        .map(|(n, c)| dkg::Commitments::parse(c).map(|c| (*n, c)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let refs: Vec<(u32, &dkg::Commitments)> = parsed.iter().map(|(n, c)| (*n, c)).collect();
    dkg::reshared_commitments(&refs)
        .map(KeySet::new)
        .map_err(|e| CustodyError::BadKeySet(e.to_string()))
}

/// Holder `holder`'s share: the sum of the sub-shares the qualified dealers `(share
/// number, sub-share)` sent it, weighted by their Lagrange coefficients in a resharing.
pub fn share(holder: u32, sub_shares: &[(u32, &[u8])], reshared: bool) -> Result<SecretShare> {
    if reshared {
        dkg::reshared_share(holder, sub_shares)
    } else {
        let subs: Vec<&[u8]> = sub_shares.iter().map(|(_, s)| *s).collect();
        dkg::share_from(holder, &subs)
    }
    .map(SecretShare)
    .map_err(|e| CustodyError::BadSecret(e.to_string()))
}
