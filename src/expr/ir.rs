//! The one intermediate representation every evaluator of compiled expressions runs.
//!
//! Resolved, bound expression trees ([`Expr`]) are built, once, by [`Ir::build`] into
//! a flat list of instructions over numbered slots ([`Ir`]): slots `0..n_inputs` are
//! inputs, then constants, then one slot per instruction result (single assignment:
//! every slot is written by at most one instruction). Backends lower this list:
//!
//! - [`super::Program`]: the scalar register program (ODE right-hand sides, Jacobian
//!   blocks, events, observables), `f64`, instructions grouped into blocks of one kind;
//! - [`super::batch::BatchProgram`]: the agent-based engine's per-batch (`f64`) and
//!   per-cell lane (`f32`) parts, with the operands re-typed as lane or uniform
//!   registers (`Op<Src>`).
//!
//! A new backend (a JIT, another language) walks [`Ir::insts`] in order and translates
//! each [`Op`]; [`Op::eval`] is the meaning of every instruction, generic over the
//! floating-point type ([`Real`]), and the backends here call it (or the same
//! functions of [`super::real`] in their vectorised loops), so nothing is defined
//! twice. [`Ir::eval`] is a plain interpreter of the list, for tests and as a model.
//!
//! Why the builder fuses: dispatching an instruction costs more than the arithmetic it
//! does, so the shapes rate laws are made of become single instructions (measured on
//! `benches/ode.rs`: 89 instructions per right-hand side of the 10-species bench
//! model become 35):
//!
//! - every distinct operation gets one slot (hash-consing: common subexpressions such
//!   as a Hill term read by three rates are computed once); constants are folded by
//!   [`Expr::simplify`] first and share one slot per value;
//! - `hill(x, K, n)` and `hill_rep(x, K, n)` (after binding, `max(x, 0)^n / (K^n +
//!   max(x, 0)^n)` with `K^n` already folded to a number) become one instruction each;
//! - `a*b + c`, `a*b - c` and `c - a*b` (synthesis, basal and degradation terms)
//!   become one instruction each. They round exactly like the tree (a product, then
//!   a sum; no fused multiply-add), so results are bit-identical to the reference;
//! - constant exponents avoid `powf`: integers by binary exponentiation (the same
//!   algorithm, hence the same bits, as `f64::powi`), positive half-integers as
//!   `x^k * sqrt(x)` (a drug effect with Hill coefficient 1.5).
//!
//! Three instructions are made only by lowerings: [`Op::HillAff`] and
//! [`Op::HillRepAff`] (the lane backend fuses a Hill term and the one multiply-add
//! that reads it) and [`Op::Copy`].

use std::collections::HashMap;

use super::real::{self, Real};
use super::tree::{Expr, Func, Var};

/// One operation, over operands of type `R`: slot numbers in the IR; a lowering may
/// re-type them (the lane backend uses lane-or-uniform registers) and keep the
/// operation, and with it its meaning ([`Op::eval`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op<R = u32> {
    Add(R, R),
    Sub(R, R),
    Mul(R, R),
    Div(R, R),
    Neg(R),
    /// `a^b` with `b` read at run time ([`real::pow`]).
    Pow(R, R),
    /// `a^(h/2)` for a constant number `h` of half-steps ([`half_steps`],
    /// [`real::pow_half`]).
    PowC(R, i32),
    /// A one-argument function ([`Func::apply1`]).
    F1(Func, R),
    /// A two-argument function ([`Func::apply2`]): `min`, `max`, comparisons, logic,
    /// `rem`.
    F2(Func, R, R),
    /// `if(c, a, b)` ([`real::select`]): (c, a, b).
    If(R, R, R),
    /// `a*b + c`: (a, b, c).
    MulAdd(R, R, R),
    /// `a*b - c`: (a, b, c).
    MulSub(R, R, R),
    /// `c - a*b`: (a, b, c).
    SubMul(R, R, R),
    /// `p / (kn + p)` with `p = max(x, 0)^(h/2)`: (x, kn, h).
    Hill(R, R, i32),
    /// `kn / (kn + p)` with `p = max(x, 0)^(h/2)`: (x, kn, h).
    HillRep(R, R, i32),
    /// As [`Op::Hill`] with the exponent read at run time: (x, kn, n).
    HillF(R, R, R),
    /// As [`Op::HillRep`] with the exponent read at run time: (x, kn, n).
    HillRepF(R, R, R),
    /// `a * hill + c` with `hill` as [`Op::Hill`], rounded as the two instructions
    /// apart: (x, kn, h, a, c).
    HillAff(R, R, i32, R, R),
    /// `a * hill + c` with `hill` as [`Op::HillRep`]: (x, kn, h, a, c).
    HillRepAff(R, R, i32, R, R),
    /// The value of the operand.
    Copy(R),
}

