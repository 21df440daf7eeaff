//! Sealing a certificate on the issuer's machine: the document encrypted under a fresh
//! SM4 data key, that key encrypted to the custody key set, the content hash and the
//! issuer's signature.

use std::path::Path;

use anyhow::Context;
use govchain_state::certs;
use govchain_types::pb;

use crate::cmd::network_genesis;
use crate::entropy::Entropy;

/// Completes `p` (type, number, subject, dates and metadata set) with `doc` encrypted
/// under a fresh SM4 data key, that key encrypted to the custody key set, the content
/// hash and the issuer's signature.
pub(crate) fn seal_certificate(
    chain_id: &str,
    custody: &govchain_custody::KeySet,
    issuer: &govchain_crypto::PrivateKey,
    p: pb::PublishCertificate,
    doc: &[u8],
) -> pb::PublishCertificate {
    seal_certificate_with(chain_id, custody, issuer, p, doc, &Entropy::Os)
}

/// [`seal_certificate`] with the data key, nonce and envelope drawn from `entropy`
/// (the scenario golden test seeds it; everything else seals through
/// [`seal_certificate`], with the operating system's randomness).
pub(crate) fn seal_certificate_with(
    chain_id: &str,
    custody: &govchain_custody::KeySet,
    issuer: &govchain_crypto::PrivateKey,
    mut p: pb::PublishCertificate,
    doc: &[u8],
    entropy: &Entropy,
) -> pb::PublishCertificate {
    let id = certs::cert_id(&p.cert_type, &p.number);
    let key = entropy.data_key();
    // The ciphertext is bound to its certificate id, so it cannot be passed off as
    // another certificate's document. The data key leaves this process only encrypted
    // to the validators' custody key set.
    p.ciphertext = entropy.seal(&key, doc, id.as_bytes());
    p.key_envelope = entropy.envelope(custody, key.as_bytes());
    drop(key);
    p.content_hash = certs::content_hash(doc).to_vec();
    p.issuer_signature = issuer
        .sign(&certs::signing_bytes(chain_id, &p))
        .to_bytes()
        .to_vec();
    p
}

/// The custody key set from the network's genesis file (the trust anchor: never taken
/// from a node).
pub(crate) fn custody_key_set(home: &Path) -> anyhow::Result<govchain_custody::KeySet> {
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let c = genesis.custody.context(
        "this network's genesis has no custody key set: certificates cannot be published (re-create it with `govchain init`)",
    )?;
    Ok(govchain_custody::KeySet::from_bytes(&hex::decode(
        &c.public_key_set,
    )?)?)
}
