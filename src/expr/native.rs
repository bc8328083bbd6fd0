//! The native backend: an [`Ir`] compiled to machine code with Cranelift.
//!
//! Why: the register program ([`super::Program`]) pays a dispatch per block and a load
//! and a store per instruction; compiled code keeps every intermediate in a machine
//! register and writes only the outputs. It pays for the hot programs of the ODE
//! engine (right-hand sides and Jacobian blocks), which a solve runs tens of
//! thousands of times: 2-3x faster per run on the shipped models, a Rodas5P solve of
//! `benches/il6_loop.toml` 23 % less CPU (docs/performance.md).
//!
//! What it computes is [`super::ir::Op::eval`], operation by operation: the
//! arithmetic, comparisons, logic, `if`, `abs`, `sqrt`, Hill terms and constant powers
//! become instructions in the same order and rounding (a product then a sum, never a
//! fused multiply-add; the same binary exponentiation as [`real::powi`]), `min` and
//! `max` make the compiled Rust's choice for NaN and signed zeros, and every other
//! operation (`powf`-based powers, `exp`, `ln`, trigonometry, `rem`, `floor`, ...) is a
//! call to the same Rust function the other backends run. Results are the register
//! program's bits (`tests/expr_backends.rs`).
//!
//! Compiling costs 0.3-2.5 ms per model, as much as binding it; a sweep binds a
//! model per parameter set. So constants are not built into the code: like inputs
//! they are read from the register file, which holds them from
//! [`super::Program::workspace`]. Code then depends only on the IR's shape (its
//! instructions and outputs), which parameter values rarely change, and [`shared`]
//! compiles each shape once per process: every set of a sweep after the first runs
//! the same code, on any thread.
//!
//! The code lives in its own JIT module, owned by the [`Native`] value and freed when
//! it drops. It only reads and writes the register file it is handed, so one
//! [`Native`] is shared by threads (`Send + Sync`). [`Native::compile`] fails, never
//! panics, on a target Cranelift does not support; callers keep the register program.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, AbiParam, FuncRef, InstBuilder, MemFlagsData, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};

use super::ir::{Inst, Ir, Op};
use super::real;
use super::tree::Func;

/// Why code could not be generated (an unsupported target, or a Cranelift error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("native code generation failed: {0}")]
pub struct NativeError(String);

fn err(e: impl std::fmt::Display) -> NativeError {
    NativeError(e.to_string())
}

/// The Rust functions compiled code calls for operations without an instruction.
extern "C" fn call_pow(a: f64, b: f64) -> f64 {
    real::pow(a, b)
}

extern "C" fn call_apply1(f: u32, a: f64) -> f64 {
    Func::ALL[f as usize].apply1(a)
}

extern "C" fn call_apply2(f: u32, a: f64, b: f64) -> f64 {
    Func::ALL[f as usize].apply2(a, b)
}

/// Compiled code for one [`Ir`]: reads the inputs from a register file laid out as
/// the IR's slots and writes every output slot.
pub struct Native {
    code: unsafe extern "C" fn(*mut f64),
    n_slots: usize,
    /// Owns the code's memory. Only `Drop` touches it (the mutex makes the owner
    /// `Sync`; it is never locked).
    module: Mutex<Option<JITModule>>,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native")
            .field("n_slots", &self.n_slots)
            .finish_non_exhaustive()
    }
}

impl Drop for Native {
    fn drop(&mut self) {
        let module = self.module.get_mut().map(Option::take);
        if let Ok(Some(m)) = module {
            // SAFETY: `code` points into this module, and `&mut self` means no
            // thread is running it and nobody can call it again.
            unsafe { m.free_memory() }
        }
    }
}

