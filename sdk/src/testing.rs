//! An in-memory host for native unit tests of contracts (for contract authors only; the
//! node never uses it).
//!
//! ```
//! use govchain_sdk::testing::TestHost;
//! let ctx = TestHost::new().caller("tax").height(10).time_ms(1_700_000_000_000).install();
//! assert_eq!(ctx.caller(), "tax");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::Context;

/// An event recorded by the test host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Kind.
    pub kind: String,
    /// Attributes.
    pub attributes: Vec<(String, String)>,
}

/// The in-memory host state.
#[derive(Debug, Clone, Default)]
pub struct TestHost {
    pub(crate) caller: String,
    pub(crate) height: u64,
    pub(crate) time_ms: u64,
    pub(crate) points: i64,
    pub(crate) read_only: bool,
    pub(crate) storage: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) certificates: BTreeMap<(String, String), Vec<u8>>,
    pub(crate) events: Vec<Event>,
    pub(crate) input: Vec<u8>,
    pub(crate) output: Vec<u8>,
}

thread_local! {
    static HOST: RefCell<Option<TestHost>> = const { RefCell::new(None) };
}

pub(crate) fn with_host<R>(f: impl FnOnce(&mut TestHost) -> R) -> R {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let host = h
            .as_mut()
            .expect("no test host: call govchain_sdk::testing::TestHost::new()...install() first");
        f(host)
    })
}

impl TestHost {
    /// A host with caller `tester`, height 1, time 0.
    pub fn new() -> Self {
        TestHost {
            caller: "tester".into(),
            height: 1,
            ..Default::default()
        }
    }

    /// Sets the caller (`department` or `department/operator`).
    pub fn caller(mut self, caller: &str) -> Self {
        self.caller = caller.into();
        self
    }

    /// Sets the block height.
    pub fn height(mut self, h: u64) -> Self {
        self.height = h;
        self
    }

    /// Sets the block time.
    pub fn time_ms(mut self, t: u64) -> Self {
        self.time_ms = t;
        self
    }

    /// Sets the caller's points balance.
    pub fn points(mut self, p: i64) -> Self {
        self.points = p;
        self
    }

    /// Makes the host refuse writes, as the node does for queries.
    pub fn read_only(mut self, ro: bool) -> Self {
        self.read_only = ro;
        self
    }

    /// Lets `read_certificate(cert_id, purpose)` return `document` (any other read is denied).
    pub fn certificate(mut self, cert_id: &str, purpose: &str, document: &[u8]) -> Self {
        self.certificates
            .insert((cert_id.into(), purpose.into()), document.to_vec());
        self
    }

    /// Installs this host for the current thread (keeping storage from a previous host
    /// if this one has none) and returns a matching context.
    pub fn install(mut self) -> Context {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            if let (true, Some(old)) = (self.storage.is_empty(), h.take()) {
                self.storage = old.storage;
            }
            *h = Some(self);
        });
        Context::from_env()
    }

    pub(crate) fn check_write(&self, _k: &[u8], _v: Option<&[u8]>) -> Result<(), i64> {
        if self.read_only {
            Err(govchain_abi::code::NOT_AVAILABLE)
        } else {
            Ok(())
        }
    }
}

/// Events emitted so far on this thread's host.
pub fn events() -> Vec<Event> {
    with_host(|h| h.events.clone())
}

/// A copy of this thread's host storage.
pub fn storage() -> BTreeMap<Vec<u8>, Vec<u8>> {
    with_host(|h| h.storage.clone())
}

/// Removes this thread's host (storage included).
pub fn reset() {
    HOST.with(|h| *h.borrow_mut() = None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_event_kinds_are_dropped_as_on_chain() {
        let ctx = TestHost::new().install();
        ctx.emit("access", &[("decision", "allow")]);
        ctx.emit("scored", &[("score", "700")]);
        let kinds: Vec<String> = events().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["scored"]);
        reset();
    }
}
