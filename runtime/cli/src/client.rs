//! The CLI's side of talking to a node: which department signs, with which key file.
//! Connecting, submitting and signed reads are `govchain_client`'s.

use std::path::{Path, PathBuf};

use govchain_client::{Client, Signer};

/// Default endpoint of `govchain dev`.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7545";

/// Options of commands that sign.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// Sign as this department (its key from `<home>/keys/<department>.pem`). Reads are
    /// signed too: a node answers outsiders only its health and a minimal status.
    #[arg(long = "as", value_name = "DEPARTMENT", env = "GOVCHAIN_AS")]
    pub(crate) as_dept: Option<String>,
    /// Use this key file instead.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Sign as this operator of the department.
    #[arg(long)]
    pub(crate) operator: Option<String>,
    /// A transaction must be included within this many blocks of the chain's height
    /// when it is sent, or it can never commit (0: no expiry).
    #[arg(long, value_name = "BLOCKS", default_value_t = govchain_client::DEFAULT_EXPIRY_BLOCKS)]
    pub(crate) expires_in: u64,
}

impl SignArgs {
    /// The signer these options name (see [`govchain_node::network::signer`]).
    pub(crate) fn signer(&self, home: &Path) -> anyhow::Result<Signer> {
        govchain_node::network::signer(
            home,
            self.as_dept.as_deref(),
            self.key.as_ref(),
            self.operator.as_deref(),
        )
    }

    /// `message` as a read of method `path` signed by these options' signer for the node
    /// `client` is connected to.
    pub(crate) fn read<M: prost::Message>(
        &self,
        home: &Path,
        client: &Client,
        path: &str,
        message: M,
    ) -> anyhow::Result<tonic::Request<M>> {
        Ok(client.signed(&self.signer(home)?, path, message)?)
    }
}
