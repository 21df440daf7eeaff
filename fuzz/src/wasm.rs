//! Wasm modules of the contract interface, built with wasm-encoder: the shapes that
//! steer wasm-smith in `wasm_prepare` towards code the VM accepts, and a small contract
//! for the seed corpus.

use govchain_abi::{CALL_PREFIX, JOB_PREFIX, MODULE, QUERY_PREFIX, SIGNATURES, Ty};
use wasm_encoder::{
    CodeSection, ConstExpr, ElementSection, Elements, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, ImportSection, Instruction, MemArg, MemorySection, MemoryType,
    RefType, TableSection, TableType, TypeSection, ValType,
};

fn val(t: &Ty) -> ValType {
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
    }
}

/// A module importing every host function of the contract interface with its
/// signature: wasm-smith's `available_imports`.
pub fn host_imports() -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    for (index, (name, params, results)) in (0u32..).zip(SIGNATURES) {
        types
            .ty()
            .function(params.iter().map(val), results.iter().map(val));
        imports.import(MODULE, name, EntityType::Function(index));
    }
    let mut m = wasm_encoder::Module::new();
    m.section(&types).section(&imports);
    m.finish()
}

/// The entry point names of [`entry_exports`]: one of each kind.
pub fn entry_points() -> [String; 3] {
    [
        format!("{CALL_PREFIX}run"),
        format!("{QUERY_PREFIX}get"),
        format!("{JOB_PREFIX}score"),
    ]
}

/// A module exporting `memory` and one entry point of each kind (`() -> i32`): the
/// exports wasm-smith must give a module (`exports`) for the VM to accept it.
pub fn entry_exports() -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut funcs = FunctionSection::new();
    let mut exports = ExportSection::new();
    let mut code = CodeSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    for (index, name) in (0u32..).zip(entry_points()) {
        funcs.function(0);
        exports.export(&name, ExportKind::Func, index);
        let mut body = Function::new([]);
        body.instruction(&Instruction::I32Const(0))
            .instruction(&Instruction::End);
        code.function(&body);
    }
    let mut memories = MemorySection::new();
    memories.memory(memory());
    let mut m = wasm_encoder::Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&memories)
        .section(&exports)
        .section(&code);
    m.finish()
}

/// A small contract the VM accepts: it imports `block_height` and `set_output`, and its
/// entry point `call_run` makes a direct call and an indirect one (what preparation
/// instruments), stores a value and returns 0.
pub fn sample_contract() -> Vec<u8> {
    let (height, output) = (
        host(govchain_abi::imports::BLOCK_HEIGHT),
        host(govchain_abi::imports::SET_OUTPUT),
    );
    let signature = |i: usize| {
        let (_, params, results) = SIGNATURES[i];
        (
            params.iter().map(val).collect::<Vec<_>>(),
            results.iter().map(val).collect::<Vec<_>>(),
        )
    };
    let mut types = TypeSection::new();
    // 0: block_height, 1: set_output, 2: () -> i32 (entry point), 3: (i64) -> i64.
    for i in [height, output] {
        let (p, r) = signature(i);
        types.ty().function(p, r);
    }
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I64], [ValType::I64]);
    let mut imports = ImportSection::new();
    imports.import(MODULE, SIGNATURES[height].0, EntityType::Function(0));
    imports.import(MODULE, SIGNATURES[output].0, EntityType::Function(1));
    // Functions 2 (call_run) and 3 (double).
    let mut funcs = FunctionSection::new();
    funcs.function(2).function(3);
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 1,
        maximum: Some(1),
        shared: false,
    });
    let mut memories = MemorySection::new();
    memories.memory(memory());
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0).export(
        &format!("{CALL_PREFIX}run"),
        ExportKind::Func,
        2,
    );
    let mut elements = ElementSection::new();
    elements.active(
        Some(0),
        &ConstExpr::i32_const(0),
        Elements::Functions(std::borrow::Cow::Borrowed(&[3])),
    );
    let mut run = Function::new([(1, ValType::I64)]);
    run.instructions()
        .call(0)
        .call(3)
        .i32_const(0)
        .call_indirect(0, 3)
        .local_set(0)
        .i32_const(0)
        .local_get(0)
        .i64_store(MemArg {
            offset: 0,
            align: 3,
            memory_index: 0,
        })
        .i32_const(0)
        .i32_const(8)
        .call(1)
        .drop()
        .i32_const(0)
        .end();
    let mut double = Function::new([]);
    double
        .instructions()
        .local_get(0)
        .local_get(0)
        .i64_add()
        .end();
    let mut code = CodeSection::new();
    code.function(&run).function(&double);
    let mut m = wasm_encoder::Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&tables)
        .section(&memories)
        .section(&exports)
        .section(&elements)
        .section(&code);
    m.finish()
}

/// The index of host function `name` in [`SIGNATURES`].
fn host(name: &str) -> usize {
    SIGNATURES
        .iter()
        .position(|(n, _, _)| *n == name)
        .expect("a host function of the contract interface")
}

/// One page of 32-bit memory.
fn memory() -> MemoryType {
    MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
}