impl<R: Copy> Op<R> {
    /// Operands in order (the array padded with the first) and their number.
    pub fn operands(&self) -> ([R; 4], usize) {
        use Op::*;
        match *self {
            Neg(a) | PowC(a, _) | F1(_, a) | Copy(a) => ([a; 4], 1),
            Add(a, b)
            | Sub(a, b)
            | Mul(a, b)
            | Div(a, b)
            | Pow(a, b)
            | F2(_, a, b)
            | Hill(a, b, _)
            | HillRep(a, b, _) => ([a, b, a, a], 2),
            If(a, b, c)
            | MulAdd(a, b, c)
            | MulSub(a, b, c)
            | SubMul(a, b, c)
            | HillF(a, b, c)
            | HillRepF(a, b, c) => ([a, b, c, a], 3),
            HillAff(x, kn, _, a, c) | HillRepAff(x, kn, _, a, c) => ([x, kn, a, c], 4),
        }
    }

    /// The same operation with every operand mapped by `f` (in [`Op::operands`]
    /// order).
    pub fn map<S>(&self, mut f: impl FnMut(R) -> S) -> Op<S> {
        use Op::*;
        match *self {
            Add(a, b) => Add(f(a), f(b)),
            Sub(a, b) => Sub(f(a), f(b)),
            Mul(a, b) => Mul(f(a), f(b)),
            Div(a, b) => Div(f(a), f(b)),
            Neg(a) => Neg(f(a)),
            Pow(a, b) => Pow(f(a), f(b)),
            PowC(a, h) => PowC(f(a), h),
            F1(g, a) => F1(g, f(a)),
            F2(g, a, b) => F2(g, f(a), f(b)),
            If(c, a, b) => If(f(c), f(a), f(b)),
            MulAdd(a, b, c) => MulAdd(f(a), f(b), f(c)),
            MulSub(a, b, c) => MulSub(f(a), f(b), f(c)),
            SubMul(a, b, c) => SubMul(f(a), f(b), f(c)),
            Hill(x, kn, h) => Hill(f(x), f(kn), h),
            HillRep(x, kn, h) => HillRep(f(x), f(kn), h),
            HillF(x, kn, n) => HillF(f(x), f(kn), f(n)),
            HillRepF(x, kn, n) => HillRepF(f(x), f(kn), f(n)),
            HillAff(x, kn, h, a, c) => {
                let (x, kn) = (f(x), f(kn));
                HillAff(x, kn, h, f(a), f(c))
            }
            HillRepAff(x, kn, h, a, c) => {
                let (x, kn) = (f(x), f(kn));
                HillRepAff(x, kn, h, f(a), f(c))
            }
            Copy(a) => Copy(f(a)),
        }
    }

    /// The value of the operation, reading operand `r` as `g(r)`: the one definition
    /// of what every instruction computes.
    #[inline(always)]
    pub fn eval<T: Real>(&self, g: impl Fn(R) -> T) -> T {
        use Op::*;
        match *self {
            Add(a, b) => g(a) + g(b),
            Sub(a, b) => g(a) - g(b),
            Mul(a, b) => g(a) * g(b),
            Div(a, b) => g(a) / g(b),
            Neg(a) => -g(a),
            Pow(a, b) => real::pow(g(a), g(b)),
            PowC(a, h) => real::pow_half(g(a), h),
            F1(f, a) => f.apply1(g(a)),
            F2(f, a, b) => f.apply2(g(a), g(b)),
            If(c, a, b) => real::select(g(c), g(a), g(b)),
            MulAdd(a, b, c) => real::mul_add(g(a), g(b), g(c)),
            MulSub(a, b, c) => real::mul_sub(g(a), g(b), g(c)),
            SubMul(a, b, c) => real::sub_mul(g(a), g(b), g(c)),
            Hill(x, kn, h) => hill_fixed(g(x), g(kn), h, false),
            HillRep(x, kn, h) => hill_fixed(g(x), g(kn), h, true),
            HillF(x, kn, n) => hill_run_time(g(x), g(kn), g(n), false),
            HillRepF(x, kn, n) => hill_run_time(g(x), g(kn), g(n), true),
            HillAff(x, kn, h, a, c) => real::mul_add(g(a), hill_fixed(g(x), g(kn), h, false), g(c)),
            HillRepAff(x, kn, h, a, c) => {
                real::mul_add(g(a), hill_fixed(g(x), g(kn), h, true), g(c))
            }
            Copy(a) => g(a),
        }
    }
}

