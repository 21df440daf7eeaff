//! Calls for measuring the contract runtime (`govchain bench --kind contract`).

use govchain_sdk::{call, env, Context};

/// Does nothing: the cost of instantiation plus the entry-point plumbing.
#[call]
pub fn noop(_ctx: &mut Context, _args: ()) -> Result<(), String> {
    Ok(())
}

/// Writes 10 storage entries of 32 bytes.
#[call]
pub fn write10(ctx: &mut Context, _args: ()) -> Result<(), String> {
    let value = [7u8; 32];
    for i in 0..10u8 {
        env::storage_set(&[b'w', i], &value).map_err(|c| format!("write {i}: {c}"))?;
    }
    ctx.emit("wrote", &[("count", "10")]);
    Ok(())
}

/// Which certificate [`read`] reads, and why.
#[derive(Debug, serde::Deserialize)]
pub struct Read {
    /// Certificate id.
    pub cert_id: String,
    /// Purpose of the read.
    pub purpose: String,
}

/// Reads one certificate through the access gate (policy, points, audit record): the
/// cost of a contract that uses the data it exists for.
#[call]
pub fn read(ctx: &mut Context, args: Read) -> Result<(), String> {
    ctx.read_certificate(&args.cert_id, &args.purpose)?;
    Ok(())
}
