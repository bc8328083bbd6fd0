//! A flat register program compiled from resolved, bound expressions.
//!
//! Why: a tree walk chases pointers and re-evaluates shared sub-expressions (a Hill
//! term used in three rates). The compiler numbers every distinct operation once
//! (hash-consing gives common-subexpression elimination for free) and lays
//! everything out in one `f64` register file that is allocated once per workspace.
//! Evaluating is a single pass over a `Vec` of small `Copy` instructions with no
//! allocation.
//!
//! Dispatching an instruction costs more than the arithmetic it does, so the
//! compiler fuses the shapes rate laws are made of into single instructions
//! (measured on `benches/ode.rs`: 89 instructions per right-hand side of the
//! 10-species bench model become 35):
//!
//! - `hill(x, K, n)` and `hill_rep(x, K, n)` (after binding, `max(x, 0)^n / (K^n +
//!   max(x, 0)^n)` with `K^n` already folded to a number) become one instruction
//!   each;
//! - `a*b + c`, `a*b - c` and `c - a*b` (synthesis, basal and degradation terms)
//!   become one instruction each. They round exactly like the tree (a product, then
//!   a sum; no fused multiply-add), so results are bit-identical to the reference;
//! - constant exponents avoid `powf`: integers by binary exponentiation (the same
//!   algorithm, hence the same bits, as `f64::powi`), positive half-integers as
//!   `x^k * sqrt(x)` (a drug effect with Hill coefficient 1.5).
//!
//! Finally the instructions are ordered by dependency depth and kind, and each run
//! of same-kind instructions at one depth (the ten Hill terms of a cascade, then its
//! ten synthesis terms, ...) executes as one loop: one dispatch per block instead of
//! one per instruction, and independent work side by side for the processor to
//! overlap (35 instructions in 9 blocks on the bench model: 58 -> 44 ns per run).

use std::collections::HashMap;

use super::tree::{Expr, Func, Var};

/// One instruction: destination register first, then operand registers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add(u32, u32, u32),
    Sub(u32, u32, u32),
    Mul(u32, u32, u32),
    Div(u32, u32, u32),
    Neg(u32, u32),
    /// `a^b` with `b` read at run time ([`super::tree::pow`] semantics).
    Powf(u32, u32, u32),
    /// `a^(h/2)` for a constant `h` in half-steps (see [`half_steps`]).
    PowC(u32, u32, i32),
    F1(Func, u32, u32),
    Min(u32, u32, u32),
    Max(u32, u32, u32),
    /// Any other two-argument function (comparisons, logic, `rem`): (f, d, a, b).
    F2(Func, u32, u32, u32),
    /// `if(c, a, b)` ([`super::tree::select`]): (d, c, a, b).
    If(u32, u32, u32, u32),
    /// `a*b + c`
    MulAdd(u32, u32, u32, u32),
    /// `a*b - c`
    MulSub(u32, u32, u32, u32),
    /// `c - a*b`
    SubMul(u32, u32, u32, u32),
    /// `p / (kn + p)` with `p = max(x, 0)^(h/2)`: (d, x, kn, h).
    Hill(u32, u32, u32, i32),
    /// `kn / (kn + p)` with `p = max(x, 0)^(h/2)`: (d, x, kn, h).
    HillRep(u32, u32, u32, i32),
    /// As [`Op::Hill`] with the exponent read from a register: (d, x, kn, n).
    HillF(u32, u32, u32, u32),
    /// As [`Op::HillRep`] with the exponent read from a register: (d, x, kn, n).
    HillRepF(u32, u32, u32, u32),
}

/// The variant of an [`Op`], for grouping instructions into [`Block`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Powf,
    PowC,
    F1,
    Min,
    Max,
    F2,
    If,
    MulAdd,
    MulSub,
    SubMul,
    Hill,
    HillRep,
    HillF,
    HillRepF,
}

