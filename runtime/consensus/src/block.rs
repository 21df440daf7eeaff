//! Building, signing and checking blocks.

use govchain_crypto::{PublicKey, Signature, Sm2Signer, sm3};
use govchain_proof::commit::vote_bytes;
use govchain_types::{Hash, HashHex, decode, pb};

use crate::{ConsensusError, Result};

/// A block with its decoded header and hash.
#[derive(Debug, Clone)]
pub struct SealedBlock {
    /// The block as stored.
    pub block: pb::Block,
    /// Its decoded header.
    pub header: pb::BlockHeader,
    /// SM3 of the encoded header.
    pub hash: Hash,
}

impl SealedBlock {
    /// Encodes and signs `header`, with `txs`.
    pub fn seal(
        header: pb::BlockHeader,
        txs: Vec<pb::SignedTx>,
        key: Option<&dyn Sm2Signer>,
    ) -> Self {
        let bytes = govchain_types::encode(&header);
        let signature = key
            .map(|k| k.sign(&bytes).to_bytes().to_vec())
            .unwrap_or_default();
        SealedBlock {
            hash: sm3(&bytes),
            block: pb::Block {
                header: bytes,
                signature,
                txs,
                commit: None,
            },
            header,
        }
    }

    /// Decodes a stored block.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        let block: pb::Block =
            decode("block", raw).map_err(|e| ConsensusError::Corrupt(e.to_string()))?;
        let header: pb::BlockHeader = decode("block header", &block.header)
            .map_err(|e| ConsensusError::Corrupt(e.to_string()))?;
        Ok(SealedBlock {
            hash: sm3(&block.header),
            block,
            header,
        })
    }

    /// Checks the proposer's signature against the given validator key.
    pub fn verify_signature(&self, proposer_key: &[u8]) -> Result<()> {
        let bad = |why: String| {
            ConsensusError::Corrupt(format!(
                "block {} ({}): {why}",
                self.header.height,
                HashHex(&self.hash)
            ))
        };
        let key =
            PublicKey::from_sec1(proposer_key).map_err(|e| bad(format!("proposer key: {e}")))?;
        let sig = Signature::from_slice(&self.block.signature)
            .map_err(|e| bad(format!("signature: {e}")))?;
        key.verify(&self.block.header, &sig)
            .map_err(|_| bad("proposer signature does not verify".into()))
    }

    /// The commit certificate of a block decided by its proposer alone (solo): the
    /// proposer's precommit at round 0, signed with `key` as `validator`.
    pub fn solo_certificate(&self, validator: &str, key: &dyn Sm2Signer) -> pb::CommitCertificate {
        let h = &self.header;
        let bytes = vote_bytes(
            &h.chain_id,
            h.height,
            0,
            pb::VoteKind::Precommit,
            &self.hash,
            validator,
        );
        pb::CommitCertificate {
            height: h.height,
            round: 0,
            block_hash: self.hash.to_vec(),
            signatures: vec![pb::CommitSignature {
                validator: validator.into(),
                signature: key.sign(&bytes).to_bytes().to_vec(),
            }],
        }
    }
}
