//! A network of real node processes on loopback for `govchain bench --kind bft`:
//! `init` writes it into a temporary folder, and each validator runs as `govchain node`
//! (this same executable), so the cluster shares the machine with the load generator.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use govchain_client::event::Access;
use govchain_client::rpc::{GetReleasesRequest, GetTxRequest};
use govchain_client::{Client, ClientError, Receipt};
use govchain_types::pb;

/// Running validator processes; dropping it stops them.
#[derive(Debug)]
pub(crate) struct LocalNet {
    dir: tempfile::TempDir,
    /// The network folder (keys, genesis).
    pub(crate) home: PathBuf,
    nodes: Vec<Child>,
    /// gRPC endpoint of each node, in node order.
    pub(crate) endpoints: Vec<String>,
}

impl LocalNet {
    /// Writes a network of `validators` (departments starting with `initial_points`)
    /// and starts every node, waiting until all answer.
    pub(crate) async fn start(
        validators: usize,
        block_interval_ms: u64,
        initial_points: u64,
    ) -> anyhow::Result<Self> {
        let mut dir = tempfile::tempdir()?;
        // Logging asked for: the folder with the nodes' logs stays, to be read after.
        if std::env::var_os("GOVCHAIN_BENCH_LOG").is_some() {
            dir.disable_cleanup(true);
            eprintln!("bench cluster (kept): {}", dir.path().display());
        }
        let home = dir.path().join("net");
        let base_port = free_base_port(validators)?;
        govchain_node::init::init(&govchain_node::init::InitOptions {
            out: home.clone(),
            validators,
            observers: 0,
            threshold: None,
            preset: "nanjing".into(),
            chain_id: "govchain-bench".into(),
            plain_keys: true,
            base_port,
            block_interval_ms,
            operated_by: vec![],
            initial_points: Some(initial_points),
            supervisors: vec![govchain_node::init::DEFAULT_SUPERVISOR.into()],
        })?;
        for i in 1..=validators {
            allow_bursts(&home.join(format!("node{i}/config.toml")))?;
        }
        let exe = std::env::current_exe().context("locating this executable")?;
        let mut net = LocalNet {
            home: home.clone(),
            nodes: Vec::new(),
            endpoints: Vec::new(),
            dir,
        };
        for i in 1..=validators {
            let log = std::fs::File::create(net.dir.path().join(format!("node{i}.log")))?;
            let child = Command::new(&exe)
                .arg("node")
                .arg("--config")
                .arg(home.join(format!("node{i}/config.toml")))
                // `GOVCHAIN_BENCH_LOG` (a filter) makes the nodes log more, e.g.
                // `govchain_consensus::bft=debug` for each height's rounds and votes,
                // and keeps the folder.
                .env(
                    "GOVCHAIN_LOG",
                    std::env::var("GOVCHAIN_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting a node process")?;
            net.nodes.push(child);
            net.endpoints.push(format!(
                "http://127.0.0.1:{}",
                base_port + 10 * (i as u16 - 1)
            ));
        }
        net.answering().await?;
        Ok(net)
    }

    /// Waits until every node answers `GetStatus`.
    async fn answering(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for (i, n) in self.nodes.iter_mut().enumerate() {
                if let Some(status) = n.try_wait()? {
                    bail!("node{} exited with {status}: {}", i + 1, self.log(i));
                }
            }
            let mut up = 0;
            for e in &self.endpoints {
                if Client::connect(e).await.is_ok() {
                    up += 1;
                }
            }
            if up == self.endpoints.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("not every node answered within 60 s: {}", self.log(0));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// CPU seconds (user + system) each node process has used so far.
    pub(crate) fn cpu_seconds(&self) -> Vec<f64> {
        self.nodes
            .iter()
            .map(|n| process_cpu_seconds(n.id()).unwrap_or(0.0))
            .collect()
    }

    /// Waits until the nodes together use under a tenth of a core over half a second
    /// (their custodians have released every share), at most `limit`; returns when that
    /// quiet half second began.
    /// Waits until every key-share holder has released its share for the last allowed
    /// read of `txs` (custodians serve requests in order), then until the nodes are idle
    /// (stragglers); returns when that was. Fails if the nodes go idle first, or are
    /// still at it after `limit`.
    pub(crate) async fn wait_released(
        &self,
        endpoint: &str,
        txs: &[pb::SignedTx],
        limit: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + limit;
        let client = Client::connect(endpoint).await?;
        // Others' transactions and releases are answered to the auditor.
        let auditor = govchain_client::Signer::new(
            "supervision",
            govchain_node::keyfile::load(&self.home.join("keys/supervision.pem"))?,
        );
        let mut request = None;
        for tx in txs.iter().rev().take(100) {
            let tx_hash = govchain_crypto::sm3(&tx.body).to_vec();
            let req = client.signed(
                &auditor,
                "/govchain.v1.Chain/GetTx",
                GetTxRequest {
                    tx_hash: tx_hash.clone(),
                    prove: false,
                },
            )?;
            let got = client
                .chain()
                .get_tx(req)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let receipt = Receipt::new(tx_hash, got.receipt.unwrap_or_default())?;
            if let Some(a) = receipt.event::<Access>()
                && a.decision == "allow"
            {
                request = Some(a.request);
                break;
            }
        }
        let request = request.context("none of the last 100 reads was allowed")?;
        let mut certificates = client.certificates();
        let mut cpu = self.cpu_seconds().iter().sum::<f64>();
        let mut quiet_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let req = client.signed(
                &auditor,
                "/govchain.v1.Certificates/GetReleases",
                GetReleasesRequest { request },
            )?;
            let r = certificates
                .get_releases(req)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            if r.releases.len() >= r.holders.len() {
                break;
            }
            // Slow is fine while the nodes work (a consensus round that times out pauses
            // them for a moment); a cluster quiet for 10 s has stalled.
            let now = self.cpu_seconds().iter().sum::<f64>();
            if now - cpu >= 0.05 {
                quiet_since = Instant::now();
            }
            cpu = now;
            let idle = quiet_since.elapsed() > Duration::from_secs(10);
            if idle || Instant::now() > deadline {
                bail!(
                    "request {request}: {} of {} key shares released, and the nodes {}",
                    r.releases.len(),
                    r.holders.len(),
                    if idle {
                        "were idle for 10 s".to_string()
                    } else {
                        format!("still busy after {} s", limit.as_secs())
                    }
                );
            }
        }
        Ok(self.wait_idle().await)
    }

    /// Waits (at most 60 s) until the nodes' CPU time stops growing; returns when.
    async fn wait_idle(&self) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut before = self.cpu_seconds().iter().sum::<f64>();
        let mut since = Instant::now();
        while since < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.cpu_seconds().iter().sum::<f64>();
            if now - before < 0.05 {
                break;
            }
            before = now;
            since = Instant::now();
        }
        since
    }

    /// `r`, or its error followed by what each node shows: whether it still runs, and
    /// the last lines of its log (a run that stalls says why).
    pub(crate) fn explain<T>(&mut self, r: anyhow::Result<T>) -> anyhow::Result<T> {
        r.map_err(|e| {
            let nodes: Vec<String> = (0..self.nodes.len())
                .map(|i| {
                    let state = match self.nodes[i].try_wait() {
                        Ok(Some(status)) => format!("exited with {status}"),
                        _ => "running".into(),
                    };
                    format!(
                        "== node{} ({state}), last log lines:\n{}",
                        i + 1,
                        self.log(i)
                    )
                })
                .collect();
            anyhow::anyhow!("{e:#}\n{}", nodes.join("\n"))
        })
    }

    fn log(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("node{}.log", i + 1)))
            .unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
    }
}

