//! Signed reads: a department proves who is asking by signing, with its SM2 key,
//! `"govchain-read-v2\0"` followed by the length-prefixed chain id, audience (the id of
//! the node the read is sent to), request path, Unix ms, a nonce and the SM3 of the
//! request. gRPC reads carry it in `x-govchain-auth` with a fresh random nonce, so that
//! a node takes each signed read once and only when it is addressed to it; the console
//! signs its sign-in challenge the same way (path `/console/login`, the challenge as the
//! nonce, the page's origin as the request).

use govchain_crypto::sm3;

/// Metadata key of the signed read header.
pub const AUTH_METADATA: &str = "x-govchain-auth";

/// The header value for a signed read:
/// `<dept>;<operator>;<unix ms>;<hex nonce>;<hex signature>`.
pub fn header_value(
    dept: &str,
    operator: &str,
    time_ms: u64,
    nonce: &[u8],
    signature: &[u8],
) -> String {
    format!(
        "{dept};{operator};{time_ms};{};{}",
        hex::encode(nonce),
        hex::encode(signature)
    )
}

/// What a signed read names besides the request: where it goes and when.
#[derive(Debug, Clone, Copy)]
pub struct ReadTo<'a> {
    /// The chain.
    pub chain_id: &'a str,
    /// The node the read is addressed to (its id).
    pub audience: &'a str,
    /// The gRPC method path (or `/console/login`).
    pub path: &'a str,
    /// Unix ms of signing.
    pub time_ms: u64,
    /// A value the signer never uses twice.
    pub nonce: &'a [u8],
}

/// The bytes a reader signs.
pub fn signing_bytes(to: &ReadTo<'_>, request: &[u8]) -> Vec<u8> {
    let mut out = b"govchain-read-v2\0".to_vec();
    let t = to.time_ms.to_string();
    for part in [
        to.chain_id.as_bytes(),
        to.audience.as_bytes(),
        to.path.as_bytes(),
        t.as_bytes(),
        to.nonce,
        &sm3(request),
    ] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
