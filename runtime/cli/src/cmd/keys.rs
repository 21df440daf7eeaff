//! `keys gen` and `keys show`.

use std::path::PathBuf;

use clap::Subcommand;
use govchain_crypto::PrivateKey;
use govchain_node::keyfile;
use govchain_node::output::{emit, kv};
use serde_json::json;

/// Key file commands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCmd {
    /// Generate an SM2 key as PKCS#8 PEM (`openssl pkey` reads it).
    Gen {
        /// File to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Encrypt with a passphrase (GOVCHAIN_KEY_PASSPHRASE or a prompt).
        #[arg(long)]
        encrypt: bool,
    },
    /// Show a key file's public key and derived id.
    Show {
        /// Key file (PKCS#8 private key, or an SPKI public key).
        file: PathBuf,
    },
}

/// Runs a keys command.
pub(crate) fn run(cmd: KeysCmd, json: bool) -> anyhow::Result<()> {
    let (path, public) = match cmd {
        KeysCmd::Gen { out, encrypt } => {
            let key = PrivateKey::generate();
            let pass = if encrypt {
                Some(keyfile::passphrase("passphrase: ", true)?)
            } else {
                None
            };
            keyfile::save(&out, &key, pass.as_deref())?;
            (out, key.public_key())
        }
        KeysCmd::Show { file } => {
            let text = std::fs::read_to_string(&file)?;
            let public = if text.contains("BEGIN PUBLIC KEY") {
                govchain_crypto::PublicKey::from_spki_pem(&text)?
            } else {
                keyfile::load(&file)?.public_key()
            };
            (file, public)
        }
    };
    let value = json!({
        "file": path,
        "id": public.fingerprint(),
        "public_key": hex::encode(public.to_sec1()),
        "public_key_pem": public.to_spki_pem(),
    });
    emit(json, &value, || {
        println!(
            "{}",
            kv(&[
                ("file", path.display().to_string()),
                ("derived id", public.fingerprint()),
                ("public key (SEC1 hex)", hex::encode(public.to_sec1())),
            ])
        );
        print!("{}", public.to_spki_pem());
    });
    Ok(())
}
