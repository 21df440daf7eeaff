//! The host side of the contract interface (`govchain-abi`): what a contract can ask of
//! the chain, and the wasmtime functions that check its arguments and charge for it.

use govchain_abi::{MODULE, code, gas, imports, limits};
use wasmtime::{Caller, Extern, Linker, Memory, StoreLimits};

/// Why a host operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Nothing there.
    #[error("not found")]
    NotFound,
    /// Not available in this context (writes in a query, a capability not provided).
    #[error("not available: {0}")]
    NotAvailable(String),
    /// The access gate refused.
    #[error("denied: {0}")]
    Denied(String),
    /// A malformed argument.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The node failed (storage); the whole block must stop, not just this call.
    #[error("node failure: {0}")]
    Fatal(String),
}

impl HostError {
    fn code(&self) -> i64 {
        match self {
            HostError::NotFound => code::NOT_FOUND,
            HostError::NotAvailable(_) => code::NOT_AVAILABLE,
            HostError::Denied(_) => code::DENIED,
            HostError::Invalid(_) | HostError::Fatal(_) => code::INVALID,
        }
    }
}

/// A storage entry: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// What the chain provides to a running contract. The executor implements it over its
/// state overlay; keys are the contract's own (the implementation scopes them).
pub trait Host: Send + 'static {
    /// Reads a key.
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError>;
    /// Writes a key.
    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError>;
    /// Removes a key.
    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError>;
    /// The first entry with `prefix` whose key is greater than `after` (or the first with
    /// `prefix` when `after` is `None`), in key order.
    fn storage_next(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<Entry>, HostError>;
    /// `department` or `department/operator` of the caller.
    fn caller(&self) -> String;
    /// Height of the block being executed (or of the tip, for queries).
    fn block_height(&self) -> u64;
    /// Block time from the header, Unix ms.
    fn block_time_ms(&self) -> u64;
    /// The calling department's points.
    fn points_balance(&mut self) -> Result<i64, HostError>;
    /// A certificate through the access gate, on behalf of the caller.
    fn read_certificate(&mut self, cert_id: &str, purpose: &str) -> Result<Vec<u8>, HostError>;
}

/// An event a contract emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractEvent {
    /// Event kind.
    pub kind: String,
    /// String attributes, in the order given.
    pub attributes: Vec<(String, String)>,
}

/// Why a call ended early, raised from a host function.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostTrap {
    #[error("contract aborted: {0}")]
    Abort(String),
    #[error("out of gas")]
    OutOfGas,
    #[error("node failure: {0}")]
    Fatal(String),
    #[error("state writes over {0} bytes")]
    WriteLimit(u64),
}

/// Store data of one call.
pub(crate) struct Ctx<H> {
    pub(crate) host: H,
    pub(crate) limits: StoreLimits,
    pub(crate) input: Vec<u8>,
    pub(crate) output: Vec<u8>,
    pub(crate) events: Vec<ContractEvent>,
    pub(crate) writes: usize,
    /// Bytes written so far (keys and values; a removal counts its key).
    pub(crate) written_bytes: u64,
    pub(crate) max_write_bytes: u64,
    pub(crate) read_only: bool,
    /// A certificate read whose answer did not fit the caller's buffer: `(id, purpose,
    /// bytes)`. The retry with a larger buffer gets these bytes, not a second gate
    /// decision (a read is paid and audited once).
    pub(crate) unread_certificate: Option<(String, String, Vec<u8>)>,
}

type R<T> = wasmtime::Result<T>;

/// Adds `bytes` to the call's writes; past its limit the call traps (so the whole
/// transaction fails and nothing of it is kept).
fn count_written<H>(c: &mut Caller<'_, Ctx<H>>, bytes: u64) -> R<()> {
    let d = c.data_mut();
    d.written_bytes = d.written_bytes.saturating_add(bytes);
    if d.written_bytes > d.max_write_bytes {
        return Err(HostTrap::WriteLimit(d.max_write_bytes).into());
    }
    Ok(())
}

