//! The gateway's side of the chain: its signers, a connection that fails over between
//! the nodes it is given, nonces it counts itself, and transactions that are journaled
//! before they are sent and settled after a restart (`docs/design/gateway.md`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use govchain_client::rpc::{
    GetNonceRequest, GetNonceResponse, GetReleasesRequest, GetReleasesResponse, GetStatusRequest,
    GetTxRequest, StreamBlocksRequest, SubmitTxRequest,
};
use govchain_client::shares::Trust;
use govchain_client::{Client, ClientError, Receipt, Signer};
use govchain_state::Genesis;
use govchain_types::{ErrorCode, pb};
use prost::Message;
use tokio::sync::{Mutex, OnceCell, broadcast};

use crate::problem::Problem;

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
    accounts: Mutex<BTreeMap<String, Arc<Mutex<Option<u64>>>>>,
    /// The transaction hashes of each block committed since the gateway started
    /// ([`Chain::follow`]): settling wakes when its transaction is among them.
    commits: broadcast::Sender<Arc<Vec<Vec<u8>>>>,
    trust: OnceCell<Trust>,
    /// Genesis as the light verifier holds it: receipts are checked against it.
    anchor: govchain_proof::TrustAnchor,
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
    ) -> anyhow::Result<Self> {
        let anchor = govchain_proof::TrustAnchor::from_genesis_json(&genesis.to_json())
            .map_err(anyhow::Error::msg)?;
        Ok(Chain {
            anchor,
            endpoints,
            genesis,
            salt,
            signers,
            conn: Mutex::new((0, None)),
            accounts: Mutex::new(BTreeMap::new()),
            commits: broadcast::channel(256).0,
            trust: OnceCell::new(),
        })
    }

    /// What `GetReleases` answers for `request`, asked as the department (the
    /// requester's answer, checked by whoever uses it).
    pub async fn releases(&self, request: u64) -> Result<GetReleasesResponse, Problem> {
        let dept = self.signer("")?;
        self.call(|c| async move {
            let req = c.signed(
                dept,
                "/govchain.v1.Certificates/GetReleases",
                GetReleasesRequest { request },
            )?;
            Ok(c.certificates().get_releases(req).await?.into_inner())
        })
        .await
    }

    /// The transaction hashes of each block committed from now on.
    pub fn blocks(&self) -> broadcast::Receiver<Arc<Vec<Vec<u8>>>> {
        self.commits.subscribe()
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

    /// A connection to a node of the chain and its endpoint's index: the current one,
    /// else the first of the endpoints (from the current on) that answers within 5 s and
    /// runs this chain.
    async fn connected(&self) -> Result<(Client, usize), Problem> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = &conn.1 {
            return Ok((c.clone(), conn.0));
        }
        let mut last = String::from("no endpoints");
        for i in 0..self.endpoints.len() {
            let at = (conn.0 + i) % self.endpoints.len();
            let hash = self.genesis.hash();
            let connect = Client::connect_to(&self.endpoints[at], &self.genesis.chain_id, &hash);
            match tokio::time::timeout(CONNECT_TIME, connect).await {
                Ok(Ok(c)) => {
                    *conn = (at, Some(c.clone()));
                    return Ok((c, at));
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = format!("no answer within {} s", CONNECT_TIME.as_secs()),
            }
            tracing::warn!(endpoint = %self.endpoints[at], "node unreachable: {last}");
        }
        Err(Problem::new(
            ErrorCode::Unavailable,
            format!("no node answers ({last}): retry later"),
        ))
    }

    /// A connection to a node of the chain.
    pub async fn client(&self) -> Result<Client, Problem> {
        Ok(self.connected().await?.0)
    }

    /// After `e` from the node at endpoint `at`: if it says the node is out of reach,
    /// drops that connection (not one made since to another node) so that the next
    /// call goes to the next node; `true` if so.
    async fn fail_over(&self, at: usize, e: &ClientError) -> bool {
        if !unreachable(e) {
            return false;
        }
        let mut conn = self.conn.lock().await;
        if conn.0 == at && conn.1.take().is_some() {
            conn.0 = (at + 1) % self.endpoints.len();
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
            let (c, at) = self.connected().await?;
            match call(c).await {
                Ok(v) => return Ok(v),
                Err(e) if tries < self.endpoints.len() && self.fail_over(at, &e).await => {
                    tries += 1;
                }
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

    /// The account's admission slot: its next nonce as this gateway counts it (`None`:
    /// ask a node), locked from choosing a nonce until a node took or refused the
    /// transaction, so that the account's transactions reach the node in nonce order.
    async fn slot(&self, signer: &Signer) -> Arc<Mutex<Option<u64>>> {
        self.accounts
            .lock()
            .await
            .entry(signer.account())
            .or_default()
            .clone()
    }

    /// Signs `payload` as `signer` with the account's next nonce, valid for
    /// [`govchain_client::DEFAULT_EXPIRY_BLOCKS`] blocks from the chain's height now,
    /// tells `journal` the transaction, then has a node admit it. An error before
    /// `journal` was told means nothing was sent; after, that a node refused it for
    /// good (it will never commit).
    pub async fn send(
        &self,
        signer: &Signer,
        payload: pb::payload::Kind,
        journal: impl Fn(&pb::SignedTx) -> Result<(), Problem>,
    ) -> Result<pb::SignedTx, Problem> {
        let slot = self.slot(signer).await;
        let mut next = slot.lock().await;
        let mut tries = 0;
        loop {
            let (c, at) = self.connected().await?;
            let read = async {
                let nonce = match *next {
                    Some(n) => n,
                    None => nonces(&c, signer).await?.next_nonce,
                };
                let status = c.chain().get_status(GetStatusRequest {}).await?;
                Ok::<_, ClientError>((nonce, status.into_inner().height))
            };
            let (nonce, height) = match read.await {
                Ok(v) => v,
                Err(e) => {
                    self.fail_over(at, &e).await;
                    return Err(e.into());
                }
            };
            let mut body = signer.body(&self.genesis.chain_id, nonce, payload.clone());
            body.expiry_height = height + govchain_client::DEFAULT_EXPIRY_BLOCKS;
            let tx = signer.sign_body(&body);
            journal(&tx)?;
            let admitted = c
                .chain()
                .submit_tx(SubmitTxRequest {
                    tx: Some(tx.clone()),
                    wait: false,
                })
                .await
                .map_err(ClientError::from);
            match admitted {
                Ok(_) => {
                    *next = Some(nonce + 1);
                    return Ok(tx);
                }
                // Another sender of the account (its CLI, say) used the nonce: no node
                // holds this transaction, so it is signed again with the node's count.
                Err(e)
                    if tries < 3
                        && matches!(
                            e.code(),
                            Some(ErrorCode::NonceReplayed | ErrorCode::NonceGap)
                        ) =>
                {
                    *next = None;
                    tries += 1;
                }
                Err(e) if never_admitted(&e) => {
                    // Refused for good, and the nonce is still free.
                    *next = Some(nonce);
                    return Err(e.into());
                }
                // Unknown whether a node holds it: settling finds out.
                Err(e) => {
                    *next = None;
                    self.fail_over(at, &e).await;
                    return Ok(tx);
                }
            }
        }
    }

    /// Waits up to `wait` (`None`: for good) for `tx` to commit, sending it again while
    /// no node holds it: its receipt, or `None` if it is still pending then. An error:
    /// it never will commit (its nonce went to another transaction of the account, it
    /// expired, or a node refuses it for good): nothing was done.
    pub async fn settle(
        &self,
        tx: &pb::SignedTx,
        signer: &Signer,
        wait: Option<Duration>,
    ) -> Result<Option<Receipt>, Problem> {
        let body = pb::TxBody::decode(tx.body.as_slice()).map_err(|e| {
            Problem::new(ErrorCode::Internal, format!("journaled transaction: {e}"))
        })?;
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        let hash = govchain_crypto::sm3(&tx.body).to_vec();
        let mut commits = self.commits.subscribe();
        loop {
            match self.look(tx, &body, signer).await {
                Ok(Look::Committed(r)) => return Ok(Some(r)),
                Ok(Look::Never(code, why)) => return Err(Problem::new(code, why)),
                Ok(Look::Pending) => {}
                // Not an answer about the transaction (no node, a node's failure): look
                // again.
                Err(p) => tracing::warn!("settling a transaction: {}", p.detail),
            }
            let now = tokio::time::Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            // Look again when a block names it, or after a second (a block missed).
            let until = deadline.map_or(now + LOOK_EVERY, |d| d.min(now + LOOK_EVERY));
            let named = async {
                loop {
                    match commits.recv().await {
                        Ok(hashes) if hashes.contains(&hash) => return,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => return,
                        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                    }
                }
            };
            let _ = tokio::time::timeout_at(until, named).await;
        }
    }

    /// Follows the chain's committed blocks (from a node, failing over like every call)
    /// for as long as the gateway runs, telling settling calls which transactions each
    /// block holds.
    pub async fn follow(self: Arc<Self>) {
        let mut from = 0;
        loop {
            if let Err(p) = self.follow_from(&mut from).await {
                tracing::debug!("following blocks: {}", p.detail);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn follow_from(&self, from: &mut u64) -> Result<(), Problem> {
        let (c, at) = self.connected().await?;
        let signer = self.signer("")?;
        let streamed = async {
            if *from == 0 {
                *from = c
                    .chain()
                    .get_status(GetStatusRequest {})
                    .await?
                    .into_inner()
                    .height
                    + 1;
            }
            let req = c.signed(
                signer,
                "/govchain.v1.Chain/StreamBlocks",
                StreamBlocksRequest { from_height: *from },
            )?;
            let mut blocks = c.chain().stream_blocks(req).await?.into_inner();
            while let Some(b) = blocks.message().await? {
                *from = b.height + 1;
                let _ = self.commits.send(Arc::new(b.tx_hashes));
            }
            Ok::<_, ClientError>(())
        };
        if let Err(e) = streamed.await {
            self.fail_over(at, &e).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// One look at `tx`: committed (its receipt, proven from genesis), never to be, or
    /// pending (sent again: a node that holds it already says so). An error is no
    /// answer. A node whose answer does not check is left for the next endpoint; "never"
    /// (its nonce went to another transaction, or it expired), which would have the
    /// caller send the request again, is asked of a second node when there is one and
    /// taken only if it agrees.
    async fn look(
        &self,
        tx: &pb::SignedTx,
        body: &pb::TxBody,
        signer: &Signer,
    ) -> Result<Look, Problem> {
        let (c, at) = self.connected().await?;
        let look = match self.look_on(&c, tx, body, signer).await {
            Ok(look) => look,
            Err(e) => {
                if matches!(e, ClientError::Answer(_)) {
                    self.distrust(at, &e).await;
                } else {
                    self.fail_over(at, &e).await;
                }
                return Err(e.into());
            }
        };
        let Look::Never(code, _) = &look else {
            return Ok(look);
        };
        if !matches!(code, ErrorCode::NonceReplayed | ErrorCode::TxExpired) {
            return Ok(look);
        }
        for i in 1..self.endpoints.len() {
            let other = &self.endpoints[(at + i) % self.endpoints.len()];
            let genesis_hash = self.genesis.hash();
            let connect = Client::connect_to(other, &self.genesis.chain_id, &genesis_hash);
            let Ok(Ok(c)) = tokio::time::timeout(CONNECT_TIME, connect).await else {
                continue;
            };
            return Ok(match self.look_on(&c, tx, body, signer).await {
                Ok(second @ (Look::Committed(_) | Look::Never(..))) => second,
                // The second node holds it, or cannot say: not "never" yet.
                _ => Look::Pending,
            });
        }
        Ok(look)
    }

    /// Drops the connection to the node at endpoint `at`, whose answer did not check, so
    /// that the next call goes to the next node.
    async fn distrust(&self, at: usize, e: &ClientError) {
        let mut conn = self.conn.lock().await;
        if conn.0 == at && conn.1.take().is_some() {
            conn.0 = (at + 1) % self.endpoints.len();
            tracing::warn!(endpoint = %self.endpoints[at], "node's answer does not check, trying the next: {e}");
        }
    }

    /// One look at `tx` through the node `c` talks to.
    async fn look_on(
        &self,
        c: &Client,
        tx: &pb::SignedTx,
        body: &pb::TxBody,
        signer: &Signer,
    ) -> Result<Look, ClientError> {
        let hash = govchain_crypto::sm3(&tx.body).to_vec();
        // In this order, on one node: if the account's committed nonce is past the
        // transaction's (or the chain past its expiry) and then it is not committed,
        // another transaction took its place for good.
        let committed_nonce = nonces(c, signer).await?.committed_nonce;
        let height = c
            .chain()
            .get_status(GetStatusRequest {})
            .await?
            .into_inner()
            .height;
        let req = c.signed(
            signer,
            "/govchain.v1.Chain/GetTx",
            GetTxRequest {
                tx_hash: hash.clone(),
                prove: true,
            },
        )?;
        match c.chain().get_tx(req).await {
            Ok(r) => {
                // Taken only as proven from genesis: a node cannot make up an outcome (a
                // refusal, a decision) for the caller. Committed without a proof is no
                // answer (an older node, or one that hides it): never "not done".
                let proof = r.into_inner().proof.ok_or_else(|| {
                    ClientError::Answer(
                        "the node says the transaction is committed but sends no proof of its receipt (a node older than this gateway?)".into(),
                    )
                })?;
                let receipt = govchain_proof::receipt::verify_receipt(&self.anchor, &proof, &hash)
                    .map_err(|why| {
                        ClientError::Answer(format!(
                            "the node's receipt does not check against genesis: {why}"
                        ))
                    })?;
                return Ok(Look::Committed(Receipt::new(hash, receipt)?));
            }
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(s.into()),
        }
        if committed_nonce > body.nonce {
            return Ok(Look::Never(
                ErrorCode::NonceReplayed,
                format!(
                    "its nonce {} went to another transaction of {}: it was not done; send the request again",
                    body.nonce,
                    signer.account()
                ),
            ));
        }
        if body.expiry_height != 0 && height >= body.expiry_height {
            return Ok(Look::Never(
                ErrorCode::TxExpired,
                format!(
                    "no block included it by its expiry height {}: it was not done; send the request again",
                    body.expiry_height
                ),
            ));
        }
        match c
            .chain()
            .submit_tx(SubmitTxRequest {
                tx: Some(tx.clone()),
                wait: false,
            })
            .await
        {
            Ok(_) => Ok(Look::Pending),
            Err(s) => {
                let e = ClientError::from(s);
                match e.code() {
                    Some(code)
                        if never_admitted(&e)
                            && !matches!(code, ErrorCode::NonceReplayed | ErrorCode::NonceGap) =>
                    {
                        Ok(Look::Never(code, e.to_string()))
                    }
                    _ if unreachable(&e) => Err(e),
                    // Held already, or waiting for an earlier nonce: pending.
                    _ => Ok(Look::Pending),
                }
            }
        }
    }
}

/// What one look at a transaction found.
enum Look {
    Committed(Receipt),
    Pending,
    Never(ErrorCode, String),
}

/// How long a node has to answer a connection.
const CONNECT_TIME: Duration = Duration::from_secs(5);
/// How often a pending transaction is looked at when no block names it.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The account's nonces on the node `c` talks to.
async fn nonces(c: &Client, signer: &Signer) -> Result<GetNonceResponse, ClientError> {
    let req = c.signed(
        signer,
        "/govchain.v1.Chain/GetNonce",
        GetNonceRequest {
            department: signer.department.clone(),
            operator: signer.operator.clone(),
        },
    )?;
    Ok(c.chain().get_nonce(req).await?.into_inner())
}

/// Whether `e` is an admission refusal of the transaction's bytes: no node took it.
fn never_admitted(e: &ClientError) -> bool {
    e.code().is_some_and(|c| {
        (c as i32) < 2000
            && !matches!(
                c,
                ErrorCode::DuplicateTx
                    | ErrorCode::MempoolFull
                    | ErrorCode::AccountPendingFull
                    | ErrorCode::Busy
                    | ErrorCode::TooManyBadSignatures
            )
    })
}
