//! Reads as the network's auditor.

use govchain_client::{Client, Signer};
use govchain_types::pb;

use crate::Network;

/// Reads signed as the network's auditor (`supervision`) for the node at one endpoint:
/// blocks in full and every department's transactions answer node operators and the
/// auditor only, and every read but health and a minimal status is signed.
pub struct Auditor {
    /// The connection.
    pub client: govchain_client::Client,
    signer: Signer,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").finish_non_exhaustive()
    }
}

impl Auditor {
    /// The auditor of `net` reading from the node at `endpoint`.
    pub async fn of(net: &Network, endpoint: &str) -> Self {
        Auditor {
            client: Client::connect(endpoint).await.unwrap(),
            signer: net.signer("supervision"),
        }
    }

    /// `message` as a read of `path`, signed.
    pub fn signed<M: prost::Message>(&self, path: &str, message: M) -> tonic::Request<M> {
        self.client.signed(&self.signer, path, message).unwrap()
    }

    /// The node's full status.
    pub async fn status(&self) -> pb::GetStatusResponse {
        self.client.full_status(&self.signer).await.unwrap()
    }

    /// `GetTx` of `hash`, signed.
    pub fn get_tx(&self, hash: &[u8]) -> tonic::Request<pb::GetTxRequest> {
        let m = pb::GetTxRequest {
            tx_hash: hash.to_vec(),
            prove: false,
        };
        self.client
            .signed(&self.signer, "/govchain.v1.Chain/GetTx", m)
            .unwrap()
    }

    /// `GetBlock` at `at`, signed.
    pub fn get_block(&self, at: pb::get_block_request::At) -> tonic::Request<pb::GetBlockRequest> {
        let m = pb::GetBlockRequest { at: Some(at) };
        self.client
            .signed(&self.signer, "/govchain.v1.Chain/GetBlock", m)
            .unwrap()
    }
}
