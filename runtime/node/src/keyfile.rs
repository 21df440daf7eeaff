//! Reading and writing key files: SM2 keys (PKCS#8 PEM, encrypted or plain), and the
//! TLS keys of the node CA and each node (ECDSA PEM, sealed under the passphrase).

use std::path::Path;

use anyhow::{Context, bail};
use govchain_crypto::{CryptoError, PrivateKey};

/// Environment variable holding the key-file passphrase for unattended starts.
pub const PASSPHRASE_ENV: &str = "GOVCHAIN_KEY_PASSPHRASE";

/// Loads a key file; an encrypted one takes its passphrase from `GOVCHAIN_KEY_PASSPHRASE`
/// or, on a terminal, from a prompt.
pub fn load(path: &Path) -> anyhow::Result<PrivateKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    match PrivateKey::from_pem_any(&pem, None) {
        Err(CryptoError::PassphraseRequired) => {
            let pass = passphrase(&format!("passphrase for {}: ", path.display()), false)?;
            PrivateKey::from_pem_any(&pem, Some(pass.as_bytes()))
                .with_context(|| format!("decrypting key file {}", path.display()))
        }
        other => other.with_context(|| format!("key file {}", path.display())),
    }
}

/// PEM label of a TLS private key sealed by [`save_tls_key`] (encrypted, it is
/// `ENCRYPTED GOVCHAIN TLS KEY`).
const TLS_LABEL: &str = "GOVCHAIN TLS KEY";

/// Writes a TLS private key (the node CA's or a node's, PEM as `rcgen` writes it): with a
/// passphrase sealed (PBES2: scrypt + AES-256-CBC) like the SM2 key files, else as is.
pub fn save_tls_key(path: &Path, pem: &str, passphrase: Option<&str>) -> anyhow::Result<()> {
    let text = match passphrase {
        Some(p) => zeroize::Zeroizing::new(govchain_crypto::secret::seal_pem(
            TLS_LABEL,
            pem.as_bytes(),
            Some(p.as_bytes()),
        )?),
        None => zeroize::Zeroizing::new(pem.to_string()),
    };
    write_secret(path, text.as_bytes()).with_context(|| format!("creating {}", path.display()))
}

/// Reads a TLS private key [`save_tls_key`] wrote: the PEM to hand to TLS. A sealed one
/// takes its passphrase from `GOVCHAIN_KEY_PASSPHRASE` or a prompt.
pub fn load_tls_key(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading TLS key {}", path.display()))?,
    );
    if !text.contains(&format!("-----BEGIN ENCRYPTED {TLS_LABEL}-----")) {
        return Ok(text);
    }
    let pass = passphrase(&format!("passphrase for {}: ", path.display()), false)?;
    open_tls_key(&text, pass.as_bytes()).with_context(|| format!("TLS key {}", path.display()))
}

fn open_tls_key(text: &str, pass: &[u8]) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let inner = govchain_crypto::secret::open_pem(text, TLS_LABEL, Some(pass))?;
    Ok(zeroize::Zeroizing::new(
        String::from_utf8(inner.to_vec()).context("the sealed TLS key is not PEM text")?,
    ))
}

/// The passphrase for the key files of `owner` (a department or node id) when `init`
/// writes them: `GOVCHAIN_KEY_PASSPHRASE_<OWNER>` (upper case, `-` as `_`) if set, else
/// `common`; none with `--plain-keys` (`common` is `None`). The owner then opens its files
/// with its own passphrase in `GOVCHAIN_KEY_PASSPHRASE` (or a prompt).
pub fn owner_passphrase(owner: &str, common: Option<&str>) -> Option<String> {
    let common = common?;
    let var = format!(
        "{PASSPHRASE_ENV}_{}",
        owner.to_uppercase().replace('-', "_")
    );
    match std::env::var(var) {
        Ok(own) if !own.is_empty() => Some(own),
        _ => Some(common.to_string()),
    }
}

/// The passphrase from the environment or a prompt (`confirm` asks twice).
pub fn passphrase(prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        if p.is_empty() {
            bail!("{PASSPHRASE_ENV} is set but empty");
        }
        return Ok(p);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("key file is encrypted: set {PASSPHRASE_ENV} (no terminal to prompt on)");
    }
    let p = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("again: ")? != p {
        bail!("passphrases differ");
    }
    if p.len() < 8 {
        bail!("passphrase must be at least 8 characters");
    }
    Ok(p)
}

/// Writes a key file readable only by its owner. With a passphrase the key is encrypted
/// PKCS#8 (PBES2), which `openssl pkey` reads too.
pub fn save(path: &Path, key: &PrivateKey, passphrase: Option<&str>) -> anyhow::Result<()> {
    let pem = match passphrase {
        Some(p) => key.to_pkcs8_encrypted_pem(p.as_bytes())?,
        None => key.to_pkcs8_pem(),
    };
    if path.exists() {
        bail!(
            "{} exists; refusing to overwrite a key file",
            path.display()
        );
    }
    write_secret(path, pem.as_bytes()).with_context(|| format!("creating {}", path.display()))
}

/// Creates a file readable by its owner only, with `bytes`, synced; never replaces an
/// existing file (the error says so).
pub fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_key_is_sealed_under_the_passphrase_and_opens_only_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = crate::tls::new_ca("c").unwrap();
        let sealed = dir.path().join("ca.key");
        save_tls_key(&sealed, &key, Some("correct horse")).unwrap();
        let text = std::fs::read_to_string(&sealed).unwrap();
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED GOVCHAIN TLS KEY-----"),
            "{text}"
        );
        assert!(!text.contains("PRIVATE KEY"));
        assert_eq!(*open_tls_key(&text, b"correct horse").unwrap(), key);
        assert!(open_tls_key(&text, b"wrong").is_err());
        // issuing with the opened CA key works as with the original
        crate::tls::issue(
            &open_tls_key(&text, b"correct horse").unwrap(),
            "c",
            "node1",
        )
        .unwrap();
        // without a passphrase (--plain-keys) the key is written and read as it is
        let plain = dir.path().join("plain.key");
        save_tls_key(&plain, &key, None).unwrap();
        assert_eq!(*load_tls_key(&plain).unwrap(), key);
    }
}
