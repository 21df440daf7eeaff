//! What decides a block under Byzantine fault tolerant ordering (`docs/design/bft.md`),
//! checked from validator keys alone: the bytes a validator signs for a vote or a
//! proposal, the validator set a header commits to, and the commit certificate, the
//! precommits of more than 2/3 of that set for one block.

use std::collections::BTreeSet;

use govchain_crypto::{PublicKey, Signature, sm3};
use govchain_types::pb;

/// Domain of a vote's signing bytes.
const VOTE_DOMAIN: &[u8] = b"govchain-vote-v1\0";
/// Domain of a block proposal's signing bytes.
const PROPOSAL_DOMAIN: &[u8] = b"govchain-proposal-v1\0";

/// Why a validator set or a commit certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The validator set is empty, names a validator twice or holds a bad key.
    #[error("invalid validator set: {0}")]
    InvalidSet(String),
    /// The certificate is for another height or block.
    #[error("the commit certificate is for {what}, not for {expected}")]
    Mismatch {
        /// What the certificate names.
        what: String,
        /// What it was checked for.
        expected: String,
    },
    /// A signature is not a precommit of a validator of the set.
    #[error("block {height}: {reason}")]
    BadSignature {
        /// Height of the block.
        height: u64,
        /// What is wrong, naming the validator.
        reason: String,
    },
    /// Fewer precommits than more than 2/3 of the set.
    #[error(
        "block {height}: {signed} of {set} validators signed its commit certificate; more than 2/3 ({needed}) must"
    )]
    NoQuorum {
        /// Height of the block.
        height: u64,
        /// Valid precommits.
        signed: usize,
        /// Validators in the set.
        set: usize,
        /// Precommits needed.
        needed: usize,
    },
}

/// The voting validators in force at a height, ordered by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    members: Vec<(String, PublicKey)>,
}

