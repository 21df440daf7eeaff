//! Real contracts from contracts/ (built by scripts/build-contracts.sh) in the real
//! runtime: preparation, calls, determinism, and every attack of the abuse contract.

use std::collections::BTreeMap;
use std::path::PathBuf;

use govchain_vm::{
    CallError, CallRequest, EntryKind, Host, HostError, PrepareError, PreparedCode, Vm,
};

/// An in-memory host for runtime tests.
#[derive(Debug, Default, Clone)]
struct MemHost {
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Host for MemHost {
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.storage.get(key).cloned())
    }
    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        self.storage.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError> {
        self.storage.remove(key);
        Ok(())
    }
    fn storage_next(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, HostError> {
        Ok(self
            .storage
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .find(|(k, _)| after.is_none_or(|a| k.as_slice() > a))
            .map(|(k, v)| (k.clone(), v.clone())))
    }
    fn caller(&self) -> String {
        "tax".into()
    }
    fn block_height(&self) -> u64 {
        12
    }
    fn block_time_ms(&self) -> u64 {
        1_795_425_123_456
    }
    fn points_balance(&mut self) -> Result<i64, HostError> {
        Ok(1000)
    }
    fn read_certificate(&mut self, _id: &str, _purpose: &str) -> Result<Vec<u8>, HostError> {
        Err(HostError::NotAvailable(
            "no certificate registry in this test host".into(),
        ))
    }
}

fn artifact(name: &str) -> Vec<u8> {
    let p = PathBuf::from(manifest_dir())
        .join("../../contracts/artifacts")
        .join(format!("{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the contracts with scripts/build-contracts.sh",
            p.display()
        )
    })
}

const GAS: u64 = 50_000_000;

fn call(
    vm: &Vm<MemHost>,
    code: &PreparedCode,
    host: MemHost,
    method: &str,
    args: &str,
    read_only: bool,
) -> govchain_vm::CallOutcome<MemHost> {
    let hash = govchain_crypto::sm3(&code.code);
    vm.call(
        CallRequest {
            code_hash: hash,
            method,
            input: args.as_bytes().to_vec(),
            gas_limit: GAS,
            kind: if read_only {
                EntryKind::Query
            } else {
                EntryKind::Call
            },
            max_write_bytes: u64::MAX,
        },
        host,
        || Ok(code.code.clone()),
    )
}