impl Op {
    /// (kind, destination, operand registers, number of operands).
    fn parts(&self) -> (Kind, u32, [u32; 3], usize) {
        match *self {
            Op::Add(d, a, b) => (Kind::Add, d, [a, b, 0], 2),
            Op::Sub(d, a, b) => (Kind::Sub, d, [a, b, 0], 2),
            Op::Mul(d, a, b) => (Kind::Mul, d, [a, b, 0], 2),
            Op::Div(d, a, b) => (Kind::Div, d, [a, b, 0], 2),
            Op::Neg(d, a) => (Kind::Neg, d, [a, 0, 0], 1),
            Op::Powf(d, a, b) => (Kind::Powf, d, [a, b, 0], 2),
            Op::PowC(d, a, _) => (Kind::PowC, d, [a, 0, 0], 1),
            Op::F1(_, d, a) => (Kind::F1, d, [a, 0, 0], 1),
            Op::Min(d, a, b) => (Kind::Min, d, [a, b, 0], 2),
            Op::Max(d, a, b) => (Kind::Max, d, [a, b, 0], 2),
            Op::F2(_, d, a, b) => (Kind::F2, d, [a, b, 0], 2),
            Op::If(d, c, a, b) => (Kind::If, d, [c, a, b], 3),
            Op::MulAdd(d, a, b, c) => (Kind::MulAdd, d, [a, b, c], 3),
            Op::MulSub(d, a, b, c) => (Kind::MulSub, d, [a, b, c], 3),
            Op::SubMul(d, a, b, c) => (Kind::SubMul, d, [a, b, c], 3),
            Op::Hill(d, x, kn, _) => (Kind::Hill, d, [x, kn, 0], 2),
            Op::HillRep(d, x, kn, _) => (Kind::HillRep, d, [x, kn, 0], 2),
            Op::HillF(d, x, kn, n) => (Kind::HillF, d, [x, kn, n], 3),
            Op::HillRepF(d, x, kn, n) => (Kind::HillRepF, d, [x, kn, n], 3),
        }
    }
}

/// A run `ops[start..end]` of instructions of one kind that do not depend on each
/// other, executed by one loop without per-instruction dispatch.
#[derive(Debug, Clone, Copy)]
struct Block {
    kind: Kind,
    start: u32,
    end: u32,
}

/// Reorder `ops` by dependency depth (an instruction's depth is one more than the
/// deepest instruction it reads), then by kind, and cut the result into blocks of
/// one kind at one depth. Instructions at one depth read only shallower results, so
/// the order is a valid evaluation order.
fn schedule(ops: Vec<Op>, n_regs: usize) -> (Vec<Op>, Vec<Block>) {
    let mut depth = vec![0u32; n_regs];
    let mut keyed: Vec<(u32, Kind, usize, Op)> = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let (kind, d, regs, k) = op.parts();
        let level = 1 + regs[..k]
            .iter()
            .map(|&r| depth[r as usize])
            .max()
            .unwrap_or(0);
        depth[d as usize] = level;
        keyed.push((level, kind, i, op));
    }
    keyed.sort_by_key(|&(level, kind, i, _)| (level, kind, i));
    let mut blocks: Vec<Block> = Vec::new();
    for (i, &(level, kind, _, _)) in keyed.iter().enumerate() {
        let i = i as u32;
        match blocks.last_mut() {
            Some(b) if b.kind == kind && keyed[b.start as usize].0 == level => b.end = i + 1,
            _ => blocks.push(Block {
                kind,
                start: i,
                end: i + 1,
            }),
        }
    }
    (keyed.into_iter().map(|k| k.3).collect(), blocks)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Bin(u8, u32, u32),
    Un(u8, u32),
    PowC(u32, i32),
    Tri(u8, u32, u32, u32),
}

// Key codes of the fused instructions (`Key::Tri`).
const MUL_ADD: u8 = 40;
const MUL_SUB: u8 = 41;
const SUB_MUL: u8 = 42;
const HILL: u8 = 43;
const HILL_REP: u8 = 44;
const HILL_F: u8 = 45;
const HILL_REP_F: u8 = 46;
const IF: u8 = 47;
/// Key code of a generic two-argument function `f` (`Key::Bin`): `F2_BASE + f`.
const F2_BASE: u8 = 50;

/// A constant exponent as a whole number of half-steps, when the program can raise
/// to it without `powf`: any integer with |n| <= 64, or a positive half-integer
/// `k + 1/2` with k <= 64. `None` for anything else (evaluated with `powf`).
fn half_steps(n: f64) -> Option<i32> {
    let h = 2.0 * n;
    if h != h.trunc() || n.abs() > 64.0 {
        return None;
    }
    let h = h as i32;
    (h % 2 == 0 || h > 0).then_some(h)
}

