//! Reading and writing SM2 key files (PKCS#8 PEM, encrypted or plain).

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
