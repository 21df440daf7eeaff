//! Light verification (`docs/design/bft.md`, step 4): a verifier holding only the genesis
//! document accepts a block header only with a commit certificate of the voting
//! validator set in force at its height. That set is walked from genesis: each change is
//! proven by the header of the block that made it (its `next_validators_hash` commits to
//! the new set), certified by the set before it. One validator key (a proposer's
//! signature, a removed validator's votes) proves nothing on its own.

use govchain_crypto::{PublicKey, Signature, sm3};
use govchain_types::{decode, pb};
use serde::{Deserialize, Serialize};

use crate::commit::{ValidatorSet, verify_commit};
use crate::{AnchorValidator, TrustAnchor};

/// A block header with what decided it, as export files carry it (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedHeader {
    /// Height.
    pub height: u64,
    /// The header's protobuf encoding, hex (its SM3 is the block hash).
    pub header: String,
    /// Proposer's SM2 signature over it, raw r || s, hex.
    pub signature: String,
    /// The precommits that decided the block; absent where the block has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<ExportedCommit>,
}

/// A commit certificate: the round, and each precommit's validator and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedCommit {
    /// Round the block was decided in.
    pub round: u32,
    /// The precommits.
    pub signatures: Vec<ExportedPrecommit>,
}

/// One validator's precommit signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedPrecommit {
    /// Validator id.
    pub validator: String,
    /// SM2 signature over `govchain_proof::commit::vote_bytes`, raw r || s, hex.
    pub signature: String,
}

/// A change of the voting validator set: the block after which `validators` vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedSetChange {
    /// That block's header; its `next_validators_hash` is SM3 of the new set.
    pub header: ExportedHeader,
    /// The voting validators from the next height on.
    pub validators: Vec<AnchorValidator>,
}

impl ExportedHeader {
    /// The header of `h` as exported.
    pub fn from_pb(h: &pb::SignedHeader) -> Result<Self, String> {
        let header: pb::BlockHeader =
            decode("block header", &h.header).map_err(|e| e.to_string())?;
        Ok(ExportedHeader {
            height: header.height,
            header: hex::encode(&h.header),
            signature: hex::encode(&h.signature),
            commit: h.commit.as_ref().map(|c| ExportedCommit {
                round: c.round,
                signatures: c
                    .signatures
                    .iter()
                    .map(|s| ExportedPrecommit {
                        validator: s.validator.clone(),
                        signature: hex::encode(&s.signature),
                    })
                    .collect(),
            }),
        })
    }
}

impl ExportedSetChange {
    /// A set change as exported.
    pub fn from_pb(c: &pb::ValidatorSetChange) -> Result<Self, String> {
        let header = c.header.as_ref().ok_or("a set change without its header")?;
        let next = c.next.as_ref().ok_or("a set change without its set")?;
        Ok(ExportedSetChange {
            header: ExportedHeader::from_pb(header)?,
            validators: next
                .validators
                .iter()
                .map(|v| AnchorValidator {
                    id: v.id.clone(),
                    public_key: hex::encode(&v.public_key),
                    observer: false,
                })
                .collect(),
        })
    }
}

/// The voting validator sets of a chain as a verifier learns them: from genesis, then
/// through each proven change.
#[derive(Debug, Clone)]
pub struct SetWalk {
    chain_id: String,
    /// (first height it is in force at, the set), in height order.
    sets: Vec<(u64, ValidatorSet)>,
}

/// The voting validators of `validators` (observers left out).
fn voting(validators: &[AnchorValidator]) -> Result<ValidatorSet, String> {
    let members = validators
        .iter()
        .filter(|v| !v.observer)
        .map(|v| {
            let key = hex::decode(&v.public_key)
                .map_err(|e| e.to_string())
                .and_then(|k| PublicKey::from_sec1(&k).map_err(|e| e.to_string()))
                .map_err(|e| format!("the key of validator '{}': {e}", v.id))?;
            Ok((v.id.clone(), key))
        })
        .collect::<Result<Vec<_>, String>>()?;
    ValidatorSet::new(members).map_err(|e| e.to_string())
}

impl SetWalk {
    /// The walk at genesis: its voting validators are in force from height 1.
    pub fn from_genesis(anchor: &TrustAnchor) -> Result<Self, String> {
        Ok(SetWalk {
            chain_id: anchor.chain_id.clone(),
            sets: vec![(
                1,
                voting(&anchor.validators).map_err(|e| format!("genesis: {e}"))?,
            )],
        })
    }

    /// The set in force at `height`.
    pub fn set_at(&self, height: u64) -> &ValidatorSet {
        let i = self.sets.partition_point(|(from, _)| *from <= height);
        &self.sets[i.saturating_sub(1)].1
    }

