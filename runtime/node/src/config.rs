//! Node configuration: one TOML file per node, written by `govchain init`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A node's configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Validator (node) id, as in genesis.
    pub node_id: String,
    /// Genesis file, relative to the config file.
    pub genesis: PathBuf,
    /// Data directory, relative to the config file.
    pub data_dir: PathBuf,
    /// The validator's SM2 key file, relative to the config file.
    pub validator_key: PathBuf,
    /// A custody holder's SM2 custody key (its public half is in genesis): key
    /// generation sends the holder's sub-shares encrypted to it, and the holder's share
    /// is summed from them. Without it the node runs but takes no part in custody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custody_key: Option<PathBuf>,
    /// The chain salt (`chain.salt`, relative to the config file; checked against the
    /// genesis's commitment at start): the console hashes national ids with it for
    /// signed-in supervisors. Without it the console searches by subject id only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<PathBuf>,
    /// Network endpoints.
    pub api: ApiConfig,
    /// Ordering.
    pub consensus: ConsensusConfig,
    /// Storage.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Mempool.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// The supervisor console on the HTTP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleSettings>,
}

/// The supervisor console's sign-in by credential (`docs/design/console.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// SM3 (hex) of the supervisor credential; `govchain init` writes the credential to
    /// `console.credential` beside this file, for the node's operator to hand over.
    pub credential_sm3: String,
    /// The department the credential signs in as (one with the auditor role).
    pub department: String,
}

/// Listen addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// gRPC listen address.
    pub grpc: SocketAddr,
    /// HTTP listen address for /metrics and /healthz; omit to disable.
    pub http: Option<SocketAddr>,
    /// What one call may cost this node (`[api.limits]`; each has a default).
    #[serde(default)]
    pub limits: govchain_api::ApiLimits,
    /// Host names (`name` or `name:port`) the console answers to besides this node's
    /// own address: a DNS name, or a reverse proxy's. Requests naming any other host are
    /// refused (a page of another site reaching the node by DNS rebinding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub console_hosts: Vec<String>,
    /// TLS on the HTTP port: required unless `http` is a loopback address (the console
    /// sends session cookies, the chain salt and audit records). `govchain console-cert`
    /// issues the certificate from the network's CA and sets this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_tls: Option<ConsoleTls>,
}

/// The HTTP port's certificate and key (`[api.console_tls]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleTls {
    /// Certificate chain (PEM), relative to the config file.
    pub cert: PathBuf,
    /// Its private key (PEM, sealed under the node's passphrase unless written plain).
    pub key: PathBuf,
}

/// Ordering settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusConfig {
    /// The ordering engine.
    pub mode: ConsensusMode,
    /// Longest wait between a transaction's arrival and its block, ms.
    pub block_interval_ms: u64,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// The bft mode's settings (required with `mode = "bft"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bft: Option<BftConfig>,
}

/// The ordering engine a node runs (`consensus.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsensusMode {
    /// One validator orders blocks alone.
    Solo,
    /// Validators decide every block by Tendermint with SM2 votes (`[consensus.bft]`).
    Bft,
}

impl ConsensusMode {
    /// The name in the config file and in `GetStatus`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsensusMode::Solo => "solo",
            ConsensusMode::Bft => "bft",
        }
    }
}

/// The bft mode's settings. Peers are the validators and observers the chain registers,
/// at the node-to-node address each has on chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BftConfig {
    /// Listen address of node-to-node traffic (mutual TLS).
    pub listen: SocketAddr,
    /// The chain CA certificate, relative to the config file.
    pub tls_ca: PathBuf,
    /// This node's certificate.
    pub tls_cert: PathBuf,
    /// This node's TLS private key.
    pub tls_key: PathBuf,
    /// How long validators wait for a round's proposal before prevoting nil, ms.
    #[serde(default = "default_propose_timeout")]
    pub propose_timeout_ms: u64,
    /// How long validators wait for the rest of a round's prevotes or precommits once
    /// more than 2/3 voted, ms.
    #[serde(default = "default_vote_timeout")]
    pub vote_timeout_ms: u64,
    /// How much each timeout grows per round of a height, ms.
    #[serde(default = "default_round_increase")]
    pub round_increase_ms: u64,
    /// How far ahead of this node's clock a proposed block's time may be; a block
    /// further ahead gets a nil prevote, ms.
    #[serde(default = "default_clock_drift")]
    pub max_clock_drift_ms: u64,
}

fn default_propose_timeout() -> u64 {
    3_000
}
fn default_vote_timeout() -> u64 {
    1_000
}
fn default_round_increase() -> u64 {
    500
}
fn default_clock_drift() -> u64 {
    5_000
}

/// Storage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// fsync every block commit (turn off only for throwaway benchmarks).
    pub sync: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { sync: true }
    }
}

/// Mempool settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most transactions waiting.
    pub capacity: usize,
    /// Most transactions one account (a department, or one of its operators) may have
    /// waiting, so that no department can fill the mempool; more are refused with
    /// ACCOUNT_PENDING_FULL until some commit.
    #[serde(default = "default_per_account")]
    pub per_account: usize,
}

fn default_per_account() -> usize {
    5_000
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            capacity: 200_000,
            per_account: default_per_account(),
        }
    }
}