/// A Hill term with a constant exponent of `h` half-steps (`x` clamped at 0).
#[inline(always)]
pub fn hill_fixed<T: Real>(x: T, kn: T, h: i32, rep: bool) -> T {
    real::hill_of(real::pow_half(x.max(T::ZERO), h), kn, rep)
}

/// A Hill term with an exponent read at run time (`x` clamped at 0).
#[inline(always)]
pub fn hill_run_time<T: Real>(x: T, kn: T, n: T, rep: bool) -> T {
    real::hill_of(real::pow(x.max(T::ZERO), n), kn, rep)
}

/// One instruction: its result goes to slot `dst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inst<R = u32> {
    pub dst: u32,
    pub op: Op<R>,
}

/// A variable was left unbound (a compiler bug or a caller that forgot to bind).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expression reads {0:?}, which has no input slot in this program")]
pub struct UnboundVar(pub Var);

/// Expressions as one flat instruction list; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Ir {
    /// Slots `0..n_inputs` are inputs, written by the caller before a run.
    pub n_inputs: usize,
    /// The initial value of every slot: 0 for inputs and results, the value for
    /// constants. Its length is the number of slots.
    pub init: Vec<f64>,
    /// Instructions in an order in which every operand is written before it is read.
    pub insts: Vec<Inst>,
    /// The slot holding each output, in the order the expressions were given.
    pub outputs: Vec<u32>,
}

impl Ir {
    /// Build `outputs` (each simplified first). `input_of` maps each variable the
    /// expressions read to an input slot in `0..n_inputs`; any other variable is an
    /// error.
    pub fn build(
        outputs: &[Expr],
        n_inputs: usize,
        input_of: &dyn Fn(Var) -> Option<usize>,
    ) -> Result<Ir, UnboundVar> {
        let mut b = Builder {
            input_of,
            init: vec![0.0; n_inputs],
            insts: Vec::new(),
            consts: HashMap::new(),
            seen: HashMap::new(),
        };
        let outs = outputs
            .iter()
            .map(|e| b.node(&e.simplify()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ir {
            n_inputs,
            init: b.init,
            insts: b.insts,
            outputs: outs,
        })
    }

    /// Number of slots (inputs, constants and results).
    pub fn n_slots(&self) -> usize {
        self.init.len()
    }

    /// Interpret the list on `inputs` (`n_inputs` values) and return the outputs: the
    /// plainest backend, one [`Op::eval`] per instruction.
    pub fn eval<T: Real>(&self, inputs: &[T]) -> Vec<T> {
        let mut slots: Vec<T> = self.init.iter().map(|&v| T::from_f64(v)).collect();
        slots[..self.n_inputs].copy_from_slice(&inputs[..self.n_inputs]);
        for i in &self.insts {
            slots[i.dst as usize] = i.op.eval(|r| slots[r as usize]);
        }
        self.outputs.iter().map(|&o| slots[o as usize]).collect()
    }
}

/// A constant exponent as a whole number of half-steps, when a backend can raise to
/// it without `powf`: any integer with |n| <= 64, or a positive half-integer
/// `k + 1/2` with k <= 64. `None` for anything else (evaluated with `powf`).
pub fn half_steps(n: f64) -> Option<i32> {
    let h = 2.0 * n;
    if h != h.trunc() || n.abs() > 64.0 {
        return None;
    }
    let h = h as i32;
    (h % 2 == 0 || h > 0).then_some(h)
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

/// The one fusing builder.
struct Builder<'a> {
    input_of: &'a dyn Fn(Var) -> Option<usize>,
    init: Vec<f64>,
    insts: Vec<Inst>,
    consts: HashMap<u64, u32>,
    /// Every operation emitted so far, keyed with commutative operands in order.
    seen: HashMap<Op, u32>,
}

impl Builder<'_> {
    fn fresh(&mut self) -> u32 {
        self.init.push(0.0);
        (self.init.len() - 1) as u32
    }

