//! Write govchain contracts in Rust.
//!
//! A contract is a `cdylib` crate built for `wasm32-unknown-unknown`. Mark entry points
//! with [`call`] (transactions: may write state, emit events) or [`query`] (read-only),
//! keep state in typed [`Item`]s and [`Map`]s, and return `Result`s: an `Err` fails the
//! transaction and discards its writes.
//!
//! ```
//! use govchain_sdk::{call, query, Context, Item};
//! use serde::Deserialize;
//!
//! const COUNT: Item<u64> = Item::new("count");
//!
//! #[derive(Deserialize)]
//! pub struct Increment { by: u64 }
//!
//! #[call]
//! pub fn increment(ctx: &mut Context, args: Increment) -> Result<u64, String> {
//!     let n = COUNT.load()?.unwrap_or(0).checked_add(args.by).ok_or("overflow")?;
//!     COUNT.save(&n)?;
//!     ctx.emit("incremented", &[("by", &args.by.to_string()), ("caller", ctx.caller())]);
//!     Ok(n)
//! }
//!
//! #[query]
//! pub fn get(_ctx: &Context, _args: ()) -> Result<u64, String> {
//!     Ok(COUNT.load()?.unwrap_or(0))
//! }
//!
//! // Natively, the same functions run against an in-memory host:
//! let mut ctx = govchain_sdk::testing::TestHost::new().caller("tax").height(7).install();
//! assert_eq!(increment(&mut ctx, Increment { by: 2 }), Ok(2));
//! assert_eq!(get(&ctx, ()), Ok(2));
//! ```
//!
//! Arguments and results travel as JSON. On wasm the SDK talks to the node through the
//! imports of `govchain-abi`; natively (for `cargo test`) it talks to [`testing`]'s
//! in-memory host, so contract logic is unit-tested without a node.

mod context;
pub mod env;
mod storage;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use context::{CertificateView, Context, JobInput};
pub use govchain_sdk_macros::{call, job, query};
pub use storage::{Item, Map, StorageError};
pub use {serde, serde_json};

/// Support for the entry-point macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::{Context, env};

    fn run<A: DeserializeOwned, R: Serialize, E: std::fmt::Display>(
        f: impl FnOnce(&mut Context, A) -> Result<R, E>,
    ) -> i32 {
        std::panic::set_hook(Box::new(|info| env::abort(&info.to_string())));
        let input = env::input();
        let input = if input.is_empty() {
            b"null".to_vec()
        } else {
            input
        };
        let args: A = match serde_json::from_slice(&input) {
            Ok(a) => a,
            Err(e) => {
                env::set_output(format!("invalid arguments: {e}").as_bytes());
                return govchain_abi::entry::ERROR;
            }
        };
        let mut ctx = Context::from_env();
        match f(&mut ctx, args) {
            Ok(r) => {
                env::set_output(&serde_json::to_vec(&r).unwrap_or_default());
                govchain_abi::entry::OK
            }
            Err(e) => {
                env::set_output(e.to_string().as_bytes());
                govchain_abi::entry::ERROR
            }
        }
    }

    /// Runs a `#[call]` entry point.
    pub fn dispatch_call<A: DeserializeOwned, R: Serialize, E: std::fmt::Display>(
        f: fn(&mut Context, A) -> Result<R, E>,
    ) -> i32 {
        run(f)
    }

    /// Runs a `#[query]` entry point.
    pub fn dispatch_query<A: DeserializeOwned, R: Serialize, E: std::fmt::Display>(
        f: fn(&Context, A) -> Result<R, E>,
    ) -> i32 {
        run(|ctx: &mut Context, a| f(ctx, a))
    }
}
