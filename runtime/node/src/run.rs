//! Starting a node from its configuration: store, chain, ordering engine and servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use govchain_api::{ServeConfig, serve};
use govchain_client::Entropy;
use govchain_consensus::{Chain, ChainConfig, TlsFiles, bft, solo};
use govchain_state::Genesis;
use govchain_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ConsensusMode, NodeConfig};
use crate::custodian::Custodian;
use crate::jobs::JobRunner;
use crate::keyfile;

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    /// The bound gRPC address.
    pub grpc: SocketAddr,
    /// The bound HTTP (metrics) address.
    pub http: Option<SocketAddr>,
    /// The chain core.
    pub chain: Arc<Chain>,
    stop: watch::Sender<bool>,
    engine: JoinHandle<govchain_consensus::Result<()>>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    /// The custodian and the job runner.
    followers: Vec<JoinHandle<()>>,
}

/// The supervisor credential of the node's config, if any.
fn console_credential(
    cfg: &NodeConfig,
) -> anyhow::Result<Option<govchain_api::console::Credential>> {
    let Some(c) = &cfg.console else {
        return Ok(None);
    };
    let sm3: [u8; 32] = hex::decode(&c.credential_sm3)
        .ok()
        .and_then(|h| h.try_into().ok())
        .context("console.credential_sm3 is not 32 bytes of hex")?;
    Ok(Some(govchain_api::console::Credential {
        sm3,
        department: c.department.clone(),
    }))
}

/// The HTTP port's TLS settings from `[api.console_tls]`, if set.
fn http_tls(cfg: &NodeConfig) -> anyhow::Result<Option<govchain_api::HttpTls>> {
    cfg.check_http()?;
    let Some(t) = &cfg.api.console_tls else {
        return Ok(None);
    };
    let cert = std::fs::read_to_string(&t.cert)
        .with_context(|| format!("reading the console certificate {}", t.cert.display()))?;
    let key = keyfile::load_tls_key(&t.key)?;
    let tls = govchain_api::HttpTls::new(&cert, &key).map_err(|why| {
        anyhow::anyhow!(
            "api.console_tls ({}, {}): {why}",
            t.cert.display(),
            t.key.display()
        )
    })?;
    Ok(Some(tls))
}

/// Opens the store, checks or writes genesis, starts ordering and the servers.
pub async fn start(cfg: &NodeConfig) -> anyhow::Result<NodeHandle> {
    let genesis_text = std::fs::read_to_string(&cfg.genesis)
        .with_context(|| format!("reading genesis {}", cfg.genesis.display()))?;
    let genesis = Genesis::from_json(&genesis_text)?;
    let validator_key = keyfile::load(&cfg.validator_key)?;
    // What signs for the validator, behind the seam a cryptographic device would use.
    let key = govchain_crypto::signer::in_memory(validator_key.clone());
    if cfg.consensus.mode == ConsensusMode::Solo && genesis.validators.len() > 1 {
        bail!(
            "genesis lists {} validators: run them in mode \"bft\"",
            genesis.validators.len()
        );
    }
    let db = cfg.data_dir.join("db");
    std::fs::create_dir_all(&db)?;
    let store = Arc::new(
        Store::open(&db, cfg.storage.sync)
            .with_context(|| format!("opening store {}", db.display()))?,
    );
    let chain = Chain::open(
        store,
        &genesis,
        ChainConfig {
            mempool_capacity: cfg.mempool.capacity,
            mempool_per_account: cfg.mempool.per_account,
        },
    )?;
    check_validator_key(cfg, &chain, &key)?;
    let custodian = custodian(cfg, &chain, &key)?;
    let jobs = job_runner(cfg, &chain, &validator_key)?;
    let grpc = TcpListener::bind(cfg.api.grpc)
        .await
        .with_context(|| format!("binding gRPC address {}", cfg.api.grpc))?;
    let http = match cfg.api.http {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("binding HTTP address {a}"))?,
        ),
        None => None,
    };
    let http_tls = http_tls(cfg)?;
    let grpc_addr = grpc.local_addr()?;
    let http_addr = http.as_ref().map(|h| h.local_addr()).transpose()?;
    let (engine, bft) = start_engine(cfg, &genesis, &chain, key.clone()).await?;
    let (stop, mut stop_rx) = watch::channel(false);
    let mut followers = Vec::new();
    if let Some(c) = custodian {
        followers.push(tokio::spawn(c.run(stop.subscribe())));
    }
    followers.push(tokio::spawn(warn_if_key_replaced(
        cfg.node_id.clone(),
        chain.clone(),
        key.public_key().to_sec1(),
        stop.subscribe(),
    )));
    match jobs {
        Some(j) => followers.push(tokio::spawn(crate::follower::follow(j, stop.subscribe()))),
        None if cfg.consensus.mode == ConsensusMode::Bft => {
            followers.push(tokio::spawn(job_runner_once_added(
                cfg.clone(),
                chain.clone(),
                validator_key,
                stop.subscribe(),
            )));
        }
        None => {}
    }
    let server = tokio::spawn(serve(
        chain.clone(),
        ServeConfig {
            grpc,
            http,
            http_tls,
            node_id: cfg.node_id.clone(),
            consensus: cfg.consensus.mode.as_str().into(),
            bft,
            console: govchain_api::console::ConsoleConfig {
                salt: match &cfg.salt {
                    Some(path) => Some(
                        genesis
                            .check_salt(&std::fs::read_to_string(path).with_context(|| {
                                format!("reading the chain salt {}", path.display())
                            })?)
                            .with_context(|| format!("the chain salt {}", path.display()))?,
                    ),
                    None => None,
                },
                genesis: Arc::new(genesis),
                credential: console_credential(cfg)?,
                hosts: cfg.api.console_hosts.clone(),
            },
            limits: cfg.api.limits.clone(),
        },
        async move {
            let _ = stop_rx.changed().await;
        },
    ));
    tracing::info!(node = %cfg.node_id, grpc = %grpc_addr, http = ?http_addr, height = chain.tip().header.height, "node started");
    Ok(NodeHandle {
        grpc: grpc_addr,
        http: http_addr,
        chain,
        stop,
        engine,
        server,
        followers,
    })
}

