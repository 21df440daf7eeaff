//! The contract stack: the deterministic call-depth limit is the one that binds, for
//! frames of every shape, and a host call at the deepest point does not crash the
//! node, even when the call comes from a thread with a small stack (tokio's are 2 MiB).
//!
//! Each case is a generated module whose `rec(n)` recurses `n` times, keeping values
//! live across each recursive call in the way that makes native frames large, and at
//! the bottom calls a host function that itself needs a lot of native stack (the gate,
//! JSON and SM2 do). The host notes the stack pointer at the top and at the bottom, so
//! the test measures how many bytes of native stack one unit of the depth limit costs
//! on this machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use govchain_abi::{CALL_PREFIX, MODULE, imports};
use govchain_vm::instrument::DEPTH_LIMIT;
use govchain_vm::{CallError, CallRequest, EntryKind, Host, HostError, NATIVE_STACK, Vm};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction, MemorySection,
    MemoryType, Module, TypeSection, ValType,
};

/// The stack pointer the host saw at the top (first host call) and at the bottom.
#[derive(Debug, Default)]
struct Marks {
    top: AtomicUsize,
    bottom: AtomicUsize,
}

/// What a deep host call (the gate's policy engine, a JSON parser) may need.
const HOST_STACK: usize = 1024 * 1024;

fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Uses about `bytes` of native stack.
#[inline(never)]
fn burn(bytes: usize) -> u8 {
    let frame = std::hint::black_box([1u8; 16 * 1024]);
    if bytes <= frame.len() {
        return frame[7];
    }
    burn(bytes - frame.len()).wrapping_add(std::hint::black_box(frame)[bytes % 1024])
}

#[derive(Debug, Default)]
struct StackHost(Arc<Marks>);

impl Host for StackHost {
    fn storage_get(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn storage_set(&mut self, _: &[u8], _: &[u8]) -> Result<(), HostError> {
        Ok(())
    }
    fn storage_remove(&mut self, _: &[u8]) -> Result<(), HostError> {
        Ok(())
    }
    fn storage_next(
        &mut self,
        _: &[u8],
        _: Option<&[u8]>,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, HostError> {
        Ok(None)
    }
    fn caller(&self) -> String {
        "bank".into()
    }
    fn block_height(&self) -> u64 {
        1
    }
    fn block_time_ms(&self) -> u64 {
        1
    }
    fn points_balance(&mut self) -> Result<i64, HostError> {
        self.0.top.store(stack_pointer(), Ordering::SeqCst);
        Ok(0)
    }
    fn read_certificate(&mut self, _: &str, _: &str) -> Result<Vec<u8>, HostError> {
        self.0.bottom.store(stack_pointer(), Ordering::SeqCst);
        std::hint::black_box(burn(HOST_STACK));
        Err(HostError::NotAvailable("no certificates here".into()))
    }
}

/// How a frame of `rec` is made large.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// No values beyond the counter.
    Small,
    /// `k` i64 temporaries on the operand stack across the recursive call.
    Operands(u32),
    /// `k` i64 locals, all live across the recursive call.
    Locals(u32),
    /// `k` i64 parameters, passed down and summed.
    Params(u32),
    /// The recursive call returns `k` i64 results, summed by the caller.
    Results(u32),
}

/// A module whose `call_run` calls `points_balance`, then `rec(depth)`, which at the
/// bottom calls `read_certificate`.
fn module(shape: Shape, depth: u32) -> Vec<u8> {
    let i64s = |k: u32| vec![ValType::I64; k as usize];
    let (params, results) = match shape {
        Shape::Params(k) => ([vec![ValType::I32], i64s(k)].concat(), i64s(1)),
        Shape::Results(k) => (vec![ValType::I32], i64s(k.max(1))),
        _ => (vec![ValType::I32], i64s(1)),
    };
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I64]);
    types.ty().function([ValType::I32; 6], [ValType::I64]);
    types.ty().function([], [ValType::I32]);
    types.ty().function(params.clone(), results.clone());
    let mut imports_ = ImportSection::new();
    imports_.import(MODULE, imports::POINTS_BALANCE, EntityType::Function(0));
    imports_.import(MODULE, imports::READ_CERTIFICATE, EntityType::Function(1));
    let mut funcs = FunctionSection::new();
    funcs.function(3); // rec = 2
    funcs.function(2); // call_run = 3
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 1,
        maximum: Some(1),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I64,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i64_const(3),
    );
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(&format!("{CALL_PREFIX}run"), ExportKind::Func, 3);
    let mut code = CodeSection::new();
    code.function(&rec(shape, results.len() as u32));
    let mut run = Function::new([]);
    run.instruction(&Instruction::Call(0));
    run.instruction(&Instruction::Drop);
    run.instruction(&Instruction::I32Const(depth as i32));
    if let Shape::Params(k) = shape {
        for _ in 0..k {
            run.instruction(&Instruction::GlobalGet(0));
        }
    }
    run.instruction(&Instruction::Call(2));
    for _ in 0..results.len() {
        run.instruction(&Instruction::Drop);
    }
    run.instruction(&Instruction::I32Const(0));
    run.instruction(&Instruction::End);
    code.function(&run);
    let mut m = Module::new();
    m.section(&types)
        .section(&imports_)
        .section(&funcs)
        .section(&memory)
        .section(&globals)
        .section(&exports)
        .section(&code);
    m.finish()
}