fn charge<H>(c: &mut Caller<'_, Ctx<H>>, units: u64) -> R<()> {
    let fuel = c.get_fuel()?;
    if fuel < units {
        c.set_fuel(0)?;
        return Err(HostTrap::OutOfGas.into());
    }
    c.set_fuel(fuel - units)?;
    Ok(())
}

fn memory<H>(c: &mut Caller<'_, Ctx<H>>) -> Option<Memory> {
    match c.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

/// Copies `len` bytes at `ptr` out of memory, or a negative code.
fn read<H>(c: &mut Caller<'_, Ctx<H>>, ptr: i32, len: i32, max: usize) -> Result<Vec<u8>, i64> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > max {
        return Err(code::TOO_LARGE);
    }
    let mem = memory(c).ok_or(code::OUT_OF_BOUNDS)?;
    let data = mem.data(&*c);
    let end = ptr.checked_add(len).ok_or(code::OUT_OF_BOUNDS)?;
    data.get(ptr..end)
        .map(<[u8]>::to_vec)
        .ok_or(code::OUT_OF_BOUNDS)
}

/// Writes `bytes` at `ptr` when they fit in `cap`; returns the full length either way.
fn write_out<H>(c: &mut Caller<'_, Ctx<H>>, ptr: i32, cap: i32, bytes: &[u8]) -> R<i64> {
    charge(c, bytes.len() as u64 * gas::PER_BYTE)?;
    let (ptr, cap) = (ptr as u32 as usize, cap as u32 as usize);
    if bytes.len() > cap {
        return Ok(bytes.len() as i64);
    }
    let Some(mem) = memory(c) else {
        return Ok(code::OUT_OF_BOUNDS);
    };
    let data = mem.data_mut(&mut *c);
    match ptr
        .checked_add(bytes.len())
        .and_then(|end| data.get_mut(ptr..end))
    {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            Ok(bytes.len() as i64)
        }
        None => Ok(code::OUT_OF_BOUNDS),
    }
}

/// Turns a host error into a return code, or a trap for node failures.
fn host_code(e: HostError) -> R<i64> {
    match e {
        HostError::Fatal(m) => Err(HostTrap::Fatal(m).into()),
        other => Ok(other.code()),
    }
}

macro_rules! arg {
    ($c:expr, $p:expr, $l:expr, $max:expr) => {
        match read($c, $p, $l, $max) {
            Ok(v) => v,
            Err(code) => return Ok(code as _),
        }
    };
}