/// The running ordering engine, and the BFT engine's health (none for solo).
type Engine = (
    tokio::task::JoinHandle<govchain_consensus::Result<()>>,
    Option<Arc<bft::Health>>,
);

/// Starts the ordering engine the config names on `chain`.
async fn start_engine(
    cfg: &NodeConfig,
    genesis: &Genesis,
    chain: &Arc<Chain>,
    key: govchain_crypto::SharedSigner,
) -> anyhow::Result<Engine> {
    let max_txs = cfg
        .consensus
        .max_block_txs
        .min(genesis.params.max_block_txs as usize);
    let interval = Duration::from_millis(cfg.consensus.block_interval_ms);
    let read =
        |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    Ok(match cfg.consensus.mode {
        ConsensusMode::Solo => (
            tokio::spawn(solo::run(
                chain.clone(),
                key,
                solo::SoloConfig {
                    validator_id: cfg.node_id.clone(),
                    interval,
                    max_txs,
                },
            )),
            None,
        ),
        ConsensusMode::Bft => {
            let b = cfg
                .consensus
                .bft
                .as_ref()
                .context("mode \"bft\" needs a [consensus.bft] section")?;
            let settings = bft::BftSettings {
                validator_id: cfg.node_id.clone(),
                listen: b.listen,
                tls: TlsFiles {
                    ca: read(&b.tls_ca)?,
                    cert: read(&b.tls_cert)?,
                    key: keyfile::load_tls_key(&b.tls_key)?.as_bytes().to_vec(),
                },
                interval,
                max_txs,
                propose_timeout: Duration::from_millis(b.propose_timeout_ms),
                vote_timeout: Duration::from_millis(b.vote_timeout_ms),
                round_increase: Duration::from_millis(b.round_increase_ms),
                max_clock_drift: Duration::from_millis(b.max_clock_drift_ms),
            };
            let mut handle = bft::start(chain.clone(), key.clone(), settings).await?;
            if let Some(caught) = handle.caught() {
                let reporter =
                    crate::reporter::report(chain.clone(), cfg.node_id.clone(), key, caught);
                tokio::spawn(reporter);
            }
            let health = handle.health();
            let task = tokio::spawn(async move {
                let r = handle.wait().await;
                handle.shutdown();
                r
            });
            (task, Some(health))
        }
    })
}

/// This node's validator (or observer) record in committed state, if it has one.
fn own_record(
    cfg: &NodeConfig,
    chain: &Chain,
) -> anyhow::Result<Option<govchain_types::pb::Validator>> {
    let o = govchain_state::Overlay::new(chain.store().clone());
    Ok(govchain_state::compute::validator(&o, &cfg.node_id)?)
}

