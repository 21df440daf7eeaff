//! The govchain contract runtime on wasmtime.
//!
//! - **Deterministic configuration**: cranelift with NaN canonicalisation; no threads,
//!   SIMD, tail calls, multiple memories, memory64, GC or exceptions; no WASI, no clock
//!   or randomness (the only imports are those of `govchain-abi`).
//! - **Fuel** meters every call (wasm instructions plus host calls by call and by byte);
//!   every node burns the same fuel for the same call.
//! - **Limits**: memory, tables and instances per call via `StoreLimits`; a deterministic
//!   call-depth limit added to the code when it is prepared ([`instrument`]), with the
//!   native stack limit kept only as a backstop far above it.
//! - **Its own stack**: every call runs on a contract thread with a [`CALL_STACK`]
//!   native stack, whatever thread asks for it (a tokio worker has 2 MiB), so that wasm
//!   at its deepest and a host call made there (the gate, JSON, SM2) always fit.
//! - **Preparation** ([`Vm::prepare`]) runs when code is proposed: it validates the
//!   module, checks its imports against the host interface and its exports, instruments
//!   it and compiles it. Code that fails never reaches governance.
//! - **Calls** ([`Vm::call`]) instantiate a fresh instance per call from a cached
//!   `InstancePre` keyed by the SM3 code hash; a failing call (trap, out of fuel, abort,
//!   contract error) returns an error for its transaction only.

mod host;
pub mod instrument;
mod threads;

use std::collections::HashMap;
use std::sync::Arc;

use govchain_abi::{SIGNATURES, entry};
use parking_lot::Mutex;
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store, StoreLimitsBuilder, Trap};

pub use host::{ContractEvent, Entry, Host, HostError};
use host::{Ctx, HostTrap};

/// Largest contract code accepted, bytes.
pub const MAX_CODE_SIZE: usize = 2 * 1024 * 1024;
/// Linear memory limit per instance, bytes.
pub const MAX_MEMORY: usize = 32 * 1024 * 1024;
/// Table element limit per instance.
pub const MAX_TABLE_ELEMENTS: usize = 10_000;
/// Native stack backstop for wasm (the deterministic limit is
/// [`instrument::DEPTH_LIMIT`], which keeps wasm far below this).
pub const NATIVE_STACK: usize = 8 * 1024 * 1024;
/// The native stack of the thread each call runs on: the wasm backstop plus as much
/// again for the host functions wasm calls at its deepest point and the frames above it.
pub const CALL_STACK: usize = 2 * NATIVE_STACK;

/// Why code cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// Over [`MAX_CODE_SIZE`].
    #[error("code is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Size of the code.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not a valid module under the deterministic feature set.
    #[error("invalid module: {0}")]
    Invalid(String),
    /// Imports something the host does not provide.
    #[error("unknown import {module}::{name}: contracts may import only the govchain host API")]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// Imports a host function with the wrong signature.
    #[error("import govchain::{name} has signature {found}, the host API defines {expected}")]
    ImportSignature {
        /// Import name.
        name: String,
        /// Declared signature.
        found: String,
        /// The host's.
        expected: String,
    },
    /// A required export is missing.
    #[error("missing export: {0}")]
    MissingExport(String),
}

/// Code that passed preparation.
#[derive(Debug, Clone)]
pub struct PreparedCode {
    /// The instrumented module, as stored and executed.
    pub code: Vec<u8>,
    /// Transaction entry points (`call_<method>` exports, without the prefix), sorted.
    pub calls: Vec<String>,
    /// Read-only entry points (`query_<method>`), sorted.
    pub queries: Vec<String>,
    /// Compute-to-data entry points (`job_<method>`, read-only), sorted.
    pub jobs: Vec<String>,
}

/// Why a call failed. Every variant fails only the calling transaction, except
/// [`CallError::Fatal`], which means the node cannot continue the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The contract returned an error.
    #[error("contract error: {0}")]
    Contract(String),
    /// The contract called `abort` (Rust panics end here).
    #[error("contract aborted: {0}")]
    Aborted(String),
    /// Ran out of fuel.
    #[error("out of gas (limit {limit})")]
    OutOfGas {
        /// The gas limit.
        limit: u64,
    },
    /// Call depth over the deterministic limit.
    #[error("call depth limit exceeded")]
    DepthExceeded,
    /// State writes over the request's `max_write_bytes`.
    #[error("state writes over {limit} bytes")]
    WriteLimit {
        /// The limit.
        limit: u64,
    },
    /// Memory or table growth over the limit.
    #[error("memory limit of {} MiB exceeded", MAX_MEMORY >> 20)]
    MemoryLimit,
    /// Any other trap.
    #[error("trap: {0}")]
    Trap(String),
    /// No such entry point.
    #[error("contract has no {kind} method '{method}'")]
    NoSuchMethod {
        /// `call` or `query`.
        kind: &'static str,
        /// The method.
        method: String,
    },
    /// The stored code does not compile or instantiate.
    #[error("cannot load contract code: {0}")]
    Load(String),
    /// The node failed under the call (storage); not the contract's fault.
    #[error("node failure: {0}")]
    Fatal(String),
}

