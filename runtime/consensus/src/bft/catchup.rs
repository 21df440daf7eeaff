//! Catch-up: a node seen behind its peers fetches the decided blocks it lacks and
//! commits each only with a commit certificate of the validator set in force at its
//! height (its own state after the block before); nothing a peer serves is trusted as
//! it comes.

use std::time::Duration;

use govchain_proof::commit::verify_commit;

use super::engine::{Engine, Event};
use super::node::err;
use super::service::MAX_BLOCKS_PER_CALL;
use super::wire::cpb;
use crate::{ConsensusError, SealedBlock};

impl Engine {
    /// Asks a peer seen at a higher height for the decided blocks this node lacks, once
    /// it has stayed behind for a while (a peer one height ahead is usually just a
    /// moment faster).
    pub(super) fn catch_up(&mut self) {
        let Some((h, peer, since)) = self.ahead.clone() else {
            return;
        };
        if self.fetching || h <= self.height || since.elapsed() < Duration::from_secs(1) {
            return;
        }
        let Some(mut client) = self.links.peer(&peer).map(|p| p.client.clone()) else {
            return;
        };
        self.fetching = true;
        let events = self.events.clone();
        let from = self.height;
        tokio::spawn(async move {
            let req = cpb::GetBlocksRequest {
                from,
                max: MAX_BLOCKS_PER_CALL,
            };
            let r =
                match tokio::time::timeout(Duration::from_secs(10), client.get_blocks(req)).await {
                    Ok(Ok(r)) => Ok(r.into_inner().blocks),
                    Ok(Err(e)) => Err(format!("{peer}: {}", e.message())),
                    Err(_) => Err(format!("{peer}: timed out")),
                };
            let _ = events.send(Event::Fetched(r));
        });
    }

    /// Commits blocks a peer served, each only with a commit certificate of the set in
    /// force at its height.
    pub(super) async fn apply_fetched(&mut self, blocks: Vec<Vec<u8>>) -> crate::Result<()> {
        for raw in blocks {
            let sealed = match SealedBlock::decode(&raw) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "catch-up: an undecodable block");
                    return Ok(());
                }
            };
            if sealed.header.height != self.height {
                tracing::warn!(
                    height = sealed.header.height,
                    expected = self.height,
                    "catch-up: a block out of order"
                );
                return Ok(());
            }
            let Some(cert) = sealed.block.commit.clone() else {
                tracing::warn!(
                    height = self.height,
                    "catch-up: a block without its commit certificate"
                );
                return Ok(());
            };
            if let Err(e) = verify_commit(
                self.chain.chain_id(),
                &self.set,
                self.height,
                &sealed.hash,
                &cert,
            ) {
                tracing::warn!(height = self.height, error = %e, "catch-up: a commit certificate that does not verify");
                return Ok(());
            }
            let imported = self.import_decided(raw).await?;
            let chain = self.chain.clone();
            tokio::task::spawn_blocking(move || chain.commit_decided(imported, cert))
                .await
                .map_err(|e| err("commit", e))?
                .map_err(|e| {
                    ConsensusError::Corrupt(format!("a certified block cannot commit: {e}"))
                })?;
            tracing::info!(height = self.height, "caught up");
            self.next_height(true)?;
        }
        Ok(())
    }
}
