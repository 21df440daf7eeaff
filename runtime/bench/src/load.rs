//! The load of `govchain bench`: signed certificate reads through the whole gate, driven
//! over gRPC as a client would, and the node's own SM2 verification rate on the same
//! transaction bytes.
//!
//! The workload is the one the chain exists for: departments read each other's
//! e-certificates for their purposes (policy, points, audit record, kept access request,
//! key-share release by the custodian), one in eight refused by a deny line (bank reads
//! household registration) and recorded all the same.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use govchain_client::rpc::{GetNonceRequest, StreamBlocksRequest, SubmitTxsRequest};
use govchain_client::seal::seal_certificate;
use govchain_client::{ChainClient, Client, ClientError, Entropy, Signer};
use govchain_node::network::{CUSTODY_KEY_WAIT, wait_for_custody_key};
use govchain_node::output::progress;
use govchain_state::certs;
use govchain_types::pb;
use indicatif::ProgressBar;
use parking_lot::Mutex;
use rayon::prelude::*;
use tonic::transport::Channel;

use crate::percentile;

/// A certificate's metadata: (name, value) pairs.
type Metadata = [(&'static str, &'static str); 2];

/// Certificates published for the reads: type, issuer, and the metadata its type needs.
const ISSUED: [(&str, &str, Metadata); 3] = [
    (
        "household",
        "public-security",
        [
            ("registration_district", "320106"),
            ("household_type", "family"),
        ],
    ),
    (
        "marriage",
        "civil-affairs",
        [
            ("registration_office", "南京市鼓楼区民政局"),
            ("record_kind", "marriage"),
        ],
    ),
    (
        "property",
        "real-estate",
        [("district", "鼓楼区"), ("usage", "住宅")],
    ),
];

/// The read mix, in turn: reader, certificate type, purpose. The last is refused by the
/// preset's `p, bank, household, read, *, deny`.
const READS: [(&str, &str, &str); 8] = [
    ("housing", "property", "housing_eligibility"),
    ("bank", "property", "mortgage_review"),
    ("real-estate", "marriage", "property_registration"),
    ("housing", "household", "housing_eligibility"),
    (
        "social-security",
        "household",
        "social_insurance_verification",
    ),
    ("housing", "marriage", "housing_eligibility"),
    ("real-estate", "household", "property_registration"),
    ("bank", "household", "mortgage_review"),
];

/// Department keys, certificates to read and the next nonce of every account.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) chain_id: String,
    signers: HashMap<String, Signer>,
    nonces: HashMap<String, u64>,
    certs: HashMap<&'static str, Vec<String>>,
    next_read: usize,
}

impl Workload {
    /// The department whose signed reads follow the committed blocks.
    pub(crate) fn reader(&self) -> &Signer {
        &self.signers[READS[0].0]
    }

    /// Loads the department keys of the network folder `home` and publishes `per_type`
    /// certificates of each type read at `endpoint` (real SM4 documents, data keys
    /// encrypted to the custody key set), waiting until they are committed.
    pub(crate) async fn prepare(
        endpoint: &str,
        home: &Path,
        per_type: usize,
        quiet: bool,
    ) -> anyhow::Result<Self> {
        let connection = Client::connect(endpoint).await?;
        let status = connection.status().clone();
        let mut client = connection.chain();
        let mut signers = HashMap::new();
        let mut nonces = HashMap::new();
        let wanted: HashSet<&str> = READS
            .iter()
            .map(|r| r.0)
            .chain(ISSUED.iter().map(|i| i.1))
            .collect();
        for dept in wanted {
            let path = home.join("keys").join(format!("{dept}.pem"));
            let signer = Signer::new(
                dept,
                govchain_node::keyfile::load(&path)
                    .with_context(|| format!("the bench signs as '{dept}'"))?,
            );
            let request = connection.signed(
                &signer,
                "/govchain.v1.Chain/GetNonce",
                GetNonceRequest {
                    department: dept.into(),
                    operator: String::new(),
                },
            )?;
            let next = client
                .get_nonce(request)
                .await
                .map_err(ClientError::from)?
                .into_inner()
                .next_nonce;
            signers.insert(dept.to_string(), signer);
            nonces.insert(dept.to_string(), next);
        }
        let mut w = Workload {
            chain_id: status.chain_id.clone(),
            signers,
            nonces,
            certs: HashMap::new(),
            next_read: 0,
        };
        let genesis = govchain_node::network::network_genesis(&home.join("genesis.json"))?;
        let issuer = &w.signers[ISSUED[0].1];
        let custody = wait_for_custody_key(&connection, issuer, &genesis, CUSTODY_KEY_WAIT).await?;
        let tag = format!("{:x}-{}", status.height, std::process::id());
        let mut publish = Vec::new();
        for (ty, issuer, meta) in ISSUED {
            for i in 0..per_type {
                let number = format!("BENCH-{tag}-{ty}-{i:05}");
                w.certs
                    .entry(ty)
                    .or_default()
                    .push(certs::cert_id(ty, &number));
                let subject = govchain_crypto::sm3(format!("bench citizen {i}").as_bytes());
                let doc =
                    format!("{{\"certificate\":\"{number}\",\"holder\":\"bench citizen {i}\"}}");
                let p = pb::PublishCertificate {
                    cert_type: ty.into(),
                    number,
                    subject_id: subject.to_vec(),
                    issued_on: "2024-05-01".into(),
                    metadata: meta
                        .iter()
                        .map(|(k, v)| pb::Attribute {
                            key: k.to_string(),
                            value: v.to_string(),
                        })
                        .collect(),
                    ..Default::default()
                };
                let sealed = seal_certificate(
                    &w.chain_id,
                    &custody,
                    &w.signers[issuer].key,
                    p,
                    doc.as_bytes(),
                    &Entropy::Os,
                );
                let nonce = w.nonce(issuer);
                publish.push(w.signers[issuer].sign(
                    &w.chain_id,
                    nonce,
                    pb::payload::Kind::Publish(sealed),
                ));
            }
        }
        run(
            endpoint,
            w.reader(),
            &publish,
            Pace::Closed { batch: 500 },
            "publishing",
            quiet,
        )
        .await?;
        Ok(w)
    }

