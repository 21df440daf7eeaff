//! A node started in this process on a fresh network folder: what `govchain demo`,
//! `govchain bench` and tests run when no `--endpoint` is given.

/// A fresh one-validator chain of the 'nanjing' departments in a temporary folder,
/// started in this process, for benchmarks without `--endpoint`.
#[derive(Debug)]
pub struct Embedded {
    _dir: tempfile::TempDir,
    /// The network folder (keys, genesis).
    pub home: std::path::PathBuf,
    /// Its gRPC endpoint.
    pub endpoint: String,
    /// The node.
    pub node: crate::run::NodeHandle,
}

impl Embedded {
    /// A one-validator network written by `init` with the options `opts` gives for its
    /// folder, its node's configuration as `init` wrote it changed by `tune` (addresses,
    /// storage sync, limits).
    pub async fn start_with(
        opts: impl FnOnce(std::path::PathBuf) -> crate::init::InitOptions,
        tune: impl FnOnce(&mut crate::config::NodeConfig),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("net");
        crate::init::init(&opts(home.clone()))?;
        let mut cfg = crate::config::NodeConfig::load(&home.join("node1/config.toml"))?;
        tune(&mut cfg);
        let node = crate::run::start(&cfg).await?;
        Ok(Embedded {
            _dir: dir,
            home,
            endpoint: format!("http://{}", node.grpc),
            node,
        })
    }
}
