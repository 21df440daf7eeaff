//! Deterministic call-depth limit, added to contract code when it is prepared.
//!
//! wasmtime's native stack limit depends on the machine and the compiler version, so it
//! cannot decide consensus outcomes. Instead every `call`, `call_indirect` and `call_ref`
//! is wrapped (tail calls are off in the engine, so there are no other calls):
//!
//! ```text
//! depth += cost(callee); if depth > LIMIT { unreachable }; call …; depth -= cost(callee)
//! ```
//!
//! where `depth` is a new mutable i32 global (exported as [`DEPTH_EXPORT`] so the VM can
//! tell a depth trap from other traps) and `cost` bounds what the callee's native frame
//! can hold: [`FRAME_COST`] for the frame itself (return address, saved registers, the
//! outgoing call's area) plus one per parameter, per declared local and per slot of the
//! function's highest operand stack (each a value the compiled code may keep in a stack
//! slot across a call: a live temporary spilled, a multi-value result's return area).
//! For `call_indirect` and `call_ref` the cost is the largest over all functions of the
//! called type. So the native stack a call chain uses is bounded by the summed costs
//! times a few bytes, whatever the frame sizes the compiler picks on this machine or
//! another architecture; the VM's native limit, far above that bound, stays only as a
//! backstop (`tests/stack.rs` measures the bytes per unit on the machine it runs on).
//! The same input always gives the same output, so every node runs identical code.

use wasm_encoder::reencode::{Error as ReError, Reencode};
use wasm_encoder::{ConstExpr, GlobalType, Instruction, SectionId, ValType};
use wasmparser::{Operator, OperatorsReader, Parser, Payload, ValidPayload, Validator};

/// Export name of the depth counter.
pub const DEPTH_EXPORT: &str = "__govchain_call_depth";
/// Limit of the summed frame costs of active calls.
pub const DEPTH_LIMIT: u32 = 65_536;
/// The cost of a frame beyond its values.
pub const FRAME_COST: u32 = 4;

/// Facts about a module gathered before rewriting it.
#[derive(Debug, Default)]
struct Info {
    /// Parameter count per type index (non-function types count 0).
    type_params: Vec<u32>,
    /// Type index per function index (imports first).
    func_types: Vec<u32>,
    /// Locals per defined function.
    locals: Vec<u32>,
    /// Highest operand stack per defined function.
    max_stack: Vec<u32>,
    imported_funcs: u32,
    globals: u32,
}

