//! `govchain init`: a network folder with genesis, keys and one config per node.
//!
//! Layout written:
//! ```text
//! <out>/genesis.json            shared by every node; commits to the chain salt
//! <out>/chain.salt              the chain salt of subject ids: a consortium secret, for
//!                               the departments (with their keys) and every node folder
//! <out>/keys/<department>.pem   department signing keys (hand each to its department)
//! <out>/keys/<auditor>.<supervisor>.pem
//!                               each supervisor's own key, an operator of the auditor
//!                               department (`--supervisors`): a person signs in and
//!                               signs reads as themself
//! <out>/node<i>/config.toml     node configuration
//! <out>/node<i>/validator.pem   the validator's block-signing key
//! <out>/node<i>/custody.key     the validator's SM2 custody key (validators only): key
//!                               generation sends it its sub-shares; no file holds a share
//! <out>/node<i>/chain.salt      the chain salt, for the console's search by national ID
//! <out>/tls/ca.pem, ca.key      the chain's CA: node and console certificates (keep
//!                               ca.key offline)
//! <out>/node<i>/tls/node.pem    the node's TLS certificate and key (several nodes)
//! <out>/node<i>/tls/console.pem its console's certificate and key, once
//!                               `govchain console-cert` issued them
//! ```
//!
//! Every private key file (SM2 keys, the custody keys, the CA and TLS keys) is encrypted
//! under the passphrase unless `--plain-keys`.
//!
//! One validator runs alone (`solo`); several decide every block together (`bft`:
//! Tendermint with SM2 votes, `docs/design/bft.md`), and n validators tolerate
//! (n - 1) / 3 faulty ones.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use govchain_crypto::PrivateKey;
use govchain_state::genesis::{
    ChainParams, Committee, Genesis, GenesisCustody, GenesisOperator, GenesisValidator, preset,
};

use crate::config::{
    ApiConfig, BftConfig, ConsensusConfig, ConsensusMode, ConsoleSettings, MempoolConfig,
    NodeConfig, StorageConfig,
};
use crate::{keyfile, tls};

/// What `init` needs (also the options of `govchain init`).
#[derive(Debug, Clone, clap::Args)]
pub struct InitOptions {
    /// Folder to create.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 1)]
    pub validators: usize,
    /// Number of observer nodes (replicate and serve reads, never vote).
    #[arg(long, default_value_t = 0)]
    pub observers: usize,
    /// Custody shares needed to open a certificate's data key (t of the n validators);
    /// default: a majority, so custody is available whenever the chain is.
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Department preset.
    #[arg(long, default_value = "nanjing")]
    pub preset: String,
    /// Chain id.
    #[arg(long, default_value = "govchain-nanjing")]
    pub chain_id: String,
    /// Write unencrypted key files (development only). Otherwise each key file is
    /// sealed under the passphrase (`GOVCHAIN_KEY_PASSPHRASE` or a prompt), or under its
    /// owner's own: `GOVCHAIN_KEY_PASSPHRASE_<OWNER>` for a department's key
    /// (`_REAL_ESTATE` for `real-estate`) or a node's folder (`_NODE2`).
    #[arg(long)]
    pub plain_keys: bool,
    /// gRPC port of node1; node i listens on base + 10*(i-1), node-to-node traffic on
    /// gRPC + 1, metrics on gRPC + 2000.
    #[arg(long, default_value_t = 7545)]
    pub base_port: u16,
    /// Longest wait before pending transactions form a block, ms.
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
    /// Departments running the nodes, in node order (comma-separated; repeats allowed);
    /// default: the preset's departments in turn. A compute job over a department's
    /// certificates runs on its node.
    #[arg(long, value_delimiter = ',')]
    pub operated_by: Vec<String>,
    /// Points every department starts with; default: the preset's.
    #[arg(long)]
    pub initial_points: Option<u64>,
    /// Supervisors' personal accounts: operators of the department with the auditor
    /// role, each with a key of their own (comma-separated ids).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_SUPERVISOR)]
    pub supervisors: Vec<String>,
}