#[test]
fn counter_runs_and_burns_the_same_fuel_every_time() {
    let vm = Vm::<MemHost>::new().unwrap();
    let code = vm.prepare(&artifact("counter")).unwrap();
    assert_eq!(code.calls, ["increment"]);
    assert_eq!(code.queries, ["get", "history"]);

    let out = call(
        &vm,
        &code,
        MemHost::default(),
        "increment",
        r#"{"by":2}"#,
        false,
    );
    assert_eq!(out.result.as_deref(), Ok(&b"2"[..]), "{:?}", out.result);
    assert_eq!(out.events[0].kind, "incremented");
    assert!(out.gas_used > 0 && out.gas_used < GAS);
    let again = call(
        &vm,
        &code,
        MemHost::default(),
        "increment",
        r#"{"by":2}"#,
        false,
    );
    assert_eq!(again.gas_used, out.gas_used, "fuel must be deterministic");

    let second = call(&vm, &code, out.host, "increment", r#"{"by":3}"#, false);
    assert_eq!(second.result.as_deref(), Ok(&b"5"[..]));
    let get = call(&vm, &code, second.host.clone(), "get", "", true);
    assert_eq!(get.result.as_deref(), Ok(&b"5"[..]));
    let history = call(&vm, &code, second.host, "history", "", true);
    let h: serde_json::Value = serde_json::from_slice(&history.result.unwrap()).unwrap();
    assert_eq!(h[1]["caller"], "tax");
    assert_eq!(h[1]["height"], 12);

    let bad = call(
        &vm,
        &code,
        MemHost::default(),
        "increment",
        r#"{"by":0}"#,
        false,
    );
    assert!(
        matches!(bad.result, Err(CallError::Contract(ref m)) if m.contains("1 to 1000")),
        "{:?}",
        bad.result
    );
    let garbage = call(
        &vm,
        &code,
        MemHost::default(),
        "increment",
        "not json",
        false,
    );
    assert!(
        matches!(garbage.result, Err(CallError::Contract(ref m)) if m.contains("invalid arguments"))
    );
    let missing = call(&vm, &code, MemHost::default(), "decrement", "", false);
    assert!(matches!(
        missing.result,
        Err(CallError::NoSuchMethod { .. })
    ));
    // A transaction entry point cannot be called as a query.
    let as_query = call(
        &vm,
        &code,
        MemHost::default(),
        "increment",
        r#"{"by":1}"#,
        true,
    );
    assert!(matches!(
        as_query.result,
        Err(CallError::NoSuchMethod { kind: "query", .. })
    ));
}

#[test]
fn registry_reads_only_through_the_gate() {
    let vm = Vm::<MemHost>::new().unwrap();
    let code = vm.prepare(&artifact("registry")).unwrap();
    let reg = call(
        &vm,
        &code,
        MemHost::default(),
        "register",
        r#"{"id":"lic-1","cert_id":"c1","summary":"licence"}"#,
        false,
    );
    assert!(reg.result.is_ok(), "{:?}", reg.result);
    let read = call(
        &vm,
        &code,
        reg.host,
        "read",
        r#"{"id":"lic-1","purpose":"tax_assessment"}"#,
        false,
    );
    assert!(
        matches!(read.result, Err(CallError::Contract(ref m)) if m.contains("not available")),
        "{:?}",
        read.result
    );
}

#[test]
fn every_attack_fails_cleanly() {
    let vm = Vm::<MemHost>::new().unwrap();
    let code = vm.prepare(&artifact("abuse")).unwrap();
    let run = |m: &str| call(&vm, &code, MemHost::default(), m, "", false);

    let r = run("infinite_loop");
    assert_eq!(r.result, Err(CallError::OutOfGas { limit: GAS }));
    assert_eq!(r.gas_used, GAS);
    assert!(
        matches!(run("memory_bomb").result, Err(CallError::MemoryLimit)),
        "{:?}",
        run("memory_bomb").result
    );
    assert_eq!(run("deep_recursion").result, Err(CallError::DepthExceeded));
    let oob = run("out_of_bounds").result;
    assert!(
        matches!(oob, Err(CallError::Contract(ref m)) if m.contains("set=-2 get=-2")),
        "{oob:?}"
    );
    let huge = run("huge_argument").result;
    assert!(
        matches!(huge, Err(CallError::Contract(ref m)) if m.contains(": -3")),
        "{huge:?}"
    );
    let flood = run("storage_flood").result;
    assert!(
        matches!(flood, Err(CallError::Contract(ref m)) if m.contains("storage refused write")),
        "{flood:?}"
    );
    // With a write budget: the call traps at it, whatever the contract does.
    let budget = vm.call(
        CallRequest {
            code_hash: govchain_crypto::sm3(&code.code),
            method: "storage_flood",
            input: Vec::new(),
            gas_limit: GAS,
            kind: EntryKind::Call,
            max_write_bytes: 100_000,
        },
        MemHost::default(),
        || Ok(code.code.clone()),
    );
    assert_eq!(
        budget.result,
        Err(CallError::WriteLimit { limit: 100_000 }),
        "{:?}",
        budget.result
    );
    assert!(
        budget.host.storage.len() < 100,
        "{} writes made it past a 100,000-byte budget",
        budget.host.storage.len()
    );
    let panic = run("panic").result;
    assert!(
        matches!(panic, Err(CallError::Aborted(ref m)) if m.contains("index out of bounds")),
        "{panic:?}"
    );
    // A chain event kind is refused: no receipt can carry a forged gate decision.
    let forged = run("forged_event");
    assert_eq!(forged.result, Ok(b"-6".to_vec()), "{:?}", forged.result);
    assert!(forged.events.is_empty(), "{:?}", forged.events);
    // The VM is still healthy afterwards.
    let counter = vm.prepare(&artifact("counter")).unwrap();
    assert!(
        call(
            &vm,
            &counter,
            MemHost::default(),
            "increment",
            r#"{"by":1}"#,
            false
        )
        .result
        .is_ok()
    );
}

fn module(
    import: Option<(
        &str,
        &str,
        Vec<wasm_encoder::ValType>,
        Vec<wasm_encoder::ValType>,
    )>,
    memory: bool,
) -> Vec<u8> {
    use wasm_encoder::*;
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    if let Some((_, _, p, r)) = &import {
        types.ty().function(p.clone(), r.clone());
    }
    m.section(&types);
    if let Some((module, name, _, _)) = &import {
        let mut imports = ImportSection::new();
        imports.import(module, name, EntityType::Function(1));
        m.section(&imports);
    }
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    m.section(&funcs);
    if memory {
        let mut mem = MemorySection::new();
        mem.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        m.section(&mem);
    }
    let mut exports = ExportSection::new();
    let f = if import.is_some() { 1 } else { 0 };
    exports.export("call_run", ExportKind::Func, f);
    if memory {
        exports.export("memory", ExportKind::Memory, 0);
    }
    m.section(&exports);
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instruction(&Instruction::I32Const(0));
    body.instruction(&Instruction::End);
    code.function(&body);
    m.section(&code);
    m.finish()
}

#[test]
fn preparation_refuses_what_is_not_allowed() {
    use wasm_encoder::ValType::{I32, I64};
    let vm = Vm::<MemHost>::new().unwrap();
    assert!(vm.prepare(&module(None, true)).is_ok());
    assert!(matches!(
        vm.prepare(b"not wasm"),
        Err(PrepareError::Invalid(_))
    ));
    assert!(matches!(
        vm.prepare(&module(
            Some((
                "wasi_snapshot_preview1",
                "clock_time_get",
                vec![I32, I64, I32],
                vec![I32]
            )),
            true
        )),
        Err(PrepareError::UnknownImport { .. })
    ));
    assert!(matches!(
        vm.prepare(&module(
            Some(("govchain", "random", vec![], vec![I64])),
            true
        )),
        Err(PrepareError::UnknownImport { .. })
    ));
    assert!(matches!(
        vm.prepare(&module(
            Some(("govchain", "block_height", vec![I32], vec![I64])),
            true
        )),
        Err(PrepareError::ImportSignature { .. })
    ));
    assert!(matches!(
        vm.prepare(&module(None, false)),
        Err(PrepareError::MissingExport(_))
    ));
    assert!(matches!(
        vm.prepare(&vec![0u8; govchain_vm::MAX_CODE_SIZE + 1]),
        Err(PrepareError::TooLarge { .. })
    ));
}

/// The package folder, as cargo says when it runs this test (not as compiled: a shared
/// target folder may hold a binary built in another checkout).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("tests run under cargo")
}

