//! The raw wasm ABI, the only `unsafe` code of the verifier.
//!
//! Exports (besides `memory`):
//! - `gc_alloc(len: u32) -> u32`: `len` bytes (byte-aligned) of linear memory;
//! - `gc_free(ptr: u32, len: u32)`: gives back what `gc_alloc(len)` returned;
//! - `gc_call(op: u32, ptr: u32, len: u32) -> u64`: runs [`crate::call`] on the `len`
//!   bytes at `ptr` (UTF-8 JSON, still owned by the caller) and returns
//!   `(out_ptr << 32) | out_len`, a UTF-8 JSON answer allocated as by
//!   `gc_alloc(out_len)`, which the caller frees with `gc_free(out_ptr, out_len)`.
//!
//! Import: `env.govchain_random(ptr: u32, len: u32) -> u32` fills `len` bytes at `ptr`
//! with cryptographically secure random bytes (`crypto.getRandomValues`) and returns 0,
//! or returns non-zero if it could not. It backs getrandom's "custom" backend
//! (`--cfg getrandom_backend="custom"`, set in .cargo/config.toml and by
//! scripts/build-console.sh).
//!
//! The caller's side of the contract, which this module cannot check: pointers and
//! lengths given to `gc_free` and `gc_call` are exactly ones `gc_alloc` returned (or, for
//! `gc_call`, lie inside one such allocation), and each allocation is freed once.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc, dealloc};

/// Layout of a `gc_alloc(len)` block: at least one byte, so that every allocation is
/// real and `gc_free` always has something to give back.
fn layout(len: u32) -> Layout {
    // Size at most u32::MAX with alignment 1 is always a valid layout on wasm32.
    Layout::from_size_align(len.max(1) as usize, 1).unwrap_or(Layout::new::<u8>())
}

/// Allocates `len` bytes; 0 if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn gc_alloc(len: u32) -> u32 {
    // SAFETY: the layout has a non-zero size.
    unsafe { alloc(layout(len)) as usize as u32 }
}

/// Frees a block from [`gc_alloc`] of the same `len`. A null `ptr` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn gc_free(ptr: u32, len: u32) {
    if ptr != 0 {
        // SAFETY: by the module's contract, `ptr` came from `gc_alloc(len)`, which
        // allocated with this very layout, and is freed once.
        unsafe { dealloc(ptr as usize as *mut u8, layout(len)) }
    }
}

/// Runs one op; see the module documentation. Returns 0 if the answer could not be
/// allocated.
#[unsafe(no_mangle)]
pub extern "C" fn gc_call(op: u32, ptr: u32, len: u32) -> u64 {
    let input: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: by the module's contract, `ptr..ptr + len` lies inside a live
        // `gc_alloc` block that the caller does not touch during the call.
        unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
    };
    let answer = crate::call(op, input);
    let out_len = answer.len() as u32;
    let out = gc_alloc(out_len);
    if out == 0 {
        return 0;
    }
    // SAFETY: `out` is a fresh block of at least `out_len` bytes, disjoint from `answer`.
    unsafe {
        std::ptr::copy_nonoverlapping(answer.as_ptr(), out as usize as *mut u8, answer.len())
    };
    (u64::from(out) << 32) | u64::from(out_len)
}

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn govchain_random(ptr: u32, len: u32) -> u32;
}

/// getrandom's custom backend (its 0.3 and 0.4 releases both call this symbol).
///
/// # Safety
/// `dest..dest + len` must be writable; getrandom guarantees it.
#[unsafe(no_mangle)]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    // The buffer may be uninitialised: the import only writes to it.
    // SAFETY: the import writes exactly `len` bytes at `dest`, which getrandom owns.
    match unsafe { govchain_random(dest as usize as u32, len as u32) } {
        0 => Ok(()),
        _ => Err(getrandom::Error::UNEXPECTED),
    }
}