/// The validator key must be the one the chain registers for this node. A node added
/// by governance after genesis is not registered until it has caught up to that
/// change; it starts and catches up.
fn check_validator_key(
    cfg: &NodeConfig,
    chain: &Chain,
    key: &govchain_crypto::SharedSigner,
) -> anyhow::Result<()> {
    let Some(v) = own_record(cfg, chain)? else {
        if cfg.consensus.mode == ConsensusMode::Solo {
            bail!("node_id '{}' is not a validator in genesis", cfg.node_id);
        }
        tracing::info!(node = %cfg.node_id, "not a validator or observer yet: it catches up, and votes once governance adds it");
        return Ok(());
    };
    if v.public_key != key.public_key().to_sec1() {
        bail!(
            "{} is not the key the chain registers for validator '{}'",
            cfg.validator_key.display(),
            cfg.node_id
        );
    }
    Ok(())
}

/// The job runner of a voting validator: it runs the compute jobs over its department's
/// certificates (`docs/design/compute.md`).
fn job_runner(
    cfg: &NodeConfig,
    chain: &Arc<Chain>,
    key: &govchain_crypto::PrivateKey,
) -> anyhow::Result<Option<JobRunner>> {
    let Some(v) = own_record(cfg, chain)? else {
        return Ok(None);
    };
    Ok((!v.observer).then(|| JobRunner {
        chain: chain.clone(),
        validator_id: cfg.node_id.clone(),
        key: key.clone(),
        cursor_file: cfg.data_dir.join("jobs.cursor"),
        attempts: Default::default(),
        entropy: Entropy::Os,
    }))
}