/// The supervisor account `init` writes unless `--supervisors` names others.
pub const DEFAULT_SUPERVISOR: &str = "supervisor-1";

/// The key file of `operator` of `department` in a network's key folder.
pub fn operator_key_file(key_dir: &Path, department: &str, operator: &str) -> PathBuf {
    key_dir.join(format!("{department}.{operator}.pem"))
}

/// What `init` wrote.
#[derive(Debug)]
pub struct InitReport {
    /// The genesis written.
    pub genesis: Genesis,
    /// Each node's config.toml.
    pub configs: Vec<PathBuf>,
    /// The folder of the department keys.
    pub key_dir: PathBuf,
}

fn hex_pub(k: &PrivateKey) -> String {
    hex::encode(k.public_key().to_sec1())
}

/// Writes a new network folder. Fails without writing anything if `out` exists and is
/// not empty.
#[expect(
    clippy::too_many_lines,
    reason = "writes the network folder file by file; nothing is written until every check passed"
)]
pub fn init(opts: &InitOptions) -> anyhow::Result<InitReport> {
    let chosen = preset(&opts.preset)
        .with_context(|| format!("unknown preset '{}' (known: nanjing)", opts.preset))?;
    let departments = &chosen.departments;
    if opts.validators == 0 || opts.validators + opts.observers > 32 {
        bail!("--validators must be at least 1, and validators + observers at most 32");
    }
    let nodes = opts.validators + opts.observers;
    if opts.operated_by.len() > nodes {
        bail!(
            "--operated-by names {} departments for {nodes} nodes",
            opts.operated_by.len()
        );
    }
    if let Some(d) = opts
        .operated_by
        .iter()
        .find(|d| !departments.iter().any(|p| p.id == d.as_str()))
    {
        bail!(
            "--operated-by: '{d}' is not a department of preset '{}'",
            opts.preset
        );
    }
    let several = nodes > 1;
    let port = |i: usize| opts.base_port + 10 * i as u16;
    if opts.out.exists() && std::fs::read_dir(&opts.out)?.next().is_some() {
        bail!(
            "{} exists and is not empty; choose another --out",
            opts.out.display()
        );
    }
    let passphrase = if opts.plain_keys {
        None
    } else {
        Some(keyfile::passphrase(
            "passphrase for the new key files: ",
            true,
        )?)
    };
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).context("reading OS randomness")?;
    let dept_keys: Vec<(&str, PrivateKey)> = departments
        .iter()
        .map(|d| (d.id.as_str(), PrivateKey::generate()))
        .collect();
    let val_keys: Vec<PrivateKey> = (0..nodes).map(|_| PrivateKey::generate()).collect();
    let threshold = opts.threshold.unwrap_or(opts.validators / 2 + 1);
    if threshold == 0 || threshold > opts.validators {
        bail!(
            "--threshold must be between 1 and the number of validators ({})",
            opts.validators
        );
    }
    // Each custody holder's own custody key: the validators generate the custody key
    // on chain, sending each other sub-shares encrypted to these
    // (docs/design/threshold-sm2.md); no one deals it and no file holds a share.
    let custody_keys: Vec<PrivateKey> = (0..opts.validators)
        .map(|_| PrivateKey::generate())
        .collect();
    let committee = chosen.committee();
    // The supervisors' own keys, registered as operators of the auditor department.
    let auditor = departments
        .iter()
        .find(|d| d.roles.iter().any(|r| r == AUDITOR_ROLE))
        .map(|d| d.id.clone());
    let supervisor_keys: Vec<(String, PrivateKey)> = match &auditor {
        Some(_) => opts
            .supervisors
            .iter()
            .map(|id| {
                govchain_types::validate_dept_id(id)
                    .map_err(|why| anyhow::anyhow!("--supervisors: '{id}' {why}"))?;
                Ok((id.clone(), PrivateKey::generate()))
            })
            .collect::<anyhow::Result<_>>()?,
        None => vec![],
    };
    let genesis = Genesis {
        chain_id: opts.chain_id.clone(),
        genesis_time_ms: SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64,
        salt_commitment: hex::encode(govchain_proof::salt_commitment(&salt)),
        departments: departments
            .iter()
            .zip(&dept_keys)
            .map(|(d, (_, k))| {
                let mut g = d.genesis(hex_pub(k));
                if auditor.as_ref() == Some(&d.id) {
                    g.operators = supervisor_keys
                        .iter()
                        .map(|(id, k)| GenesisOperator {
                            id: id.clone(),
                            name: format!("supervisor {id}"),
                            public_key: hex_pub(k),
                        })
                        .collect();
                }
                g
            })
            .collect(),
        validators: val_keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                id: format!("node{}", i + 1),
                department: match opts.operated_by.get(i) {
                    Some(d) => d.clone(),
                    None => departments[i % departments.len()].id.clone(),
                },
                public_key: hex_pub(k),
                observer: i >= opts.validators,
                addr: if several {
                    format!("127.0.0.1:{}", port(i) + 1)
                } else {
                    String::new()
                },
                custody_share: if i < opts.validators { i as u32 + 1 } else { 0 },
                custody_key: custody_keys.get(i).map(hex_pub).unwrap_or_default(),
            })
            .collect(),
        committee: Committee {
            threshold: committee.len() as u32 / 2 + 1,
            members: committee,
        },
        params: ChainParams::default(),
        access: {
            let mut a = chosen.access.clone();
            a.initial_points = opts.initial_points.unwrap_or(a.initial_points);
            a
        },
        custody: Some(GenesisCustody {
            threshold: threshold as u32,
            release_window_ms: govchain_state::access::release::DEFAULT_RELEASE_WINDOW_MS,
            keygen_phase_ms: govchain_state::genesis::DEFAULT_KEYGEN_PHASE_MS,
        }),
    };
    genesis.validate()?;

    std::fs::create_dir_all(&opts.out)?;
    write_file(&opts.out.join("genesis.json"), genesis.to_json().as_bytes())?;
    let salt_text = format!("{}\n", hex::encode(salt));
    write_salt(&opts.out, &salt_text)?;
    let key_dir = opts.out.join("keys");
    for (id, k) in &dept_keys {
        let own = keyfile::owner_passphrase(id, passphrase.as_deref());
        keyfile::save(&key_dir.join(format!("{id}.pem")), k, own.as_deref())?;
    }
    if let Some(dept) = &auditor {
        for (id, k) in &supervisor_keys {
            let own = keyfile::owner_passphrase(id, passphrase.as_deref());
            keyfile::save(&operator_key_file(&key_dir, dept, id), k, own.as_deref())?;
        }
    }
    // Every network has a CA: it certifies the nodes to each other (several nodes) and
    // each node's console to browsers (`govchain console-cert`).
    let (ca_cert, ca_key) = tls::new_ca(&genesis.chain_id)?;
    write_file(&opts.out.join("tls/ca.pem"), ca_cert.as_bytes())?;
    keyfile::save_tls_key(&opts.out.join("tls/ca.key"), &ca_key, passphrase.as_deref())?;
    let mut configs = Vec::new();
    for (i, k) in val_keys.iter().enumerate() {
        let id = format!("node{}", i + 1);
        let dir = opts.out.join(&id);
        let grpc_port = port(i);
        // The node's operator may have a passphrase of its own for its folder.
        let own = keyfile::owner_passphrase(&id, passphrase.as_deref());
        keyfile::save(&dir.join("validator.pem"), k, own.as_deref())?;
        write_salt(&dir, &salt_text)?;
        if let Some(k) = custody_keys.get(i) {
            keyfile::save(&dir.join("custody.key"), k, own.as_deref())?;
        }
        if several {
            let (cert, key) = tls::issue(&ca_key, &genesis.chain_id, &id)?;
            write_file(&dir.join("tls/node.pem"), cert.as_bytes())?;
            keyfile::save_tls_key(&dir.join("tls/node.key"), &key, own.as_deref())?;
        }
        let mode = if several {
            ConsensusMode::Bft
        } else {
            ConsensusMode::Solo
        };
        let mut cfg = node_config(&id, grpc_port, opts.block_interval_ms, mode)?;
        if i < opts.validators {
            cfg.custody_key = Some(PathBuf::from("custody.key"));
        }
        cfg.console = Some(console_credential(&dir, &genesis.validators[i].department)?);
        let path = dir.join("config.toml");
        write_file(&path, cfg.to_toml().as_bytes())?;
        configs.push(path);
    }
    Ok(InitReport {
        genesis,
        configs,
        key_dir,
    })
}