    /// Takes in the next change (changes come in height order): its header must check
    /// against the set in force at its height and commit to the new set.
    pub fn apply(&mut self, change: &ExportedSetChange) -> Result<(), String> {
        let h = &change.header;
        let last = self.sets.last().map_or(1, |(from, _)| *from);
        if h.height < last {
            return Err(format!(
                "set change at height {}: changes must come in height order",
                h.height
            ));
        }
        let header = self.check(h)?;
        let next = voting(&change.validators)
            .map_err(|e| format!("set change at height {}: {e}", h.height))?;
        if header.next_validators_hash != next.hash() {
            return Err(format!(
                "set change at height {}: the set given is not the one its header commits to",
                h.height
            ));
        }
        self.sets.push((h.height + 1, next));
        Ok(())
    }

    /// Checks `h` and returns it decoded: its chain and height, the validator set it
    /// names being the one in force, its proposer's signature, and its commit
    /// certificate (precommits of more than 2/3 of that set for its hash).
    pub fn check(&self, h: &ExportedHeader) -> Result<pb::BlockHeader, String> {
        let at = h.height;
        let bytes = hex::decode(&h.header).map_err(|e| format!("header {at}: {e}"))?;
        let header: pb::BlockHeader =
            decode("block header", &bytes).map_err(|e| format!("header {at}: {e}"))?;
        if header.height != at || header.chain_id != self.chain_id {
            return Err(format!("header {at}: height or chain id does not match"));
        }
        let set = self.set_at(at);
        if header.validators_hash != set.hash() {
            return Err(format!(
                "header {at}: it names a validator set other than the one in force at its height (genesis and the set changes given): a change is missing, or the header is not the chain's"
            ));
        }
        let key = set.key(&header.proposer).ok_or_else(|| {
            format!(
                "header {at}: proposer '{}' is not a voting validator at this height",
                header.proposer
            )
        })?;
        let sig = hex::decode(&h.signature)
            .ok()
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or_else(|| format!("header {at}: signature is not 64 bytes of hex"))?;
        key.verify(&bytes, &sig).map_err(|_| {
            format!(
                "header {at}: signature of '{}' does not verify",
                header.proposer
            )
        })?;
        let commit = h.commit.as_ref().ok_or_else(|| {
            format!(
                "header {at}: no commit certificate; a header is evidence only with the precommits of more than 2/3 of the validators"
            )
        })?;
        let hash = sm3(&bytes);
        let cert = pb::CommitCertificate {
            height: at,
            round: commit.round,
            block_hash: hash.to_vec(),
            signatures: commit
                .signatures
                .iter()
                .map(|s| {
                    Ok(pb::CommitSignature {
                        validator: s.validator.clone(),
                        signature: hex::decode(&s.signature).map_err(|e| {
                            format!("header {at}: precommit of '{}': {e}", s.validator)
                        })?,
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        verify_commit(&self.chain_id, set, at, &hash, &cert)
            .map_err(|e| format!("header {at}: {e}"))?;
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use govchain_crypto::PrivateKey;

    use super::*;
    use crate::commit::vote_bytes;

    const CHAIN: &str = "light-test";

    struct Keys(Vec<(String, PrivateKey)>);

    impl Keys {
        fn new(n: usize) -> Self {
            Keys(
                (1..=n)
                    .map(|i| (format!("node{i}"), PrivateKey::generate()))
                    .collect(),
            )
        }
        fn key(&self, id: &str) -> &PrivateKey {
            &self.0.iter().find(|(i, _)| i == id).unwrap().1
        }
        fn anchor(&self, ids: &[&str]) -> Vec<AnchorValidator> {
            ids.iter()
                .map(|id| AnchorValidator {
                    id: (*id).into(),
                    public_key: hex::encode(self.key(id).public_key().to_sec1()),
                    observer: false,
                })
                .collect()
        }
        fn set(&self, ids: &[&str]) -> ValidatorSet {
            voting(&self.anchor(ids)).unwrap()
        }
        /// Header `height` naming `set` (and `next`), proposed by `ids[0]`, with the
        /// precommits of `signers`.
        fn header(
            &self,
            height: u64,
            set: &[&str],
            next: &[&str],
            signers: &[&str],
        ) -> ExportedHeader {
            let h = pb::BlockHeader {
                chain_id: CHAIN.into(),
                height,
                proposer: set[0].into(),
                validators_hash: self.set(set).hash().to_vec(),
                next_validators_hash: self.set(next).hash().to_vec(),
                ..Default::default()
            };
            let bytes = govchain_types::encode(&h);
            let hash = sm3(&bytes);
            ExportedHeader {
                height,
                header: hex::encode(&bytes),
                signature: hex::encode(self.key(set[0]).sign(&bytes).to_bytes()),
                commit: Some(ExportedCommit {
                    round: 0,
                    signatures: signers
                        .iter()
                        .map(|id| ExportedPrecommit {
                            validator: (*id).into(),
                            signature: hex::encode(
                                self.key(id)
                                    .sign(&vote_bytes(
                                        CHAIN,
                                        height,
                                        0,
                                        pb::VoteKind::Precommit,
                                        &hash,
                                        id,
                                    ))
                                    .to_bytes(),
                            ),
                        })
                        .collect(),
                }),
            }
        }
        fn walk(&self, genesis: &[&str]) -> SetWalk {
            SetWalk::from_genesis(&TrustAnchor {
                chain_id: CHAIN.into(),
                validators: self.anchor(genesis),
            })
            .unwrap()
        }
    }

    const FOUR: [&str; 4] = ["node1", "node2", "node3", "node4"];

    #[test]
    fn a_header_decided_by_more_than_two_thirds_of_the_set_in_force_verifies() {
        let k = Keys::new(4);
        let walk = k.walk(&FOUR);
        let h = k.header(3, &FOUR, &FOUR, &["node1", "node2", "node3"]);
        assert_eq!(walk.check(&h).unwrap().height, 3);
    }

    #[test]
    fn one_validator_key_proves_nothing() {
        let k = Keys::new(4);
        let walk = k.walk(&FOUR);
        // Signed by its proposer and certified by it alone (the H7 forgery).
        let alone = k.header(3, &FOUR, &FOUR, &["node1"]);
        let e = walk.check(&alone).unwrap_err();
        assert!(e.contains("more than 2/3 (3) must"), "{e}");
        // A proposer's signature without a certificate.
        let mut bare = k.header(3, &FOUR, &FOUR, &[]);
        bare.commit = None;
        let e = walk.check(&bare).unwrap_err();
        assert!(e.contains("no commit certificate"), "{e}");
        // Two real precommits and one repeated.
        let twice = k.header(3, &FOUR, &FOUR, &["node1", "node2", "node2"]);
        assert!(walk.check(&twice).unwrap_err().contains("signed twice"));
    }

    #[test]
    fn a_removed_validator_counts_for_nothing_after_its_removal() {
        let k = Keys::new(5);
        let three = ["node1", "node2", "node3"];
        let mut walk = k.walk(&FOUR);
        // Block 2 removes node4; its header, certified by the four, commits to the three.
        let change = ExportedSetChange {
            header: k.header(2, &FOUR, &three, &["node1", "node2", "node4"]),
            validators: k.anchor(&three),
        };
        walk.apply(&change).unwrap();
        // From block 3 on, the three decide.
        assert!(
            walk.check(&k.header(5, &three, &three, &["node1", "node2", "node3"]))
                .is_ok()
        );
        // node4's precommit no longer counts: it is not a voting validator at 5.
        let e = walk
            .check(&k.header(5, &three, &three, &["node1", "node2", "node4"]))
            .unwrap_err();
        assert!(
            e.contains("'node4' signed, but is not a voting validator"),
            "{e}"
        );
        // A header that still names the old set (a fork of the removed set) is refused.
        let e = walk
            .check(&k.header(5, &FOUR, &FOUR, &["node1", "node2", "node4"]))
            .unwrap_err();
        assert!(e.contains("other than the one in force"), "{e}");
        // Without the change, the three's header is refused: the walk needs every change.
        let e = k
            .walk(&FOUR)
            .check(&k.header(5, &three, &three, &three))
            .unwrap_err();
        assert!(e.contains("a change is missing"), "{e}");
    }

    #[test]
    fn a_set_change_must_be_certified_and_be_the_set_its_header_commits_to() {
        let k = Keys::new(5);
        let with5 = ["node1", "node2", "node3", "node5"];
        // The header commits to {1,2,3,5}; the change claims node4 stays.
        let lying = ExportedSetChange {
            header: k.header(2, &FOUR, &with5, &["node1", "node2", "node3"]),
            validators: k.anchor(&FOUR),
        };
        let e = k.walk(&FOUR).apply(&lying).unwrap_err();
        assert!(e.contains("not the one its header commits to"), "{e}");
        // node5, an outsider, cannot vote itself in: one precommit is no certificate.
        let self_made = ExportedSetChange {
            header: k.header(2, &FOUR, &with5, &["node1"]),
            validators: k.anchor(&with5),
        };
        assert!(k.walk(&FOUR).apply(&self_made).is_err());
        // A proper change admits node5's precommits from block 3 on.
        let mut walk = k.walk(&FOUR);
        walk.apply(&ExportedSetChange {
            header: k.header(2, &FOUR, &with5, &["node1", "node2", "node3"]),
            validators: k.anchor(&with5),
        })
        .unwrap();
        assert!(
            walk.check(&k.header(3, &with5, &with5, &["node5", "node2", "node3"]))
                .is_ok()
        );
    }
}
