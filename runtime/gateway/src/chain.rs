//! The gateway's side of the chain: its signers, a connection that fails over between
//! the nodes it is given, nonces it counts itself, and transactions that are journaled
//! before they are sent and settled after a restart (`docs/design/gateway.md`).

use std::collections::BTreeMap;
use std::time::Duration;

use govchain_client::rpc::{GetStatusRequest, GetTxRequest};
use govchain_client::shares::Trust;
use govchain_client::{Client, ClientError, Receipt, Signer};
use govchain_state::Genesis;
use govchain_types::event::Access;
use govchain_types::{ErrorCode, pb};
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};

use crate::problem::Problem;

/// Blocks a transaction stays valid after the height it was signed at.
const EXPIRY_BLOCKS: u64 = 600;

/// What a journaled transaction does: how to answer from its receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Publishes certificate `certificate_id`.
    Publish {
        /// Its id.
        certificate_id: String,
    },
    /// Asks to read a certificate.
    Request,
}

impl Op {
    /// The HTTP answer to this operation's receipt: `201` with what it did, or the
    /// problem of a failed transaction.
    pub fn answer(&self, r: &Receipt) -> (u16, Value) {
        if !r.succeeded() {
            let code =
                ErrorCode::try_from(r.receipt.error_code as i32).unwrap_or(ErrorCode::Internal);
            let p = Problem::new(code, r.receipt.error_message.clone());
            return (p.status.as_u16(), p.body());
        }
        let tx = json!({"height": r.receipt.height, "tx_hash": hex::encode(&r.tx_hash)});
        let mut body = match self {
            Op::Publish { certificate_id } => json!({ "certificate_id": certificate_id }),
            Op::Request => match r.event::<Access>() {
                Some(a) => json!({
                    "request": a.request, "certificate_id": a.cert, "decision": a.decision,
                    "reason": a.reason, "points": a.points, "owner": a.owner,
                }),
                None => json!({}),
            },
        };
        if let (Value::Object(b), Value::Object(t)) = (&mut body, tx) {
            b.extend(t);
        }
        (201, body)
    }
}