/// A node's configuration as `init` writes it: gRPC on `grpc_port`, node-to-node traffic
/// on the next port, metrics 2000 above.
fn node_config(
    id: &str,
    grpc_port: u16,
    block_interval_ms: u64,
    mode: ConsensusMode,
) -> anyhow::Result<NodeConfig> {
    let peer_listen: std::net::SocketAddr = format!("127.0.0.1:{}", grpc_port + 1).parse()?;
    Ok(NodeConfig {
        node_id: id.to_string(),
        genesis: PathBuf::from("../genesis.json"),
        data_dir: PathBuf::from("data"),
        validator_key: PathBuf::from("validator.pem"),
        custody_key: None,
        salt: Some(PathBuf::from(crate::network::SALT_FILE)),
        api: ApiConfig {
            grpc: format!("127.0.0.1:{grpc_port}").parse()?,
            http: Some(format!("127.0.0.1:{}", grpc_port + 2000).parse()?),
            limits: Default::default(),
            console_hosts: vec![],
            console_tls: None,
        },
        consensus: ConsensusConfig {
            mode,
            block_interval_ms,
            max_block_txs: 5000,
            bft: (mode == ConsensusMode::Bft).then(|| BftConfig {
                listen: peer_listen,
                tls_ca: PathBuf::from("../tls/ca.pem"),
                tls_cert: PathBuf::from("tls/node.pem"),
                tls_key: PathBuf::from("tls/node.key"),
                propose_timeout_ms: 3_000,
                vote_timeout_ms: 1_000,
                round_increase_ms: 500,
                max_clock_drift_ms: 5_000,
            }),
        },
        storage: StorageConfig::default(),
        mempool: MempoolConfig::default(),
        console: None,
    })
}