/// `a^n` by binary exponentiation: the algorithm of the `__powidf2` builtin behind
/// `f64::powi` (hence bit-identical to it), inlined so that no library call is made.
#[inline(always)]
pub fn powi(mut a: f64, n: i32) -> f64 {
    let mut e = n.unsigned_abs();
    let mut r = 1.0;
    loop {
        if e & 1 != 0 {
            r *= a;
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        a *= a;
    }
    if n < 0 {
        1.0 / r
    } else {
        r
    }
}

/// `a^(h/2)` for `h` from [`half_steps`]: `powi` for even `h`, `a^k * sqrt(a)` for
/// odd (positive) `h = 2k + 1`.
#[inline(always)]
fn pow_half_steps(a: f64, h: i32) -> f64 {
    // The common Hill coefficients 1 and 2 without the exponentiation loop (same
    // products, same bits).
    if h == 4 {
        return a * a;
    }
    if h == 2 {
        return a;
    }
    if h & 1 == 0 {
        powi(a, h >> 1)
    } else {
        powi(a, h >> 1) * a.sqrt()
    }
}

/// `max(x, 0)^n` matched in an expression: (x, n), with `None` for n = 1 (the
/// simplifier has already removed the power).
fn clamped_pow(e: &Expr) -> Option<(&Expr, Option<&Expr>)> {
    let (base, n) = match e {
        Expr::Pow(base, n) => (&**base, Some(&**n)),
        other => (other, None),
    };
    match base {
        Expr::F2(Func::Max, x, z) | Expr::F2(Func::Max, z, x) if z.as_const() == Some(0.0) => {
            Some((x, n))
        }
        _ => None,
    }
}

/// A variable was left unbound (a compiler bug or a caller that forgot to bind).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expression reads {0:?}, which has no input slot in this program")]
pub struct UnboundVar(pub Var);

#[derive(Debug, Clone)]
pub struct Program {
    n_inputs: usize,
    init: Vec<f64>,
    ops: Vec<Op>,
    blocks: Vec<Block>,
    outputs: Vec<u32>,
}

struct Builder<'a> {
    input_of: &'a dyn Fn(Var) -> Option<usize>,
    init: Vec<f64>,
    ops: Vec<Op>,
    consts: HashMap<u64, u32>,
    seen: HashMap<Key, u32>,
}

