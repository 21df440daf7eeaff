//! Preparation of contract code (`govchain_vm::Vm::prepare`): validation, the import and
//! export checks, the call-depth instrumentation and compilation.
//!
//! The first byte picks the input: the rest as raw code, or as the randomness of a
//! wasm-smith module, either shaped like a contract (the host imports, `memory` and one
//! entry point of each kind, only the features the VM enables) or with an arbitrary
//! wasm-smith configuration. Code is either refused with a `PrepareError` or prepared,
//! never a panic, and:
//! - instrumentation never turns code wasmtime accepted into code it refuses;
//! - prepared code is the same every time (every node stores identical code), keeps the
//!   original's exports and adds exactly the depth counter global, and every call in it
//!   (`call`, `call_indirect`, `call_ref`; no tail calls) is wrapped in the counter's
//!   enter and leave sequences;
//! - the entry point lists are sorted and name exported functions of the original;
//! - a module shaped like a contract is always prepared.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Unstructured;
use govchain_fuzz::wasm;
use govchain_vm::{HostError, MAX_CODE_SIZE, PrepareError, PreparedCode, Vm, instrument};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Raw bytes and arbitrary wasm-smith modules are prepared or refused, whatever
    // they are; the invariants are checked inside `check`.
    match selector % 3 {
        0 => {
            let _verdict = check(rest);
        }
        1 => {
            if let Some(code) = smith(rest, true)
                && let Err(e) = check(&code)
            {
                panic!("a module shaped like a contract was refused: {e}");
            }
        }
        _ => {
            if let Some(code) = smith(rest, false) {
                let _verdict = check(&code);
            }
        }
    }
});

/// Prepares `code` and checks the invariants of the outcome.
fn check(code: &[u8]) -> Result<PreparedCode, PrepareError> {
    let outcome = VM.with(|vm| vm.prepare(code));
    assert_eq!(
        matches!(outcome, Err(PrepareError::TooLarge { .. })),
        code.len() > MAX_CODE_SIZE,
        "the size limit"
    );
    match &outcome {
        Ok(p) => prepared(code, p),
        Err(PrepareError::Invalid(reason)) if reason.starts_with("after instrumentation") => {
            // The original compiled: only a clash with the counter's export name may
            // make the instrumented code invalid.
            let clash = exports(code)
                .is_some_and(|e| e.names.iter().any(|(n, ..)| n == instrument::DEPTH_EXPORT));
            assert!(
                clash,
                "instrumentation broke code wasmtime accepted: {reason}"
            );
        }
        Err(_) => {}
    }
    outcome
}

/// The invariants of code that was prepared.
fn prepared(code: &[u8], p: &PreparedCode) {
    let again = VM
        .with(|vm| vm.prepare(code))
        .unwrap_or_else(|e| panic!("prepared once, refused the second time: {e}"));
    assert!(
        (&again.code, &again.calls, &again.queries, &again.jobs)
            == (&p.code, &p.calls, &p.queries, &p.jobs),
        "preparation is not deterministic"
    );
    let before = exports(code).expect("prepared code parses");
    let after = exports(&p.code).expect("instrumented code parses");
    let depth = (
        instrument::DEPTH_EXPORT.to_string(),
        ExternalKind::Global,
        before.globals,
    );
    let mut expected = before.names.clone();
    expected.push(depth);
    assert_eq!(after.names, expected, "instrumentation changed the exports");
    assert_eq!(after.globals, before.globals + 1, "one global added");
    if let Some(call) = unwrapped_call(&p.code, before.globals) {
        panic!("prepared code makes a call the depth limit does not count: {call}");
    }
    for (list, prefix) in [
        (&p.calls, govchain_abi::CALL_PREFIX),
        (&p.queries, govchain_abi::QUERY_PREFIX),
        (&p.jobs, govchain_abi::JOB_PREFIX),
    ] {
        assert!(list.is_sorted(), "entry points not sorted: {list:?}");
        for m in list {
            let name = format!("{prefix}{m}");
            assert!(
                before
                    .names
                    .iter()
                    .any(|(n, kind, _)| *n == name && *kind == ExternalKind::Func),
                "entry point {name} is not an exported function"
            );
        }
    }
}

/// The first call in `code` that the call-depth instrumentation did not wrap: every
/// `call`, `call_indirect` and `call_ref` must be entered and left through the counter
/// global `depth` with the same positive cost (`instrument`'s sequences), and no tail
/// call may occur (the engine refuses them). An unwrapped call could recurse past the
/// deterministic limit into the native stack backstop, which differs between machines.
fn unwrapped_call(code: &[u8], depth: u32) -> Option<String> {
    for payload in Parser::new(0).parse_all(code) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let mut reader = body.get_operators_reader().ok()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read().ok()?);
        }
        for (i, op) in ops.iter().enumerate() {
            let unwrapped = match op {
                Operator::Call { .. }
                | Operator::CallIndirect { .. }
                | Operator::CallRef { .. } => !wrapped(&ops, i, depth),
                Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::ReturnCallRef { .. } => true,
                _ => false,
            };
            if unwrapped {
                return Some(format!("{op:?} (operator {i} of a function body)"));
            }
        }
    }
    None
}

