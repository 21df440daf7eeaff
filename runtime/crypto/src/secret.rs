//! Secret files other than SM2 keys (the node CA's and the nodes' TLS keys): the secret
//! wrapped as a DER OCTET STRING, in PEM, optionally encrypted with the same PBES2
//! scheme (scrypt + AES-256-CBC) as the encrypted PKCS#8 SM2 key files.

use getrandom::SysRng;
use pkcs8::der::asn1::{OctetString, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfoRef, LineEnding};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::sm2::{invalid_private, pem_label};

/// Writes `secret` as PEM labelled `label`, or, with a passphrase, as PBES2-encrypted
/// PEM labelled `ENCRYPTED {label}`.
///
/// # Errors
/// [`CryptoError::EmptyPassphrase`] or [`CryptoError::KeyEncryptionFailed`].
pub fn seal_pem(label: &str, secret: &[u8], passphrase: Option<&[u8]>) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| CryptoError::KeyEncryptionFailed {
        reason: e.to_string(),
    };
    let inner = Zeroizing::new(
        OctetStringRef::new(secret)
            .and_then(|o| o.to_der())
            .map_err(|e| failed(&e))?,
    );
    let (label, der) = match passphrase {
        None => (label.to_string(), inner.to_vec()),
        Some([]) => return Err(CryptoError::EmptyPassphrase),
        Some(pass) => {
            let params = pbes2::Parameters::generate_scrypt(&mut SysRng).map_err(|e| failed(&e))?;
            let encrypted = params.encrypt(pass, &inner).map_err(|e| failed(&e))?;
            let info = pkcs8::EncryptedPrivateKeyInfo {
                encryption_algorithm: params.into(),
                encrypted_data: OctetStringRef::new(&encrypted).map_err(|e| failed(&e))?,
            };
            (
                format!("ENCRYPTED {label}"),
                info.to_der().map_err(|e| failed(&e))?,
            )
        }
    };
    pkcs8::der::pem::encode_string(&label, LineEnding::LF, &der).map_err(|e| failed(&e))
}

/// Reads what [`seal_pem`] wrote under `label`.
///
/// # Errors
/// [`CryptoError::PassphraseRequired`] for an encrypted file without a passphrase,
/// [`CryptoError::KeyDecryptionFailed`] for a wrong one,
/// [`CryptoError::UnexpectedPemLabel`] for another kind of file.
pub fn open_pem(pem: &str, label: &str, passphrase: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>> {
    let found = pem_label(pem)?.to_string();
    let encrypted = found == format!("ENCRYPTED {label}");
    if found != label && !encrypted {
        return Err(CryptoError::UnexpectedPemLabel {
            expected: "a govchain secret file",
            found,
        });
    }
    let (_, der) = pkcs8::der::pem::decode_vec(pem.trim_start().as_bytes()).map_err(|e| {
        CryptoError::MalformedPem {
            reason: e.to_string(),
        }
    })?;
    let der = Zeroizing::new(der);
    let inner = if encrypted {
        let pass = passphrase.ok_or(CryptoError::PassphraseRequired)?;
        let info = EncryptedPrivateKeyInfoRef::from_der(&der).map_err(invalid_private)?;
        Zeroizing::new(
            info.encryption_algorithm
                .decrypt(pass, info.encrypted_data.as_bytes())
                .map_err(|_| CryptoError::KeyDecryptionFailed)?,
        )
    } else {
        der
    };
    // A wrong passphrase that happens to pass the padding check fails here.
    let secret = OctetString::from_der(&inner).map_err(|_| {
        if encrypted {
            CryptoError::KeyDecryptionFailed
        } else {
            invalid_private("not a DER OCTET STRING")
        }
    })?;
    Ok(Zeroizing::new(secret.into_bytes().into_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encrypted_roundtrip() {
        let secret = [42u8; 32];
        let plain = seal_pem("GOVCHAIN CUSTODY SHARE", &secret, None).unwrap();
        assert!(plain.starts_with("-----BEGIN GOVCHAIN CUSTODY SHARE-----"));
        assert_eq!(
            &open_pem(&plain, "GOVCHAIN CUSTODY SHARE", None).unwrap()[..],
            &secret
        );
        let sealed = seal_pem("GOVCHAIN CUSTODY SHARE", &secret, Some(b"correct horse")).unwrap();
        assert!(sealed.starts_with("-----BEGIN ENCRYPTED GOVCHAIN CUSTODY SHARE-----"));
        assert!(!sealed.contains(&hex::encode(secret)));
        assert_eq!(
            &open_pem(&sealed, "GOVCHAIN CUSTODY SHARE", Some(b"correct horse")).unwrap()[..],
            &secret
        );
        assert_eq!(
            open_pem(&sealed, "GOVCHAIN CUSTODY SHARE", None).unwrap_err(),
            CryptoError::PassphraseRequired
        );
        assert_eq!(
            open_pem(&sealed, "GOVCHAIN CUSTODY SHARE", Some(b"wrong horse")).unwrap_err(),
            CryptoError::KeyDecryptionFailed
        );
        assert!(matches!(
            open_pem(&plain, "OTHER", None),
            Err(CryptoError::UnexpectedPemLabel { .. })
        ));
        assert_eq!(
            seal_pem("X", &secret, Some(b"")).unwrap_err(),
            CryptoError::EmptyPassphrase
        );
    }
}