impl Builder<'_> {
    fn fresh(&mut self) -> u32 {
        self.init.push(0.0);
        (self.init.len() - 1) as u32
    }

    fn constant(&mut self, v: f64) -> u32 {
        // Normalise -0.0 so that 0 and -0 share a register.
        let v = if v == 0.0 { 0.0 } else { v };
        if let Some(&r) = self.consts.get(&v.to_bits()) {
            return r;
        }
        let r = self.fresh();
        self.init[r as usize] = v;
        self.consts.insert(v.to_bits(), r);
        r
    }

    fn emit(&mut self, key: Key, make: impl FnOnce(u32) -> Op) -> u32 {
        if let Some(&r) = self.seen.get(&key) {
            return r;
        }
        let r = self.fresh();
        self.ops.push(make(r));
        self.seen.insert(key, r);
        r
    }

    fn node(&mut self, e: &Expr) -> Result<u32, UnboundVar> {
        Ok(match e {
            Expr::Const(v) => self.constant(*v),
            Expr::Var(v) => match (self.input_of)(*v) {
                Some(i) => i as u32,
                None => return Err(UnboundVar(*v)),
            },
            Expr::Neg(a) => {
                let a = self.node(a)?;
                self.emit(Key::Un(0, a), |d| Op::Neg(d, a))
            }
            Expr::Add(a, b) => match (&**a, &**b) {
                (Expr::Mul(x, y), c) | (c, Expr::Mul(x, y)) => self.mul_then(MUL_ADD, x, y, c)?,
                _ => self.commutative(1, a, b, Op::Add)?,
            },
            Expr::Mul(a, b) => self.commutative(3, a, b, Op::Mul)?,
            Expr::Sub(a, b) => match (&**a, &**b) {
                (c, Expr::Mul(x, y)) => self.mul_then(SUB_MUL, x, y, c)?,
                (Expr::Mul(x, y), c) => self.mul_then(MUL_SUB, x, y, c)?,
                _ => {
                    let (a, b) = (self.node(a)?, self.node(b)?);
                    self.emit(Key::Bin(2, a, b), |d| Op::Sub(d, a, b))
                }
            },
            Expr::Div(a, b) => match self.hill(a, b)? {
                Some(r) => r,
                None => {
                    let (a, b) = (self.node(a)?, self.node(b)?);
                    self.emit(Key::Bin(4, a, b), |d| Op::Div(d, a, b))
                }
            },
            Expr::Pow(a, b) => match b.as_const().and_then(half_steps) {
                Some(h) => {
                    let a = self.node(a)?;
                    self.emit(Key::PowC(a, h), |d| Op::PowC(d, a, h))
                }
                None => {
                    let (a, b) = (self.node(a)?, self.node(b)?);
                    self.emit(Key::Bin(5, a, b), |d| Op::Powf(d, a, b))
                }
            },
            Expr::F1(f, a) => {
                let a = self.node(a)?;
                let f = *f;
                self.emit(Key::Un(10 + f as u8, a), |d| Op::F1(f, d, a))
            }
            Expr::F2(Func::Min, a, b) => self.commutative(6, a, b, Op::Min)?,
            Expr::F2(Func::Max, a, b) => self.commutative(7, a, b, Op::Max)?,
            Expr::F2(f, a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                let f = *f;
                self.emit(Key::Bin(F2_BASE + f as u8, a, b), |d| Op::F2(f, d, a, b))
            }
            Expr::If(c, a, b) => {
                let (c, a, b) = (self.node(c)?, self.node(a)?, self.node(b)?);
                self.emit(Key::Tri(IF, c, a, b), |d| Op::If(d, c, a, b))
            }
        })
    }

    fn commutative(
        &mut self,
        code: u8,
        a: &Expr,
        b: &Expr,
        op: fn(u32, u32, u32) -> Op,
    ) -> Result<u32, UnboundVar> {
        let (a, b) = (self.node(a)?, self.node(b)?);
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        Ok(self.emit(Key::Bin(code, x, y), |d| op(d, a, b)))
    }

    /// A product `x*y` combined with `c` (code `MUL_ADD`, `MUL_SUB` or `SUB_MUL`).
    fn mul_then(&mut self, code: u8, x: &Expr, y: &Expr, c: &Expr) -> Result<u32, UnboundVar> {
        let (x, y, c) = (self.node(x)?, self.node(y)?, self.node(c)?);
        let (x, y) = if x <= y { (x, y) } else { (y, x) };
        let op = match code {
            MUL_ADD => Op::MulAdd,
            MUL_SUB => Op::MulSub,
            _ => Op::SubMul,
        };
        Ok(self.emit(Key::Tri(code, x, y, c), |d| op(d, x, y, c)))
    }

    /// `num / den` as one Hill instruction when it has the shape `hill` or
    /// `hill_rep` expand to: `p / (kn + p)` or `kn / (kn + p)` with
    /// `p = max(x, 0)^n` (the sum in either order).
    fn hill(&mut self, num: &Expr, den: &Expr) -> Result<Option<u32>, UnboundVar> {
        let Expr::Add(l, r) = den else {
            return Ok(None);
        };
        let (l, r) = (&**l, &**r);
        let (rep, kn, x, n) = if let (Some((x, n)), true) = (clamped_pow(num), num == r) {
            (false, l, x, n)
        } else if let (Some((x, n)), true) = (clamped_pow(num), num == l) {
            (false, r, x, n)
        } else if let (Some((x, n)), true) = (clamped_pow(r), num == l) {
            (true, l, x, n)
        } else if let (Some((x, n)), true) = (clamped_pow(l), num == r) {
            (true, r, x, n)
        } else {
            return Ok(None);
        };
        let (x, kn) = (self.node(x)?, self.node(kn)?);
        let steps = match n {
            None => Some(2),
            Some(n) => n.as_const().and_then(half_steps),
        };
        Ok(Some(match (steps, n) {
            (Some(h), _) => {
                let code = if rep { HILL_REP } else { HILL };
                self.emit(Key::Tri(code, x, kn, h as u32), |d| {
                    if rep {
                        Op::HillRep(d, x, kn, h)
                    } else {
                        Op::Hill(d, x, kn, h)
                    }
                })
            }
            (None, n) => {
                let n = self.node(n.unwrap_or(&Expr::Const(1.0)))?;
                let code = if rep { HILL_REP_F } else { HILL_F };
                self.emit(Key::Tri(code, x, kn, n), |d| {
                    if rep {
                        Op::HillRepF(d, x, kn, n)
                    } else {
                        Op::HillF(d, x, kn, n)
                    }
                })
            }
        }))
    }
}

