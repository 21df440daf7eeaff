//! Attacks on the contract runtime, one entry each. The node must end every one as a
//! failed transaction with state unchanged, and go on producing blocks.

use govchain_sdk::{Context, call, env};

#[link(wasm_import_module = "govchain")]
unsafe extern "C" {
    fn storage_set(kp: *const u8, kl: i32, vp: *const u8, vl: i32) -> i32;
    fn storage_get(kp: *const u8, kl: i32, out: *mut u8, cap: i32) -> i64;
    fn emit_event(kp: *const u8, kl: i32, dp: *const u8, dl: i32) -> i32;
}

/// Writes a marker first, so a test can check that failed calls leave no writes.
fn mark() -> Result<(), String> {
    env::storage_set(b"marker", b"written before the attack").map_err(|c| format!("marker: {c}"))
}

/// Loops forever: must run out of gas.
#[call]
pub fn infinite_loop(_ctx: &mut Context, _args: ()) -> Result<(), String> {
    mark()?;
    let mut i: u64 = 0;
    loop {
        i = std::hint::black_box(i.wrapping_add(1));
    }
}

/// Allocates without bound: must hit the memory limit.
#[call]
pub fn memory_bomb(_ctx: &mut Context, _args: ()) -> Result<usize, String> {
    mark()?;
    let mut keep: Vec<Vec<u8>> = Vec::new();
    loop {
        keep.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&keep);
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        std::hint::black_box(recurse(n + 1)) + 1
    }
}

/// Recurses without bound: must hit the call-depth limit.
#[call]
pub fn deep_recursion(_ctx: &mut Context, _args: ()) -> Result<u64, String> {
    mark()?;
    Ok(recurse(1))
}

/// Passes a pointer far outside memory: the host must refuse, not trap the node.
#[call]
pub fn out_of_bounds(_ctx: &mut Context, _args: ()) -> Result<(), String> {
    mark()?;
    let r = unsafe { storage_set(0x7fff_0000 as *const u8, 16, 0x7fff_0000 as *const u8, 16) };
    let g = unsafe { storage_get(b"marker".as_ptr(), 6, 0x7fff_fff0 as *mut u8, 1 << 30) };
    Err(format!(
        "host refused out-of-bounds arguments: set={r} get={g}"
    ))
}

/// Passes a huge length: the host must refuse with TOO_LARGE.
#[call]
pub fn huge_argument(_ctx: &mut Context, _args: ()) -> Result<(), String> {
    mark()?;
    let big = vec![7u8; 1 << 20];
    let r = unsafe {
        storage_set(
            big.as_ptr(),
            big.len() as i32,
            big.as_ptr(),
            big.len() as i32,
        )
    };
    Err(format!("host refused a 1 MiB key: {r}"))
}

/// Writes until the host says stop: must fail without committing any of it.
#[call]
pub fn storage_flood(_ctx: &mut Context, _args: ()) -> Result<u32, String> {
    mark()?;
    let value = [0u8; 1024];
    let mut n: u32 = 0;
    loop {
        let key = format!("flood/{n}");
        if let Err(c) = env::storage_set(key.as_bytes(), &value) {
            return Err(format!("storage refused write {n}: code {c}"));
        }
        n += 1;
    }
}

/// Panics: must end as an aborted call carrying the panic message.
#[call]
pub fn panic(_ctx: &mut Context, _args: ()) -> Result<(), String> {
    mark()?;
    let v: Vec<u32> = Vec::new();
    let i = std::hint::black_box(3);
    Err(format!("unreachable: {}", v[i]))
}

/// Emits an event of a kind only the chain emits, an `access` decision it never made:
/// the host must refuse it. Returns the host's code.
#[call]
pub fn forged_event(_ctx: &mut Context, _args: ()) -> Result<i32, String> {
    let kind = b"access";
    let data = br#"{"request":"1","cert":"c","requester":"bank","owner":"housing","purpose":"loan","decision":"allow","reason":"policy","points":"0"}"#;
    // SAFETY: both buffers are live for the call.
    Ok(unsafe {
        emit_event(
            kind.as_ptr(),
            kind.len() as i32,
            data.as_ptr(),
            data.len() as i32,
        )
    })
}