/// The result of a call, with the host handed back (it holds the call's writes).
#[derive(Debug)]
pub struct CallOutcome<H> {
    /// The host, with whatever the call wrote through it.
    pub host: H,
    /// Fuel burnt.
    pub gas_used: u64,
    /// Output on success.
    pub result: Result<Vec<u8>, CallError>,
    /// Events emitted (discard them on failure, like the writes).
    pub events: Vec<ContractEvent>,
}

/// A call to make.
#[derive(Debug)]
pub struct CallRequest<'a> {
    /// SM3 hash of the original code (cache key).
    pub code_hash: [u8; 32],
    /// Method without prefix.
    pub method: &'a str,
    /// Argument bytes (JSON by SDK convention).
    pub input: Vec<u8>,
    /// Fuel available.
    pub gas_limit: u64,
    /// Which kind of entry point: queries and jobs may not write.
    pub kind: EntryKind,
    /// Most bytes (keys and values, removals counting their key) the call may write;
    /// past it the call traps with [`CallError::WriteLimit`].
    pub max_write_bytes: u64,
}

/// The kinds of entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `call_<method>`: a transaction.
    Call,
    /// `query_<method>`: read-only.
    Query,
    /// `job_<method>`: read-only, run by a data owner's node over a decrypted certificate.
    Job,
}

impl EntryKind {
    fn export_prefix(self) -> (&'static str, &'static str) {
        match self {
            EntryKind::Call => ("call", govchain_abi::CALL_PREFIX),
            EntryKind::Query => ("query", govchain_abi::QUERY_PREFIX),
            EntryKind::Job => ("job", govchain_abi::JOB_PREFIX),
        }
    }
}

/// Compiled, linked modules by SM3 code hash.
type ModuleCache<H> = Mutex<HashMap<[u8; 32], Arc<InstancePre<Ctx<H>>>>>;

/// The engine, linker and compiled-module cache; one per process.
pub struct Vm<H: Host> {
    engine: Engine,
    linker: Linker<Ctx<H>>,
    cache: ModuleCache<H>,
    threads: threads::Threads,
}

impl<H: Host> std::fmt::Debug for Vm<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("cached_modules", &self.cache.lock().len())
            .finish()
    }
}