impl Native {
    /// Compile `ir` for the host (no cache: see [`shared`]). The code reads inputs
    /// and constants from the register file.
    pub fn compile(ir: &Ir) -> Result<Native, NativeError> {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").map_err(err)?;
        flags.set("is_pic", "false").map_err(err)?;
        flags.set("use_colocated_libcalls", "false").map_err(err)?;
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        flags.set("enable_verifier", verify).map_err(err)?;
        let isa = cranelift_native::builder()
            .map_err(err)?
            .finish(settings::Flags::new(flags))
            .map_err(err)?;
        let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
        jb.symbol("resloop_pow", call_pow as *const u8);
        jb.symbol("resloop_apply1", call_apply1 as *const u8);
        jb.symbol("resloop_apply2", call_apply2 as *const u8);
        let mut module = JITModule::new(jb);
        // Cranelift reports errors as values; a panic would be a bug in it, and
        // still only costs the speed-up.
        let lowered =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lower(&mut module, ir)))
                .unwrap_or_else(|_| Err(err("the code generator panicked")));
        match lowered {
            Ok(code) => Ok(Native {
                code,
                n_slots: ir.n_slots(),
                module: Mutex::new(Some(module)),
            }),
            Err(e) => {
                // SAFETY: nothing compiled in the module has been handed out.
                unsafe { module.free_memory() };
                Err(e)
            }
        }
    }

    /// Run on `regs`, a register file of the IR's layout (its slots: inputs in
    /// `regs[..n_inputs]`, constants as in [`Ir::init`]); every output slot is
    /// written.
    #[inline]
    pub fn run(&self, regs: &mut [f64]) {
        assert_eq!(
            regs.len(),
            self.n_slots,
            "register file from another program"
        );
        // SAFETY: the code was generated from an IR with `n_slots` slots and reads and
        // writes only slots of that IR (checked at generation), and `regs` has that
        // many; it calls only the `extern "C"` functions above and touches no other
        // memory.
        unsafe { (self.code)(regs.as_mut_ptr()) }
    }
}

/// What compiled code depends on: the IR without its constants' values.
#[derive(PartialEq, Eq, Hash)]
struct Shape {
    n_slots: usize,
    insts: Vec<(u32, Op)>,
    outputs: Vec<u32>,
}

/// Most shapes [`shared`] keeps (a few pages of code each); the least recently used
/// is dropped beyond.
const SHAPES_KEPT: usize = 64;

