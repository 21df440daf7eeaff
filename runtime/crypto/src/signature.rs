//! The SM2 signature value and its encodings.

use crate::error::{CryptoError, Result};

/// Length of one signature component (`r` or `s`) in bytes.
const SCALAR_LEN: usize = 32;

/// An SM2 signature in its raw 64-byte form: `r || s`, each a 32-byte
/// big-endian integer.
///
/// This is the form govchain stores and transmits. Parsing with
/// [`Signature::from_slice`] only checks the length; whether `r` and `s` are in
/// range is checked by verification (an out-of-range signature simply does not
/// verify). [`Signature::from_der`] / [`Signature::to_der`] convert to and from
/// the ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }` form that OpenSSL uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Parse a raw 64-byte `r || s` signature.
    ///
    /// # Errors
    /// [`CryptoError::InvalidSignatureLength`] unless `b` is exactly 64 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self> {
        <[u8; 64]>::try_from(b)
            .map(Self)
            .map_err(|_| CryptoError::InvalidSignatureLength { len: b.len() })
    }

    /// The raw 64-byte `r || s` form.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// Parse an ASN.1 DER signature (`SEQUENCE { r INTEGER, s INTEGER }`), as
    /// produced by `openssl pkeyutl -sign`.
    ///
    /// The encoding must be strict DER and `r`, `s` must lie in `[1, n-1]`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidSignatureDer`] if the input is not such a value.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let sig =
            ::sm2::dsa::Signature::from_der(der).map_err(|_| CryptoError::InvalidSignatureDer)?;
        Ok(Self(sig.to_bytes().into()))
    }

    /// Encode as ASN.1 DER (`SEQUENCE { r INTEGER, s INTEGER }`), the form
    /// `openssl pkeyutl -verify -sigfile` expects.
    ///
    /// Works for any 64 bytes, including values that would not verify.
    pub fn to_der(&self) -> Vec<u8> {
        let (r, s) = self.0.split_at(SCALAR_LEN);
        let mut body = Vec::with_capacity(2 * (SCALAR_LEN + 3));
        der_unsigned_integer(r, &mut body);
        der_unsigned_integer(s, &mut body);
        // The body is at most 2 * (2 + 33) = 70 bytes, so the short length form
        // (a single byte < 0x80) always applies.
        let body_len = u8::try_from(body.len()).expect("DER body of a 64-byte signature");
        debug_assert!(body_len < 0x80);
        let mut out = Vec::with_capacity(body.len() + 2);
        out.push(0x30); // SEQUENCE
        out.push(body_len);
        out.extend_from_slice(&body);
        out
    }
}

/// Append the DER encoding of the unsigned big-endian integer `be` (at most 32
/// bytes) to `out`: minimal length, with a leading zero byte when the top bit
/// is set so the value stays non-negative.
fn der_unsigned_integer(be: &[u8], out: &mut Vec<u8>) {
    let first_nonzero = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = &be[first_nonzero..];
    let pad = digits.first().is_none_or(|&b| b & 0x80 != 0);
    let len = digits.len() + usize::from(pad);
    out.push(0x02); // INTEGER
    out.push(u8::try_from(len).expect("INTEGER of at most 33 bytes"));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig_with(r: [u8; 32], s: [u8; 32]) -> Signature {
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&r);
        b[32..].copy_from_slice(&s);
        Signature(b)
    }

    #[test]
    fn from_slice_checks_length() {
        assert_eq!(
            Signature::from_slice(&[7u8; 64]).unwrap().to_bytes(),
            [7u8; 64]
        );
        assert_eq!(
            Signature::from_slice(&[7u8; 63]),
            Err(CryptoError::InvalidSignatureLength { len: 63 })
        );
        assert_eq!(
            Signature::from_slice(&[7u8; 65]),
            Err(CryptoError::InvalidSignatureLength { len: 65 })
        );
    }

    #[test]
    fn der_matches_sm2_crate_encoding() {
        // High bit set in r (needs a 0x00 pad), leading zeros in s (trimmed).
        let mut r = [0x11u8; 32];
        r[0] = 0x80;
        let mut s = [0x22u8; 32];
        s[0] = 0;
        s[1] = 0;
        s[2] = 0x05;
        let sig = sig_with(r, s);
        let ours = sig.to_der();
        let theirs = ::sm2::dsa::Signature::from_slice(&sig.0).unwrap().to_der();
        assert_eq!(ours, theirs.as_bytes());
        assert_eq!(Signature::from_der(&ours).unwrap(), sig);
    }

    #[test]
    fn der_of_degenerate_values_is_well_formed() {
        // r = 0 does not verify, but encoding must still be valid DER.
        let sig = sig_with([0u8; 32], [0xffu8; 32]);
        let der = sig.to_der();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x00]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        // ... and from_der rejects it, since r = 0 is out of range.
        assert_eq!(
            Signature::from_der(&der),
            Err(CryptoError::InvalidSignatureDer)
        );
    }

    #[test]
    fn from_der_rejects_garbage() {
        for bad in [
            &b""[..],
            b"\x30\x00",
            b"\x30\x06\x02\x01\x01\x02\x01",
            &[0u8; 70][..],
        ] {
            assert_eq!(
                Signature::from_der(bad),
                Err(CryptoError::InvalidSignatureDer)
            );
        }
        // Trailing bytes after a valid value are rejected too.
        let mut der = sig_with([1u8; 32], [2u8; 32]).to_der();
        assert!(Signature::from_der(&der).is_ok());
        der.push(0);
        assert_eq!(
            Signature::from_der(&der),
            Err(CryptoError::InvalidSignatureDer)
        );
    }
}
