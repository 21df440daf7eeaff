//! Command implementations.

pub(crate) mod audit;
pub(crate) mod cert;
pub(crate) mod chain;
pub(crate) mod compute;
pub(crate) mod contract;
pub(crate) mod keys;
pub(crate) mod node;
pub(crate) mod points;

use std::path::Path;

use anyhow::Context;
use govchain_client::Client;
use govchain_state::Genesis;

/// A connection to the node at `endpoint`, refused unless it runs the chain of
/// `<home>/genesis.json` (the trust anchor: signed reads name its chain id, and shares
/// and certificates are checked against it, never against what the node says).
pub(crate) async fn connect_checked(
    endpoint: &str,
    home: &Path,
) -> anyhow::Result<(Client, Genesis)> {
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let client = Client::connect(endpoint).await?;
    anyhow::ensure!(
        client.status().genesis_hash == genesis.hash() && client.chain_id() == genesis.chain_id,
        "the node at {endpoint} runs another chain than {}/genesis.json",
        home.display()
    );
    Ok((client, genesis))
}

/// The network's genesis file, `<home>/genesis.json`.
pub(crate) fn network_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (the network's genesis file; use --home for another network folder)",
            path.display()
        )
    })?;
    Ok(Genesis::from_json(&text)?)
}

/// `SM3(chain salt || national ID)`, computed here: the ID never leaves this machine,
/// and the salt comes from the network's genesis file, never from the node.
pub(crate) fn subject_of(home: &Path, national_id: &str) -> anyhow::Result<Vec<u8>> {
    let salt = network_genesis(&home.join("genesis.json"))?.salt();
    let mut line = String::new();
    let national_id = if national_id == "-" {
        std::io::stdin().read_line(&mut line)?;
        line.trim()
    } else {
        national_id
    };
    let id = govchain_state::certs::subject_id(&salt, national_id)
        .map_err(|e| anyhow::anyhow!("INVALID_SUBJECT (3014): {e}"))?;
    Ok(id.to_vec())
}