/// Registers every import of `govchain-abi` on `linker`.
#[expect(
    clippy::too_many_lines,
    reason = "a flat list with one registration per import of govchain-abi"
)]
pub(crate) fn add_to_linker<H: Host>(linker: &mut Linker<Ctx<H>>) -> R<()> {
    linker.func_wrap(
        MODULE,
        imports::INPUT,
        |mut c: Caller<'_, Ctx<H>>, out: i32, cap: i32| -> R<i64> {
            charge(&mut c, gas::HOST_CALL)?;
            let input = std::mem::take(&mut c.data_mut().input);
            let r = write_out(&mut c, out, cap, &input);
            c.data_mut().input = input;
            r
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::SET_OUTPUT,
        |mut c: Caller<'_, Ctx<H>>, p: i32, l: i32| -> R<i32> {
            charge(&mut c, gas::HOST_CALL + l.max(0) as u64 * gas::PER_BYTE)?;
            let v = arg!(&mut c, p, l, limits::MAX_DATA);
            c.data_mut().output = v;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::STORAGE_GET,
        |mut c: Caller<'_, Ctx<H>>, kp: i32, kl: i32, out: i32, cap: i32| -> R<i64> {
            charge(&mut c, gas::HOST_CALL + kl.max(0) as u64 * gas::PER_BYTE)?;
            let key = arg!(&mut c, kp, kl, limits::MAX_KEY);
            match c.data_mut().host.storage_get(&key) {
                Ok(Some(v)) => write_out(&mut c, out, cap, &v),
                Ok(None) => Ok(code::NOT_FOUND),
                Err(e) => host_code(e),
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::STORAGE_SET,
        |mut c: Caller<'_, Ctx<H>>, kp: i32, kl: i32, vp: i32, vl: i32| -> R<i32> {
            charge(
                &mut c,
                gas::HOST_CALL
                    + gas::STORAGE_WRITE
                    + (kl.max(0) + vl.max(0)) as u64 * gas::PER_BYTE,
            )?;
            if c.data().read_only {
                return Ok(code::NOT_AVAILABLE as i32);
            }
            if c.data().writes >= limits::MAX_WRITES {
                return Ok(code::TOO_LARGE as i32);
            }
            let key = arg!(&mut c, kp, kl, limits::MAX_KEY);
            let value = arg!(&mut c, vp, vl, limits::MAX_VALUE);
            count_written(&mut c, (key.len() + value.len()) as u64)?;
            c.data_mut().writes += 1;
            match c.data_mut().host.storage_set(&key, &value) {
                Ok(()) => Ok(0),
                Err(e) => host_code(e).map(|v| v as i32),
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::STORAGE_REMOVE,
        |mut c: Caller<'_, Ctx<H>>, kp: i32, kl: i32| -> R<i32> {
            charge(
                &mut c,
                gas::HOST_CALL + gas::STORAGE_WRITE + kl.max(0) as u64 * gas::PER_BYTE,
            )?;
            if c.data().read_only {
                return Ok(code::NOT_AVAILABLE as i32);
            }
            if c.data().writes >= limits::MAX_WRITES {
                return Ok(code::TOO_LARGE as i32);
            }
            let key = arg!(&mut c, kp, kl, limits::MAX_KEY);
            count_written(&mut c, key.len() as u64)?;
            c.data_mut().writes += 1;
            match c.data_mut().host.storage_remove(&key) {
                Ok(()) => Ok(0),
                Err(e) => host_code(e).map(|v| v as i32),
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::STORAGE_NEXT,
        |mut c: Caller<'_, Ctx<H>>,
         pp: i32,
         pl: i32,
         ap: i32,
         al: i32,
         out: i32,
         cap: i32|
         -> R<i64> {
            charge(
                &mut c,
                gas::HOST_CALL + (pl.max(0) + al.max(0)) as u64 * gas::PER_BYTE,
            )?;
            let prefix = arg!(&mut c, pp, pl, limits::MAX_KEY);
            let after = arg!(&mut c, ap, al, limits::MAX_KEY);
            let after = (!after.is_empty()).then_some(after);
            match c.data_mut().host.storage_next(&prefix, after.as_deref()) {
                Ok(Some((k, v))) => {
                    let mut enc = Vec::with_capacity(4 + k.len() + v.len());
                    enc.extend_from_slice(&(k.len() as u32).to_le_bytes());
                    enc.extend_from_slice(&k);
                    enc.extend_from_slice(&v);
                    write_out(&mut c, out, cap, &enc)
                }
                Ok(None) => Ok(code::NOT_FOUND),
                Err(e) => host_code(e),
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::CALLER,
        |mut c: Caller<'_, Ctx<H>>, out: i32, cap: i32| -> R<i64> {
            charge(&mut c, gas::HOST_CALL)?;
            let who = c.data().host.caller();
            write_out(&mut c, out, cap, who.as_bytes())
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::BLOCK_HEIGHT,
        |mut c: Caller<'_, Ctx<H>>| -> R<i64> {
            charge(&mut c, gas::HOST_CALL)?;
            Ok(c.data().host.block_height() as i64)
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::BLOCK_TIME,
        |mut c: Caller<'_, Ctx<H>>| -> R<i64> {
            charge(&mut c, gas::HOST_CALL)?;
            Ok(c.data().host.block_time_ms() as i64)
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::EMIT_EVENT,
        |mut c: Caller<'_, Ctx<H>>, kp: i32, kl: i32, dp: i32, dl: i32| -> R<i32> {
            charge(
                &mut c,
                gas::HOST_CALL + (kl.max(0) + dl.max(0)) as u64 * gas::PER_BYTE,
            )?;
            if c.data().events.len() >= limits::MAX_EVENTS {
                return Ok(code::TOO_LARGE as i32);
            }
            let kind = arg!(&mut c, kp, kl, limits::MAX_KEY);
            let data = arg!(&mut c, dp, dl, limits::MAX_DATA);
            let Ok(kind) = String::from_utf8(kind) else {
                return Ok(code::INVALID as i32);
            };
            if govchain_abi::RESERVED_EVENT_KINDS.contains(&kind.as_str()) {
                return Ok(code::INVALID as i32);
            }
            // Attributes are a flat JSON object of strings; order is kept as written.
            let Ok(serde_json::Value::Object(map)) =
                serde_json::from_slice::<serde_json::Value>(&data)
            else {
                return Ok(code::INVALID as i32);
            };
            let mut attributes = Vec::with_capacity(map.len());
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) => attributes.push((k, s)),
                    other => attributes.push((k, other.to_string())),
                }
            }
            c.data_mut().events.push(ContractEvent { kind, attributes });
            Ok(0)
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::SM3,
        |mut c: Caller<'_, Ctx<H>>, dp: i32, dl: i32, out: i32| -> R<i32> {
            charge(
                &mut c,
                gas::HOST_CALL + dl.max(0) as u64 * (gas::PER_BYTE + gas::SM3_PER_BYTE),
            )?;
            let data = arg!(&mut c, dp, dl, limits::MAX_DATA);
            let h = govchain_crypto::sm3(&data);
            write_out(&mut c, out, 32, &h).map(|r| if r < 0 { r as i32 } else { 0 })
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::SM2_VERIFY,
        |mut c: Caller<'_, Ctx<H>>,
         kp: i32,
         kl: i32,
         mp: i32,
         ml: i32,
         sp: i32,
         sl: i32|
         -> R<i32> {
            charge(
                &mut c,
                gas::HOST_CALL + gas::SM2_VERIFY + ml.max(0) as u64 * gas::PER_BYTE,
            )?;
            let key = arg!(&mut c, kp, kl, 65);
            let msg = arg!(&mut c, mp, ml, limits::MAX_DATA);
            let sig = arg!(&mut c, sp, sl, 64);
            Ok(govchain_crypto::verify_sec1(&key, &msg, &sig).is_ok() as i32)
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::POINTS_BALANCE,
        |mut c: Caller<'_, Ctx<H>>| -> R<i64> {
            charge(&mut c, gas::HOST_CALL)?;
            match c.data_mut().host.points_balance() {
                Ok(b) => Ok(b),
                Err(e) => host_code(e),
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::READ_CERTIFICATE,
        |mut c: Caller<'_, Ctx<H>>,
         ip: i32,
         il: i32,
         pp: i32,
         pl: i32,
         out: i32,
         cap: i32|
         -> R<i64> {
            charge(&mut c, gas::HOST_CALL + gas::CERT_READ)?;
            let id = arg!(&mut c, ip, il, limits::MAX_KEY);
            let purpose = arg!(&mut c, pp, pl, limits::MAX_KEY);
            let (Ok(id), Ok(purpose)) = (String::from_utf8(id), String::from_utf8(purpose)) else {
                return Ok(code::INVALID);
            };
            let doc = match c.data_mut().unread_certificate.take() {
                Some((i, p, doc)) if i == id && p == purpose => doc,
                _ => match c.data_mut().host.read_certificate(&id, &purpose) {
                    Ok(doc) => doc,
                    Err(e) => return host_code(e),
                },
            };
            let n = write_out(&mut c, out, cap, &doc)?;
            if n as usize == doc.len() && doc.len() > cap as u32 as usize {
                c.data_mut().unread_certificate = Some((id, purpose, doc));
            }
            Ok(n)
        },
    )?;
    linker.func_wrap(
        MODULE,
        imports::ABORT,
        |mut c: Caller<'_, Ctx<H>>, p: i32, l: i32| -> R<()> {
            charge(&mut c, gas::HOST_CALL)?;
            let msg = match read(&mut c, p, l, 4096) {
                Ok(m) => String::from_utf8_lossy(&m).into_owned(),
                Err(code) => format!("(abort message unreadable: {})", code::name(code)),
            };
            Err(HostTrap::Abort(msg).into())
        },
    )?;
    Ok(())
}