impl Info {
    fn gather(code: &[u8]) -> Result<Self, String> {
        let mut info = Info::default();
        let mut validator = Validator::new();
        for payload in Parser::new(0).parse_all(code) {
            let payload = payload.map_err(|e| e.to_string())?;
            if let ValidPayload::Func(func, body) =
                validator.payload(&payload).map_err(|e| e.to_string())?
            {
                let mut v = func.into_validator(Default::default());
                let mut reader = body.get_binary_reader();
                v.read_locals(&mut reader).map_err(|e| e.to_string())?;
                let mut ops = OperatorsReader::new(reader);
                let mut max = 0;
                while !ops.eof() {
                    let (op, offset) = ops.read_with_offset().map_err(|e| e.to_string())?;
                    v.op(offset, &op).map_err(|e| e.to_string())?;
                    max = v.operand_stack_height().max(max);
                }
                info.max_stack.push(max);
            }
            match payload {
                Payload::TypeSection(r) => {
                    for group in r {
                        for sub in group.map_err(|e| e.to_string())?.into_types() {
                            let params = match &sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                                _ => 0,
                            };
                            info.type_params.push(params);
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for group in r {
                        for imp in group.map_err(|e| e.to_string())? {
                            match imp.map_err(|e| e.to_string())?.1.ty {
                                wasmparser::TypeRef::Func(t)
                                | wasmparser::TypeRef::FuncExact(t) => {
                                    info.func_types.push(t);
                                    info.imported_funcs += 1;
                                }
                                wasmparser::TypeRef::Global(_) => info.globals += 1,
                                _ => {}
                            }
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        info.func_types.push(t.map_err(|e| e.to_string())?);
                    }
                }
                Payload::GlobalSection(r) => info.globals += r.count(),
                Payload::CodeSectionEntry(body) => {
                    let mut n = 0u32;
                    for l in body.get_locals_reader().map_err(|e| e.to_string())? {
                        n = n.saturating_add(l.map_err(|e| e.to_string())?.0);
                    }
                    info.locals.push(n);
                }
                _ => {}
            }
        }
        Ok(info)
    }

    fn cost(&self, func: u32) -> u32 {
        let params = self
            .func_types
            .get(func as usize)
            .and_then(|t| self.type_params.get(*t as usize))
            .copied()
            .unwrap_or(0);
        let defined = |v: &[u32]| {
            func.checked_sub(self.imported_funcs)
                .and_then(|i| v.get(i as usize))
                .copied()
                .unwrap_or(0)
        };
        FRAME_COST
            .saturating_add(params)
            .saturating_add(defined(&self.locals))
            .saturating_add(defined(&self.max_stack))
            .min(DEPTH_LIMIT)
    }

    fn indirect_cost(&self, type_index: u32) -> u32 {
        (0..self.func_types.len() as u32)
            .filter(|f| self.func_types[*f as usize] == type_index)
            .map(|f| self.cost(f))
            .max()
            .unwrap_or(FRAME_COST)
    }
}

struct Limiter {
    info: Info,
    global: u32,
    added: bool,
}

impl Limiter {
    fn our_global(globals: &mut wasm_encoder::GlobalSection) {
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i32_const(0),
        );
    }

    fn enter(&self, f: &mut wasm_encoder::Function, cost: u32) {
        let g = self.global;
        f.instruction(&Instruction::GlobalGet(g));
        f.instruction(&Instruction::I32Const(cost as i32));
        f.instruction(&Instruction::I32Add);
        f.instruction(&Instruction::GlobalSet(g));
        f.instruction(&Instruction::GlobalGet(g));
        f.instruction(&Instruction::I32Const(DEPTH_LIMIT as i32));
        f.instruction(&Instruction::I32GtU);
        f.instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
        f.instruction(&Instruction::Unreachable);
        f.instruction(&Instruction::End);
    }

    fn leave(&self, f: &mut wasm_encoder::Function, cost: u32) {
        let g = self.global;
        f.instruction(&Instruction::GlobalGet(g));
        f.instruction(&Instruction::I32Const(cost as i32));
        f.instruction(&Instruction::I32Sub);
        f.instruction(&Instruction::GlobalSet(g));
    }
}

impl Reencode for Limiter {
    type Error = String;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReError<String>> {
        wasm_encoder::reencode::utils::parse_global_section(self, globals, section)?;
        Self::our_global(globals);
        self.added = true;
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReError<String>> {
        // With no global section of its own, add ours where it belongs: before the first
        // section that follows globals in the binary order.
        let follows_globals = matches!(
            before,
            None | Some(
                SectionId::Export
                    | SectionId::Start
                    | SectionId::Element
                    | SectionId::DataCount
                    | SectionId::Code
                    | SectionId::Data
            )
        );
        if !self.added && follows_globals {
            let mut globals = wasm_encoder::GlobalSection::new();
            Self::our_global(&mut globals);
            module.section(&globals);
            self.added = true;
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), ReError<String>> {
        wasm_encoder::reencode::utils::parse_export_section(self, exports, section)?;
        exports.export(DEPTH_EXPORT, wasm_encoder::ExportKind::Global, self.global);
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), ReError<String>> {
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            let cost = match &op {
                Operator::Call { function_index } => Some(self.info.cost(*function_index)),
                // `call_ref` (function references) reaches any function of its type,
                // as `call_indirect` does.
                Operator::CallIndirect { type_index, .. } | Operator::CallRef { type_index } => {
                    Some(self.info.indirect_cost(*type_index))
                }
                _ => None,
            };
            if let Some(c) = cost {
                self.enter(&mut f, c);
            }
            f.instruction(&self.instruction(op)?);
            if let Some(c) = cost {
                self.leave(&mut f, c);
            }
        }
        code.function(&f);
        Ok(())
    }
}

/// Adds the call-depth limit to a validated module.
pub(crate) fn limit_call_depth(code: &[u8]) -> Result<Vec<u8>, String> {
    let info = Info::gather(code)?;
    let mut limiter = Limiter {
        global: info.globals,
        info,
        added: false,
    };
    let mut module = wasm_encoder::Module::new();
    limiter
        .parse_core_module(&mut module, Parser::new(0), code)
        .map_err(|e| format!("instrumenting: {e:?}"))?;
    if !limiter.added {
        return Err("instrumenting: no place for the depth counter".into());
    }
    Ok(module.finish())
}
