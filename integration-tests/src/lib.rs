//! Helpers for tests that run real `govchain` node processes on loopback: create a
//! network folder with `govchain init`, start and kill nodes, sign and submit as a
//! department.
//!
//! The `govchain` binary is found next to the test executable's `deps/` folder (cargo
//! builds it for the workspace test run), or at `$GOVCHAIN_BIN`.

mod auditor;
pub mod bft;
pub mod gateway;
pub mod http;
pub mod partition;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
pub use auditor::Auditor;
pub use govchain_client::Signer;
use govchain_client::rpc::GetStatusRequest;
use govchain_client::{ChainClient, Client};
use govchain_crypto::PrivateKey;
use govchain_types::pb;
use tonic::transport::Channel;

/// Path of the `govchain` binary under test.
pub fn govchain_bin() -> PathBuf {
    if let Ok(p) = std::env::var("GOVCHAIN_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("govchain");
    assert!(
        bin.exists(),
        "{} not found: build it first (`cargo build --bin govchain`) or set GOVCHAIN_BIN",
        bin.display()
    );
    bin
}

/// A free loopback port (bound and released), for a node started a moment later.
///
/// Taken below Linux's ephemeral range (32768–60999): a port the kernel hands out for
/// `bind(0)` is also one it may give the next outgoing connection of any process (a
/// running node dialling its peers), which then holds it when the node binds. Test
/// binaries start at offsets of their process id, so parallel runs rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::Ordering;
    let start = std::process::id() % 600 * 20;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < SPAN,
            "no free loopback port in {FIRST}..{}",
            FIRST + SPAN
        );
        let port = (FIRST + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The first port [`free_port`] has not handed out yet, as an offset from `FIRST`.
static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
const FIRST: u32 = 24_000;
const SPAN: u32 = 8_000;

/// Networks' gRPC base ports are taken from blocks of this many ports in
/// 20,000–22,000 (their metrics ports, 2000 above, in 22,000–24,000; single ports from
/// [`free_port`] start at 24,000).
const BLOCK: u16 = 50;

/// Claims the port block of `file` for process `me`: the file names the process holding
/// it; a block whose process has exited is free again.
///
/// The file appears whole or not at all (written under a private name, then hard-linked
/// to `file`, which fails if it exists), so a claimant never reads a half-written holder
/// and mistakes a live claim for a stale one.
fn claim(file: &Path, me: u32) -> bool {
    let draft = file.with_extension(format!("draft-{me}"));
    if std::fs::write(&draft, me.to_string()).is_err() {
        return false;
    }
    let mut claimed = false;
    for _ in 0..2 {
        if std::fs::hard_link(&draft, file).is_ok() {
            claimed = true;
            break;
        }
        let holder = std::fs::read_to_string(file).unwrap_or_default();
        let alive = holder
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if alive {
            break;
        }
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_file(&draft);
    claimed
}

/// Serializes port-block claims of the tests of one process.
static CLAIMS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A gRPC base port for a network of `nodes` (node i's gRPC at base + 10(i − 1), its
/// node-to-node port next to it, metrics 2000 above). The block of ports is claimed for
/// the life of this test process, so that no two networks (of this test
/// binary or of another running at the same time) ever share a port.
pub fn free_base_port(nodes: usize) -> u16 {
    assert!(nodes * 10 <= BLOCK as usize, "at most 5 nodes per network");
    let dir = std::env::temp_dir().join("govchain-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock folder");
    let me = std::process::id();
    let _one_at_a_time = CLAIMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let blocks = 2000 / BLOCK;
    let start = (me % u32::from(blocks)) as u16;
    for k in 0..blocks {
        let block = (start + k) % blocks;
        let base = 20_000 + block * BLOCK;
        if !claim(&dir.join(format!("{base}.pid")), me) {
            continue;
        }
        let free = (0..nodes as u16).all(|i| {
            let grpc = base + 10 * i;
            [grpc, grpc + 1, grpc + 2000]
                .iter()
                .all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        });
        if free {
            return base;
        }
    }
    panic!("no free block of {BLOCK} loopback ports in 20000..22000");
}

/// Runs `govchain` with `args` and returns its stdout, failing on a non-zero exit.
pub fn govchain(args: &[&str]) -> anyhow::Result<String> {
    govchain_env(args, &[])
}

/// Runs `govchain` with `args` and extra environment variables.
pub fn govchain_env(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let out = Command::new(govchain_bin())
        .args(args)
        .envs(env.iter().copied())
        .output()?;
    if !out.status.success() {
        bail!(
            "govchain {:?} failed: {}{}",
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs a `govchain` client command against `endpoint` with `--home home --json` and
/// parses its JSON output; a failed command is an error carrying its output.
pub fn cli_json(
    endpoint: &str,
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<serde_json::Value> {
    let mut all = vec![
        "--endpoint",
        endpoint,
        "--home",
        home.to_str().unwrap(),
        "--json",
    ];
    all.extend_from_slice(args);
    Ok(serde_json::from_str(&govchain_env(&all, env)?)?)
}

/// A network folder made by `govchain init` in a temporary directory.
#[derive(Debug)]
pub struct Network {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The network folder.
    pub root: PathBuf,
    /// gRPC port of node1.
    pub base_port: u16,
    /// The passphrase the key files are sealed under (the owners' own aside).
    pub passphrase: Option<String>,
}

impl Network {
    /// `govchain init --validators n --plain-keys` with free ports.
    pub fn init(validators: usize) -> anyhow::Result<Self> {
        Self::init_with(validators, None)
    }

    /// `govchain init`, with key files encrypted under `passphrase` when given.
    pub fn init_with(validators: usize, passphrase: Option<&str>) -> anyhow::Result<Self> {
        Self::init_with_env(validators, passphrase, &[])
    }

    /// [`Network::init_with`] with more environment for `init` (owners' own
    /// passphrases, `GOVCHAIN_KEY_PASSPHRASE_<OWNER>`).
    pub fn init_with_env(
        validators: usize,
        passphrase: Option<&str>,
        more: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::init_full(validators, passphrase, more, &[])
    }

    /// `govchain init` with plain keys and more arguments (`--operated-by`,
    /// `--initial-points`, ...).
    pub fn init_args(validators: usize, args: &[&str]) -> anyhow::Result<Self> {
        Self::init_full(validators, None, &[], args)
    }

    fn init_full(
        validators: usize,
        passphrase: Option<&str>,
        more: &[(&str, &str)],
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("net");
        let base_port = free_base_port(validators);
        let (validators, port) = (validators.to_string(), base_port.to_string());
        let mut args = vec![
            "init",
            "--out",
            root.to_str().unwrap(),
            "--validators",
            &validators,
            "--base-port",
            &port,
            "--chain-id",
            "it-chain",
            "--block-interval-ms",
            "20",
        ];
        args.extend_from_slice(extra);
        let mut env = match passphrase {
            Some(p) => vec![("GOVCHAIN_KEY_PASSPHRASE", p)],
            None => {
                args.push("--plain-keys");
                vec![]
            }
        };
        env.extend_from_slice(more);
        govchain_env(&args, &env)?;
        Ok(Network {
            dir,
            root,
            base_port,
            passphrase: passphrase.map(str::to_string),
        })
    }

    /// `govchain init --validators v --observers o --plain-keys` with free ports: a
    /// network whose validators decide every block with BFT consensus.
    pub fn init_bft(validators: usize, observers: usize) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("net");
        let base_port = free_base_port(validators + observers);
        let (v, o, port) = (
            validators.to_string(),
            observers.to_string(),
            base_port.to_string(),
        );
        govchain(&[
            "init",
            "--out",
            root.to_str().unwrap(),
            "--validators",
            &v,
            "--observers",
            &o,
            "--base-port",
            &port,
            "--chain-id",
            "it-bft",
            "--block-interval-ms",
            "50",
            "--plain-keys",
        ])?;
        Ok(Network {
            dir,
            root,
            base_port,
            passphrase: None,
        })
    }

    /// Config file of node `i` (1-based).
    pub fn config(&self, i: usize) -> PathBuf {
        self.root.join(format!("node{i}/config.toml"))
    }

    /// Sets node `i`'s block interval (`block_interval_ms` in its config) to `ms`: how
    /// long pending transactions wait for a block, long enough for a test to stop a
    /// process while one is in flight. Takes effect when the node starts.
    pub fn set_block_interval(&self, i: usize, ms: u64) {
        let config = self.config(i);
        let text = std::fs::read_to_string(&config).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("block_interval_ms"))
            .expect("block_interval_ms in the node's config")
            .to_string();
        std::fs::write(
            &config,
            text.replace(&line, &format!("block_interval_ms = {ms}")),
        )
        .unwrap();
    }

    /// gRPC endpoint of node `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.base_port + 10 * (i as u16 - 1))
    }

    /// Validator `id`'s own account (`validator:<id>`), signed with its block key.
    pub fn validator_signer(&self, id: &str) -> Signer {
        let pem = std::fs::read_to_string(self.root.join(format!("{id}/validator.pem"))).unwrap();
        Signer::new(
            format!("validator:{id}"),
            PrivateKey::from_pkcs8_pem(&pem).unwrap(),
        )
    }

    /// A department's key (opened with [`Network::passphrase`] when sealed).
    pub fn signer(&self, dept: &str) -> Signer {
        let pem = std::fs::read_to_string(self.root.join(format!("keys/{dept}.pem"))).unwrap();
        let pass = self.passphrase.as_deref().map(str::as_bytes);
        Signer::new(dept, PrivateKey::from_pem_any(&pem, pass).unwrap())
    }
}

/// A running node process.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    /// Its endpoint.
    pub endpoint: String,
    log: PathBuf,
}

impl NodeProcess {
    /// Starts node `i` of `net` and waits until it answers GetStatus.
    pub async fn start(net: &Network, i: usize) -> anyhow::Result<Self> {
        Self::start_with_env(net, i, &[]).await
    }

    /// Like [`NodeProcess::start`], with extra environment variables.
    pub async fn start_with_env(
        net: &Network,
        i: usize,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let log = net.root.join(format!("node{i}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(govchain_bin())
            .args(["node", "--config", net.config(i).to_str().unwrap()])
            .env("GOVCHAIN_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()?;
        let mut node = NodeProcess {
            child,
            endpoint: net.endpoint(i),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = node.child.try_wait()? {
                bail!(
                    "node exited with {status} during start: {}",
                    node.log_text()
                );
            }
            if let Ok(mut c) = connect(&node.endpoint).await
                && c.get_status(GetStatusRequest {}).await.is_ok()
            {
                return Ok(node);
            }
            if Instant::now() > deadline {
                bail!("node did not come up within 30 s: {}", node.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} {} failed", self.pid());
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.status().is_some()
    }

    /// How the process exited, if it has.
    pub fn status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what each of its nodes said last.
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "---- {} (last lines of {})",
                self.endpoint,
                self.log.display()
            );
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{l}");
            }
        }
    }
}

/// Connects a client.
pub async fn connect(endpoint: &str) -> anyhow::Result<ChainClient<Channel>> {
    let ch = Channel::from_shared(endpoint.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(40))
        .connect()
        .await
        .context("connect")?;
    Ok(ChainClient::new(ch))
}

/// What the tests do with a [`Signer`] against a node.
pub trait Submit {
    /// Signs `payload` with the next nonce, submits it to `endpoint` and waits for the
    /// receipt.
    fn submit(
        &self,
        endpoint: &str,
        payload: pb::payload::Kind,
    ) -> impl Future<Output = anyhow::Result<pb::Receipt>>;

    /// Its next nonce according to the node at `endpoint` (a read it signs).
    fn next_nonce(&self, endpoint: &str) -> impl Future<Output = anyhow::Result<u64>>;
}

impl Submit for Signer {
    async fn submit(
        &self,
        endpoint: &str,
        payload: pb::payload::Kind,
    ) -> anyhow::Result<pb::Receipt> {
        let mut client = Client::connect(endpoint).await?;
        Ok(client.submit(self, payload).await?.receipt)
    }

    async fn next_nonce(&self, endpoint: &str) -> anyhow::Result<u64> {
        Ok(Client::connect(endpoint).await?.next_nonce(self).await?)
    }
}

/// An anchor payload with a unique key.
pub fn anchor(key: &str) -> pb::payload::Kind {
    pb::payload::Kind::Anchor(pb::Anchor {
        key: key.into(),
        digest: govchain_crypto::sm3(key.as_bytes()).to_vec(),
        note: String::new(),
    })
}

/// Attribute `key` of the first `kind` event in a receipt as the CLI prints it (`--json`).
pub fn event_attr<'a>(receipt: &'a serde_json::Value, kind: &str, key: &str) -> &'a str {
    receipt["events"]
        .as_array()
        .expect("a receipt's events")
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {receipt}"))["attributes"][key]
        .as_str()
        .expect("a string attribute")
}

/// The custody key generation as node `endpoint` of `net` reports it to the auditor.
pub async fn keygen_status(net: &Network, endpoint: &str) -> anyhow::Result<pb::KeygenStatus> {
    let auditor = Auditor::of(net, endpoint).await;
    let req = auditor.signed(
        "/govchain.v1.Certificates/GetKeygen",
        govchain_client::rpc::GetKeygenRequest {},
    );
    Ok(auditor
        .client
        .certificates()
        .get_keygen(req)
        .await?
        .into_inner())
}

/// Waits (up to `wait`) until the validators have generated the custody key.
pub async fn wait_for_custody_key(
    net: &Network,
    endpoint: &str,
    wait: Duration,
) -> anyhow::Result<pb::KeygenStatus> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let s = keygen_status(net, endpoint).await?;
        if s.custody.is_some() {
            return Ok(s);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no custody key after {wait:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Validator `id`'s custody share `number`, summed as its node sums it: from the
/// generation on chain (`endpoint`) with the custody key in its node folder.
pub async fn custody_share(
    net: &Network,
    endpoint: &str,
    id: &str,
    number: u32,
) -> anyhow::Result<govchain_custody::SecretShare> {
    let pem = std::fs::read_to_string(net.root.join(format!("{id}/custody.key")))?;
    let key = govchain_crypto::PrivateKey::from_pem_any(&pem, None)?;
    let s = wait_for_custody_key(net, endpoint, Duration::from_secs(60)).await?;
    let custody = s.custody.context("no key")?;
    govchain_state::keygen::holder_share(&key, number, &custody, &s.deals, &s.answers)
        .map_err(anyhow::Error::msg)
}

/// Proposes `args` (a `gov propose` subcommand) as the tax bureau through node `at` and
/// has three more committee members approve it (4 of the 6 needed).
///
/// # Panics
/// If a command fails or the proposal is not created.
pub fn govern(net: &Network, at: usize, args: &[&str]) {
    let cli = |args: &[&str]| cli_json(&net.endpoint(at), &net.root, args, &[]).unwrap();
    let mut all = vec!["gov", "propose"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--as", "tax"]);
    let r = cli(&all);
    let id = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "proposal_created")
        .unwrap_or_else(|| panic!("no proposal in {r}"))["attributes"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for dept in ["housing", "public-security", "civil-affairs"] {
        cli(&["gov", "approve", &id, "--as", dept]);
    }
}
