//! Opening a certificate's document from released key shares, shared by `cert fetch`
//! (a requester) and the job runner (a compute job's executor): decrypt each share with
//! the recipient's SM2 key, verify it against the custody key set, combine a threshold of
//! them, decrypt the document and check its SM3 content hash.

use anyhow::Context;
use govchain_crypto::{PrivateKey, sm4gcm};
use govchain_custody::{Envelope, KeySet, VerifiedShare};
use govchain_state::certs;
use govchain_types::pb;

/// One released share as its recipient sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ShareView {
    pub(crate) validator: String,
    pub(crate) share: u32,
    pub(crate) height: u64,
    pub(crate) status: String,
}

/// Decrypts and verifies each release; `recipient` names who the shares should be
/// encrypted to (for the message when they are not).
pub(crate) fn verify_shares(
    set: &KeySet,
    envelope: &Envelope,
    releases: &[pb::ReleasedShare],
    key: &PrivateKey,
    recipient: &str,
) -> (Vec<ShareView>, Vec<VerifiedShare>) {
    let mut views = Vec::new();
    let mut good = Vec::new();
    for rel in releases {
        let status = match open_share(rel, key) {
            Err(_) => format!("cannot decrypt: encrypted to {recipient}'s key, not yours"),
            Ok(bytes) => match set.verify_share(rel.share, &bytes, envelope) {
                Ok(v) => {
                    good.push(v);
                    "ok".to_string()
                }
                Err(e) => format!("BAD, skipped: {e}"),
            },
        };
        views.push(ShareView {
            validator: rel.validator.clone(),
            share: rel.share,
            height: rel.height,
            status,
        });
    }
    (views, good)
}

/// A released share's plaintext: SM4-GCM under the release's sealed key, or (releases
/// made before sealed keys) SM2 directly.
fn open_share(rel: &pb::ReleasedShare, key: &PrivateKey) -> anyhow::Result<Vec<u8>> {
    if rel.sealed_key.is_empty() {
        return Ok(key.decrypt(&rel.encrypted_share)?);
    }
    let round_key = zeroize::Zeroizing::new(key.decrypt(&rel.sealed_key)?);
    Ok(sm4gcm::open(
        &sm4gcm::DataKey::from_bytes(&round_key)?,
        &rel.encrypted_share,
        &govchain_state::custody::share_aad(rel.request, rel.share),
    )?)
}

/// Combines verified shares into the data key and opens `cert`'s document, checking it
/// against the certificate's SM3 content hash.
pub(crate) fn open_document(
    set: &KeySet,
    good: &[VerifiedShare],
    envelope: &Envelope,
    cert: &pb::Certificate,
) -> anyhow::Result<Vec<u8>> {
    let key = zeroize::Zeroizing::new(set.combine(good, envelope)?);
    let doc = sm4gcm::open(
        &sm4gcm::DataKey::from_bytes(&*key)?,
        &cert.ciphertext,
        cert.id.as_bytes(),
    )
    .with_context(|| {
        format!(
            "certificate {}: the combined key does not open the document",
            cert.id
        )
    })?;
    if certs::content_hash(&doc).as_slice() != cert.content_hash.as_slice() {
        anyhow::bail!(
            "certificate {}: the decrypted document does not match its SM3 content hash",
            cert.id
        );
    }
    Ok(doc)
}
