//! A connection to a node: the chain's id, one stub per service, submitting with
//! tracked nonces, signed reads.

use std::collections::BTreeMap;

use govchain_types::event::{self, Event, SystemEvent};
use govchain_types::{ErrorCode, pb};
use tonic::transport::Channel;

use crate::error::{ClientError, Result};
use crate::rpc::{GetNonceRequest, GetStatusRequest, GetStatusResponse, SubmitTxRequest};
use crate::signer::Signer;
use crate::{
    AuditClient, CertificatesClient, ChainClient, ContractsClient, GovernanceClient, PointsClient,
};

/// Largest message a client sends or accepts (a contract's code, an audit export).
const MAX_MESSAGE: usize = 64 << 20;

/// A connection to one node of one chain.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    status: GetStatusResponse,
    nonces: Nonces,
    /// Blocks after the height seen at connection within which a submitted transaction
    /// must be included; 0 for never.
    expiry_blocks: u64,
}

/// How many blocks after the height a client saw at connection its transactions stay
/// valid, unless [`Client::expire_after`] says otherwise: a transaction that did not
/// make it by then (a node down, a full mempool) can never commit later, when its
/// sender has moved on.
pub const DEFAULT_EXPIRY_BLOCKS: u64 = 600;

impl Client {
    /// Connects to a node's gRPC endpoint (`host:port` or a URL) and reads its status.
    pub async fn connect(endpoint: &str) -> Result<Client> {
        let channel = channel(endpoint).await?;
        let status = ChainClient::new(channel.clone())
            .get_status(GetStatusRequest {})
            .await?
            .into_inner();
        Ok(Client {
            channel,
            status,
            nonces: Nonces::default(),
            expiry_blocks: DEFAULT_EXPIRY_BLOCKS,
        })
    }

    /// [`Client::connect`], refused unless the node runs the chain of `chain_id` and
    /// `genesis_hash` (from the network's genesis file, which a department holds). Use
    /// this whenever the genesis is at hand: signed reads name the chain id, sealed
    /// certificates go to its custody key set, and a node is not the one to say which
    /// chain that is.
    pub async fn connect_to(endpoint: &str, chain_id: &str, genesis_hash: &[u8]) -> Result<Client> {
        let client = Client::connect(endpoint).await?;
        if client.status.chain_id != chain_id || client.status.genesis_hash != genesis_hash {
            return Err(ClientError::Answer(format!(
                "the node at {endpoint} runs chain '{}' of genesis {}, not '{chain_id}' of genesis {}",
                client.status.chain_id,
                hex(&client.status.genesis_hash),
                hex(genesis_hash)
            )));
        }
        Ok(client)
    }

    /// The chain's id, as the node reported it at connection.
    pub fn chain_id(&self) -> &str {
        &self.status.chain_id
    }

    /// The node's minimal status at connection (chain id, node id, genesis hash, height;
    /// [`Client::full_status`] for the rest).
    pub fn status(&self) -> &GetStatusResponse {
        &self.status
    }