/// Found by the `wasm_prepare` fuzz target (`fuzz/regressions/wasm_prepare/
/// call-ref-recursion`): a function that calls itself through `call_ref` (function
/// references, on in the engine) recursed past the depth counter, which counted only
/// `call` and `call_indirect`, down to wasmtime's native stack limit, a machine-dependent
/// outcome. It must end at the deterministic depth limit like any other recursion.
#[test]
fn recursion_through_call_ref_hits_the_deterministic_depth_limit() {
    use wasm_encoder::*;
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([], []);
    m.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0).function(1);
    m.section(&funcs);
    let mut mem = MemorySection::new();
    mem.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    m.section(&mem);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("call_run", ExportKind::Func, 0);
    m.section(&exports);
    // `ref.func 1` needs the function declared in an element segment.
    let mut elements = ElementSection::new();
    elements.declared(Elements::Functions(std::borrow::Cow::Borrowed(&[1])));
    m.section(&elements);
    let mut code = CodeSection::new();
    let mut run = Function::new([]);
    run.instruction(&Instruction::Call(1))
        .instruction(&Instruction::I32Const(0))
        .instruction(&Instruction::End);
    code.function(&run);
    let mut rec = Function::new([]);
    rec.instruction(&Instruction::RefFunc(1))
        .instruction(&Instruction::CallRef(1))
        .instruction(&Instruction::End);
    code.function(&rec);
    m.section(&code);
    let vm = Vm::<MemHost>::new().unwrap();
    let code = vm.prepare(&m.finish()).unwrap();
    let r = call(&vm, &code, MemHost::default(), "run", "", false);
    assert_eq!(r.result, Err(CallError::DepthExceeded), "{:?}", r.result);
}
