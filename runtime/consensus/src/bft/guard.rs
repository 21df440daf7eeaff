//! The double-signing guard: this validator never signs two different messages for one
//! height, round and step, even across a restart, because what it signs is persisted
//! before the signature leaves (`docs/design/bft.md`, "WAL and double signing").

use std::collections::BTreeMap;

use govchain_crypto::Sm2Signer;
use malachite_types::{NilOrVal, VoteType};

use super::context::{Proposal, Sm2Signature, Vote};

/// Where the double-signing guard keeps what was signed before a signature leaves.
pub type Persist = Box<dyn FnMut(&Signed) -> Result<(), String> + Send + Sync>;

/// What this validator signed at one height: per round and step (proposal, prevote,
/// precommit), the block hash (empty for nil) and the signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed {
    height: u64,
    entries: BTreeMap<(u32, u8), (Vec<u8>, [u8; 64])>,
}

const STEP_PROPOSAL: u8 = 0;
const STEP_PREVOTE: u8 = 1;
const STEP_PRECOMMIT: u8 = 2;

impl Signed {
    /// Its stored form: height, then (round, step, hash length, hash, signature)s.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.height.to_be_bytes().to_vec();
        for ((round, step), (hash, sig)) in &self.entries {
            out.extend_from_slice(&round.to_be_bytes());
            out.push(*step);
            out.push(hash.len() as u8);
            out.extend_from_slice(hash);
            out.extend_from_slice(sig);
        }
        out
    }

    /// Reads the stored form back; `None` if it is not one.
    pub fn decode(mut b: &[u8]) -> Option<Self> {
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, rest) = b.split_at_checked(n)?;
            b = rest;
            Some(head)
        };
        let height = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let mut entries = BTreeMap::new();
        while let Some(round) = take(4) {
            let round = u32::from_be_bytes(round.try_into().ok()?);
            let step = take(1)?[0];
            let len = take(1)?[0] as usize;
            let hash = take(len)?.to_vec();
            let sig: [u8; 64] = take(64)?.try_into().ok()?;
            entries.insert((round, step), (hash, sig));
        }
        Some(Signed { height, entries })
    }
}

/// Refuses to sign a second, different message for a height, round and step this
/// validator signed before, even across a restart: what it signs is persisted first.
pub(super) struct Guard {
    pub(super) signed: Signed,
    pub(super) persist: Persist,
}

impl Guard {
    /// The signature of vote `v` (over `bytes`).
    pub(super) fn sign_vote(
        &mut self,
        key: &dyn Sm2Signer,
        v: &Vote,
        bytes: &[u8],
    ) -> Result<Sm2Signature, String> {
        let step = match v.kind {
            VoteType::Prevote => STEP_PREVOTE,
            VoteType::Precommit => STEP_PRECOMMIT,
        };
        let value = match &v.block {
            NilOrVal::Nil => Vec::new(),
            NilOrVal::Val(b) => b.0.to_vec(),
        };
        let round = v.round.as_u32().unwrap_or(u32::MAX);
        self.sign(key, (v.height.0, round, step), &value, bytes)
    }

    /// The signature of proposal `p` (over `bytes`).
    pub(super) fn sign_proposal(
        &mut self,
        key: &dyn Sm2Signer,
        p: &Proposal,
        bytes: &[u8],
    ) -> Result<Sm2Signature, String> {
        let round = p.round.as_u32().unwrap_or(u32::MAX);
        self.sign(key, (p.height.0, round, STEP_PROPOSAL), &p.block.0, bytes)
    }