/// Whether the call at `ops[i]` is wrapped in the depth counter's enter and leave
/// sequences on global `g`.
fn wrapped(ops: &[Operator<'_>], i: usize, g: u32) -> bool {
    use Operator::{End, GlobalGet, GlobalSet, I32Add, I32Const, I32GtU, I32Sub, If, Unreachable};
    let (Some(enter), Some(leave)) = (
        i.checked_sub(10).and_then(|start| ops.get(start..i)),
        ops.get(i + 1..i + 5),
    ) else {
        return false;
    };
    let limit = i32::try_from(instrument::DEPTH_LIMIT).expect("the limit is an i32");
    match (enter, leave) {
        (
            [
                GlobalGet { global_index: g1 },
                I32Const { value: cost },
                I32Add,
                GlobalSet { global_index: g2 },
                GlobalGet { global_index: g3 },
                I32Const { value: max },
                I32GtU,
                If {
                    blockty: wasmparser::BlockType::Empty,
                },
                Unreachable,
                End,
            ],
            [
                GlobalGet { global_index: g4 },
                I32Const { value: back },
                I32Sub,
                GlobalSet { global_index: g5 },
            ],
        ) => {
            [g1, g2, g3, g4, g5].iter().all(|x| **x == g)
                && cost == back
                && *cost > 0
                && *max == limit
        }
        _ => false,
    }
}

/// The exports (name, kind and index, in order) and the number of globals of a module.
struct Exports {
    names: Vec<(String, ExternalKind, u32)>,
    globals: u32,
}

fn exports(code: &[u8]) -> Option<Exports> {
    let mut out = Exports {
        names: Vec::new(),
        globals: 0,
    };
    for payload in Parser::new(0).parse_all(code) {
        match payload.ok()? {
            Payload::ImportSection(r) => {
                for imports in r {
                    for import in imports.ok()? {
                        if let TypeRef::Global(_) = import.ok()?.1.ty {
                            out.globals += 1;
                        }
                    }
                }
            }
            Payload::GlobalSection(r) => out.globals += r.count(),
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.ok()?;
                    out.names.push((e.name.to_string(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// A wasm-smith module from `data`: shaped like a contract with only the features the
/// VM enables, or from an arbitrary configuration.
fn smith(data: &[u8], contract: bool) -> Option<Vec<u8>> {
    let mut u = Unstructured::new(data);
    let mut config: wasm_smith::Config = u.arbitrary().ok()?;
    if contract {
        config.available_imports = Some(SHAPES.imports.clone());
        config.exports = Some(SHAPES.exports.clone());
        // govchain_vm's engine configuration: no SIMD, threads, tail calls, multiple
        // memories, memory64, GC, exceptions, wide arithmetic or custom page sizes; and
        // wasmtime without its `gc` feature refuses every reference type but funcref, so
        // no reference types proposal (externref) either.
        config.reference_types_enabled = false;
        config.max_tables = config.max_tables.min(1);
        config.simd_enabled = false;
        config.relaxed_simd_enabled = false;
        config.threads_enabled = false;
        config.shared_everything_threads_enabled = false;
        config.tail_call_enabled = false;
        config.memory64_enabled = false;
        config.gc_enabled = false;
        config.exceptions_enabled = false;
        config.wide_arithmetic_enabled = false;
        config.custom_page_sizes_enabled = false;
        // The exported `memory` is the only one (wasm-smith adds what the exports need
        // beyond the limits).
        config.max_memories = 0;
    }
    // Keep compilation (twice per prepared module) in the milliseconds.
    config.max_funcs = config.max_funcs.min(50);
    config.max_instructions = config.max_instructions.min(500);
    let module = wasm_smith::Module::new(config, &mut u).ok()?;
    Some(module.to_bytes())
}

/// The module shapes wasm-smith follows for contract-shaped modules.
struct Shapes {
    imports: Vec<u8>,
    exports: Vec<u8>,
}

static SHAPES: LazyLock<Shapes> = LazyLock::new(|| Shapes {
    imports: wasm::host_imports(),
    exports: wasm::entry_exports(),
});

thread_local! {
    /// The VM with its deterministic engine, built once (preparation has no host).
    static VM: Vm<NoHost> = Vm::new().expect("the VM's engine configuration is valid");
}

/// The host of a VM that only prepares code: it has no values, so it is never called.
enum NoHost {}

impl govchain_vm::Host for NoHost {
    fn storage_get(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        match *self {}
    }
    fn storage_set(&mut self, _: &[u8], _: &[u8]) -> Result<(), HostError> {
        match *self {}
    }
    fn storage_remove(&mut self, _: &[u8]) -> Result<(), HostError> {
        match *self {}
    }
    fn storage_next(
        &mut self,
        _: &[u8],
        _: Option<&[u8]>,
    ) -> Result<Option<govchain_vm::Entry>, HostError> {
        match *self {}
    }
    fn caller(&self) -> String {
        match *self {}
    }
    fn block_height(&self) -> u64 {
        match *self {}
    }
    fn block_time_ms(&self) -> u64 {
        match *self {}
    }
    fn points_balance(&mut self) -> Result<i64, HostError> {
        match *self {}
    }
    fn read_certificate(&mut self, _: &str, _: &str) -> Result<Vec<u8>, HostError> {
        match *self {}
    }
}
