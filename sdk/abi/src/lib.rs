//! The govchain contract host interface, version 1 — the one place that defines it.
//!
//! Contracts import these functions from the wasm module named [`MODULE`]; the VM links
//! exactly these and nothing else, and refuses (when code is proposed) any module that
//! imports anything else or with another signature. The SDK wraps them in safe types.
//!
//! ## Conventions
//! - Pointers and lengths are `i32` offsets/sizes into the contract's exported `memory`.
//! - Functions that return variable-length data take an output buffer `(out_ptr,
//!   out_cap)` and return an `i64`: the full length of the data (copied only when it
//!   fits in `out_cap`; otherwise the caller retries with a larger buffer), or a
//!   negative [`code`].
//! - Other functions return an `i32`: `0` (or a small non-negative value documented per
//!   function) on success, or a negative [`code`].
//! - The host checks every pointer and length against memory and the limits below and
//!   returns [`code::OUT_OF_BOUNDS`] or [`code::TOO_LARGE`] instead of trapping.
//! - Every call costs fuel: [`gas::HOST_CALL`] plus [`gas::PER_BYTE`] per byte moved, and
//!   storage writes [`gas::STORAGE_WRITE`] more.
//!
//! ## Entry points
//! A contract exports `memory` and, per method, a function `call_<method>: () -> i32`
//! (transactions) or `query_<method>: () -> i32` (read-only). It reads its arguments with
//! [`imports::INPUT`], writes its result with [`imports::SET_OUTPUT`], and returns `0`
//! for success or `1` for a contract error (the output is then the error message).
#![no_std]

/// Import module name.
pub const MODULE: &str = "govchain";
/// Version of this interface. A later version adds imports under new names; a contract's
/// import set says which version it needs.
pub const VERSION: u32 = 1;

/// Prefix of transaction entry points.
pub const CALL_PREFIX: &str = "call_";
/// Prefix of read-only entry points.
pub const QUERY_PREFIX: &str = "query_";

/// Event kinds only the chain emits (`govchain_types::event`): a contract's event of one
/// of these kinds is refused, so no receipt carries a gate decision, a key release or a
/// governance outcome that the chain did not make.
pub const RESERVED_EVENT_KINDS: &[&str] = &[
    "access",
    "certificate_published",
    "grant_created",
    "certificate_revoked",
    "grant_revoked",
    "key_rotated",
    "release_approved",
    "key_released",
    "keygen_dealt",
    "keygen_complained",
    "keygen_answered",
    "keygen_ended",
    "compute_requested",
    "compute_result",
    "equivocation",
    "anchor",
    "proposal_created",
    "vote",
    "proposal_expired",
    "proposal_rejected",
    "policy_changed",
    "cert_type_registered",
    "purpose_registered",
    "points_adjusted",
    "points_params_changed",
    "contract_deployed",
    "node_removed",
    "node_added",
];
/// Prefix of compute-to-data entry points: read-only, run off chain by the data owner's
/// node over one decrypted certificate (`docs/design/compute.md`).
pub const JOB_PREFIX: &str = "job_";

/// Entry point return values.
pub mod entry {
    /// Success; the output is the result.
    pub const OK: i32 = 0;
    /// Contract error; the output is the error message (UTF-8).
    pub const ERROR: i32 = 1;
}

/// Negative return codes of host functions.
pub mod code {
    /// No such key / nothing found.
    pub const NOT_FOUND: i64 = -1;
    /// A pointer/length pair is outside the contract's memory.
    pub const OUT_OF_BOUNDS: i64 = -2;
    /// An argument exceeds a size limit.
    pub const TOO_LARGE: i64 = -3;
    /// The function is not available in this context (e.g. writes in a query, or a
    /// capability that this node does not provide yet).
    pub const NOT_AVAILABLE: i64 = -4;
    /// The access gate denied the request.
    pub const DENIED: i64 = -5;
    /// An argument is malformed (e.g. not UTF-8, bad key encoding).
    pub const INVALID: i64 = -6;

    /// A human name for a code.
    pub fn name(code: i64) -> &'static str {
        match code {
            NOT_FOUND => "not found",
            OUT_OF_BOUNDS => "pointer out of bounds",
            TOO_LARGE => "argument too large",
            NOT_AVAILABLE => "not available",
            DENIED => "denied",
            INVALID => "invalid argument",
            _ => "unknown error",
        }
    }
}

/// Size limits the host enforces.
pub mod limits {
    /// Largest storage key, bytes.
    pub const MAX_KEY: usize = 256;
    /// Largest storage value, bytes.
    pub const MAX_VALUE: usize = 64 * 1024;
    /// Largest input/output/event payload, bytes.
    pub const MAX_DATA: usize = 256 * 1024;
    /// Most events per call.
    pub const MAX_EVENTS: usize = 64;
    /// Most storage writes per call.
    pub const MAX_WRITES: usize = 4096;
}