/// Options of `govchain init-node`: a node to add to a running network.
#[derive(Debug, Clone, clap::Args)]
pub struct InitNodeOptions {
    /// The network folder `govchain init` wrote (genesis.json, tls/ca.key).
    #[arg(long)]
    pub network: PathBuf,
    /// New node id (never used before on this chain).
    #[arg(long)]
    pub id: String,
    /// Department that runs it.
    #[arg(long)]
    pub department: String,
    /// gRPC port; node-to-node traffic on the next port, metrics 2000 above.
    #[arg(long)]
    pub grpc_port: u16,
    /// Prepare an observer instead of a validator.
    #[arg(long)]
    pub observer: bool,
    /// Write an unencrypted key file (development only).
    #[arg(long)]
    pub plain_keys: bool,
    /// Longest wait before pending transactions form a block, ms.
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
    /// Departments running the nodes, in node order (comma-separated; repeats allowed);
    /// default: the preset's departments in turn. A compute job over a department's
    /// certificates runs on its node.
    #[arg(long, value_delimiter = ',')]
    pub operated_by: Vec<String>,
}

/// What `init-node` wrote.
#[derive(Debug)]
pub struct NewNode {
    /// Its config.toml.
    pub config: PathBuf,
    /// Its validator key, SEC1 hex.
    pub public_key: String,
    /// Its node-to-node address.
    pub addr: String,
    /// Its custody key, SEC1 hex (none for an observer): governance may add it as a
    /// custody holder with it, and the holders then reshare the custody key to it.
    pub custody_key: Option<String>,
}

