//! The encodings of a certificate that an issuer, a requester and the chain compute
//! alike: its id, the bytes its issuer signs, the hash of its document, and the
//! associated data of a key share sealed to a requester.

use govchain_crypto::{Sm3Hasher, hmac_sm3};
use govchain_types::pb;

/// A certificate's id: the first 16 bytes of `SM3("govchain-cert-id" || type || 0 ||
/// number)`, hex. A number is unique within its type by construction.
pub fn cert_id(cert_type: &str, number: &str) -> String {
    let mut h = Sm3Hasher::new();
    h.update(b"govchain-cert-id");
    h.update(cert_type.as_bytes());
    h.update(&[0]);
    h.update(number.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The bytes an issuer signs: they bind the chain, type, number, subject, dates and
/// content hash, so a signature is valid for exactly one certificate.
pub fn signing_bytes(chain_id: &str, p: &pb::PublishCertificate) -> Vec<u8> {
    let mut out = b"govchain-certificate-v1\0".to_vec();
    for part in [
        chain_id.as_bytes(),
        p.cert_type.as_bytes(),
        p.number.as_bytes(),
        &p.subject_id,
        p.issued_on.as_bytes(),
        p.expires_on.as_bytes(),
        &p.content_hash,
    ] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The content hash of a plaintext document: HMAC-SM3 under the certificate's data key
/// of `"govchain-content-v2\0" || document`. Keyed, so that it tells nothing to anyone
/// who cannot open the document: an unkeyed hash of a short document (a marriage
/// certificate is a few names, dates and ids) is a dictionary oracle for its content.
/// The issuer computes it when sealing, a requester after combining the key shares.
pub fn content_hash(data_key: &[u8], document: &[u8]) -> [u8; 32] {
    hmac_sm3(data_key, &[b"govchain-content-v2\0", document])
}