/// The chain as the gateway uses it.
pub struct Chain {
    endpoints: Vec<String>,
    /// The network's genesis: the trust anchor.
    pub genesis: Genesis,
    /// The chain salt (subject ids of national ids).
    pub salt: Vec<u8>,
    /// The department's signer ("") and its operators', by operator id.
    signers: BTreeMap<String, Signer>,
    conn: Mutex<(usize, Option<Client>)>,
    nonces: Mutex<BTreeMap<String, u64>>,
    trust: OnceCell<Trust>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("endpoints", &self.endpoints)
            .field("signers", &self.signers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Whether `e` is the node's fault of reach, not an answer: try another node.
fn unreachable(e: &ClientError) -> bool {
    match e {
        ClientError::Connect { .. } => true,
        ClientError::Rpc { grpc, code, .. } => {
            code.is_none() && matches!(grpc, tonic::Code::Unavailable | tonic::Code::Unknown)
                || *code == Some(ErrorCode::Unavailable)
        }
        _ => false,
    }
}

impl Chain {
    /// The chain at `endpoints`, checked against `genesis`, signing as `signers`.
    pub fn new(
        endpoints: Vec<String>,
        genesis: Genesis,
        salt: Vec<u8>,
        signers: BTreeMap<String, Signer>,
    ) -> Self {
        Chain {
            endpoints,
            genesis,
            salt,
            signers,
            conn: Mutex::new((0, None)),
            nonces: Mutex::new(BTreeMap::new()),
            trust: OnceCell::new(),
        }
    }

    /// The signer of `operator` ("" for the department's own key).
    pub fn signer(&self, operator: &str) -> Result<&Signer, Problem> {
        self.signers.get(operator).ok_or_else(|| {
            Problem::new(
                ErrorCode::UnknownOperator,
                format!(
                    "this gateway holds no key of operator '{operator}' (its key folder has <department>.<operator>.pem)"
                ),
            )
        })
    }

    /// A connection to a node of the chain: the current one, else the first of the
    /// endpoints (from the current on) that answers and runs this chain.
    pub async fn client(&self) -> Result<Client, Problem> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = &conn.1 {
            return Ok(c.clone());
        }
        let mut last = None;
        for i in 0..self.endpoints.len() {
            let at = (conn.0 + i) % self.endpoints.len();
            let hash = self.genesis.hash();
            match Client::connect_to(&self.endpoints[at], &self.genesis.chain_id, &hash).await {
                Ok(c) => {
                    *conn = (at, Some(c.clone()));
                    return Ok(c);
                }
                Err(e) => {
                    tracing::warn!(endpoint = %self.endpoints[at], "node unreachable: {e}");
                    last = Some(e);
                }
            }
        }
        Err(match last {
            Some(e) => Problem::new(
                ErrorCode::Unavailable,
                format!("no node of {:?} answers: {e}", self.endpoints),
            ),
            None => Problem::new(ErrorCode::Unavailable, "no endpoints"),
        })
    }

    /// Drops the current connection after `e` if it says the node is out of reach, so
    /// that the next call goes to the next node; `true` if so.
    async fn fail_over(&self, e: &ClientError) -> bool {
        if !unreachable(e) {
            return false;
        }
        let mut conn = self.conn.lock().await;
        if conn.1.take().is_some() {
            conn.0 = (conn.0 + 1) % self.endpoints.len();
            tracing::warn!("node unreachable, trying the next: {e}");
        }
        true
    }

    /// Runs `call` against a node, again against the next ones while nodes are out of
    /// reach.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, Problem>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut tries = 0;
        loop {
            let c = self.client().await?;
            match call(c).await {
                Ok(v) => return Ok(v),
                Err(e) if tries < self.endpoints.len() && self.fail_over(&e).await => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The requester's trust anchor: genesis and the custody key set a node proves to
    /// it (once).
    pub async fn trust(&self) -> Result<&Trust, Problem> {
        self.trust
            .get_or_try_init(|| async {
                let client = self.client().await?;
                let signer = self.signer("")?;
                govchain_node::network::trust(
                    &client,
                    signer,
                    &self.genesis,
                    govchain_node::network::CUSTODY_KEY_WAIT,
                )
                .await
                .map_err(Problem::from)
            })
            .await
    }

    /// `payload` signed by `signer` with its next nonce, valid for 600
    /// blocks from the chain's height now.
    pub async fn sign(
        &self,
        signer: &Signer,
        payload: pb::payload::Kind,
    ) -> Result<pb::SignedTx, Problem> {
        let height = self
            .call(|c| async move {
                Ok(c.chain()
                    .get_status(GetStatusRequest {})
                    .await?
                    .into_inner()
                    .height)
            })
            .await?;
        let nonce = self.next_nonce(signer).await?;
        let mut body = signer.body(&self.genesis.chain_id, nonce, payload);
        body.expiry_height = height + EXPIRY_BLOCKS;
        Ok(signer.sign_body(&body))
    }

    async fn next_nonce(&self, signer: &Signer) -> Result<u64, Problem> {
        let mut nonces = self.nonces.lock().await;
        let account = signer.account();
        let n = match nonces.get(&account) {
            Some(n) => *n,
            None => {
                self.call(|mut c| async move { c.next_nonce(signer).await })
                    .await?
            }
        };
        nonces.insert(account, n + 1);
        Ok(n)
    }

    async fn forget_nonce(&self, signer: &Signer) {
        self.nonces.lock().await.remove(&signer.account());
    }

    /// The receipt of `tx` once committed: sends it (again) and waits; if it was
    /// committed already, its receipt; if its nonce went to another transaction of the
    /// account or it expired unsent, the same payload signed afresh (`resign` is told
    /// the new transaction before it is sent, to journal it). Never commits the payload
    /// twice: a transaction whose nonce is taken can no longer commit.
    pub async fn settle(
        &self,
        mut tx: pb::SignedTx,
        signer: &Signer,
        resign: impl Fn(&pb::SignedTx) -> anyhow::Result<()>,
    ) -> Result<Receipt, Problem> {
        loop {
            let hash = govchain_crypto::sm3(&tx.body).to_vec();
            if let Some(r) = self.committed(signer, &hash).await? {
                return Ok(r);
            }
            let sent = tx.clone();
            match self
                .call(|c| {
                    let t = sent.clone();
                    async move { c.submit_signed(t).await }
                })
                .await
            {
                Ok(r) => return Ok(r),
                Err(p) if p.code == ErrorCode::DuplicateTx || p.code == ErrorCode::Timeout => {
                    // Pending somewhere: wait for it to commit (or expire).
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(p)
                    if matches!(
                        p.code,
                        ErrorCode::NonceReplayed | ErrorCode::NonceGap | ErrorCode::TxExpired
                    ) =>
                {
                    if let Some(r) = self.committed(signer, &hash).await? {
                        return Ok(r);
                    }
                    self.forget_nonce(signer).await;
                    let body = pb::TxBody::decode(tx.body.as_slice()).map_err(|e| {
                        Problem::new(ErrorCode::Internal, format!("journaled transaction: {e}"))
                    })?;
                    let payload = body.payload.and_then(|p| p.kind).ok_or_else(|| {
                        Problem::new(ErrorCode::Internal, "journaled transaction without payload")
                    })?;
                    tx = self.sign(signer, payload).await?;
                    resign(&tx)?;
                }
                Err(p) => {
                    self.forget_nonce(signer).await;
                    return Err(p);
                }
            }
        }
    }

    /// The receipt of the committed transaction `hash`, if it is committed.
    async fn committed(&self, signer: &Signer, hash: &[u8]) -> Result<Option<Receipt>, Problem> {
        let got = self
            .call(|c| async move {
                let req = c.signed(
                    signer,
                    "/govchain.v1.Chain/GetTx",
                    GetTxRequest {
                        tx_hash: hash.to_vec(),
                    },
                )?;
                match c.chain().get_tx(req).await {
                    Ok(r) => Ok(Some(r.into_inner())),
                    Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
                    Err(s) => Err(s.into()),
                }
            })
            .await?;
        match got.and_then(|r| r.receipt) {
            Some(receipt) => Ok(Some(Receipt::new(hash.to_vec(), receipt)?)),
            None => Ok(None),
        }
    }
}
