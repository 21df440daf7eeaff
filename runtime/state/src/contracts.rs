//! Contract execution: the [`govchain_vm::Host`] the executor gives a running contract.

use govchain_vm::{Entry, Host, HostError};

use crate::{Overlay, keys};

/// A contract's view of the chain during one call: its own storage (keys scoped under
/// the contract's name) over the block's overlay, the caller and the block header.
#[derive(Debug)]
pub struct ContractHost {
    /// The block's pending writes; moved in for the call and handed back after it.
    pub overlay: Overlay,
    contract: String,
    caller: String,
    height: u64,
    time_ms: u64,
}

impl ContractHost {
    /// A host for `contract` called by `caller` in the block at `height`/`time_ms`.
    pub fn new(
        overlay: Overlay,
        contract: &str,
        caller: String,
        height: u64,
        time_ms: u64,
    ) -> Self {
        ContractHost {
            overlay,
            contract: contract.to_string(),
            caller,
            height,
            time_ms,
        }
    }

    fn key(&self, k: &[u8]) -> Vec<u8> {
        keys::contract_data(&self.contract, k)
    }
}

fn fatal(e: crate::StateError) -> HostError {
    HostError::Fatal(e.to_string())
}

impl Host for ContractHost {
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        self.overlay.get(&self.key(key)).map_err(fatal)
    }

    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        let k = self.key(key);
        self.overlay.put(k, value.to_vec());
        Ok(())
    }

    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError> {
        let k = self.key(key);
        self.overlay.delete(k);
        Ok(())
    }

    fn storage_next(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<Entry>, HostError> {
        let scope = self.key(b"");
        let full_prefix = self.key(prefix);
        let full_after = after.map(|a| self.key(a));
        Ok(self
            .overlay
            .next(&full_prefix, full_after.as_deref())
            .map_err(fatal)?
            .map(|(k, v)| (k[scope.len()..].to_vec(), v)))
    }

    fn caller(&self) -> String {
        self.caller.clone()
    }

    fn block_height(&self) -> u64 {
        self.height
    }

    fn block_time_ms(&self) -> u64 {
        self.time_ms
    }

    fn points_balance(&mut self) -> Result<i64, HostError> {
        Err(HostError::NotAvailable(
            "credit points arrive with the access gate".into(),
        ))
    }

    fn read_certificate(&mut self, _cert_id: &str, _purpose: &str) -> Result<Vec<u8>, HostError> {
        Err(HostError::NotAvailable(
            "the certificate gate is not part of this node yet".into(),
        ))
    }
}