impl Program {
    /// Compile `outputs`. `input_of` maps each variable the expressions read to an
    /// input slot in `0..n_inputs`; any other variable is an error.
    pub fn compile(
        outputs: &[Expr],
        n_inputs: usize,
        input_of: &dyn Fn(Var) -> Option<usize>,
    ) -> Result<Program, UnboundVar> {
        let mut b = Builder {
            input_of,
            init: vec![0.0; n_inputs],
            ops: Vec::new(),
            consts: HashMap::new(),
            seen: HashMap::new(),
        };
        let outs = outputs
            .iter()
            .map(|e| b.node(&e.simplify()))
            .collect::<Result<Vec<_>, _>>()?;
        let (ops, blocks) = schedule(b.ops, b.init.len());
        Ok(Program {
            n_inputs,
            init: b.init,
            ops,
            blocks,
            outputs: outs,
        })
    }

    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }
    pub fn n_ops(&self) -> usize {
        self.ops.len()
    }
    /// Number of dispatches per run (blocks of independent same-kind instructions).
    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// A register file for this program: inputs first (set them before [`run`]),
    /// constants pre-filled.
    ///
    /// [`run`]: Program::run
    pub fn workspace(&self) -> Vec<f64> {
        self.init.clone()
    }

    /// Execute. `regs` must come from [`Program::workspace`] with inputs written in
    /// `regs[..n_inputs]`.
    #[inline]
    pub fn run(&self, regs: &mut [f64]) {
        assert_eq!(
            regs.len(),
            self.init.len(),
            "register file from another program"
        );
        let r = regs.as_mut_ptr();
        // SAFETY: every register index in `ops` was allocated by the builder, so it is
        // below `init.len()`, and the assertion above makes `regs` exactly that long.
        // Reads and writes are plain f64 loads and stores on that one buffer.
        unsafe {
            let g = |i: u32| *r.add(i as usize);
            let s = |i: u32, v: f64| *r.add(i as usize) = v;
            for b in &self.blocks {
                let ops = &self.ops[b.start as usize..b.end as usize];
                // One loop per block; the pattern always matches (a block holds one
                // kind), so the `else` arm is never taken.
                macro_rules! each {
                    ($p:pat => $e:expr) => {
                        for op in ops {
                            if let $p = *op {
                                $e
                            }
                        }
                    };
                }
                match b.kind {
                    Kind::Add => each!(Op::Add(d, a, b) => s(d, g(a) + g(b))),
                    Kind::Sub => each!(Op::Sub(d, a, b) => s(d, g(a) - g(b))),
                    Kind::Mul => each!(Op::Mul(d, a, b) => s(d, g(a) * g(b))),
                    Kind::Div => each!(Op::Div(d, a, b) => s(d, g(a) / g(b))),
                    Kind::Neg => each!(Op::Neg(d, a) => s(d, -g(a))),
                    Kind::Powf => each!(Op::Powf(d, a, b) => s(d, super::tree::pow(g(a), g(b)))),
                    Kind::PowC => each!(Op::PowC(d, a, h) => s(d, pow_half_steps(g(a), h))),
                    Kind::F1 => each!(Op::F1(f, d, a) => s(d, f.apply1(g(a)))),
                    Kind::Min => each!(Op::Min(d, a, b) => s(d, g(a).min(g(b)))),
                    Kind::Max => each!(Op::Max(d, a, b) => s(d, g(a).max(g(b)))),
                    Kind::F2 => each!(Op::F2(f, d, a, b) => s(d, f.apply2(g(a), g(b)))),
                    Kind::If => {
                        each!(Op::If(d, c, a, b) => s(d, super::tree::select(g(c), g(a), g(b))))
                    }
                    Kind::MulAdd => each!(Op::MulAdd(d, a, b, c) => s(d, g(a) * g(b) + g(c))),
                    Kind::MulSub => each!(Op::MulSub(d, a, b, c) => s(d, g(a) * g(b) - g(c))),
                    Kind::SubMul => each!(Op::SubMul(d, a, b, c) => s(d, g(c) - g(a) * g(b))),
                    Kind::Hill => each!(Op::Hill(d, x, kn, h) => {
                        let p = pow_half_steps(g(x).max(0.0), h);
                        s(d, p / (g(kn) + p))
                    }),
                    Kind::HillRep => each!(Op::HillRep(d, x, kn, h) => {
                        let p = pow_half_steps(g(x).max(0.0), h);
                        let kn = g(kn);
                        s(d, kn / (kn + p))
                    }),
                    Kind::HillF => each!(Op::HillF(d, x, kn, n) => {
                        let p = super::tree::pow(g(x).max(0.0), g(n));
                        s(d, p / (g(kn) + p))
                    }),
                    Kind::HillRepF => each!(Op::HillRepF(d, x, kn, n) => {
                        let p = super::tree::pow(g(x).max(0.0), g(n));
                        let kn = g(kn);
                        s(d, kn / (kn + p))
                    }),
                }
            }
        }
    }

    /// Output `k` after [`Program::run`].
    #[inline]
    pub fn output(&self, regs: &[f64], k: usize) -> f64 {
        regs[self.outputs[k] as usize]
    }

    /// Copy all outputs into `out` after [`Program::run`].
    #[inline]
    pub fn outputs_into(&self, regs: &[f64], out: &mut [f64]) {
        for (o, &r) in out.iter_mut().zip(&self.outputs) {
            *o = regs[r as usize];
        }
    }
}

