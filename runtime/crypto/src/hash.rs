//! SM3 hashing (GB/T 32905-2016, GM/T 0004-2012).

use sm3::{Digest, Sm3};

/// A 32-byte SM3 digest.
pub type Hash = [u8; 32];

/// SM3 digest of `data`.
pub fn sm3(data: &[u8]) -> Hash {
    Sm3::digest(data).into()
}

/// HMAC-SM3 (RFC 2104 / GB/T 15852.2 with SM3) of the concatenation of `parts` under
/// `key`: what `openssl mac -digest SM3 -macopt hexkey:<key> HMAC` computes.
pub fn hmac_sm3(key: &[u8], parts: &[&[u8]]) -> Hash {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sm3>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SM3 digest of the concatenation of `parts`, without copying them.
///
/// `sm3_parts(&[a, b])` equals `sm3(&[a, b].concat())`. Note that plain
/// concatenation is ambiguous (`["ab", "c"]` and `["a", "bc"]` hash alike);
/// callers that hash variable-length fields must add their own framing.
pub fn sm3_parts(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sm3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Incremental SM3 hasher.
///
/// ```
/// use govchain_crypto::{Sm3Hasher, sm3};
///
/// let mut h = Sm3Hasher::new();
/// h.update(b"ab");
/// h.update(b"c");
/// assert_eq!(h.finalize(), sm3(b"abc"));
/// ```
#[derive(Clone, Default, Debug)]
pub struct Sm3Hasher {
    inner: Sm3,
}

impl Sm3Hasher {
    /// A hasher over the empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Absorb `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The digest of everything absorbed so far.
    pub fn finalize(self) -> Hash {
        self.inner.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn sm3_abc_vector() {
        // GB/T 32905-2016 Appendix A, example 1.
        assert_eq!(
            sm3(b"abc").to_vec(),
            unhex("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0")
        );
    }

    #[test]
    fn sm3_abcd_x16_vector() {
        // GB/T 32905-2016 Appendix A, example 2 (512-bit message).
        let msg = b"abcd".repeat(16);
        assert_eq!(
            sm3(&msg).to_vec(),
            unhex("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732")
        );
    }

    #[test]
    fn sm3_empty() {
        // Widely published digest of the empty string.
        assert_eq!(
            hex::encode(sm3(b"")),
            "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
        );
    }

    #[test]
    fn parts_and_hasher_match_one_shot() {
        let msg = b"abcd".repeat(16);
        let (a, b) = msg.split_at(13);
        assert_eq!(sm3_parts(&[a, b]), sm3(&msg));
        assert_eq!(sm3_parts(&[]), sm3(b""));
        assert_eq!(sm3_parts(&[b"", &msg, b""]), sm3(&msg));

        let mut h = Sm3Hasher::new();
        for chunk in msg.chunks(7) {
            h.update(chunk);
        }
        let copy = h.clone();
        assert_eq!(h.finalize(), sm3(&msg));
        assert_eq!(copy.finalize(), sm3(&msg));
    }
}
