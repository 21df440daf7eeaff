//! Talking to a node: connecting, signing as a department, submitting.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use govchain_api::ChainClient;
use govchain_api::rpc::{GetNonceRequest, GetStatusRequest, SubmitTxRequest, SubmitTxResponse};
use govchain_crypto::PrivateKey;
use govchain_types::pb;
use tonic::transport::Channel;

/// Default endpoint of `govchain dev`.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7545";

/// Options of commands that sign.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// Sign as this department (its key from `<home>/keys/<department>.pem`).
    #[arg(long = "as", value_name = "DEPARTMENT")]
    pub(crate) as_dept: Option<String>,
    /// Use this key file instead.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Sign as this operator of the department.
    #[arg(long)]
    pub(crate) operator: Option<String>,
}

impl SignArgs {
    /// The signer these options name (see [`signer`]).
    pub(crate) fn signer(&self, home: &Path) -> anyhow::Result<Signer> {
        signer(
            home,
            self.as_dept.as_deref(),
            self.key.as_ref(),
            self.operator.as_deref(),
        )
    }
}

/// Connects to a node's gRPC endpoint.
pub(crate) async fn connect(endpoint: &str) -> anyhow::Result<ChainClient<Channel>> {
    Ok(ChainClient::new(channel(endpoint).await?)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}

/// A channel to a node's gRPC endpoint.
pub(crate) async fn channel(endpoint: &str) -> anyhow::Result<Channel> {
    let url = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let channel = Channel::from_shared(url.clone())
        .with_context(|| format!("bad endpoint '{endpoint}'"))?
        .connect()
        .await
        .with_context(|| {
            format!("cannot reach a govchain node at {url} (is `govchain dev` running?)")
        })?;
    Ok(channel)
}

/// Turns a gRPC status into an error that shows our stable code and message.
pub(crate) fn rpc_error(s: tonic::Status) -> anyhow::Error {
    match govchain_api::error::detail_of(&s) {
        Some(d) if d.code != 0 => {
            let name = pb::ErrorCode::try_from(d.code)
                .map(|c| c.as_str_name())
                .unwrap_or("UNKNOWN");
            anyhow::anyhow!("{name} ({}): {}", d.code, d.message)
        }
        _ => anyhow::anyhow!("{:?}: {}", s.code(), s.message()),
    }
}

/// Who signs: a department (and optionally one of its operators) with a key.
#[derive(Debug)]
pub(crate) struct Signer {
    pub(crate) department: String,
    pub(crate) operator: String,
    pub(crate) key: PrivateKey,
}

/// Resolves `--as <dept>` (key from `<home>/keys/<dept>.pem`) or `--key <file>`.
pub(crate) fn signer(
    home: &Path,
    as_dept: Option<&str>,
    key: Option<&PathBuf>,
    operator: Option<&str>,
) -> anyhow::Result<Signer> {
    let Some(dept) = as_dept else {
        bail!("name the signing department with --as <department>");
    };
    let path = match key {
        Some(p) => p.clone(),
        None => home.join("keys").join(format!("{dept}.pem")),
    };
    if !path.exists() {
        bail!(
            "no key for '{dept}' at {} (use --home for another network folder, or --key <file>)",
            path.display()
        );
    }
    Ok(Signer {
        department: dept.to_string(),
        operator: operator.unwrap_or_default().to_string(),
        key: crate::keyfile::load(&path)?,
    })
}

impl Signer {
    /// Builds and signs a transaction.
    pub(crate) fn sign(
        &self,
        chain_id: &str,
        nonce: u64,
        payload: pb::payload::Kind,
    ) -> pb::SignedTx {
        let body = pb::TxBody {
            chain_id: chain_id.to_string(),
            sender: self.department.clone(),
            operator: self.operator.clone(),
            nonce,
            expiry_height: 0,
            payload: Some(pb::Payload {
                kind: Some(payload),
            }),
        };
        let body = govchain_types::encode(&body);
        pb::SignedTx {
            signature: self.key.sign(&body).to_bytes().to_vec(),
            signer_pubkey: self.key.public_key().to_sec1(),
            body,
        }
    }
}

/// Signs `payload` with the account's next nonce, submits it and waits for the receipt.
pub(crate) async fn submit(
    client: &mut ChainClient<Channel>,
    signer: &Signer,
    payload: pb::payload::Kind,
) -> anyhow::Result<SubmitTxResponse> {
    let status = client
        .get_status(GetStatusRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner();
    let nonce = client
        .get_nonce(GetNonceRequest {
            department: signer.department.clone(),
            operator: signer.operator.clone(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner()
        .next_nonce;
    let tx = signer.sign(&status.chain_id, nonce, payload);
    Ok(client
        .submit_tx(SubmitTxRequest {
            tx: Some(tx),
            wait: true,
        })
        .await
        .map_err(rpc_error)?
        .into_inner())
}

/// A request signed for the services that answer only some departments (see
/// `govchain_api::auth`).
pub(crate) fn signed_request<M: prost::Message>(
    home: &Path,
    sign: &SignArgs,
    chain_id: &str,
    path: &str,
    message: M,
) -> anyhow::Result<tonic::Request<M>> {
    let s = sign.signer(home)?;
    let time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let bytes =
        govchain_api::auth::signing_bytes(chain_id, path, time_ms, &message.encode_to_vec());
    let sig = s.key.sign(&bytes).to_bytes();
    let value = govchain_api::auth::header_value(&s.department, &s.operator, time_ms, &sig);
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        govchain_api::auth::AUTH_METADATA,
        value.parse().context("auth header")?,
    );
    Ok(req)
}