/// Says so, once, when governance replaces this validator's key while it runs: from
/// then on the node neither votes nor sends custody steps with the key it holds, and
/// its operator restarts it with the new key file.
async fn warn_if_key_replaced(
    id: String,
    chain: Arc<Chain>,
    key: Vec<u8>,
    mut stop: watch::Receiver<bool>,
) {
    let mut commits = chain.subscribe();
    loop {
        let o = govchain_state::Overlay::new(chain.store().clone());
        if let Ok(Some(v)) = govchain_state::compute::validator(&o, &id)
            && v.public_key != key
        {
            tracing::error!(node = %id, height = chain.tip().header.height, new_key = %hex::encode(&v.public_key), "governance replaced this validator's key: it no longer votes or releases key shares; restart it with the new key file");
            return;
        }
        tokio::select! {
            r = commits.recv() => {
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// A node that is not a voting validator when it starts (one governance adds later, or
/// an observer made a validator) starts its job runner at the first commit after which
/// it is one.
async fn job_runner_once_added(
    cfg: NodeConfig,
    chain: Arc<Chain>,
    key: govchain_crypto::PrivateKey,
    mut stop: watch::Receiver<bool>,
) {
    let mut commits = chain.subscribe();
    loop {
        tokio::select! {
            r = commits.recv() => {
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
            _ = stop.changed() => return,
        }
        match job_runner(&cfg, &chain, &key) {
            Ok(Some(j)) => {
                tracing::info!(node = %cfg.node_id, "now a voting validator: its job runner starts");
                return crate::follower::follow(j, stop).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading this node's record"),
        }
    }
}

/// A custody holder's work: its part in key generation and resharing, and, with its
/// share of the key set in force (summed from the chain's dealings), its custodian,
/// restarted with the new share whenever a resharing ends. When a custody key rotation
/// has ended (its share sums under the next key, `<file>.next`), the next key file
/// replaces the old one: the old key, which with the chain gives the old share, is gone.
struct Custody {
    participant: crate::keygen::Participant,
    data_dir: std::path::PathBuf,
    key_file: std::path::PathBuf,
}

impl Custody {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let p = self.participant;
        let chain = p.chain.clone();
        let (custody_keys, validator_id, key) = (
            p.custody_keys.clone(),
            p.validator_id.clone(),
            p.key.clone(),
        );
        tokio::spawn(p.run(stop.clone()));
        while let Some((share, round, with)) =
            crate::keygen::share_in_force(&chain, &custody_keys, &validator_id, &mut stop).await
        {
            if with == 1 && next_key_file(&self.key_file).exists() {
                retire_custody_key(&self.key_file);
            }
            let number = share.number();
            tracing::info!(
                share = number,
                round,
                "holding custody share {number} of key set round {round}: releasing key shares"
            );
            let custodian = Custodian {
                chain: chain.clone(),
                validator_id: validator_id.clone(),
                key: key.clone(),
                share,
                round,
                cursor_file: cursor_file(&self.data_dir, round),
                entropy: Entropy::Os,
            };
            let until =
                crate::keygen::until_reshared(&chain, &validator_id, round, number, stop.clone());
            crate::follower::follow(custodian, until).await;
        }
    }
}

/// The next custody key file of `key_file` (`<file>.next`): a rotation's new key.
fn next_key_file(key_file: &std::path::Path) -> std::path::PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".next");
    name.into()
}

/// After a custody key rotation ended: the next key file takes the old one's place.
fn retire_custody_key(key_file: &std::path::Path) {
    match std::fs::rename(next_key_file(key_file), key_file) {
        Ok(()) => {
            tracing::info!(file = %key_file.display(), "custody key rotated: the new share sums under the next key, which replaced the old key file")
        }
        Err(e) => {
            tracing::error!(error = %e, file = %key_file.display(), "custody key rotated, but the next key file could not replace the old one: replace it by hand")
        }
    }
}

/// The custodian's cursor for key set round `round`: a new key set walks the requests
/// from the start again (each still in its window gets a share of the new set); earlier
/// rounds' cursors are removed.
fn cursor_file(data_dir: &std::path::Path, round: u64) -> std::path::PathBuf {
    let name = format!("custody-{round}.cursor");
    if let Ok(entries) = std::fs::read_dir(data_dir) {
        for e in entries.flatten() {
            let old = e.file_name().to_string_lossy().into_owned();
            if old != name && old.starts_with("custody") && old.ends_with(".cursor") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    data_dir.join(name)
}

/// The custody work of a validator with a custody key file (and, if state registers
/// it as a holder already, the key state registers for it). A validator added as a
/// holder later takes part once governance has added it.
fn custodian(
    cfg: &NodeConfig,
    chain: &Arc<Chain>,
    key: &govchain_crypto::SharedSigner,
) -> anyhow::Result<Option<Custody>> {
    let v = own_record(cfg, chain)?;
    let holder = v.as_ref().is_some_and(|v| v.custody_share != 0);
    let Some(path) = cfg.custody_key.as_ref().filter(|p| p.exists()) else {
        if holder {
            tracing::warn!(node = %cfg.node_id, file = ?cfg.custody_key, "this validator holds a custody share but its custody key file is not configured or not there: it takes no part in key generation and releases no key shares until it is");
        }
        return Ok(None);
    };
    let mut custody_keys = vec![keyfile::load(path)?];
    let next = next_key_file(path);
    if next.exists() {
        custody_keys.push(keyfile::load(&next)?);
    }
    if let Some(v) = v.filter(|_| holder)
        && !custody_keys
            .iter()
            .any(|k| k.public_key().to_sec1() == v.custody_key)
    {
        bail!(
            "{} is not the custody key this chain registers for validator {} (nor is {})",
            path.display(),
            cfg.node_id,
            next.display()
        );
    }
    Ok(Some(Custody {
        participant: crate::keygen::Participant {
            chain: chain.clone(),
            validator_id: cfg.node_id.clone(),
            key: key.clone(),
            custody_keys,
        },
        data_dir: cfg.data_dir.clone(),
        key_file: path.clone(),
    }))
}

impl NodeHandle {
    /// Runs until SIGINT/SIGTERM, or until the engine or server fails (an error).
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let outcome = tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
            r = &mut self.engine => match r {
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("block production stopped")),
                Ok(Ok(())) => Ok(()),
                Err(e) => Err(anyhow::anyhow!("block production panicked: {e}")),
            },
            r = &mut self.server => match r {
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("gRPC server stopped")),
                _ => Ok(()),
            },
        };
        self.shutdown().await;
        outcome
    }

    /// Stops serving and ordering and flushes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.engine.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        // A round in progress finishes its scan (bounded) and submits nothing more.
        for f in self.followers {
            let _ = tokio::time::timeout(Duration::from_secs(5), f).await;
        }
        if let Err(e) = self.chain.store().flush() {
            tracing::warn!(error = %e, "flushing the store at shutdown failed (the WAL still holds every commit)");
        }
        tracing::info!("node stopped");
    }
}
