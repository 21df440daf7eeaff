//! The Chain service.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use govchain_consensus::{Chain, CommittedBlock, SealedBlock};
use govchain_types::{ErrorCode, HashHex, decode, pb};
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::error::{internal, status, tx_detail, tx_status};
use crate::metrics::{CodeLabel, Metrics};
use crate::rpc::chain_server;
use crate::rpc::*;

/// How long `SubmitTx { wait: true }` waits for the commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most equivocation records `GetStatus` carries (the newest).
const STATUS_EVIDENCE: usize = 20;

pub(crate) struct ChainService {
    pub(crate) chain: Arc<Chain>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) node_id: String,
    pub(crate) consensus: String,
    pub(crate) bft: Option<Arc<govchain_consensus::bft::Health>>,
    pub(crate) limits: crate::ApiLimits,
    pub(crate) auth: Arc<crate::auth::Authenticator>,
}

/// Whether admission refused `e` for its signature.
fn bad_signature(e: &govchain_types::ExecError) -> bool {
    govchain_types::Coded::code(e) == ErrorCode::BadSignature
}

/// The engine's health as `GetStatus` reports it.
fn bft_pb(h: &govchain_consensus::bft::HealthView) -> BftHealth {
    BftHealth {
        height: h.height,
        round: h.round,
        decided: h.decided,
        extra_rounds: h.extra_rounds,
        last_decided_round: h.last_decided_round,
        resumed_entries: h.resumed_entries,
        peers: h
            .peers
            .iter()
            .map(|(id, p)| PeerHealth {
                id: id.clone(),
                addr: p.addr.clone(),
                reachable: p.reachable,
                since_ms: p.since_ms,
                error: p.error.clone(),
                height: p.height,
            })
            .collect(),
    }
}

fn summary(b: &CommittedBlock) -> BlockSummary {
    summary_of(&b.sealed)
}

fn summary_of(s: &SealedBlock) -> BlockSummary {
    BlockSummary {
        height: s.header.height,
        hash: s.hash.to_vec(),
        time_ms: s.header.time_ms,
        tx_count: s.header.tx_count,
        tx_hashes: s
            .block
            .txs
            .iter()
            .map(|t| govchain_crypto::sm3(&t.body).to_vec())
            .collect(),
        state_root: s.header.state_root.clone(),
    }
}

impl ChainService {
    fn count_rejection(&self, e: &govchain_types::ExecError) {
        self.metrics
            .tx_rejected
            .get_or_create(&CodeLabel {
                code: govchain_types::Coded::code(e).as_str_name().into(),
            })
            .inc();
    }

    fn load_block(&self, height: u64) -> Result<SealedBlock, Status> {
        let raw = self
            .chain
            .store()
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| {
                status(
                    ErrorCode::BlockNotFound,
                    format!("no block at height {height}"),
                )
            })?;
        SealedBlock::decode(&raw).map_err(internal)
    }

    fn receipt(&self, tx_hash: &[u8]) -> Result<Option<pb::Receipt>, Status> {
        self.chain
            .store()
            .receipt(tx_hash)
            .map_err(internal)?
            .map(|r| decode::<pb::Receipt>("receipt", &r).map_err(internal))
            .transpose()
    }
}

type BlockStream = Pin<Box<dyn Stream<Item = Result<BlockSummary, Status>> + Send>>;

#[tonic::async_trait]
impl chain_server::Chain for ChainService {
    async fn submit_tx(
        &self,
        req: Request<SubmitTxRequest>,
    ) -> Result<Response<SubmitTxResponse>, Status> {
        let peer = req.remote_addr().map(|a| a.ip());
        self.auth.bad_signatures().check(peer)?;
        let req = req.into_inner();
        let tx = req
            .tx
            .ok_or_else(|| status(ErrorCode::MalformedTx, "request has no transaction"))?;
        let result = self
            .chain
            .submit(vec![tx], req.wait)
            .await
            .pop()
            .expect("one result");
        let (hash, receiver) = result.map_err(|e| {
            self.count_rejection(&e);
            self.auth
                .bad_signatures()
                .add(peer, u32::from(bad_signature(&e)));
            tx_status(&e)
        })?;
        self.metrics.tx_admitted.inc();
        let receipt = match receiver {
            None => None,
            Some(r) => Some(
                tokio::time::timeout(COMMIT_TIMEOUT, r)
                    .await
                    .map_err(|_| {
                        status(
                            ErrorCode::Timeout,
                            format!("transaction {} admitted but not committed within {COMMIT_TIMEOUT:?}", HashHex(&hash)),
                        )
                    })?
                    .map_err(|_| status(ErrorCode::Unavailable, "the transaction left the mempool uncommitted: the node stopped, or another transaction of the account took its nonce"))?,
            ),
        };
        Ok(Response::new(SubmitTxResponse {
            tx_hash: hash.to_vec(),
            receipt,
        }))
    }