struct Cache {
    code: HashMap<Shape, (Arc<Native>, u64)>,
    clock: u64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// The code of `ir`, compiled once per shape (see the module documentation) and
/// kept for the process.
pub fn shared(ir: &Ir) -> Result<Arc<Native>, NativeError> {
    let shape = Shape {
        n_slots: ir.n_slots(),
        insts: ir.insts.iter().map(|&Inst { dst, op }| (dst, op)).collect(),
        outputs: ir.outputs.clone(),
    };
    // A panic elsewhere while the lock was held cannot leave the map inconsistent.
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(|| Cache {
        code: HashMap::new(),
        clock: 0,
    });
    cache.clock += 1;
    let now = cache.clock;
    if let Some((code, used)) = cache.code.get_mut(&shape) {
        *used = now;
        return Ok(code.clone());
    }
    let code = Arc::new(Native::compile(ir)?);
    if cache.code.len() >= SHAPES_KEPT {
        let oldest = cache.code.values().map(|&(_, used)| used).min();
        cache.code.retain(|_, (_, used)| Some(*used) != oldest);
    }
    cache.code.insert(shape, (code.clone(), now));
    Ok(code)
}

/// The external functions, as declared in the module.
struct Externs {
    pow: FuncId,
    apply1: FuncId,
    apply2: FuncId,
}

/// Generate and finalise the function `run(regs)` for `ir`.
fn lower(module: &mut JITModule, ir: &Ir) -> Result<unsafe extern "C" fn(*mut f64), NativeError> {
    let ptr = module.target_config().pointer_type();
    let sig = |params: &[types::Type]| {
        let mut s = module.make_signature();
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.push(AbiParam::new(types::F64));
        s
    };
    let (f, i) = (types::F64, types::I32);
    let (sig_pow, sig1, sig2) = (sig(&[f, f]), sig(&[i, f]), sig(&[i, f, f]));
    let ext = Externs {
        pow: module
            .declare_function("resloop_pow", Linkage::Import, &sig_pow)
            .map_err(err)?,
        apply1: module
            .declare_function("resloop_apply1", Linkage::Import, &sig1)
            .map_err(err)?,
        apply2: module
            .declare_function("resloop_apply2", Linkage::Import, &sig2)
            .map_err(err)?,
    };
    let mut ctx = module.make_context();
    ctx.func.signature.params.push(AbiParam::new(ptr));
    let id = module
        .declare_function("run", Linkage::Local, &ctx.func.signature)
        .map_err(err)?;
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let refs =
            [ext.pow, ext.apply1, ext.apply2].map(|f| module.declare_func_in_func(f, b.func));
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let regs = b.block_params(entry)[0];
        let mut e = Emitter {
            b,
            regs,
            vals: vec![None; ir.n_slots()],
            pow: refs[0],
            apply1: refs[1],
            apply2: refs[2],
        };
        for inst in &ir.insts {
            let v = e.op(&inst.op)?;
            e.vals[inst.dst as usize] = Some(v);
        }
        for &o in &ir.outputs {
            let v = e.slot(o)?;
            let off = offset(o)?;
            e.b.ins().store(MemFlagsData::trusted(), v, regs, off);
        }
        e.b.ins().return_(&[]);
        e.b.finalize(module.target_config());
    }
    module.define_function(id, &mut ctx).map_err(err)?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(err)?;
    let p = module.get_finalized_function(id);
    // SAFETY: `p` is the finalised code of a function declared with the signature
    // `(pointer) -> ()` in the host's default calling convention, which is the C
    // calling convention of the host.
    Ok(unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(*mut f64)>(p) })
}

/// The byte offset of slot `s` in the register file.
fn offset(s: u32) -> Result<i32, NativeError> {
    i32::try_from(s as u64 * 8).map_err(|_| err("register file too large"))
}

struct Emitter<'f> {
    b: FunctionBuilder<'f>,
    regs: Value,
    /// The value of every slot computed or loaded so far.
    vals: Vec<Option<Value>>,
    pow: FuncRef,
    apply1: FuncRef,
    apply2: FuncRef,
}