/// `rec(n, …)`: at 0 the host call, else the values of `shape`, `rec(n - 1, …)`, and
/// the sum of everything.
fn rec(shape: Shape, results: u32) -> Function {
    use Instruction as I;
    let locals = match shape {
        Shape::Locals(k) => vec![(k, ValType::I64)],
        _ => vec![],
    };
    let mut f = Function::new(locals);
    let params = match shape {
        Shape::Params(k) => k,
        _ => 0,
    };
    // At the bottom: the host call, its answer as every result.
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::I32Eqz);
    f.instruction(&I::If(BlockType::Empty));
    for _ in 0..results {
        for _ in 0..6 {
            f.instruction(&I::I32Const(0));
        }
        f.instruction(&I::Call(1));
    }
    f.instruction(&I::Return);
    f.instruction(&I::End);
    let k = match shape {
        Shape::Small | Shape::Params(_) | Shape::Results(_) => 0,
        Shape::Operands(k) | Shape::Locals(k) => k,
    };
    // k values loaded from memory: the compiler can neither merge them nor load them
    // after the call (which may write memory), so each is kept across it.
    for i in 0..k {
        f.instruction(&I::I32Const(0));
        f.instruction(&I::I64Load(wasm_encoder::MemArg {
            offset: u64::from(i) * 8,
            align: 3,
            memory_index: 0,
        }));
        if let Shape::Locals(_) = shape {
            f.instruction(&I::LocalSet(1 + i));
        }
    }
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32Sub);
    for p in 0..params {
        f.instruction(&I::LocalGet(1 + p));
    }
    f.instruction(&I::Call(2));
    // Fold the results into one, then everything kept live into it.
    for _ in 1..results {
        f.instruction(&I::I64Add);
    }
    match shape {
        Shape::Operands(_) => {
            for _ in 0..k {
                f.instruction(&I::I64Mul);
            }
        }
        Shape::Locals(_) | Shape::Params(_) => {
            for i in 0..k.max(params) {
                f.instruction(&I::LocalGet(1 + i));
                f.instruction(&I::I64Mul);
            }
        }
        _ => {}
    }
    // As many results as the type has: the sum, then copies.
    for _ in 1..results {
        f.instruction(&I::GlobalGet(0));
    }
    f.instruction(&I::End);
    f
}

fn run(vm: &Vm<StackHost>, shape: Shape, depth: u32, marks: &Arc<Marks>) -> Result<(), CallError> {
    let code = vm.prepare(&module(shape, depth)).expect("prepares");
    let hash = govchain_crypto::sm3(&code.code);
    vm.call(
        CallRequest {
            code_hash: hash,
            method: "run",
            input: Vec::new(),
            gas_limit: 900_000_000,
            kind: EntryKind::Call,
            max_write_bytes: 0,
        },
        StackHost(marks.clone()),
        || Ok(code.code.clone()),
    )
    .result
    .map(|_| ())
}

/// The deepest `rec` that runs, found by bisection; above it the deterministic limit
/// must trip, never the native one. Returns that depth and the native bytes its wasm
/// frames used.
fn deepest(vm: &Vm<StackHost>, shape: Shape) -> (u32, usize) {
    let marks = Arc::new(Marks::default());
    let (mut ok, mut over) = (0u32, DEPTH_LIMIT + 1);
    while over - ok > 1 {
        let mid = ok + (over - ok) / 2;
        match run(vm, shape, mid, &marks) {
            Ok(()) => ok = mid,
            Err(CallError::DepthExceeded) => over = mid,
            Err(e) => panic!("{shape:?} at depth {mid}: {e} (the deterministic limit must bind)"),
        }
    }
    run(vm, shape, ok, &marks).unwrap();
    let used = marks.top.load(Ordering::SeqCst) - marks.bottom.load(Ordering::SeqCst);
    (ok, used)
}

/// Every shape to its deepest, on a thread started with `stack` bytes (`declared`: and
/// declared to the VM, so calls run on it).
fn every_shape_on_a_thread(stack: usize, declared: bool) {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            if declared {
                govchain_vm::declare_call_stack();
            }
            let vm = Vm::<StackHost>::new().unwrap();
            for shape in [
                Shape::Small,
                Shape::Operands(200),
                Shape::Locals(200),
                Shape::Params(100),
                Shape::Results(100),
            ] {
                let (depth, used) = deepest(&vm, shape);
                let per_unit = used as f64 / f64::from(DEPTH_LIMIT);
                println!(
                    "{shape:?}: {depth} levels, {used} bytes of native stack, {per_unit:.1} bytes per unit of the limit"
                );
                assert!(depth > 0, "{shape:?}: not even one level");
                assert!(
                    used <= NATIVE_STACK / 4,
                    "{shape:?}: {used} bytes at the deterministic limit, within 4x of the {NATIVE_STACK}-byte backstop"
                );
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn the_deterministic_limit_binds_for_every_frame_shape_and_deep_host_calls_fit() {
    // Called from a thread with tokio's default stack size: the call runs on a
    // contract thread of the VM's.
    every_shape_on_a_thread(2 * 1024 * 1024, false);
}

#[test]
fn calls_run_in_place_on_a_thread_declared_to_have_the_call_stack() {
    every_shape_on_a_thread(govchain_vm::CALL_STACK, true);
}
