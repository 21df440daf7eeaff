//! Signed reads: a department proves who is asking by signing, with its SM2 key,
//! `"govchain-read-v1\0"` followed by the length-prefixed chain id, request path, Unix
//! ms and the SM3 of the request. gRPC reads carry it in `x-govchain-auth`; the
//! console signs its sign-in challenge the same way (path `/console/login`).

use govchain_crypto::sm3;

/// Metadata key of the signed read header.
pub const AUTH_METADATA: &str = "x-govchain-auth";

/// The header value for a signed read: `<dept>;<operator>;<unix ms>;<hex signature>`.
pub fn header_value(dept: &str, operator: &str, time_ms: u64, signature: &[u8]) -> String {
    format!("{dept};{operator};{time_ms};{}", hex::encode(signature))
}

/// The bytes a reader signs.
pub fn signing_bytes(chain_id: &str, path: &str, time_ms: u64, request: &[u8]) -> Vec<u8> {
    let mut out = b"govchain-read-v1\0".to_vec();
    let t = time_ms.to_string();
    for part in [
        chain_id.as_bytes(),
        path.as_bytes(),
        t.as_bytes(),
        &sm3(request),
    ] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