/// A gRPC base port for `nodes` nodes whose every port (node i's gRPC at +10(i−1), its
/// node-to-node listener on the next port, its metrics 2000 above) is free now.
///
/// Taken below Linux's ephemeral range (32768–60999): a port the kernel hands out for
/// `bind(0)`, and those near it, may go to the next outgoing connection of any process
/// (a node of this cluster dialling its peers) and be held when the node binds it.
/// Candidates start at an offset of the process id, so concurrent runs rarely meet.
fn free_base_port(nodes: usize) -> anyhow::Result<u16> {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 10_000;
    let ports = |base: u16| {
        (0..nodes as u16).flat_map(move |i| {
            let grpc = base + 10 * i;
            [grpc, grpc + 1, grpc + 2000]
        })
    };
    let start = std::process::id() % 500 * 20;
    for n in 0..SPAN / 20 {
        let base = (FIRST + (start + 20 * n) % SPAN) as u16;
        if ports(base).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(base);
        }
    }
    bail!(
        "found no free block of ports in {FIRST}..{} for the bench network",
        FIRST + SPAN + 2000
    )
}

/// User + system CPU seconds of process `pid`, from `/proc/<pid>/stat`.
pub(crate) fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and
    // 15th fields of the line.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks_per_second())
}

/// The kernel's USER_HZ (100 on Linux for every architecture we run on; `getconf`
/// confirms it where available).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Lets one department have as many transactions waiting as the whole mempool holds:
/// the bench offers bursts from a few departments.
fn allow_bursts(config: &std::path::Path) -> anyhow::Result<()> {
    let mut c: toml::Table = std::fs::read_to_string(config)?.parse()?;
    if let Some(toml::Value::Table(m)) = c.get_mut("mempool") {
        let capacity = m.get("capacity").cloned().context("mempool.capacity")?;
        m.insert("per_account".into(), capacity);
    }
    std::fs::write(config, toml::to_string(&c)?)?;
    Ok(())
}