impl Emitter<'_> {
    /// The value of slot `s`: an earlier result, or an input or constant loaded from
    /// the register file (once).
    fn slot(&mut self, s: u32) -> Result<Value, NativeError> {
        let i = s as usize;
        if i >= self.vals.len() {
            return Err(err(format!("slot {s} out of range")));
        }
        if let Some(v) = self.vals[i] {
            return Ok(v);
        }
        let off = offset(s)?;
        let v = self
            .b
            .ins()
            .load(types::F64, MemFlagsData::trusted(), self.regs, off);
        self.vals[i] = Some(v);
        Ok(v)
    }

    fn c(&mut self, v: f64) -> Value {
        self.b.ins().f64const(v)
    }

    fn call(&mut self, f: FuncRef, args: &[Value]) -> Value {
        let call = self.b.ins().call(f, args);
        self.b.inst_results(call)[0]
    }

    /// 1 where `cond` (an `i8` truth value) holds, else 0.
    fn truth(&mut self, cond: Value) -> Value {
        let (one, zero) = (self.c(1.0), self.c(0.0));
        self.b.ins().select(cond, one, zero)
    }

    /// `x != 0` (true for NaN, as `!=` is).
    fn nonzero(&mut self, x: Value) -> Value {
        let zero = self.c(0.0);
        self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
    }

    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }

    /// `max(a, b)` as `f64::max` compiles for two run-time operands: `b` if `a` is
    /// NaN, else `b` if `b > a`, else `a`.
    fn max(&mut self, a: Value, b: Value) -> Value {
        self.pick(a, b, FloatCC::GreaterThan)
    }

    /// `min(a, b)`, as [`Emitter::max`] with `b < a`.
    fn min(&mut self, a: Value, b: Value) -> Value {
        self.pick(a, b, FloatCC::LessThan)
    }

    fn pick(&mut self, a: Value, b: Value, cc: FloatCC) -> Value {
        let better = self.b.ins().fcmp(cc, b, a);
        let m = self.b.ins().select(better, b, a);
        let nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        self.b.ins().select(nan, b, m)
    }

    /// `max(x, 0)` as `f64::max` compiles against the constant 0 (in the Hill
    /// terms): `x` if `x > 0`, else 0 (so NaN and -0 give +0).
    fn clamp0(&mut self, x: Value) -> Value {
        let zero = self.c(0.0);
        let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
        self.b.ins().select(pos, x, zero)
    }

    /// [`real::powi`] for a constant `n`, unrolled into the same products.
    fn powi(&mut self, a: Value, n: i32) -> Value {
        let mut e = n.unsigned_abs();
        let mut a = a;
        // `None` is the initial 1, so that `1 * a` (exactly `a`) is not emitted.
        let mut r: Option<Value> = None;
        loop {
            if e & 1 != 0 {
                r = Some(match r {
                    None => a,
                    Some(r) => self.mul(r, a),
                });
            }
            e >>= 1;
            if e == 0 {
                break;
            }
            a = self.mul(a, a);
        }
        let r = match r {
            Some(r) => r,
            None => self.c(1.0),
        };
        if n < 0 {
            let one = self.c(1.0);
            self.b.ins().fdiv(one, r)
        } else {
            r
        }
    }

    /// [`real::pow_half`]: `a^(h/2)` for a constant `h`.
    fn pow_half(&mut self, a: Value, h: i32) -> Value {
        if h & 1 == 0 {
            return self.powi(a, h >> 1);
        }
        let zero = self.c(0.0);
        let a = self.b.ins().fadd(a, zero);
        let root = self.b.ins().sqrt(a);
        let v = if h >> 1 == 0 {
            root
        } else {
            let k = self.powi(a, h >> 1);
            self.mul(k, root)
        };
        let (ninf, inf) = (self.c(f64::NEG_INFINITY), self.c(f64::INFINITY));
        let is_ninf = self.b.ins().fcmp(FloatCC::Equal, a, ninf);
        self.b.ins().select(is_ninf, inf, v)
    }

    /// [`real::hill_of`].
    fn hill_of(&mut self, p: Value, kn: Value, rep: bool) -> Value {
        let den = self.b.ins().fadd(kn, p);
        self.b.ins().fdiv(if rep { kn } else { p }, den)
    }

    fn hill_fixed(&mut self, x: Value, kn: Value, h: i32, rep: bool) -> Value {
        let x = self.clamp0(x);
        let p = self.pow_half(x, h);
        self.hill_of(p, kn, rep)
    }

    fn hill_run_time(&mut self, x: Value, kn: Value, n: Value, rep: bool) -> Value {
        let x = self.clamp0(x);
        let p = self.call(self.pow, &[x, n]);
        self.hill_of(p, kn, rep)
    }

    fn func_index(&mut self, f: Func) -> Value {
        let i = Func::ALL.iter().position(|&g| g == f).unwrap_or(0);
        self.b.ins().iconst(types::I32, i as i64)
    }

    fn f1(&mut self, f: Func, a: Value) -> Value {
        match f {
            Func::Abs => self.b.ins().fabs(a),
            Func::Sqrt => self.b.ins().sqrt(a),
            Func::Step => {
                let zero = self.c(0.0);
                let ge = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, a, zero);
                self.truth(ge)
            }
            Func::Not => {
                let zero = self.c(0.0);
                let eq = self.b.ins().fcmp(FloatCC::Equal, a, zero);
                self.truth(eq)
            }
            _ => {
                let i = self.func_index(f);
                self.call(self.apply1, &[i, a])
            }
        }
    }

    fn f2(&mut self, f: Func, a: Value, b: Value) -> Value {
        let cmp = |cc| Some(cc);
        let cc = match f {
            Func::Lt => cmp(FloatCC::LessThan),
            Func::Le => cmp(FloatCC::LessThanOrEqual),
            Func::Gt => cmp(FloatCC::GreaterThan),
            Func::Ge => cmp(FloatCC::GreaterThanOrEqual),
            Func::Eq => cmp(FloatCC::Equal),
            Func::Ne => cmp(FloatCC::NotEqual),
            _ => None,
        };
        if let Some(cc) = cc {
            let t = self.b.ins().fcmp(cc, a, b);
            return self.truth(t);
        }
        match f {
            Func::Min => self.min(a, b),
            Func::Max => self.max(a, b),
            Func::And | Func::Or | Func::Xor => {
                let (x, y) = (self.nonzero(a), self.nonzero(b));
                let t = match f {
                    Func::And => self.b.ins().band(x, y),
                    Func::Or => self.b.ins().bor(x, y),
                    _ => self.b.ins().bxor(x, y),
                };
                self.truth(t)
            }
            _ => {
                let i = self.func_index(f);
                self.call(self.apply2, &[i, a, b])
            }
        }
    }

    /// The instructions of one operation; see [`Op::eval`] for the meaning of each.
    fn op(&mut self, op: &Op) -> Result<Value, NativeError> {
        let (regs, k) = op.operands();
        let mut v = [None; 4];
        for (j, &r) in regs[..k].iter().enumerate() {
            v[j] = Some(self.slot(r)?);
        }
        let g = |j: usize| v[j].expect("operand loaded");
        Ok(match *op {
            Op::Add(..) => self.b.ins().fadd(g(0), g(1)),
            Op::Sub(..) => self.b.ins().fsub(g(0), g(1)),
            Op::Mul(..) => self.b.ins().fmul(g(0), g(1)),
            Op::Div(..) => self.b.ins().fdiv(g(0), g(1)),
            Op::Neg(..) => self.b.ins().fneg(g(0)),
            Op::Pow(..) => self.call(self.pow, &[g(0), g(1)]),
            Op::PowC(_, h) => self.pow_half(g(0), h),
            Op::F1(f, _) => self.f1(f, g(0)),
            Op::F2(f, ..) => self.f2(f, g(0), g(1)),
            Op::If(..) => {
                let c = self.nonzero(g(0));
                self.b.ins().select(c, g(1), g(2))
            }
            Op::MulAdd(..) => {
                let p = self.mul(g(0), g(1));
                self.b.ins().fadd(p, g(2))
            }
            Op::MulSub(..) => {
                let p = self.mul(g(0), g(1));
                self.b.ins().fsub(p, g(2))
            }
            Op::SubMul(..) => {
                let p = self.mul(g(0), g(1));
                self.b.ins().fsub(g(2), p)
            }
            Op::Hill(_, _, h) => self.hill_fixed(g(0), g(1), h, false),
            Op::HillRep(_, _, h) => self.hill_fixed(g(0), g(1), h, true),
            Op::HillF(..) => self.hill_run_time(g(0), g(1), g(2), false),
            Op::HillRepF(..) => self.hill_run_time(g(0), g(1), g(2), true),
            Op::HillAff(_, _, h, _, _) | Op::HillRepAff(_, _, h, _, _) => {
                let rep = matches!(op, Op::HillRepAff(..));
                let hill = self.hill_fixed(g(0), g(1), h, rep);
                let p = self.mul(g(2), hill);
                self.b.ins().fadd(p, g(3))
            }
            Op::Copy(..) => g(0),
        })
    }
}