/// Prepares a node folder inside an existing network folder: block-signing key, TLS
/// certificate from the network's CA, configuration. The node joins once governance
/// approves `gov propose add-validator` with the values returned.
pub fn init_node(o: &InitNodeOptions) -> anyhow::Result<NewNode> {
    govchain_types::validate_dept_id(&o.id)
        .map_err(|why| anyhow::anyhow!("node id '{}' {why}", o.id))?;
    let (genesis, ca_key) = network_ca(&o.network)?;
    let dir = o.network.join(&o.id);
    if dir.exists() {
        bail!("{} exists; choose another --id", dir.display());
    }
    let passphrase = if o.plain_keys {
        None
    } else {
        Some(keyfile::passphrase(
            "passphrase for the new key file: ",
            true,
        )?)
    };
    let key = PrivateKey::generate();
    keyfile::save(&dir.join("validator.pem"), &key, passphrase.as_deref())?;
    // The new node's console searches by national id with the network's salt.
    let salt = crate::network::chain_salt(&o.network, &genesis)?;
    write_salt(&dir, &format!("{}\n", hex::encode(salt)))?;
    let (cert, tls_key) = tls::issue(&ca_key, &genesis.chain_id, &o.id)?;
    write_file(&dir.join("tls/node.pem"), cert.as_bytes())?;
    keyfile::save_tls_key(&dir.join("tls/node.key"), &tls_key, passphrase.as_deref())?;
    let mut cfg = node_config(&o.id, o.grpc_port, o.block_interval_ms, ConsensusMode::Bft)?;
    cfg.console = Some(console_credential(&dir, &o.department)?);
    let custody_key = if o.observer || genesis.custody.is_none() {
        None
    } else {
        let k = PrivateKey::generate();
        keyfile::save(&dir.join("custody.key"), &k, passphrase.as_deref())?;
        cfg.custody_key = Some(PathBuf::from("custody.key"));
        Some(hex_pub(&k))
    };
    let config = dir.join("config.toml");
    write_file(&config, cfg.to_toml().as_bytes())?;
    Ok(NewNode {
        config,
        public_key: hex_pub(&key),
        addr: format!("127.0.0.1:{}", o.grpc_port + 1),
        custody_key,
    })
}

/// The genesis and the CA key (opened with its passphrase) of the network folder
/// `network`, to issue certificates from.
pub(crate) fn network_ca(network: &Path) -> anyhow::Result<(Genesis, zeroize::Zeroizing<String>)> {
    let genesis = crate::network::network_genesis(&network.join("genesis.json"))?;
    let ca_key = keyfile::load_tls_key(&network.join("tls/ca.key")).with_context(|| {
        format!(
            "the network CA key {}/tls/ca.key (kept by whoever ran `govchain init`)",
            network.display()
        )
    })?;
    Ok((genesis, ca_key))
}

/// File beside a node's config holding its supervisor console credential.
pub const CONSOLE_CREDENTIAL: &str = "console.credential";

/// The role whose holders read every record.
const AUDITOR_ROLE: &str = "auditor";

/// A fresh console credential for the operator of the node in `dir`, signing in as the
/// department that runs the node (`department`), with that department's view: a node's
/// operator is not the auditor (supervisors sign in with their own keys). Written to
/// `dir/console.credential` (owner-only), its SM3 returned for the config.
fn console_credential(dir: &Path, department: &str) -> anyhow::Result<ConsoleSettings> {
    let mut secret = [0u8; 24];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let credential = zeroize::Zeroizing::new(hex::encode(secret));
    keyfile::write_secret(
        &dir.join(CONSOLE_CREDENTIAL),
        format!("{}\n", credential.as_str()).as_bytes(),
    )
    .with_context(|| format!("creating {}/{CONSOLE_CREDENTIAL}", dir.display()))?;
    Ok(ConsoleSettings {
        credential_sm3: hex::encode(govchain_crypto::sm3(credential.as_bytes())),
        department: department.to_string(),
    })
}

/// Writes the chain salt to `dir/chain.salt`, readable by its owner only.
fn write_salt(dir: &Path, text: &str) -> anyhow::Result<()> {
    let path = dir.join(crate::network::SALT_FILE);
    keyfile::write_secret(&path, text.as_bytes())
        .with_context(|| format!("creating {}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests;