impl ValidatorSet {
    /// A set of `(id, key)`; refused if empty or if an id appears twice.
    pub fn new(
        members: impl IntoIterator<Item = (String, PublicKey)>,
    ) -> Result<Self, CommitError> {
        let mut members: Vec<(String, PublicKey)> = members.into_iter().collect();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        if members.is_empty() {
            return Err(CommitError::InvalidSet("no voting validator".into()));
        }
        if let Some(w) = members.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(CommitError::InvalidSet(format!(
                "validator '{}' appears twice",
                w[0].0
            )));
        }
        Ok(ValidatorSet { members })
    }

    /// The set as headers and export files carry it.
    pub fn from_pb(set: &pb::ValidatorSet) -> Result<Self, CommitError> {
        let members = set
            .validators
            .iter()
            .map(|v| {
                PublicKey::from_sec1(&v.public_key)
                    .map(|k| (v.id.clone(), k))
                    .map_err(|e| CommitError::InvalidSet(format!("key of '{}': {e}", v.id)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(members)
    }

    /// Its encoding, ordered by id.
    pub fn to_pb(&self) -> pb::ValidatorSet {
        pb::ValidatorSet {
            validators: self
                .members
                .iter()
                .map(|(id, key)| pb::ValidatorKey {
                    id: id.clone(),
                    public_key: key.to_sec1(),
                })
                .collect(),
        }
    }

    /// SM3 of its encoding: what a header's `validators_hash` holds.
    pub fn hash(&self) -> [u8; 32] {
        sm3(&govchain_types::encode(&self.to_pb()))
    }

    /// How many validators it has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a set has at least one validator.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Precommits a decision needs: more than 2/3 of the set.
    pub fn quorum(&self) -> usize {
        self.members.len() * 2 / 3 + 1
    }

    /// The key of validator `id`, if it is in the set.
    pub fn key(&self, id: &str) -> Option<&PublicKey> {
        self.members
            .binary_search_by(|(m, _)| m.as_str().cmp(id))
            .ok()
            .map(|i| &self.members[i].1)
    }

    /// The validators' ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(id, _)| id.as_str())
    }
}

/// The bytes validator `validator` signs for a vote of `kind` at `height` and `round`
/// for `block_hash` (empty: nil) on chain `chain_id`.
pub fn vote_bytes(
    chain_id: &str,
    height: u64,
    round: u32,
    kind: pb::VoteKind,
    block_hash: &[u8],
    validator: &str,
) -> Vec<u8> {
    let vote = pb::ConsensusVote {
        chain_id: chain_id.into(),
        height,
        round,
        kind: kind as i32,
        block_hash: block_hash.to_vec(),
        validator: validator.into(),
    };
    [VOTE_DOMAIN, &govchain_types::encode(&vote)].concat()
}

/// The bytes a proposer signs for proposing `block_hash` at `height` and `round` (with
/// `valid_round`, or none) on chain `chain_id`.
pub fn proposal_bytes(
    chain_id: &str,
    height: u64,
    round: u32,
    valid_round: Option<u32>,
    block_hash: &[u8],
    proposer: &str,
) -> Vec<u8> {
    let mut out = PROPOSAL_DOMAIN.to_vec();
    for field in [chain_id.as_bytes(), block_hash, proposer.as_bytes()] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    // u32::MAX + 1 cannot be a round: "none" is 2^32.
    out.extend_from_slice(&valid_round.map_or(1u64 << 32, u64::from).to_be_bytes());
    out
}

/// Checks that `cert` decides block `block_hash` at `height` on chain `chain_id`: every
/// signature is a valid SM2 precommit for that block of a distinct validator of `set`,
/// and they are more than 2/3 of `set`. Returns how many signed.
///
/// A certificate carrying any signature that is not such a precommit is refused, even if
/// the others would be enough: an honest node only assembles verified votes.
pub fn verify_commit(
    chain_id: &str,
    set: &ValidatorSet,
    height: u64,
    block_hash: &[u8],
    cert: &pb::CommitCertificate,
) -> Result<usize, CommitError> {
    if cert.height != height || cert.block_hash != block_hash {
        return Err(CommitError::Mismatch {
            what: format!("block {} ({})", cert.height, hex::encode(&cert.block_hash)),
            expected: format!("block {height} ({})", hex::encode(block_hash)),
        });
    }
    let bad = |reason: String| CommitError::BadSignature { height, reason };
    let mut signers = BTreeSet::new();
    for s in &cert.signatures {
        let key = set.key(&s.validator).ok_or_else(|| {
            bad(format!(
                "'{}' signed, but is not a voting validator at this height",
                s.validator
            ))
        })?;
        if !signers.insert(s.validator.as_str()) {
            return Err(bad(format!("'{}' signed twice", s.validator)));
        }
        let bytes = vote_bytes(
            chain_id,
            height,
            cert.round,
            pb::VoteKind::Precommit,
            block_hash,
            &s.validator,
        );
        Signature::from_slice(&s.signature)
            .and_then(|sig| key.verify(&bytes, &sig))
            .map_err(|_| {
                bad(format!(
                    "the precommit signature of '{}' does not verify",
                    s.validator
                ))
            })?;
    }
    if signers.len() < set.quorum() {
        return Err(CommitError::NoQuorum {
            height,
            signed: signers.len(),
            set: set.len(),
            needed: set.quorum(),
        });
    }
    Ok(signers.len())
}

#[cfg(test)]
mod tests {
    //! A certificate is refused whenever f or fewer validators, or anyone else, made it.

    use govchain_crypto::PrivateKey;

    use super::*;

    const CHAIN: &str = "chain";

    fn keys(n: usize) -> Vec<(String, PrivateKey)> {
        (1..=n)
            .map(|i| (format!("node{i}"), PrivateKey::generate()))
            .collect()
    }

    fn set(keys: &[(String, PrivateKey)]) -> ValidatorSet {
        ValidatorSet::new(keys.iter().map(|(id, k)| (id.clone(), k.public_key()))).unwrap()
    }

    /// A certificate for `hash` at height 7, round 1, signed by `signers`.
    fn cert(signers: &[&(String, PrivateKey)], hash: &[u8]) -> pb::CommitCertificate {
        pb::CommitCertificate {
            height: 7,
            round: 1,
            block_hash: hash.to_vec(),
            signatures: signers
                .iter()
                .map(|(id, k)| pb::CommitSignature {
                    validator: id.clone(),
                    signature: k
                        .sign(&vote_bytes(CHAIN, 7, 1, pb::VoteKind::Precommit, hash, id))
                        .to_bytes()
                        .to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn more_than_two_thirds_decide() {
        let k = keys(4);
        let c = cert(&[&k[0], &k[2], &k[3]], &[9; 32]);
        assert_eq!(verify_commit(CHAIN, &set(&k), 7, &[9; 32], &c), Ok(3));
        assert_eq!(set(&k).quorum(), 3);
        assert_eq!(set(&k[..1]).quorum(), 1);
        assert_eq!(set(&keys(7)).quorum(), 5);
    }

    #[test]
    fn one_validator_of_four_decides_nothing() {
        let k = keys(4);
        for signers in [vec![&k[1]], vec![&k[0], &k[1]]] {
            let c = cert(&signers, &[9; 32]);
            let e = verify_commit(CHAIN, &set(&k), 7, &[9; 32], &c).unwrap_err();
            assert!(matches!(e, CommitError::NoQuorum { needed: 3, .. }), "{e}");
        }
    }

    #[test]
    fn a_signature_counted_twice_or_by_an_outsider_is_refused() {
        let k = keys(4);
        let c = cert(&[&k[0], &k[1], &k[1]], &[9; 32]);
        let e = verify_commit(CHAIN, &set(&k), 7, &[9; 32], &c).unwrap_err();
        assert!(e.to_string().contains("'node2' signed twice"), "{e}");
        let removed = (String::from("node9"), PrivateKey::generate());
        let c = cert(&[&k[0], &k[1], &removed], &[9; 32]);
        let e = verify_commit(CHAIN, &set(&k), 7, &[9; 32], &c).unwrap_err();
        assert!(e.to_string().contains("'node9' signed, but is not"), "{e}");
    }

    #[test]
    fn precommits_for_another_block_chain_round_or_kind_do_not_verify() {
        let k = keys(4);
        let mut c = cert(&[&k[0], &k[1], &k[2]], &[9; 32]);
        // Relabelled to another block: the signed bytes named the first.
        c.block_hash = vec![8; 32];
        assert!(matches!(
            verify_commit(CHAIN, &set(&k), 7, &[8; 32], &c),
            Err(CommitError::BadSignature { .. })
        ));
        let c = cert(&[&k[0], &k[1], &k[2]], &[9; 32]);
        assert!(verify_commit("other", &set(&k), 7, &[9; 32], &c).is_err());
        let mut moved = c.clone();
        moved.round = 2;
        assert!(verify_commit(CHAIN, &set(&k), 7, &[9; 32], &moved).is_err());
        assert!(matches!(
            verify_commit(CHAIN, &set(&k), 8, &[9; 32], &c),
            Err(CommitError::Mismatch { .. })
        ));
        // Prevotes are not precommits.
        let mut prevotes = c.clone();
        for (s, (id, key)) in prevotes.signatures.iter_mut().zip(&k) {
            let bytes = vote_bytes(CHAIN, 7, 1, pb::VoteKind::Prevote, &[9; 32], id);
            s.signature = key.sign(&bytes).to_bytes().to_vec();
        }
        assert!(verify_commit(CHAIN, &set(&k), 7, &[9; 32], &prevotes).is_err());
    }

    #[test]
    fn a_set_names_each_validator_once_and_hashes_in_id_order() {
        let k = keys(3);
        let forward = set(&k);
        let reversed =
            ValidatorSet::new(k.iter().rev().map(|(id, k)| (id.clone(), k.public_key()))).unwrap();
        assert_eq!(forward.hash(), reversed.hash());
        assert_eq!(ValidatorSet::from_pb(&forward.to_pb()).unwrap(), forward);
        let twice = [k[0].clone(), k[0].clone()];
        assert!(
            ValidatorSet::new(twice.iter().map(|(id, k)| (id.clone(), k.public_key()))).is_err()
        );
        assert!(ValidatorSet::new(Vec::new()).is_err());
    }

    #[test]
    fn proposal_bytes_tell_no_valid_round_from_any_round() {
        let none = proposal_bytes(CHAIN, 7, 1, None, &[9; 32], "node1");
        assert_ne!(
            none,
            proposal_bytes(CHAIN, 7, 1, Some(0), &[9; 32], "node1")
        );
        assert_ne!(
            none,
            proposal_bytes(CHAIN, 7, 1, Some(u32::MAX), &[9; 32], "node1")
        );
        assert_ne!(
            none,
            vote_bytes(CHAIN, 7, 1, pb::VoteKind::Precommit, &[9; 32], "node1")
        );
    }
}
