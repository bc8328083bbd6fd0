//! A flat register program compiled from resolved, bound expressions.
//!
//! Why: a tree walk chases pointers and re-evaluates shared sub-expressions (a Hill
//! term used in three rates). The compiler numbers every distinct operation once
//! (hash-consing gives common-subexpression elimination for free), turns constant
//! integer powers into `powi`, and lays everything out in one `f64` register file
//! that is allocated once per workspace. Evaluating is a single pass over a `Vec` of
//! small `Copy` instructions with no allocation.

use std::collections::HashMap;

use super::tree::{Expr, Func, Var};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add(u32, u32, u32),
    Sub(u32, u32, u32),
    Mul(u32, u32, u32),
    Div(u32, u32, u32),
    Neg(u32, u32),
    Powf(u32, u32, u32),
    Powi(u32, u32, i32),
    F1(Func, u32, u32),
    Min(u32, u32, u32),
    Max(u32, u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Bin(u8, u32, u32),
    Un(u8, u32),
    Powi(u32, i32),
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
            Expr::Add(a, b) => self.commutative(1, a, b, Op::Add)?,
            Expr::Mul(a, b) => self.commutative(3, a, b, Op::Mul)?,
            Expr::Sub(a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                self.emit(Key::Bin(2, a, b), |d| Op::Sub(d, a, b))
            }
            Expr::Div(a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                self.emit(Key::Bin(4, a, b), |d| Op::Div(d, a, b))
            }
            Expr::Pow(a, b) => {
                if let Some(n) = b.as_const() {
                    if n == n.trunc() && n.abs() <= 64.0 {
                        let a = self.node(a)?;
                        let n = n as i32;
                        return Ok(self.emit(Key::Powi(a, n), |d| Op::Powi(d, a, n)));
                    }
                    if n == 0.5 {
                        let a = self.node(a)?;
                        return Ok(self.emit(Key::Un(10 + Func::Sqrt as u8, a), |d| {
                            Op::F1(Func::Sqrt, d, a)
                        }));
                    }
                }
                let (a, b) = (self.node(a)?, self.node(b)?);
                self.emit(Key::Bin(5, a, b), |d| Op::Powf(d, a, b))
            }
            Expr::F1(f, a) => {
                let a = self.node(a)?;
                let f = *f;
                self.emit(Key::Un(10 + f as u8, a), |d| Op::F1(f, d, a))
            }
            Expr::F2(Func::Min, a, b) => self.commutative(6, a, b, Op::Min)?,
            Expr::F2(Func::Max, a, b) => self.commutative(7, a, b, Op::Max)?,
            Expr::F2(f, a, _) => {
                // Only min and max are binary; anything else is a malformed tree.
                let a = self.node(a)?;
                let f = *f;
                self.emit(Key::Un(10 + f as u8, a), |d| Op::F1(f, d, a))
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
        Ok(Program {
            n_inputs,
            init: b.init,
            ops: b.ops,
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
            for op in &self.ops {
                match *op {
                    Op::Add(d, a, b) => s(d, g(a) + g(b)),
                    Op::Sub(d, a, b) => s(d, g(a) - g(b)),
                    Op::Mul(d, a, b) => s(d, g(a) * g(b)),
                    Op::Div(d, a, b) => s(d, g(a) / g(b)),
                    Op::Neg(d, a) => s(d, -g(a)),
                    Op::Powf(d, a, b) => s(d, super::tree::pow(g(a), g(b))),
                    Op::Powi(d, a, n) => s(d, g(a).powi(n)),
                    Op::F1(f, d, a) => s(d, f.apply1(g(a))),
                    Op::Min(d, a, b) => s(d, g(a).min(g(b))),
                    Op::Max(d, a, b) => s(d, g(a).max(g(b))),
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
    /// The program's registers, instructions and outputs in flat form.
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
                    Op::Powi(d, a, n) => F::Powi(d, a, n),
                    Op::F1(f, d, a) => F::F1(f, d, a),
                    Op::Min(d, a, b) => F::Min(d, a, b),
                    Op::Max(d, a, b) => F::Max(d, a, b),
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

    #[test]
    fn unbound_variable_is_an_error() {
        let e = Expr::var(Var::Param(3));
        let r = Program::compile(&[e], 0, &|_| None);
        assert_eq!(r.unwrap_err(), UnboundVar(Var::Param(3)));
    }
}