    /// The channel, for stubs of one's own.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The chain service: status, blocks, transactions.
    pub fn chain(&self) -> ChainClient<Channel> {
        ChainClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    /// The certificates service: certificates, grants, policy, releases.
    pub fn certificates(&self) -> CertificatesClient<Channel> {
        CertificatesClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The audit service (signed reads).
    pub fn audit(&self) -> AuditClient<Channel> {
        AuditClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The points service.
    pub fn points(&self) -> PointsClient<Channel> {
        PointsClient::new(self.channel.clone())
    }

    /// The governance service.
    pub fn governance(&self) -> GovernanceClient<Channel> {
        GovernanceClient::new(self.channel.clone())
    }

    /// The contracts service.
    pub fn contracts(&self) -> ContractsClient<Channel> {
        ContractsClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    /// Transactions [`Client::submit`] signs from now on must be included within
    /// `blocks` blocks of the height seen at connection (0: no expiry). The default is
    /// [`DEFAULT_EXPIRY_BLOCKS`].
    pub fn expire_after(&mut self, blocks: u64) {
        self.expiry_blocks = blocks;
    }

    /// The nonces this client counts.
    pub fn nonces(&mut self) -> &mut Nonces {
        &mut self.nonces
    }

    /// Signs `payload` with the signer's next nonce and an expiry height
    /// ([`Client::expire_after`]), submits it and waits for its receipt, which may
    /// record a failure ([`Receipt::ok`] turns one into an error).
    /// When the node refuses the transaction, the account's nonce is read again next
    /// time.
    pub async fn submit(&mut self, signer: &Signer, payload: pb::payload::Kind) -> Result<Receipt> {
        let nonce = self.next_nonce(signer).await?;
        let mut body = signer.body(&self.status.chain_id, nonce, payload);
        if self.expiry_blocks > 0 {
            body.expiry_height = self.status.height.saturating_add(self.expiry_blocks);
        }
        let tx = signer.sign_body(&body);
        match self.submit_signed(tx).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.nonces.forget(signer);
                Err(e)
            }
        }
    }

    /// The signer's next nonce, counted as used: read from the node the first time (a
    /// read signed by the signer: a department reads only its own accounts' nonces),
    /// counted locally after that.
    pub async fn next_nonce(&mut self, signer: &Signer) -> Result<u64> {
        let account = signer.account();
        let n = match self.nonces.next.get(&account) {
            Some(n) => *n,
            None => {
                let req = self.signed(
                    signer,
                    "/govchain.v1.Chain/GetNonce",
                    GetNonceRequest {
                        department: signer.department.clone(),
                        operator: signer.operator.clone(),
                    },
                )?;
                self.chain().get_nonce(req).await?.into_inner().next_nonce
            }
        };
        self.nonces.next.insert(account, n + 1);
        Ok(n)
    }

    /// The node's full status (members, validators, mempool, evidence, the engine's
    /// health) as `signer` may read it; [`Client::status`] is the minimal one any caller
    /// gets.
    pub async fn full_status(&self, signer: &Signer) -> Result<GetStatusResponse> {
        let req = self.signed(signer, "/govchain.v1.Chain/GetStatus", GetStatusRequest {})?;
        Ok(self.chain().get_status(req).await?.into_inner())
    }

    /// Submits a signed transaction and waits for its receipt.
    pub async fn submit_signed(&self, tx: pb::SignedTx) -> Result<Receipt> {
        let r = self
            .chain()
            .submit_tx(SubmitTxRequest {
                tx: Some(tx),
                wait: true,
            })
            .await?
            .into_inner();
        let receipt = r.receipt.ok_or_else(|| {
            ClientError::Answer("a submitted transaction came back without its receipt".into())
        })?;
        Receipt::new(r.tx_hash, receipt)
    }

    /// `message` as a read signed by `signer` for method `path` (for example
    /// `/govchain.v1.Audit/Query`) of the node this client is connected to, at this
    /// machine's clock, with a fresh nonce: the node takes it once. Fails if the
    /// signer's department or operator id cannot travel in a header (control
    /// characters).
    pub fn signed<M: prost::Message>(
        &self,
        signer: &Signer,
        path: &str,
        message: M,
    ) -> Result<tonic::Request<M>> {
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let nonce = govchain_crypto::random_seed();
        let to = govchain_proof::signed_read::ReadTo {
            chain_id: &self.status.chain_id,
            audience: &self.status.node_id,
            path,
            time_ms,
            nonce: &nonce[..16],
        };
        signed_request(&to, signer, message)
    }
}

/// `message` as a read signed by `signer`, sent as `to` says.
fn signed_request<M: prost::Message>(
    to: &govchain_proof::signed_read::ReadTo<'_>,
    signer: &Signer,
    message: M,
) -> Result<tonic::Request<M>> {
    let value = signer.read_header(to, &message.encode_to_vec());
    let value = value.parse().map_err(|_| ClientError::Signer {
        account: signer.account(),
        reason:
            "the ids of a signed read cannot hold control characters (department ids are a-z, 0-9 and '-')"
                .into(),
    })?;
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert(govchain_proof::signed_read::AUTH_METADATA, value);
    Ok(req)
}

fn hex(bytes: &[u8]) -> String {
    govchain_types::HashHex(bytes).to_string()
}

/// A channel to a node's gRPC endpoint (`host:port` or a URL).
async fn channel(endpoint: &str) -> Result<Channel> {
    let url = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let bad = |reason: String| ClientError::Endpoint {
        endpoint: endpoint.to_string(),
        reason,
    };
    Channel::from_shared(url.clone())
        .map_err(|e| bad(e.to_string()))?
        .connect()
        .await
        .map_err(|source| ClientError::Connect { url, source })
}

/// The next nonce of each account a client signs for ([`Client::next_nonce`]): read
/// from the node the first time, counted locally after that.
#[derive(Debug, Clone, Default)]
pub struct Nonces {
    next: BTreeMap<String, u64>,
}

impl Nonces {
    /// Forgets every count (transactions were refused).
    pub fn clear(&mut self) {
        self.next.clear();
    }

    /// Forgets the signer's count (a transaction was refused, so its nonce is unused):
    /// the next one is read from the node again.
    pub fn forget(&mut self, signer: &Signer) {
        self.next.remove(&signer.account());
    }
}

/// A transaction's receipt with its events typed.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The transaction's SM3 hash.
    pub tx_hash: Vec<u8>,
    /// The receipt as the node sent it.
    pub receipt: pb::Receipt,
    /// Its events, typed.
    pub events: Vec<Event>,
}

/// A [`Receipt`] reads as the node's receipt (height, status, output...).
impl std::ops::Deref for Receipt {
    type Target = pb::Receipt;
    fn deref(&self) -> &pb::Receipt {
        &self.receipt
    }
}

impl Receipt {
    /// Types a receipt's events; an event that does not parse is an error.
    pub fn new(tx_hash: Vec<u8>, receipt: pb::Receipt) -> Result<Receipt> {
        let events = event::events_of(&receipt)?;
        Ok(Receipt {
            tx_hash,
            receipt,
            events,
        })
    }