    /// The id of one published certificate of type `ty`.
    pub(crate) fn cert(&self, ty: &str) -> &str {
        &self.certs[ty][0]
    }

    fn nonce(&mut self, dept: &str) -> u64 {
        let n = self.nonces.get_mut(dept).expect("a workload account");
        *n += 1;
        *n - 1
    }

    /// Signs the next `n` reads of the mix (in parallel, on all cores).
    pub(crate) fn reads(&mut self, n: usize) -> Vec<pb::SignedTx> {
        let plan: Vec<(&str, u64, pb::payload::Kind)> = (0..n)
            .map(|_| {
                let k = self.next_read;
                self.next_read += 1;
                let (reader, ty, purpose) = READS[k % READS.len()];
                let list = &self.certs[ty];
                let cert_id = list[(k / READS.len()) % list.len()].clone();
                let nonce = self.nonce(reader);
                (
                    reader,
                    nonce,
                    pb::payload::Kind::Request(pb::RequestAccess {
                        cert_id,
                        purpose: purpose.into(),
                    }),
                )
            })
            .collect();
        plan.into_par_iter()
            .map(|(reader, nonce, payload)| {
                self.signers[reader].sign(&self.chain_id, nonce, payload)
            })
            .collect()
    }
}

/// How the load is offered.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// As fast as the node admits: the next batch is sent when the last one is answered.
    Closed { batch: usize },
    /// Open loop: `batch` transactions every `batch / per_sec` seconds, whatever the node
    /// does meanwhile.
    Rate { per_sec: f64, batch: usize },
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub(crate) struct LoadStats {
    pub(crate) txs: usize,
    pub(crate) blocks: u64,
    /// First submission to the last commit.
    pub(crate) elapsed: Duration,
    /// Submission to the block that committed it, each transaction, sorted.
    pub(crate) latencies: Vec<Duration>,
}

impl LoadStats {
    pub(crate) fn tps(&self) -> f64 {
        self.txs as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn p50_ms(&self) -> f64 {
        percentile(&self.latencies, 0.5).as_secs_f64() * 1e3
    }

    pub(crate) fn p99_ms(&self) -> f64 {
        percentile(&self.latencies, 0.99).as_secs_f64() * 1e3
    }
}

fn bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        ProgressBar::hidden()
    } else {
        progress(len as u64, what)
    }
}

/// Submits `txs` to `endpoint` at `pace` and follows its committed blocks until every
/// one of them is in a block. Any refusal at admission is an error.
pub(crate) async fn run(
    endpoint: &str,
    reader: &Signer,
    txs: &[pb::SignedTx],
    pace: Pace,
    what: &str,
    quiet: bool,
) -> anyhow::Result<LoadStats> {
    let connection = Client::connect(endpoint).await?;
    let height = connection.status().height;
    let mut client = connection.chain();
    let hashes: Vec<[u8; 32]> = txs.iter().map(|t| govchain_crypto::sm3(&t.body)).collect();
    let committed: Arc<Mutex<HashMap<[u8; 32], Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(txs.len())));
    let follow = connection.signed(
        reader,
        "/govchain.v1.Chain/StreamBlocks",
        StreamBlocksRequest {
            from_height: height + 1,
        },
    )?;
    let mut stream = client
        .stream_blocks(follow)
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let bar = bar(txs.len(), what, quiet);
    let follower = {
        let committed = committed.clone();
        let bar = bar.clone();
        let wanted: HashSet<[u8; 32]> = hashes.iter().copied().collect();
        let total = txs.len();
        tokio::spawn(async move {
            let mut blocks = 0u64;
            while let Some(b) = stream.message().await.map_err(ClientError::from)? {
                let now = Instant::now();
                let mut c = committed.lock();
                let before = c.len();
                for h in &b.tx_hashes {
                    if let Ok(h) = <[u8; 32]>::try_from(h.as_slice())
                        && wanted.contains(&h)
                    {
                        c.insert(h, now);
                    }
                }
                if c.len() > before {
                    blocks += 1;
                }
                bar.set_position(c.len() as u64);
                if c.len() >= total {
                    break;
                }
            }
            anyhow::Ok(blocks)
        })
    };

    let start = Instant::now();
    let (sent_at, refused) = match pace {
        Pace::Closed { batch } => closed_loop(&mut client, txs, batch.max(1)).await?,
        Pace::Rate { per_sec, batch } => {
            let every = Duration::from_secs_f64(batch.max(1) as f64 / per_sec);
            open_loop(&client, txs, per_sec, every, start).await?
        }
    };
    if let Some(first) = refused.first() {
        follower.abort();
        bail!(
            "the node refused {} of {} transactions; the first: {first}",
            refused.len(),
            txs.len()
        );
    }
    let blocks = tokio::time::timeout(Duration::from_secs(300), follower)
        .await
        .context("transactions were not all committed within 300 s")???;
    bar.finish_and_clear();
    let c = committed.lock();
    let last = c.values().max().copied().unwrap_or(start);
    let mut latencies: Vec<Duration> = hashes
        .iter()
        .zip(&sent_at)
        .map(|(h, t)| c[h].saturating_duration_since(*t))
        .collect();
    latencies.sort();
    Ok(LoadStats {
        txs: txs.len(),
        blocks,
        elapsed: last - start,
        latencies,
    })
}

