//! `cert publish`: a document sealed on this machine and published by its issuer.

use std::path::Path;

use anyhow::{Context, bail};
use govchain_client::Entropy;
use govchain_client::rpc::*;
use govchain_client::seal::seal_certificate;
use govchain_node::network::{CUSTODY_KEY_WAIT, wait_for_custody_key};
use govchain_node::network::{connect_checked, subject_of};
use govchain_state::certs;
use govchain_types::pb;
use serde_json::Value;

use super::{document_defaults, str_of};
use crate::client::SignArgs;
use crate::cmd::chain::transact;

#[allow(clippy::too_many_arguments)]
pub(super) async fn publish(
    endpoint: &str,
    home: &Path,
    cert_type: String,
    subject: &str,
    file: &Path,
    number: Option<String>,
    issued: Option<String>,
    expires: Option<String>,
    meta: &[String],
    sign: &SignArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let doc = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let defaults = document_defaults(&doc);
    let number = number.or_else(|| str_of(&defaults, "number")).context(
        "MISSING_FIELD (3011): give --number, or a top-level \"number\" in the document",
    )?;
    let issued_on = issued.or_else(|| str_of(&defaults, "issued_on")).context(
        "MISSING_FIELD (3011): give --issued YYYY-MM-DD, or \"issued_on\" in the document",
    )?;
    let expires_on = expires
        .or_else(|| str_of(&defaults, "expires_on"))
        .unwrap_or_default();
    let mut metadata: Vec<pb::Attribute> = match defaults.get("metadata") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| pb::Attribute {
                key: k.clone(),
                value: v.as_str().map_or_else(|| v.to_string(), str::to_string),
            })
            .collect(),
        _ => vec![],
    };
    for m in meta {
        let (k, v) = m
            .split_once('=')
            .with_context(|| format!("--meta '{m}' is not name=value"))?;
        metadata.retain(|a| a.key != k);
        metadata.push(pb::Attribute {
            key: k.to_string(),
            value: v.to_string(),
        });
    }
    // Checked against genesis: on another chain the data key would be encrypted to the
    // wrong validators.
    let (client, genesis) = connect_checked(endpoint, home).await?;
    let subject_id = subject_of(home, subject)?;
    let signer = sign.signer(home)?;
    let custody = wait_for_custody_key(&client, &signer, &genesis, CUSTODY_KEY_WAIT).await?;
    let id = certs::cert_id(&cert_type, &number);
    let p = seal_certificate(
        &genesis.chain_id,
        &custody,
        &signer.key,
        pb::PublishCertificate {
            cert_type,
            number,
            subject_id,
            issued_on,
            expires_on,
            metadata,
            ..Default::default()
        },
        &doc,
        &Entropy::Os,
    );
    let existing = client
        .certificates()
        .get_certificate(client.signed(
            &signer,
            "/govchain.v1.Certificates/GetCertificate",
            GetCertificateRequest { id: id.clone() },
        )?)
        .await;
    if let Ok(c) = existing {
        let c = c.into_inner();
        bail!(
            "DUPLICATE_CERTIFICATE (3013): certificate '{}' number '{}' already exists (id {id}, published by {} at height {})",
            c.cert_type,
            c.number,
            c.issuer,
            c.height
        );
    }
    let r = transact(
        endpoint,
        home,
        sign,
        pb::payload::Kind::Publish(p),
        json_out,
    )
    .await?;
    if !json_out {
        println!("certificate {id} published at height {}", r.receipt.height);
        println!(
            "its SM4 data key is encrypted to the validators' custody key set ({} of them needed to open it); read it with `govchain cert request {id} --purpose …` and `govchain cert fetch <request>`",
            custody.threshold()
        );
    }
    Ok(())
}