    /// Whether the transaction succeeded.
    pub fn succeeded(&self) -> bool {
        self.receipt.status == pb::TxStatus::Ok as i32
    }

    /// The receipt, or its failure as [`ClientError::Failed`].
    pub fn ok(self) -> Result<Receipt> {
        if self.succeeded() {
            return Ok(self);
        }
        Err(ClientError::Failed {
            code: ErrorCode::try_from(self.receipt.error_code as i32)
                .unwrap_or(ErrorCode::Unspecified),
            message: self.receipt.error_message.clone(),
        })
    }

    /// The first event of type `T`.
    pub fn event<T: SystemEvent>(&self) -> Option<&T> {
        self.events.iter().find_map(T::of)
    }

    /// Every event of type `T`, in order.
    pub fn all<'a, T: SystemEvent + 'a>(&'a self) -> impl Iterator<Item = &'a T> {
        self.events.iter().filter_map(T::of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_crypto::PrivateKey;

    #[test]
    fn a_signed_read_carries_its_header_and_refuses_ids_a_header_cannot_carry() {
        let ok = Signer::new("audit", PrivateKey::generate());
        let to = govchain_proof::signed_read::ReadTo {
            chain_id: "chain",
            audience: "node1",
            path: "/p",
            time_ms: 5,
            nonce: &[1; 16],
        };
        let req = signed_request(&to, &ok, GetStatusRequest {}).unwrap();
        let header = req
            .metadata()
            .get(govchain_proof::signed_read::AUTH_METADATA);
        assert!(header.unwrap().to_str().unwrap().starts_with("audit;;5;"));
        let bad = Signer::new("tax\nx-other: 1", PrivateKey::generate());
        let e = signed_request(&to, &bad, GetStatusRequest {}).unwrap_err();
        assert!(e.to_string().starts_with("cannot sign as 'tax"), "{e}");
    }
}