    /// The signature of `bytes` (which sign `value` at `height`, `round`, `step`): a new
    /// one, or the one given before for the same value; an error for another value.
    fn sign(
        &mut self,
        key: &dyn Sm2Signer,
        (height, round, step): (u64, u32, u8),
        value: &[u8],
        bytes: &[u8],
    ) -> Result<Sm2Signature, String> {
        if height < self.signed.height {
            return Err(format!(
                "refusing to sign at height {height}: height {} was signed already",
                self.signed.height
            ));
        }
        if height > self.signed.height {
            self.signed = Signed {
                height,
                entries: BTreeMap::new(),
            };
        }
        if let Some((hash, sig)) = self.signed.entries.get(&(round, step)) {
            return if hash.as_slice() == value {
                Ok(Sm2Signature(*sig))
            } else {
                Err(format!(
                    "refusing to sign a second value at height {height}, round {round}, step {step}: this validator signed another one already"
                ))
            };
        }
        let sig = key.sign(bytes).to_bytes();
        self.signed
            .entries
            .insert((round, step), (value.to_vec(), sig));
        if let Err(e) = (self.persist)(&self.signed) {
            self.signed.entries.remove(&(round, step));
            return Err(format!("cannot record a signature before giving it: {e}"));
        }
        Ok(Sm2Signature(sig))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use govchain_crypto::PrivateKey;

    use super::*;

    fn guard(signed: Signed) -> (Guard, Arc<Mutex<Vec<Signed>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let persist: Persist = Box::new(move |s| {
            l.lock().unwrap().push(s.clone());
            Ok(())
        });
        (Guard { signed, persist }, log)
    }

    #[test]
    fn a_second_value_for_a_step_is_never_signed_even_after_a_restart() {
        let key = PrivateKey::generate();
        let (mut g, log) = guard(Signed::default());
        let a = g
            .sign(&key, (5, 0, STEP_PREVOTE), &[1; 32], b"vote a")
            .unwrap();
        // The same vote again (a rebroadcast) gets the same signature, not a new one.
        assert_eq!(
            g.sign(&key, (5, 0, STEP_PREVOTE), &[1; 32], b"vote a")
                .unwrap(),
            a
        );
        let e = g
            .sign(&key, (5, 0, STEP_PREVOTE), &[2; 32], b"vote b")
            .unwrap_err();
        assert!(e.contains("signed another one already"), "{e}");
        // Nil is a value too.
        assert!(g.sign(&key, (5, 0, STEP_PREVOTE), &[], b"nil").is_err());
        // Other steps and rounds are free.
        g.sign(&key, (5, 0, STEP_PRECOMMIT), &[1; 32], b"precommit")
            .unwrap();
        g.sign(&key, (5, 1, STEP_PREVOTE), &[], b"nil r1").unwrap();
        let persisted = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            log.lock().unwrap().len(),
            3,
            "each new signature is persisted first"
        );

        // A restarted validator reads the record back and refuses the same way.
        let back = Signed::decode(&persisted.encode()).unwrap();
        assert_eq!(back, persisted);
        let (mut g, _) = guard(back);
        assert!(
            g.sign(&key, (5, 0, STEP_PREVOTE), &[2; 32], b"vote b")
                .is_err()
        );
        assert_eq!(
            g.sign(&key, (5, 0, STEP_PREVOTE), &[1; 32], b"vote a")
                .unwrap(),
            a
        );
        // Nothing is signed for a height below the record's.
        assert!(
            g.sign(&key, (4, 0, STEP_PREVOTE), &[3; 32], b"old")
                .is_err()
        );
        // A new height starts a new record.
        g.sign(&key, (6, 0, STEP_PREVOTE), &[2; 32], b"next")
            .unwrap();
    }

    #[test]
    fn a_signature_that_cannot_be_recorded_is_not_given() {
        let key = PrivateKey::generate();
        let mut g = Guard {
            signed: Signed::default(),
            persist: Box::new(|_| Err("disk full".into())),
        };
        let e = g
            .sign(&key, (1, 0, STEP_PREVOTE), &[1; 32], b"v")
            .unwrap_err();
        assert!(e.contains("disk full"), "{e}");
        assert!(g.signed.entries.is_empty());
    }

    #[test]
    fn a_truncated_record_is_not_read() {
        let mut s = Signed {
            height: 3,
            ..Signed::default()
        };
        s.entries.insert((0, STEP_PROPOSAL), (vec![7; 32], [1; 64]));
        let bytes = s.encode();
        assert_eq!(Signed::decode(&bytes), Some(s));
        assert_eq!(Signed::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Signed::decode(&[0; 7]), None);
    }
}
