//! `keys gen`, `keys show`, `keys rotate` and `keys prove` (`docs/design/keys.md`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use govchain_client::Client;
use govchain_crypto::PrivateKey;
use govchain_node::keyfile;
use govchain_node::output::{emit, kv};
use govchain_types::{key_rotation_message, pb};
use serde_json::json;

use crate::client::SignArgs;

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
    /// Replace the signing department's key (or, with --operator, that operator's) by a
    /// new one: the new key is written beside the old as `<file>.next` first, registered
    /// by a transaction the old key signs, then takes the old one's place (kept as
    /// `<file>.retired-<height>`). From that block on the old key is refused. Run again
    /// after an interruption: it resumes with the same new key.
    Rotate {
        #[command(flatten)]
        sign: SignArgs,
        /// Encrypt the new key file with a passphrase (GOVCHAIN_KEY_PASSPHRASE or a prompt).
        #[arg(long)]
        encrypt: bool,
    },
    /// Revoke one of the signing department's operators (a member of staff who left):
    /// its key is refused from that block on.
    RevokeOperator {
        #[command(flatten)]
        sign: SignArgs,
        /// The operator revoked.
        #[arg(long)]
        operator_id: String,
    },
    /// Print a new key's registration proof for `gov propose replace-key`: the key's
    /// public half and its signature over its registration for the account.
    Prove {
        /// The new key file.
        #[arg(long)]
        key: PathBuf,
        /// The department the key is for (`validator:<id>` for a validator's block key).
        #[arg(long)]
        department: String,
        /// The operator the key is for (none: the department's own key).
        #[arg(long, default_value = "")]
        operator: String,
        /// The chain id (from the network's genesis.json when not given).
        #[arg(long)]
        chain_id: Option<String>,
    },
}

/// The new key's proof for its registration to `department`/`operator` on `chain_id`.
fn proof(key: &PrivateKey, chain_id: &str, department: &str, operator: &str) -> Vec<u8> {
    let public = key.public_key().to_sec1();
    key.sign(&key_rotation_message(
        chain_id, department, operator, &public,
    ))
    .to_bytes()
    .to_vec()
}

/// Runs a keys command.
pub(crate) async fn run(
    cmd: KeysCmd,
    endpoint: &str,
    home: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let (path, public) = match cmd {
        KeysCmd::RevokeOperator { sign, operator_id } => {
            let payload = pb::payload::Kind::RotateKey(pb::RotateKey {
                operator: operator_id,
                ..Default::default()
            });
            return crate::cmd::chain::transact(endpoint, home, &sign, payload, json)
                .await
                .map(drop);
        }
        KeysCmd::Rotate { sign, encrypt } => {
            return rotate(endpoint, home, &sign, encrypt, json).await;
        }
        KeysCmd::Prove {
            key,
            department,
            operator,
            chain_id,
        } => {
            let chain_id = match chain_id {
                Some(c) => c,
                None => {
                    govchain_node::network::network_genesis(&home.join("genesis.json"))?.chain_id
                }
            };
            let new = keyfile::load(&key)?;
            let value = json!({
                "department": department,
                "operator": operator,
                "public_key": hex::encode(new.public_key().to_sec1()),
                "proof": hex::encode(proof(&new, &chain_id, &department, &operator)),
            });
            emit(json, &value, || {
                println!(
                    "{}",
                    kv(&[
                        (
                            "public key (SEC1 hex)",
                            value["public_key"].as_str().unwrap_or_default().to_string()
                        ),
                        (
                            "proof",
                            value["proof"].as_str().unwrap_or_default().to_string()
                        ),
                    ])
                );
            });
            return Ok(());
        }
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

/// `keys rotate`.
async fn rotate(
    endpoint: &str,
    home: &Path,
    sign: &SignArgs,
    encrypt: bool,
    json: bool,
) -> anyhow::Result<()> {
    let signer = sign.signer(home)?;
    let dept = signer.department.clone();
    let operator = sign.operator.clone().unwrap_or_default();
    let path = match &sign.key {
        Some(p) => p.clone(),
        None => home.join("keys").join(format!("{dept}.pem")),
    };
    let next = path.with_extension("pem.next");
    let new = if next.exists() {
        keyfile::load(&next).context("resuming an interrupted rotation")?
    } else {
        let key = PrivateKey::generate();
        let pass = if encrypt {
            Some(keyfile::passphrase("passphrase for the new key: ", true)?)
        } else {
            None
        };
        keyfile::save(&next, &key, pass.as_deref())?;
        key
    };
    let mut client = Client::connect(endpoint).await?;
    client.expire_after(sign.expires_in);
    let chain_id = client.status().chain_id.clone();
    let payload = pb::payload::Kind::RotateKey(pb::RotateKey {
        operator: operator.clone(),
        public_key: new.public_key().to_sec1(),
        proof: proof(&new, &chain_id, &dept, &operator),
    });
    let r = client.submit(&signer, payload).await?;
    if let Some(e) = govchain_node::output::receipt_error(&r.receipt) {
        std::fs::remove_file(&next).ok();
        anyhow::bail!("the rotation failed, the old key stays in force: {e}");
    }
    let height = r.receipt.height;
    let retired = path.with_extension(format!("pem.retired-{height}"));
    std::fs::rename(&path, &retired)
        .with_context(|| format!("moving the old key to {}", retired.display()))?;
    std::fs::rename(&next, &path)
        .with_context(|| format!("moving the new key to {}", path.display()))?;
    let value = json!({
        "account": govchain_types::account_label(&dept, &operator),
        "height": height,
        "tx_hash": hex::encode(&r.tx_hash),
        "public_key": hex::encode(new.public_key().to_sec1()),
        "key_file": path,
        "retired_key_file": retired,
    });
    emit(json, &value, || {
        println!(
            "{}",
            kv(&[
                (
                    "account",
                    value["account"].as_str().unwrap_or_default().to_string()
                ),
                ("in force from height", height.to_string()),
                (
                    "new public key",
                    value["public_key"].as_str().unwrap_or_default().to_string()
                ),
                ("key file", path.display().to_string()),
                ("old key kept as", retired.display().to_string()),
            ])
        );
    });
    Ok(())
}
