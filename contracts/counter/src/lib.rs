//! A counter: `increment {"by": n}` adds n (1 to 1000) and records who did it;
//! `get` returns the value; `history` lists the last increments.

use govchain_sdk::{call, query, Context, Item, Map};
use serde::{Deserialize, Serialize};

const COUNT: Item<u64> = Item::new("count");
const LOG: Map<u64, Entry> = Map::new("log");

/// Arguments of `increment`.
#[derive(Debug, Deserialize)]
pub struct Increment {
    /// Amount, 1 to 1000.
    pub by: u64,
}

/// One increment, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Who.
    pub caller: String,
    /// By how much.
    pub by: u64,
    /// At which height.
    pub height: u64,
}

/// Adds `by` to the counter.
#[call]
pub fn increment(ctx: &mut Context, args: Increment) -> Result<u64, String> {
    if !(1..=1000).contains(&args.by) {
        return Err(format!("by must be 1 to 1000, got {}", args.by));
    }
    let n = COUNT.load()?.unwrap_or(0) + args.by;
    COUNT.save(&n)?;
    LOG.set(&n, &Entry { caller: ctx.caller().to_string(), by: args.by, height: ctx.height() })?;
    ctx.emit("incremented", &[("by", &args.by.to_string()), ("value", &n.to_string())]);
    Ok(n)
}

/// The counter's value.
#[query]
pub fn get(_ctx: &Context, _args: ()) -> Result<u64, String> {
    Ok(COUNT.load()?.unwrap_or(0))
}

/// Up to 20 increments in order.
#[query]
pub fn history(_ctx: &Context, _args: ()) -> Result<Vec<Entry>, String> {
    Ok(LOG.range(None, 20)?.into_iter().map(|(_, e)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_sdk::testing::{self, TestHost};

    #[test]
    fn increments_and_logs() {
        testing::reset();
        let mut ctx = TestHost::new().caller("tax").height(3).install();
        assert_eq!(increment(&mut ctx, Increment { by: 2 }), Ok(2));
        let mut ctx = TestHost::new().caller("bank").height(4).install();
        assert_eq!(increment(&mut ctx, Increment { by: 5 }), Ok(7));
        assert_eq!(get(&ctx, ()), Ok(7));
        let h = history(&ctx, ()).unwrap();
        assert_eq!(h[0], Entry { caller: "tax".into(), by: 2, height: 3 });
        assert_eq!(h[1].caller, "bank");
        assert_eq!(testing::events().last().unwrap().kind, "incremented");
    }

    #[test]
    fn rejects_out_of_range() {
        testing::reset();
        let mut ctx = TestHost::new().install();
        assert!(increment(&mut ctx, Increment { by: 0 }).unwrap_err().contains("1 to 1000"));
        assert_eq!(get(&ctx, ()), Ok(0));
    }

    #[test]
    fn queries_cannot_write() {
        testing::reset();
        let mut ctx = TestHost::new().read_only(true).install();
        assert!(increment(&mut ctx, Increment { by: 1 }).unwrap_err().contains("not available"));
    }
}
