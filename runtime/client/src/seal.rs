//! Sealing a certificate on the issuer's machine: the document encrypted under a fresh
//! SM4 data key, that key encrypted to the custody key set with the issuer's proof
//! that it made the envelope for this certificate, the content hash and the
//! issuer's signature. The data key never leaves this process unencrypted.

use govchain_crypto::PrivateKey;
use govchain_custody::KeySet;
use govchain_proof::certificate::{cert_id, content_hash, signing_bytes};
use govchain_types::pb;

use crate::Entropy;

/// Completes `p` (type, number, subject, dates and metadata set) with `doc` sealed:
/// encrypted under a fresh SM4 data key bound to the certificate's id, that key
/// encrypted to the custody key set `custody`, the SM3 content hash, and `issuer`'s
/// signature over the certificate's signing bytes on chain `chain_id`. Randomness
/// comes from `entropy` ([`Entropy::Os`] everywhere but tests that pin bytes).
pub fn seal_certificate(
    chain_id: &str,
    custody: &KeySet,
    issuer: &PrivateKey,
    mut p: pb::PublishCertificate,
    doc: &[u8],
    entropy: &Entropy,
) -> pb::PublishCertificate {
    let id = cert_id(&p.cert_type, &p.number);
    let key = entropy.data_key();
    // The ciphertext is bound to its certificate id, so it cannot be passed off as
    // another certificate's document.
    p.ciphertext = entropy.seal(&key, doc, id.as_bytes());
    let (envelope, proof) = custody
        .seal_key(
            key.as_bytes(),
            &govchain_custody::envelope_context(chain_id, &id),
            &entropy.seed(),
        )
        .expect("the custody key set from genesis is a valid key");
    p.key_envelope = envelope;
    p.key_envelope_proof = proof.to_vec();
    p.content_hash = content_hash(key.as_bytes(), doc).to_vec();
    drop(key);
    p.issuer_signature = issuer
        .sign(&signing_bytes(chain_id, &p))
        .to_bytes()
        .to_vec();
    p
}