impl NodeConfig {
    /// Reads a config file and resolves its relative paths against its directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        if text.contains("[consensus.raft]") {
            bail!(
                "{}: the raft mode is gone (it trusted one leader): validators now decide every block with BFT consensus; write a new network with `govchain init`",
                path.display()
            );
        }
        let mut c: NodeConfig =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut paths = vec![&mut c.genesis, &mut c.data_dir, &mut c.validator_key];
        paths.extend(c.custody_key.as_mut());
        paths.extend(c.salt.as_mut());
        if let Some(b) = c.consensus.bft.as_mut() {
            paths.extend([&mut b.tls_ca, &mut b.tls_cert, &mut b.tls_key]);
        }
        if let Some(t) = c.api.console_tls.as_mut() {
            paths.extend([&mut t.cert, &mut t.key]);
        }
        for p in paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        match (c.consensus.mode, c.consensus.bft.is_some()) {
            (ConsensusMode::Solo, false) | (ConsensusMode::Bft, true) => {}
            (mode, _) => {
                let name = mode.as_str();
                let needs = match mode {
                    ConsensusMode::Solo => "no [consensus.bft] section",
                    ConsensusMode::Bft => "a [consensus.bft] section",
                };
                bail!(
                    "{}: mode \"{name}\" needs {needs}: set mode to the engine whose section is given",
                    path.display()
                );
            }
        }
        c.check_http()
            .with_context(|| format!("{}", path.display()))?;
        if let Some(k) = &c.console {
            let ok = hex::decode(&k.credential_sm3).is_ok_and(|h| h.len() == 32);
            if !ok {
                bail!(
                    "{}: console.credential_sm3 must be 64 hex digits (the SM3 of the credential)",
                    path.display()
                );
            }
        }
        if c.consensus.max_block_txs == 0 {
            bail!("{}: consensus.max_block_txs must be > 0", path.display());
        }
        Ok(c)
    }

    /// TLS on a non-loopback HTTP address: the console there sends session cookies, the
    /// chain salt and audit records.
    pub fn check_http(&self) -> anyhow::Result<()> {
        if let Some(a) = self.api.http
            && !a.ip().is_loopback()
            && self.api.console_tls.is_none()
        {
            bail!(
                "api.http {a} is not a loopback address, and the console there sends session cookies, the chain salt and audit records: give it TLS with `govchain console-cert --network <network folder> --node {} --name <the host name browsers use>` (a certificate from the network's CA, set as [api.console_tls]), or listen on 127.0.0.1 behind a TLS proxy",
                self.node_id
            );
        }
        Ok(())
    }

    /// The file's text, with a header comment.
    pub fn to_toml(&self) -> String {
        format!(
            "# govchain node configuration, written by `govchain init`.\n# Paths are relative to this file.\n{}",
            toml::to_string_pretty(self).expect("config serialises")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` as a config file and loads it.
    fn load(text: &str) -> anyhow::Result<NodeConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text)?;
        NodeConfig::load(&path)
    }

    fn config(mode: ConsensusMode, bft: bool) -> String {
        let mut c = NodeConfig {
            node_id: "node1".into(),
            genesis: "genesis.json".into(),
            data_dir: "data".into(),
            validator_key: "validator.pem".into(),
            custody_key: None,
            salt: None,
            api: ApiConfig {
                grpc: "127.0.0.1:7000".parse().expect("address"),
                http: None,
                limits: Default::default(),
                console_hosts: vec![],
                console_tls: None,
            },
            consensus: ConsensusConfig {
                mode,
                block_interval_ms: 50,
                max_block_txs: 100,
                bft: None,
            },
            storage: StorageConfig::default(),
            mempool: MempoolConfig::default(),
            console: None,
        };
        if bft {
            c.consensus.bft = Some(BftConfig {
                listen: "127.0.0.1:7001".parse().expect("address"),
                tls_ca: "ca.pem".into(),
                tls_cert: "node.pem".into(),
                tls_key: "node.key".into(),
                propose_timeout_ms: 3_000,
                vote_timeout_ms: 1_000,
                round_increase_ms: 500,
                max_clock_drift_ms: 5_000,
            });
        }
        c.to_toml()
    }

    #[test]
    fn the_mode_and_its_section_must_agree() {
        let solo = load(&config(ConsensusMode::Solo, false)).expect("solo without a section");
        assert_eq!(solo.consensus.mode, ConsensusMode::Solo);
        let e = load(&config(ConsensusMode::Solo, true)).unwrap_err();
        assert!(
            e.to_string()
                .contains("mode \"solo\" needs no [consensus.bft] section"),
            "{e}"
        );
        let bft = load(&config(ConsensusMode::Bft, true)).expect("bft with its section");
        assert!(
            bft.consensus.bft.unwrap().tls_ca.is_absolute(),
            "paths resolved"
        );
        let e = load(&config(ConsensusMode::Bft, false)).unwrap_err();
        assert!(
            e.to_string().contains("needs a [consensus.bft] section"),
            "{e}"
        );
        // A config of the removed raft mode says what to do instead.
        let raft = config(ConsensusMode::Solo, false).replace("\"solo\"", "\"raft\"")
            + "\n[consensus.raft]\nid = 1\n";
        let e = load(&raft).unwrap_err();
        assert!(e.to_string().contains("the raft mode is gone"), "{e}");
        let e =
            load(&config(ConsensusMode::Solo, false).replace("\"solo\"", "\"pbft\"")).unwrap_err();
        assert!(format!("{e:#}").contains("unknown variant `pbft`"), "{e:#}");
    }
}