/// The deterministic engine configuration.
fn config() -> Config {
    let mut c = Config::new();
    c.consume_fuel(true)
        .cranelift_nan_canonicalization(true)
        .wasm_relaxed_simd(false)
        .wasm_simd(false)
        .wasm_tail_call(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_gc(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .max_wasm_stack(NATIVE_STACK)
        // Calls are synchronous, on a thread of CALL_STACK; wasmtime only checks that
        // this is not below the wasm limit.
        .async_stack_size(CALL_STACK);
    c
}

fn sig_string(params: &[wasmtime::ValType], results: &[wasmtime::ValType]) -> String {
    let f = |v: &[wasmtime::ValType]| {
        v.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", f(params), f(results))
}

impl<H: Host> Vm<H> {
    /// Builds the engine and links the host API.
    pub fn new() -> Result<Self, String> {
        let engine = Engine::new(&config()).map_err(|e| e.to_string())?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
        Ok(Vm {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
            threads: threads::Threads::new(CALL_STACK),
        })
    }

    /// Validates, checks and instruments code proposed for deployment.
    pub fn prepare(&self, code: &[u8]) -> Result<PreparedCode, PrepareError> {
        if code.len() > MAX_CODE_SIZE {
            return Err(PrepareError::TooLarge {
                size: code.len(),
                max: MAX_CODE_SIZE,
            });
        }
        let module =
            Module::new(&self.engine, code).map_err(|e| PrepareError::Invalid(format!("{e:#}")))?;
        for imp in module.imports() {
            let name = imp.name().to_string();
            let expected = SIGNATURES.iter().find(|(n, _, _)| *n == name);
            let (Some((_, params, results)), true) =
                (expected, imp.module() == govchain_abi::MODULE)
            else {
                return Err(PrepareError::UnknownImport {
                    module: imp.module().into(),
                    name,
                });
            };
            let wasmtime::ExternType::Func(ft) = imp.ty() else {
                return Err(PrepareError::UnknownImport {
                    module: imp.module().into(),
                    name,
                });
            };
            let conv = |t: &govchain_abi::Ty| match t {
                govchain_abi::Ty::I32 => wasmtime::ValType::I32,
                govchain_abi::Ty::I64 => wasmtime::ValType::I64,
            };
            let want_p: Vec<_> = params.iter().map(conv).collect();
            let want_r: Vec<_> = results.iter().map(conv).collect();
            let got_p: Vec<_> = ft.params().collect();
            let got_r: Vec<_> = ft.results().collect();
            let same = got_p.len() == want_p.len()
                && got_r.len() == want_r.len()
                && got_p
                    .iter()
                    .zip(&want_p)
                    .all(|(a, b)| wasmtime::ValType::eq(a, b))
                && got_r
                    .iter()
                    .zip(&want_r)
                    .all(|(a, b)| wasmtime::ValType::eq(a, b));
            if !same {
                return Err(PrepareError::ImportSignature {
                    name,
                    found: sig_string(&got_p, &got_r),
                    expected: sig_string(&want_p, &want_r),
                });
            }
        }
        let mut calls = Vec::new();
        let mut queries = Vec::new();
        let mut jobs = Vec::new();
        let mut has_memory = false;
        for exp in module.exports() {
            match exp.ty() {
                wasmtime::ExternType::Memory(_) if exp.name() == "memory" => has_memory = true,
                // Entry points are `() -> i32`; other exports are ignored.
                wasmtime::ExternType::Func(ft)
                    if ft.params().len() == 0
                        && ft.results().len() == 1
                        && ft.results().all(|r| r.is_i32()) =>
                {
                    if let Some(m) = exp.name().strip_prefix(govchain_abi::CALL_PREFIX) {
                        calls.push(m.to_string());
                    } else if let Some(m) = exp.name().strip_prefix(govchain_abi::QUERY_PREFIX) {
                        queries.push(m.to_string());
                    } else if let Some(m) = exp.name().strip_prefix(govchain_abi::JOB_PREFIX) {
                        jobs.push(m.to_string());
                    }
                }
                _ => {}
            }
        }
        if !has_memory {
            return Err(PrepareError::MissingExport("memory".into()));
        }
        if calls.is_empty() && queries.is_empty() && jobs.is_empty() {
            return Err(PrepareError::MissingExport(
                "at least one entry point (call_<method>, query_<method> or job_<method>: () -> i32)".into(),
            ));
        }
        calls.sort();
        queries.sort();
        jobs.sort();
        let instrumented = instrument::limit_call_depth(code).map_err(PrepareError::Invalid)?;
        Module::new(&self.engine, &instrumented)
            .map_err(|e| PrepareError::Invalid(format!("after instrumentation: {e:#}")))?;
        Ok(PreparedCode {
            code: instrumented,
            calls,
            queries,
            jobs,
        })
    }

    fn instance_pre(
        &self,
        hash: [u8; 32],
        load: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Arc<InstancePre<Ctx<H>>>, CallError> {
        if let Some(p) = self.cache.lock().get(&hash) {
            return Ok(p.clone());
        }
        let code = load().map_err(CallError::Load)?;
        let module =
            Module::new(&self.engine, &code).map_err(|e| CallError::Load(format!("{e:#}")))?;
        let pre = Arc::new(
            self.linker
                .instantiate_pre(&module)
                .map_err(|e| CallError::Load(format!("{e:#}")))?,
        );
        self.cache.lock().insert(hash, pre.clone());
        Ok(pre)
    }

    /// Whether the module with this code hash is compiled and cached (then `call` will
    /// not ask for its code).
    pub fn is_cached(&self, code_hash: &[u8; 32]) -> bool {
        self.cache.lock().contains_key(code_hash)
    }

    /// Calls `req.method` of the code with hash `req.code_hash` (`load` supplies the
    /// prepared code when it is not cached) with `host` as its view of the chain. The
    /// call runs on a thread with a [`CALL_STACK`] stack, whatever thread this is.
    pub fn call(
        &self,
        mut req: CallRequest<'_>,
        host: H,
        load: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> CallOutcome<H> {
        let call = match self.instance_pre(req.code_hash, load) {
            Ok(pre) => Call {
                pre,
                method: req.method.to_string(),
                input: std::mem::take(&mut req.input),
                gas_limit: req.gas_limit,
                kind: req.kind,
                max_write_bytes: req.max_write_bytes,
                host,
            },
            Err(e) => {
                // The input may be a decrypted document (compute jobs): wipe it.
                req.input.fill(0);
                return CallOutcome {
                    host,
                    gas_used: 0,
                    result: Err(e),
                    events: Vec::new(),
                };
            }
        };
        if threads::has_call_stack() {
            call.run()
        } else {
            self.threads.run(move || call.run())
        }
    }
}

/// Declares that the current thread was started with a stack of at least
/// [`CALL_STACK`] bytes, so that contract calls made on it run here rather than on a
/// contract thread (handing a call over costs about as much as a small call). Call it
/// only on such a thread: for a tokio runtime, `thread_stack_size(CALL_STACK)` with
/// this as `on_thread_start`.
pub fn declare_call_stack() {
    threads::declare_call_stack();
}

/// A call with everything it needs, to run on a contract thread.
struct Call<H: Host> {
    pre: Arc<InstancePre<Ctx<H>>>,
    method: String,
    input: Vec<u8>,
    gas_limit: u64,
    kind: EntryKind,
    max_write_bytes: u64,
    host: H,
}

impl<H: Host> Call<H> {
    fn run(self) -> CallOutcome<H> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(MAX_MEMORY)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .tables(4)
            .memories(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            self.pre.module().engine(),
            Ctx {
                host: self.host,
                limits,
                input: self.input,
                output: Vec::new(),
                events: Vec::new(),
                writes: 0,
                written_bytes: 0,
                max_write_bytes: self.max_write_bytes,
                read_only: self.kind != EntryKind::Call,
                unread_certificate: None,
            },
        );
        store.limiter(|c| &mut c.limits);
        let result = run(
            &mut store,
            &self.pre,
            &self.method,
            self.kind,
            self.gas_limit,
        );
        let gas_used = self.gas_limit - store.get_fuel().unwrap_or(0);
        let mut ctx = store.into_data();
        // The input may be a decrypted document (compute jobs): wipe it.
        ctx.input.fill(0);
        CallOutcome {
            host: ctx.host,
            gas_used,
            result,
            events: ctx.events,
        }
    }
}

fn run<H: Host>(
    store: &mut Store<Ctx<H>>,
    pre: &InstancePre<Ctx<H>>,
    method: &str,
    kind: EntryKind,
    gas_limit: u64,
) -> Result<Vec<u8>, CallError> {
    store
        .set_fuel(gas_limit)
        .map_err(|e| CallError::Fatal(e.to_string()))?;
    let instance = pre
        .instantiate(&mut *store)
        .map_err(|e| classify(e, store, None, gas_limit))?;
    let (kind, prefix) = kind.export_prefix();
    let func = instance
        .get_typed_func::<(), i32>(&mut *store, &format!("{prefix}{method}"))
        .map_err(|_| CallError::NoSuchMethod {
            kind,
            method: method.to_string(),
        })?;
    let depth = instance.get_global(&mut *store, instrument::DEPTH_EXPORT);
    match func.call(&mut *store, ()) {
        Ok(entry::OK) => Ok(std::mem::take(&mut store.data_mut().output)),
        Ok(_) => Err(CallError::Contract(
            String::from_utf8_lossy(&store.data().output).into_owned(),
        )),
        Err(e) => Err(classify(e, store, depth, gas_limit)),
    }
}

fn classify<H>(
    e: wasmtime::Error,
    store: &mut Store<Ctx<H>>,
    depth: Option<wasmtime::Global>,
    gas_limit: u64,
) -> CallError {
    if let Some(t) = e.downcast_ref::<HostTrap>() {
        return match t {
            HostTrap::Abort(m) => CallError::Aborted(m.clone()),
            HostTrap::OutOfGas => CallError::OutOfGas { limit: gas_limit },
            HostTrap::Fatal(m) => CallError::Fatal(m.clone()),
            HostTrap::WriteLimit(limit) => CallError::WriteLimit { limit: *limit },
        };
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => CallError::OutOfGas { limit: gas_limit },
            // The deterministic limit should always trip first; if the native backstop
            // does, say so rather than pretend it was the deterministic one.
            Trap::StackOverflow => {
                CallError::Trap("native stack exhausted before the call-depth limit".into())
            }
            Trap::UnreachableCodeReached
                if depth
                    .and_then(|g| g.get(&mut *store).i32())
                    .is_some_and(|d| d as u32 > instrument::DEPTH_LIMIT) =>
            {
                CallError::DepthExceeded
            }
            other => CallError::Trap(other.to_string()),
        };
    }
    let msg = format!("{e:#}");
    if msg.contains("forcing trap when growing memory")
        || msg.contains("forcing a memory growth failure")
        || msg.contains("growing table")
    {
        return CallError::MemoryLimit;
    }
    CallError::Trap(msg)
}