    async fn submit_txs(
        &self,
        req: Request<SubmitTxsRequest>,
    ) -> Result<Response<SubmitTxsResponse>, Status> {
        let peer = req.remote_addr().map(|a| a.ip());
        self.auth.bad_signatures().check(peer)?;
        let txs = req.into_inner().txs;
        self.limits.check_batch(txs.len())?;
        let hashes: Vec<_> = txs.iter().map(|t| govchain_crypto::sm3(&t.body)).collect();
        let results = self.chain.submit(txs, false).await;
        let bad = results
            .iter()
            .filter(|r| r.as_ref().is_err_and(bad_signature))
            .count();
        self.auth.bad_signatures().add(peer, bad as u32);
        let results = results
            .into_iter()
            .zip(hashes)
            .map(|(r, hash)| match r {
                Ok(_) => {
                    self.metrics.tx_admitted.inc();
                    SubmitResult {
                        tx_hash: hash.to_vec(),
                        error: None,
                    }
                }
                Err(e) => {
                    self.count_rejection(&e);
                    SubmitResult {
                        tx_hash: hash.to_vec(),
                        error: Some(tx_detail(&e)),
                    }
                }
            })
            .collect();
        Ok(Response::new(SubmitTxsResponse { results }))
    }

    async fn get_tx(&self, req: Request<GetTxRequest>) -> Result<Response<GetTxResponse>, Status> {
        let who = self.auth.authenticate(&req, "/govchain.v1.Chain/GetTx")?;
        let GetTxRequest {
            tx_hash: hash,
            prove,
        } = req.into_inner();
        let not_found = || {
            status(
                ErrorCode::TxNotFound,
                format!("no committed transaction {}", HashHex(&hash)),
            )
        };
        let loc = self
            .chain
            .store()
            .tx_location(&hash)
            .map_err(internal)?
            .ok_or_else(not_found)?;
        let block = self.load_block(loc.height)?;
        let tx = block
            .block
            .txs
            .get(loc.index as usize)
            .cloned()
            .ok_or_else(|| internal(format!("block {} has no tx {}", loc.height, loc.index)))?;
        let body: pb::TxBody = decode("transaction body", &tx.body).map_err(internal)?;
        crate::scope::tx(&self.chain, &who, &body.sender)?;
        // A proof reads every receipt of the block: off the async threads.
        let proof = if prove {
            let (store, chain_id) = (
                self.chain.store().clone(),
                self.chain.chain_id().to_string(),
            );
            let block = block.block.clone();
            let proven = tokio::task::spawn_blocking(move || {
                let receipts = govchain_state::query::block_receipts(&store, &block)?;
                govchain_state::query::receipt_proof(
                    &store,
                    &chain_id,
                    (loc.height, block),
                    &receipts,
                    loc.index,
                )
            })
            .await
            .map_err(internal)?;
            Some(proven.map_err(|e| tx_status(&e))?)
        } else {
            None
        };
        Ok(Response::new(GetTxResponse {
            receipt: self.receipt(&hash)?,
            body: Some(body),
            tx: Some(tx),
            height: loc.height,
            block_hash: block.hash.to_vec(),
            proof,
        }))
    }

