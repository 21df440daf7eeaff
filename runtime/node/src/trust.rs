//! What the CLI trusts about a network: its genesis file, never what a node says.

use std::path::Path;

use anyhow::Context;
use govchain_client::shares::Trust;
use govchain_state::Genesis;

use crate::cmd::network_genesis;

/// The custody key set from the network's genesis file.
pub(crate) fn custody_key_set(home: &Path) -> anyhow::Result<govchain_custody::KeySet> {
    custody_of(&network_genesis(&home.join("genesis.json"))?)
}

fn custody_of(genesis: &Genesis) -> anyhow::Result<govchain_custody::KeySet> {
    let c = genesis.custody.as_ref().context(
        "this network's genesis has no custody key set: certificates cannot be published (re-create it with `govchain init`)",
    )?;
    Ok(govchain_custody::KeySet::from_bytes(&hex::decode(
        &c.public_key_set,
    )?)?)
}

/// A requester's trust anchor from genesis: chain id, custody key set, and every
/// department's registered keys (its own and its operators').
pub(crate) fn trust(genesis: &Genesis) -> anyhow::Result<Trust> {
    let mut issuers = std::collections::BTreeMap::new();
    for d in &genesis.departments {
        let keys = std::iter::once(&d.public_key)
            .chain(d.operators.iter().map(|o| &o.public_key))
            .map(hex::decode)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("genesis: a key of department '{}' is not hex", d.id))?;
        issuers.insert(d.id.clone(), keys);
    }
    Ok(Trust {
        chain_id: genesis.chain_id.clone(),
        custody: custody_of(genesis)?,
        issuers,
    })
}