/// One call at a time, each sent when the last is answered.
async fn closed_loop(
    client: &mut ChainClient<Channel>,
    txs: &[pb::SignedTx],
    batch: usize,
) -> anyhow::Result<(Vec<Instant>, Vec<String>)> {
    let mut sent_at = Vec::with_capacity(txs.len());
    let mut refused = Vec::new();
    for chunk in txs.chunks(batch) {
        let at = Instant::now();
        refused.extend(submit_chunk(client, chunk).await?);
        sent_at.extend(std::iter::repeat_n(at, chunk.len()));
    }
    Ok((sent_at, refused))
}

/// Open loop, as many independent clients offer it: transaction `i` is due at `start +
/// i / per_sec`; each account submits in calls of its own (one at a time, so that its nonces
/// arrive in order) what fell due in the last `every`, whatever the node does meanwhile, and a
/// transaction's latency counts from its due time, so a slow node cannot hide a queue
/// behind a slow call.
async fn open_loop(
    client: &ChainClient<Channel>,
    txs: &[pb::SignedTx],
    per_sec: f64,
    every: Duration,
    start: Instant,
) -> anyhow::Result<(Vec<Instant>, Vec<String>)> {
    let due = |i: usize| start + Duration::from_secs_f64(i as f64 / per_sec);
    let mut accounts: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, t) in txs.iter().enumerate() {
        accounts
            .entry(t.signer_pubkey.as_slice())
            .or_default()
            .push(i);
    }
    let tasks: Vec<_> = accounts
        .into_values()
        .map(|order| {
            let mut client = client.clone();
            let txs: Vec<(Instant, pb::SignedTx)> =
                order.iter().map(|&i| (due(i), txs[i].clone())).collect();
            tokio::spawn(async move {
                let mut refused = Vec::new();
                let mut next = 0;
                let mut tick = start;
                while next < txs.len() {
                    tick += every;
                    tokio::time::sleep_until(tick.into()).await;
                    let end = next + txs[next..].iter().take_while(|(d, _)| *d <= tick).count();
                    if end == next {
                        continue;
                    }
                    let chunk: Vec<pb::SignedTx> =
                        txs[next..end].iter().map(|(_, t)| t.clone()).collect();
                    refused.extend(submit_chunk(&mut client, &chunk).await?);
                    next = end;
                }
                anyhow::Ok(refused)
            })
        })
        .collect();
    let mut refused = Vec::new();
    for t in tasks {
        refused.extend(t.await??);
    }
    Ok(((0..txs.len()).map(due).collect(), refused))
}

/// Submits `chunk`; returns the messages of the transactions the node refused.
async fn submit_chunk(
    client: &mut ChainClient<Channel>,
    chunk: &[pb::SignedTx],
) -> anyhow::Result<Vec<String>> {
    let r = client
        .submit_txs(SubmitTxsRequest {
            txs: chunk.to_vec(),
        })
        .await
        .map_err(ClientError::from)?
        .into_inner();
    Ok(r.results
        .into_iter()
        .filter_map(|res| res.error.map(|e| e.message))
        .collect())
}

/// SM2 verifications per second on all cores, by the node's crypto code, over the
/// signatures of `txs` (every one must verify).
pub(crate) fn verify_rate(txs: &[pb::SignedTx]) -> anyhow::Result<f64> {
    let t = Instant::now();
    let ok = txs
        .par_iter()
        .filter(|tx| {
            govchain_crypto::verify_sec1(&tx.signer_pubkey, &tx.body, &tx.signature).is_ok()
        })
        .count();
    let elapsed = t.elapsed();
    if ok != txs.len() {
        bail!(
            "{} of {} signatures failed to verify",
            txs.len() - ok,
            txs.len()
        );
    }
    Ok(txs.len() as f64 / elapsed.as_secs_f64())
}