    async fn get_block(
        &self,
        req: Request<GetBlockRequest>,
    ) -> Result<Response<GetBlockResponse>, Status> {
        use get_block_request::At;
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Chain/GetBlock")?;
        crate::scope::block(&self.chain, &who)?;
        let height = match req.into_inner().at {
            None | Some(At::Latest(_)) => self.chain.tip().header.height,
            Some(At::Height(h)) => h,
            Some(At::Hash(h)) => self
                .chain
                .store()
                .block_height(&h)
                .map_err(internal)?
                .ok_or_else(|| {
                    status(
                        ErrorCode::BlockNotFound,
                        format!("no block with hash {}", HashHex(&h)),
                    )
                })?,
        };
        let b = self.load_block(height)?;
        let mut receipts = Vec::with_capacity(b.block.txs.len());
        for t in &b.block.txs {
            if let Some(r) = self.receipt(&govchain_crypto::sm3(&t.body))? {
                receipts.push(r);
            }
        }
        Ok(Response::new(GetBlockResponse {
            hash: b.hash.to_vec(),
            header: Some(b.header),
            block: Some(b.block),
            receipts,
        }))
    }

    async fn get_status(
        &self,
        req: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        let tip = self.chain.tip();
        // An outsider learns which chain and node this is and how far it has come (what a
        // client checks before it signs anything, and what a load balancer probes).
        let minimal = GetStatusResponse {
            chain_id: self.chain.chain_id().to_string(),
            node_id: self.node_id.clone(),
            height: tip.header.height,
            tip_hash: tip.hash.to_vec(),
            tip_time_ms: tip.header.time_ms,
            consensus: self.consensus.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            genesis_hash: self.chain.genesis_hash().to_vec(),
            ..Default::default()
        };
        // Members, validators and their addresses, the mempool and the evidence: members.
        if self
            .auth
            .optional(&req, "/govchain.v1.Chain/GetStatus")?
            .is_none()
        {
            return Ok(Response::new(minimal));
        }
        let store = self.chain.store();
        let mut evidence = govchain_state::query::evidence(store).map_err(internal)?;
        let evidence_count = evidence.len() as u64;
        evidence.truncate(STATUS_EVIDENCE);
        Ok(Response::new(GetStatusResponse {
            departments: govchain_state::query::departments(store).map_err(internal)?,
            validators: govchain_state::query::validators(store).map_err(internal)?,
            mempool_size: self.chain.mempool_len() as u64,
            evidence,
            evidence_count,
            bft: self.bft.as_ref().map(|h| bft_pb(&h.view())),
            ..minimal
        }))
    }

    async fn get_nonce(
        &self,
        req: Request<GetNonceRequest>,
    ) -> Result<Response<GetNonceResponse>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Chain/GetNonce")?;
        let r = req.into_inner();
        crate::scope::nonce(&self.chain, &who, &r.department)?;
        let (next_nonce, committed_nonce) = self
            .chain
            .nonces(&r.department, &r.operator)
            .map_err(|e| tx_status(&e))?;
        Ok(Response::new(GetNonceResponse {
            next_nonce,
            committed_nonce,
        }))
    }

    type StreamBlocksStream = BlockStream;

    async fn stream_blocks(
        &self,
        req: Request<StreamBlocksRequest>,
    ) -> Result<Response<BlockStream>, Status> {
        // Summaries name transactions by hash only: any department may follow them.
        self.auth
            .authenticate(&req, "/govchain.v1.Chain/StreamBlocks")?;
        let from = req.into_inner().from_height;
        // Subscribe before reading the stored range so no block falls between the two.
        let mut live = self.chain.subscribe();
        let tip = self.chain.tip().header.height;
        let store = self.chain.store().clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut next = from;
            while next <= tip {
                let item = match store.block(next) {
                    Ok(Some(raw)) => SealedBlock::decode(&raw)
                        .map(|s| summary_of(&s))
                        .map_err(internal),
                    Ok(None) => Err(internal(format!("block {next} missing"))),
                    Err(e) => Err(internal(e)),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
                next += 1;
            }
            loop {
                match live.recv().await {
                    Ok(b) if b.sealed.header.height >= next => {
                        next = b.sealed.header.height + 1;
                        if tx.send(Ok(summary(&b))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(status(ErrorCode::Unavailable, format!("subscriber lagged {n} blocks behind; resubscribe from height {next}"))))
                            .await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
