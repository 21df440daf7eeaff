//! Round and polka certificates a peer sends, checked vote by vote: each a valid
//! signature of a distinct validator of the set, together enough of the set.

use malachite_types::{
    BoxError, CertificateError, NilOrVal, PolkaCertificate, Round, RoundCertificate,
    RoundCertificateType, VoteType,
};

use super::context::{BlockId, Gov, Height, Sm2Signature, ValidatorId, Validators, Vote};
use super::core::{verifies, vote_sign_bytes};

/// More than 2/3 of `set` (each validator has power 1).
fn quorum(set: &Validators) -> u64 {
    set.set().quorum() as u64
}

/// More than 1/3 of `set`: at least one honest validator.
fn honest(set: &Validators) -> u64 {
    use malachite_types::ValidatorSet;
    set.count() as u64 / 3 + 1
}

/// Checks votes of one height and round: each a valid signature of a distinct
/// validator of `set`, together at least `needed`.
#[expect(
    clippy::result_large_err,
    reason = "the certificate check answers Malachite with its own error type"
)]
fn check_votes<'a>(
    chain_id: &str,
    height: Height,
    round: Round,
    set: &Validators,
    votes: impl Iterator<
        Item = (
            VoteType,
            NilOrVal<BlockId>,
            &'a ValidatorId,
            &'a Sm2Signature,
        ),
    >,
    needed: u64,
) -> Result<(), CertificateError<Gov>> {
    use malachite_types::ValidatorSet;
    let mut seen = std::collections::BTreeSet::new();
    for (kind, block, who, sig) in votes {
        let v = set
            .get_by_address(who)
            .ok_or_else(|| CertificateError::UnknownValidator(who.clone()))?;
        if !seen.insert(who.clone()) {
            return Err(CertificateError::DuplicateVote(who.clone()));
        }
        let vote = Vote {
            kind,
            height,
            round,
            block,
            validator: who.clone(),
        };
        if !verifies(&v.key, &vote_sign_bytes(chain_id, &vote), sig) {
            return Err(CertificateError::VerificationError(Some(BoxError(
                format!("the vote of '{who}' does not verify").into(),
            ))));
        }
    }
    let signed = seen.len() as u64;
    if signed < needed {
        return Err(CertificateError::NotEnoughVotingPower {
            signed,
            total: set.count() as u64,
            expected: needed,
        });
    }
    Ok(())
}

#[expect(
    clippy::result_large_err,
    reason = "the certificate check answers Malachite with its own error type"
)]
pub(super) fn check_polka(
    chain_id: &str,
    cert: &PolkaCertificate<Gov>,
    set: &Validators,
) -> Result<(), CertificateError<Gov>> {
    let votes = cert.polka_signatures.iter().map(|s| {
        (
            VoteType::Prevote,
            NilOrVal::Val(cert.value_id),
            &s.address,
            &s.signature,
        )
    });
    check_votes(chain_id, cert.height, cert.round, set, votes, quorum(set))
}

#[expect(
    clippy::result_large_err,
    reason = "the certificate check answers Malachite with its own error type"
)]
pub(super) fn check_round(
    chain_id: &str,
    cert: &RoundCertificate<Gov>,
    set: &Validators,
) -> Result<(), CertificateError<Gov>> {
    let needed = match cert.cert_type {
        RoundCertificateType::Skip => honest(set),
        RoundCertificateType::Precommit => quorum(set),
    };
    if cert.cert_type == RoundCertificateType::Precommit
        && let Some(s) = cert
            .round_signatures
            .iter()
            .find(|s| s.vote_type != VoteType::Precommit)
    {
        return Err(CertificateError::InvalidVoteType(s.address.clone()));
    }
    let votes = cert
        .round_signatures
        .iter()
        .map(|s| (s.vote_type, s.value_id, &s.address, &s.signature));
    check_votes(chain_id, cert.height, cert.round, set, votes, needed)
}

#[cfg(test)]
mod tests {
    use govchain_crypto::PrivateKey;

    use super::*;

    #[test]
    fn a_vote_verifies_only_under_its_signers_key_and_bytes() {
        let (a, b) = (PrivateKey::generate(), PrivateKey::generate());
        let sig = Sm2Signature(a.sign(b"vote").to_bytes());
        // Twice: once building the key's table, once from it.
        for _ in 0..2 {
            assert!(verifies(&a.public_key(), b"vote", &sig));
            assert!(!verifies(&b.public_key(), b"vote", &sig), "another key");
            assert!(!verifies(&a.public_key(), b"votf", &sig), "other bytes");
        }
        assert!(!verifies(&a.public_key(), b"vote", &Sm2Signature([0; 64])));
    }
}