/// Fuel costs of host calls (one unit of fuel is about one wasm instruction).
pub mod gas {
    /// Every host call.
    pub const HOST_CALL: u64 = 200;
    /// Every byte copied between host and contract.
    pub const PER_BYTE: u64 = 1;
    /// Extra for each storage write or removal.
    pub const STORAGE_WRITE: u64 = 2_000;
    /// Extra for SM3, per byte hashed (on top of PER_BYTE).
    pub const SM3_PER_BYTE: u64 = 4;
    /// Extra for one SM2 verification.
    pub const SM2_VERIFY: u64 = 250_000;
    /// Extra for one certificate read through the gate.
    pub const CERT_READ: u64 = 20_000;
}

/// Import names and their wasm signatures (params → results; `I`=i32, `L`=i64).
pub mod imports {
    /// `input(out_ptr, out_cap) -> i64`: the call's argument bytes.
    pub const INPUT: &str = "input";
    /// `set_output(ptr, len) -> i32`: the call's result (or error message).
    pub const SET_OUTPUT: &str = "set_output";
    /// `storage_get(key_ptr, key_len, out_ptr, out_cap) -> i64`.
    pub const STORAGE_GET: &str = "storage_get";
    /// `storage_set(key_ptr, key_len, val_ptr, val_len) -> i32`.
    pub const STORAGE_SET: &str = "storage_set";
    /// `storage_remove(key_ptr, key_len) -> i32`.
    pub const STORAGE_REMOVE: &str = "storage_remove";
    /// `storage_next(prefix_ptr, prefix_len, after_ptr, after_len, out_ptr, out_cap) -> i64`:
    /// the first entry whose key starts with the prefix and is greater than `after`
    /// (pass `after_len = 0` to start), encoded as `key_len: u32 LE || key || value`.
    pub const STORAGE_NEXT: &str = "storage_next";
    /// `caller(out_ptr, out_cap) -> i64`: `department` or `department/operator`.
    pub const CALLER: &str = "caller";
    /// `block_height() -> i64`.
    pub const BLOCK_HEIGHT: &str = "block_height";
    /// `block_time_ms() -> i64`: the block header's time (Unix ms).
    pub const BLOCK_TIME: &str = "block_time_ms";
    /// `emit_event(kind_ptr, kind_len, data_ptr, data_len) -> i32`; data is a JSON object
    /// of string attributes. A kind of [`RESERVED_EVENT_KINDS`](crate::RESERVED_EVENT_KINDS)
    /// is refused with [`code::INVALID`](crate::code::INVALID).
    pub const EMIT_EVENT: &str = "emit_event";
    /// `sm3(data_ptr, data_len, out_ptr) -> i32`: writes 32 bytes at `out_ptr`.
    pub const SM3: &str = "sm3";
    /// `sm2_verify(pk_ptr, pk_len, msg_ptr, msg_len, sig_ptr, sig_len) -> i32`: 1 if the
    /// raw (r||s) signature verifies with the default ID, 0 if not.
    pub const SM2_VERIFY: &str = "sm2_verify";
    /// `points_balance() -> i64`: the calling department's points.
    pub const POINTS_BALANCE: &str = "points_balance";
    /// `read_certificate(id_ptr, id_len, purpose_ptr, purpose_len, out_ptr, out_cap) ->
    /// i64`: the certificate, through the access gate on behalf of the caller. When the
    /// answer does not fit `out_cap`, its length is returned and the next call with the
    /// same id and purpose returns the same bytes without a second gate decision.
    pub const READ_CERTIFICATE: &str = "read_certificate";
    /// `abort(msg_ptr, msg_len)`: ends the call as failed with the message. Never returns.
    pub const ABORT: &str = "abort";
}

/// A wasm value type in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// i32
    I32,
    /// i64
    I64,
}

/// Every import: name, parameter types, result types.
pub const SIGNATURES: &[(&str, &[Ty], &[Ty])] = {
    use Ty::{I32, I64};
    &[
        (imports::INPUT, &[I32, I32], &[I64]),
        (imports::SET_OUTPUT, &[I32, I32], &[I32]),
        (imports::STORAGE_GET, &[I32, I32, I32, I32], &[I64]),
        (imports::STORAGE_SET, &[I32, I32, I32, I32], &[I32]),
        (imports::STORAGE_REMOVE, &[I32, I32], &[I32]),
        (
            imports::STORAGE_NEXT,
            &[I32, I32, I32, I32, I32, I32],
            &[I64],
        ),
        (imports::CALLER, &[I32, I32], &[I64]),
        (imports::BLOCK_HEIGHT, &[], &[I64]),
        (imports::BLOCK_TIME, &[], &[I64]),
        (imports::EMIT_EVENT, &[I32, I32, I32, I32], &[I32]),
        (imports::SM3, &[I32, I32, I32], &[I32]),
        (imports::SM2_VERIFY, &[I32, I32, I32, I32, I32, I32], &[I32]),
        (imports::POINTS_BALANCE, &[], &[I64]),
        (
            imports::READ_CERTIFICATE,
            &[I32, I32, I32, I32, I32, I32],
            &[I64],
        ),
        (imports::ABORT, &[I32, I32], &[]),
    ]
};