/// Batch evaluation (agent-based engine): the program in a neutral flat form, which
/// `super::batch::BatchProgram` splits into per-batch and per-cell parts. Kept as a
/// separate block so changes to [`Op`] only need this translation updated.
impl Program {
    /// The program's registers, instructions (in their evaluation order) and outputs
    /// in flat form.
    pub fn flat(&self) -> super::batch::FlatProgram {
        use super::batch::FlatOp as F;
        super::batch::FlatProgram {
            n_inputs: self.n_inputs,
            init: self.init.clone(),
            ops: self
                .ops
                .iter()
                .map(|op| match *op {
                    Op::Add(d, a, b) => F::Add(d, a, b),
                    Op::Sub(d, a, b) => F::Sub(d, a, b),
                    Op::Mul(d, a, b) => F::Mul(d, a, b),
                    Op::Div(d, a, b) => F::Div(d, a, b),
                    Op::Neg(d, a) => F::Neg(d, a),
                    Op::Powf(d, a, b) => F::Powf(d, a, b),
                    Op::PowC(d, a, h) => F::PowC(d, a, h),
                    Op::F1(f, d, a) => F::F1(f, d, a),
                    Op::Min(d, a, b) => F::Min(d, a, b),
                    Op::Max(d, a, b) => F::Max(d, a, b),
                    Op::F2(f, d, a, b) => F::F2(f, d, a, b),
                    Op::If(d, c, a, b) => F::If(d, c, a, b),
                    Op::MulAdd(d, a, b, c) => F::MulAdd(d, a, b, c),
                    Op::MulSub(d, a, b, c) => F::MulSub(d, a, b, c),
                    Op::SubMul(d, a, b, c) => F::SubMul(d, a, b, c),
                    Op::Hill(d, x, kn, h) => F::Hill(d, x, kn, h),
                    Op::HillRep(d, x, kn, h) => F::HillRep(d, x, kn, h),
                    Op::HillF(d, x, kn, n) => F::HillF(d, x, kn, n),
                    Op::HillRepF(d, x, kn, n) => F::HillRepF(d, x, kn, n),
                })
                .collect(),
            outputs: self.outputs.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, resolve, tree::Env, Scope};
    use super::*;

    #[test]
    fn shares_common_subexpressions_and_matches_tree() {
        let mut s = Scope::new();
        s.insert("x", Var::Species(0));
        s.insert("y", Var::Species(1));
        let srcs = [
            "hill(x, 0.5, 2) * y",
            "hill(x, 0.5, 2) + y^3 - exp(-y)",
            "x^1.7 / (1 + y)",
        ];
        let exprs: Vec<Expr> = srcs
            .iter()
            .map(|e| resolve(&parse(e).unwrap(), &s).unwrap())
            .collect();
        let input = |v: Var| match v {
            Var::Species(i) => Some(i),
            _ => None,
        };
        let p = Program::compile(&exprs, 2, &input).unwrap();
        let single: usize = exprs
            .iter()
            .map(|e| {
                Program::compile(std::slice::from_ref(e), 2, &input)
                    .unwrap()
                    .n_ops()
            })
            .sum();
        assert!(
            p.n_ops() < single,
            "CSE should share the hill term: {} vs {}",
            p.n_ops(),
            single
        );
        let mut regs = p.workspace();
        regs[0] = 0.7;
        regs[1] = 1.3;
        p.run(&mut regs);
        for (k, e) in exprs.iter().enumerate() {
            let want = e.eval(&Env {
                species: &[0.7, 1.3],
                params: &[],
                drugs: &[],
                effects: &[],
                observables: &[],
                t: 0.0,
            });
            assert!((p.output(&regs, k) - want).abs() <= 1e-14 * want.abs().max(1.0));
        }
    }

    /// Compile one expression over species x (and y), run it at `at`, and return
    /// (program value, tree value, instruction count).
    fn both(src: &str, at: &[f64]) -> (f64, f64, usize) {
        let mut s = Scope::new();
        s.insert("x", Var::Species(0));
        s.insert("y", Var::Species(1));
        let e = resolve(&parse(src).unwrap(), &s).unwrap();
        let input = |v: Var| match v {
            Var::Species(i) => Some(i),
            _ => None,
        };
        let p = Program::compile(std::slice::from_ref(&e), 2, &input).unwrap();
        let mut regs = p.workspace();
        regs[..at.len()].copy_from_slice(at);
        p.run(&mut regs);
        let want = e.eval(&Env {
            species: at,
            params: &[],
            drugs: &[],
            effects: &[],
            observables: &[],
            t: 0.0,
        });
        (p.output(&regs, 0), want, p.n_ops())
    }

    fn same(got: f64, want: f64, tol: f64) -> bool {
        (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= tol * want.abs()
    }

    #[test]
    fn hill_terms_are_one_instruction_and_match_the_tree() {
        let xs = [-1.0, -1e-12, 0.0, 1e-300, 0.3, 0.8, 1.0, 5.0, 1e3];
        // Integer, half-integer (sqrt path) and general (powf) coefficients.
        let ns = ["1", "2", "3", "4", "1.5", "2.5", "0.5", "1.3", "2.71"];
        for f in ["hill", "hill_rep"] {
            for k in ["0", "0.5", "2"] {
                for n in ns {
                    let src = format!("{f}(x, {k}, {n})");
                    for x in xs {
                        let (got, want, ops) = both(&src, &[x, 0.0]);
                        if k == "0" {
                            // K^n = 0 folds away (hill_rep to the constant 0, which
                            // the unsimplified tree gives as 0/0 where x^n is 0); not
                            // the fused shape, see `hill_edge_cases`.
                            if f == "hill_rep" && want.is_nan() {
                                assert_eq!(got, 0.0);
                                continue;
                            }
                        } else {
                            assert_eq!(ops, 1, "{src} should be a single instruction");
                        }
                        assert!(same(got, want, 1e-14), "{src} at x = {x}: {got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn hill_edge_cases() {
        for n in ["2", "1.5", "1.3"] {
            // x <= 0 is clamped: no activation, full repression.
            for x in [-3.0, -1e-12, 0.0] {
                assert_eq!(both(&format!("hill(x, 0.5, {n})"), &[x, 0.0]).0, 0.0);
                assert_eq!(both(&format!("hill_rep(x, 0.5, {n})"), &[x, 0.0]).0, 1.0);
            }
            // K = 0: any positive x saturates; x = 0 is 0/0 exactly as in the tree.
            assert_eq!(both(&format!("hill(x, 0, {n})"), &[0.2, 0.0]).0, 1.0);
            assert_eq!(both(&format!("hill_rep(x, 0, {n})"), &[0.2, 0.0]).0, 0.0);
            assert!(both(&format!("hill(x, 0, {n})"), &[0.0, 0.0]).0.is_nan());
            // Half-maximal at x = K.
            let h = both(&format!("hill(x, 0.7, {n})"), &[0.7, 0.0]).0;
            assert!((h - 0.5).abs() < 1e-15, "{n}: {h}");
        }
        // Non-integer n: 2^1.3 / (1 + 2^1.3).
        let v = 2f64.powf(1.3);
        let (got, _, _) = both("hill(x, 1, 1.3)", &[2.0, 0.0]);
        assert!((got - v / (1.0 + v)).abs() < 1e-15);
    }

    #[test]
    fn hill_with_a_variable_threshold_or_written_out_is_fused_too() {
        // K from a species: K^n is its own instruction, the Hill term another.
        let (got, want, ops) = both("hill(x, y, 2)", &[0.3, 0.6]);
        assert_eq!(ops, 2);
        assert_eq!(got, want);
        // The same shape written by hand, both orders of the sum.
        for src in [
            "max(x, 0)^2 / (0.25 + max(x, 0)^2)",
            "max(x, 0)^2 / (max(x, 0)^2 + 0.25)",
            "0.25 / (max(0, x)^2 + 0.25)",
        ] {
            let (got, want, ops) = both(src, &[0.3, 0.0]);
            assert_eq!(ops, 1, "{src}");
            assert_eq!(got, want, "{src}");
        }
        // Not the shape (different powers): stays generic and still correct.
        let (got, want, ops) = both("max(x, 0)^2 / (0.25 + max(x, 0)^3)", &[0.3, 0.0]);
        assert!(ops > 1);
        assert_eq!(got, want);
    }

    #[test]
    fn multiply_add_shapes_are_one_instruction_and_bit_identical() {
        for src in ["x*y + 0.3", "0.3 + x*y", "x*y - 0.3", "0.3 - x*y"] {
            for at in [[0.7, 1.3], [-2.5, 1e-9], [1e300, 1e10]] {
                let (got, want, ops) = both(src, &at);
                assert_eq!(ops, 1, "{src}");
                assert!(same(got, want, 0.0), "{src} at {at:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn constant_powers_avoid_powf_and_match_the_tree() {
        for n in ["2", "3", "-1", "-3", "0.5", "1.5", "2.5", "-1.5", "1.3"] {
            for x in [0.0, 1e-3, 0.3, 2.0, 7.5, -2.0] {
                let (got, want, _) = both(&format!("x^{n}"), &[x, 0.0]);
                assert!(same(got, want, 1e-15), "x^{n} at {x}: {got} vs {want}");
            }
        }
        // 0^-1.5 is +inf (powf), not 0 * inf: negative half-integers use powf.
        assert_eq!(both("x^-1.5", &[0.0, 0.0]).0, f64::INFINITY);
        assert_eq!(half_steps(-1.5), None);
        assert_eq!(half_steps(2.5), Some(5));
        assert_eq!(half_steps(-3.0), Some(-6));
        assert_eq!(half_steps(1.3), None);
        assert_eq!(half_steps(65.0), None);
    }

    #[test]
    fn inlined_powi_is_bit_identical_to_std() {
        for n in -70..=70 {
            for x in [0.0, -0.0, 1e-3, 0.3, 0.999, 1.0001, 2.0, -1.7, 13.0, 1e10] {
                let (a, b) = (powi(x, n), f64::powi(x, n));
                assert!(same(a, b, 0.0), "{x}^{n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn blocks_only_read_results_of_earlier_blocks() {
        let mut sc = Scope::new();
        for (i, n) in ["x", "y", "z"].iter().enumerate() {
            sc.insert(n, Var::Species(i));
        }
        let srcs = [
            "3 * (1 - hill(z, 1, 1.5)) * hill_rep(y, 0.8, 2) + 0.05 - 2 * x",
            "3 * hill(x, 0.6, 2) + 0.05 - 2 * y",
            "3 * hill(y, 0.6, 2) + 0.05 - 2 * z",
            "exp(-x) * (y + z)^2.5 / (1 + max(x, y)) - ln(1 + z) * x * y",
        ];
        let exprs: Vec<Expr> = srcs
            .iter()
            .map(|e| resolve(&parse(e).unwrap(), &sc).unwrap())
            .collect();
        let p = Program::compile(&exprs, 3, &|v| match v {
            Var::Species(i) => Some(i),
            _ => None,
        })
        .unwrap();
        assert!(p.n_blocks() < p.n_ops(), "{} blocks", p.n_blocks());
        // Registers nobody writes (inputs, constants) are ready from the start.
        let written: std::collections::HashSet<u32> = p.ops.iter().map(|o| o.parts().1).collect();
        let mut ready: Vec<bool> = (0..p.init.len() as u32)
            .map(|r| !written.contains(&r))
            .collect();
        let mut covered = 0;
        for b in &p.blocks {
            assert_eq!(b.start as usize, covered, "blocks tile the instructions");
            let ops = &p.ops[b.start as usize..b.end as usize];
            for op in ops {
                let (kind, _, regs, k) = op.parts();
                assert_eq!(kind, b.kind);
                for &r in &regs[..k] {
                    assert!(ready[r as usize], "{op:?} reads r{r} before it is written");
                }
            }
            for op in ops {
                ready[op.parts().1 as usize] = true;
            }
            covered = b.end as usize;
        }
        assert_eq!(covered, p.n_ops());
        let at = [0.7, 1.3, 0.4];
        let mut regs = p.workspace();
        regs[..3].copy_from_slice(&at);
        p.run(&mut regs);
        for (k, e) in exprs.iter().enumerate() {
            let want = e.eval(&Env {
                species: &at,
                params: &[],
                drugs: &[],
                effects: &[],
                observables: &[],
                t: 0.0,
            });
            let got = p.output(&regs, k);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs().max(1.0),
                "{k}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn unbound_variable_is_an_error() {
        let e = Expr::var(Var::Param(3));
        let r = Program::compile(&[e], 0, &|_| None);
        assert_eq!(r.unwrap_err(), UnboundVar(Var::Param(3)));
    }
}
