//! govchain's types as Malachite's `Context` (`docs/design/bft.md`, "The context"):
//! validators are named by id and vote with power 1, a value is a block hash (the block
//! travels as proposal parts), signatures are SM2, and proposers rotate round robin.

use std::fmt;

use govchain_crypto::{CryptoError, PrivateKey, PublicKey};
use govchain_proof::commit::ValidatorSet;
use govchain_types::Hash;
use malachite_types::{
    self as mt, LinearTimeouts, NilOrVal, Round, SignedExtension, SigningScheme, ValueId, VoteType,
};

/// Malachite's view of govchain.
#[derive(Clone, Debug, Default)]
pub struct Gov;

/// A block height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mt::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0 + n)
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's id (`node1`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorId(pub String);

impl fmt::Display for ValidatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mt::Address for ValidatorId {}

/// What is decided: a block, by its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        govchain_types::HashHex(&self.0).fmt(f)
    }
}

impl mt::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// A proposal of a block for a height and round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Its height.
    pub height: Height,
    /// Its round.
    pub round: Round,
    /// The proposed block.
    pub block: BlockId,
    /// The round the block was locked in before (`Round::Nil`: none).
    pub valid_round: Round,
    /// Who proposes it.
    pub proposer: ValidatorId,
}

impl mt::Proposal<Gov> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockId {
        &self.block
    }

    fn take_value(self) -> BlockId {
        self.block
    }

    fn pol_round(&self) -> Round {
        self.valid_round
    }

    fn validator_address(&self) -> &ValidatorId {
        &self.proposer
    }
}

/// A piece of a proposed block's encoding; the host streams and assembles them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its place in the block, from 0.
    pub index: u32,
    /// Whether it is the block's last part.
    pub last: bool,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl mt::ProposalPart<Gov> for Part {
    fn is_first(&self) -> bool {
        self.index == 0
    }

    fn is_last(&self) -> bool {
        self.last
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Prevote or precommit.
    pub kind: VoteType,
    /// Its height.
    pub height: Height,
    /// Its round.
    pub round: Round,
    /// The block voted for, or nil.
    pub block: NilOrVal<BlockId>,
    /// Who votes.
    pub validator: ValidatorId,
}

impl mt::Vote<Gov> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.block
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.block
    }

    fn vote_type(&self) -> VoteType {
        self.kind
    }

    fn validator_address(&self) -> &ValidatorId {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<Gov>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Gov>> {
        None
    }

    /// Vote extensions are not used: a vote never carries one.
    fn extend(self, _: SignedExtension<Gov>) -> Self {
        self
    }
}

/// Vote extensions are not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoExtension;

impl mt::Extension for NoExtension {
    fn size_bytes(&self) -> usize {
        0
    }
}

/// A voting validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its id.
    pub id: ValidatorId,
    /// Its SM2 key.
    pub key: PublicKey,
}

impl mt::Validator<Gov> for Validator {
    fn address(&self) -> &ValidatorId {
        &self.id
    }

    fn public_key(&self) -> &PublicKey {
        &self.key
    }

    fn voting_power(&self) -> u64 {
        1
    }
}

/// The voting validators of a height, ordered by id: the set a header commits to, as
/// Malachite sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    set: ValidatorSet,
    members: Vec<Validator>,
}

impl Validators {
    /// The set `set` as Malachite sees it.
    pub fn from_set(set: &ValidatorSet) -> Self {
        let members = set
            .ids()
            .map(|id| Validator {
                id: ValidatorId(id.to_string()),
                key: set.key(id).expect("an id of the set").clone(),
            })
            .collect();
        Validators {
            set: set.clone(),
            members,
        }
    }

    /// The set, as verifiers check commit certificates against it.
    pub fn set(&self) -> &ValidatorSet {
        &self.set
    }
}

impl mt::ValidatorSet<Gov> for Validators {
    fn count(&self) -> usize {
        self.members.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.members.len() as u64
    }

    fn get_by_address(&self, id: &ValidatorId) -> Option<&Validator> {
        self.members
            .binary_search_by(|v| v.id.cmp(id))
            .ok()
            .map(|i| &self.members[i])
    }

    fn get_by_index(&self, i: usize) -> Option<&Validator> {
        self.members.get(i)
    }
}

/// An SM2 signature, raw `r‖s` (ordered by its bytes, as Malachite needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sm2Signature(pub [u8; 64]);

/// SM2 with SM3 and the default user ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sm2;

impl SigningScheme for Sm2 {
    type DecodingError = CryptoError;
    type Signature = Sm2Signature;
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Sm2Signature, CryptoError> {
        govchain_crypto::Signature::from_slice(bytes).map(|s| Sm2Signature(s.to_bytes()))
    }

    fn encode_signature(signature: &Sm2Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        PublicKey::from_sec1(bytes)
    }

    fn encode_public_key(key: &PublicKey) -> Vec<u8> {
        key.to_sec1()
    }
}

impl mt::Context for Gov {
    type Address = ValidatorId;
    type Height = Height;
    type ProposalPart = Part;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = Validators;
    type Timeouts = LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = NoExtension;
    type SigningScheme = Sm2;

    /// Round robin over the set ordered by id: validator `(height + round) mod n`.
    fn select_proposer<'a>(
        &self,
        set: &'a Validators,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let round = u64::from(round.as_u32().unwrap_or(0));
        let n = set.members.len() as u64;
        &set.members[((height.0 % n + round % n) % n) as usize]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        block: BlockId,
        valid_round: Round,
        proposer: ValidatorId,
    ) -> Proposal {
        Proposal {
            height,
            round,
            block,
            valid_round,
            proposer,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        block: NilOrVal<ValueId<Self>>,
        validator: ValidatorId,
    ) -> Vote {
        Vote {
            kind: VoteType::Prevote,
            height,
            round,
            block,
            validator,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        block: NilOrVal<ValueId<Self>>,
        validator: ValidatorId,
    ) -> Vote {
        Vote {
            kind: VoteType::Precommit,
            height,
            round,
            block,
            validator,
        }
    }
}