    /// A slot per distinct constant (by bits: `-0.0` keeps its sign, which `x / -0`
    /// and `-0 + -0` need to match the tree).
    fn constant(&mut self, v: f64) -> u32 {
        if let Some(&r) = self.consts.get(&v.to_bits()) {
            return r;
        }
        let r = self.fresh();
        self.init[r as usize] = v;
        self.consts.insert(v.to_bits(), r);
        r
    }

    /// The slot of `op`, emitting it unless an equal operation exists. `key` is `op`
    /// with commutative operands sorted (the instruction keeps the written order, so
    /// its bits are the tree's even for `min(-0, 0)`).
    fn emit_keyed(&mut self, key: Op, op: Op) -> u32 {
        if let Some(&r) = self.seen.get(&key) {
            return r;
        }
        let r = self.fresh();
        self.insts.push(Inst { dst: r, op });
        self.seen.insert(key, r);
        r
    }

    fn emit(&mut self, op: Op) -> u32 {
        self.emit_keyed(op, op)
    }

    fn commutative(
        &mut self,
        a: &Expr,
        b: &Expr,
        op: fn(u32, u32) -> Op,
    ) -> Result<u32, UnboundVar> {
        let (a, b) = (self.node(a)?, self.node(b)?);
        let key = op(a.min(b), a.max(b));
        Ok(self.emit_keyed(key, op(a, b)))
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
                self.emit(Op::Neg(a))
            }
            Expr::Add(a, b) => match (&**a, &**b) {
                (Expr::Mul(x, y), c) | (c, Expr::Mul(x, y)) => {
                    self.mul_then(Op::MulAdd, x, y, c)?
                }
                _ => self.commutative(a, b, Op::Add)?,
            },
            Expr::Mul(a, b) => self.commutative(a, b, Op::Mul)?,
            Expr::Sub(a, b) => match (&**a, &**b) {
                (c, Expr::Mul(x, y)) => self.mul_then(Op::SubMul, x, y, c)?,
                (Expr::Mul(x, y), c) => self.mul_then(Op::MulSub, x, y, c)?,
                _ => {
                    let (a, b) = (self.node(a)?, self.node(b)?);
                    self.emit(Op::Sub(a, b))
                }
            },
            Expr::Div(a, b) => match self.hill(a, b)? {
                Some(r) => r,
                None => {
                    let (a, b) = (self.node(a)?, self.node(b)?);
                    self.emit(Op::Div(a, b))
                }
            },
            Expr::Pow(a, b) => match b.as_const().and_then(half_steps) {
                Some(h) => {
                    let a = self.node(a)?;
                    self.emit(Op::PowC(a, h))
                }
                None => {
                    let (a, b) = (self.node(a)?, self.node(b)?);
                    self.emit(Op::Pow(a, b))
                }
            },
            Expr::F1(f, a) => {
                let a = self.node(a)?;
                self.emit(Op::F1(*f, a))
            }
            Expr::F2(f @ (Func::Min | Func::Max), a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                let key = Op::F2(*f, a.min(b), a.max(b));
                self.emit_keyed(key, Op::F2(*f, a, b))
            }
            Expr::F2(f, a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                self.emit(Op::F2(*f, a, b))
            }
            Expr::If(c, a, b) => {
                let (c, a, b) = (self.node(c)?, self.node(a)?, self.node(b)?);
                self.emit(Op::If(c, a, b))
            }
        })
    }

    /// A product `x*y` combined with `c` (`MulAdd`, `MulSub` or `SubMul`); the
    /// factors in slot order (the product commutes bit for bit).
    fn mul_then(
        &mut self,
        op: fn(u32, u32, u32) -> Op,
        x: &Expr,
        y: &Expr,
        c: &Expr,
    ) -> Result<u32, UnboundVar> {
        let (x, y, c) = (self.node(x)?, self.node(y)?, self.node(c)?);
        Ok(self.emit(op(x.min(y), x.max(y), c)))
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
        Ok(Some(match (steps, rep) {
            (Some(h), false) => self.emit(Op::Hill(x, kn, h)),
            (Some(h), true) => self.emit(Op::HillRep(x, kn, h)),
            (None, rep) => {
                let n = self.node(n.unwrap_or(&Expr::Const(1.0)))?;
                self.emit(if rep {
                    Op::HillRepF(x, kn, n)
                } else {
                    Op::HillF(x, kn, n)
                })
            }
        }))
    }
}
