//! The scalar backend: the [`Ir`] lowered to a register program evaluated on one
//! `f64` register file (ODE right-hand sides, Jacobian blocks, events, observables).
//!
//! Why: a tree walk chases pointers and re-evaluates shared sub-expressions; the IR
//! has every distinct operation once (see [`super::ir`] for what its builder fuses)
//! and its slots become one register file allocated once per workspace. Evaluating
//! is a pass over a `Vec` of small `Copy` instructions with no allocation.
//!
//! Dispatching an instruction costs more than the arithmetic it does, so the
//! instructions are ordered by dependency depth and kind, and each run of same-kind
//! instructions at one depth (the ten Hill terms of a cascade, then its ten synthesis
//! terms, ...) executes as one loop: one dispatch per block instead of one per
//! instruction, and independent work side by side for the processor to overlap (35
//! instructions in 9 blocks on the bench model: 58 -> 44 ns per run). Inside a block
//! each instruction runs [`Op::eval`], the IR's one definition of its meaning, which
//! the compiler specialises to the block's kind.
//!
//! [`Program::compile_native`] adds the same IR as machine code ([`super::native`]),
//! which [`Program::run`] then executes instead, on the same register file with the
//! same results; the ODE engine does so for right-hand sides and Jacobians.

use std::collections::HashMap;
use std::mem::{discriminant, Discriminant};
use std::sync::Arc;

pub use super::ir::UnboundVar;
use super::ir::{Inst, Ir, Op};
use super::native::{Native, NativeError};
use super::tree::{Expr, Var};

/// A run `insts[start..end]` of instructions of one kind that do not depend on each
/// other, executed by one loop without per-instruction dispatch.
#[derive(Debug, Clone, Copy)]
struct Block {
    start: u32,
    end: u32,
}

/// Reorder the IR's instructions by dependency depth (an instruction's depth is one
/// more than the deepest instruction it reads), then by kind, and cut the result into
/// blocks of one kind at one depth. Instructions at one depth read only shallower
/// results, so the order is a valid evaluation order (and a valid IR).
fn schedule(mut ir: Ir) -> (Ir, Vec<Block>) {
    let mut depth = vec![0u32; ir.n_slots()];
    // Kinds numbered in order of first appearance (any fixed order would do).
    let mut kinds: HashMap<Discriminant<Op>, u32> = HashMap::new();
    let mut keyed: Vec<(u32, u32, usize, Inst)> = Vec::with_capacity(ir.insts.len());
    for (i, inst) in ir.insts.iter().enumerate() {
        let (regs, k) = inst.op.operands();
        let level = 1 + regs[..k]
            .iter()
            .map(|&r| depth[r as usize])
            .max()
            .unwrap_or(0);
        depth[inst.dst as usize] = level;
        let n = kinds.len() as u32;
        let kind = *kinds.entry(discriminant(&inst.op)).or_insert(n);
        keyed.push((level, kind, i, *inst));
    }
    keyed.sort_by_key(|&(level, kind, i, _)| (level, kind, i));
    let mut blocks: Vec<Block> = Vec::new();
    for (i, &(level, kind, _, _)) in keyed.iter().enumerate() {
        let i = i as u32;
        match blocks.last_mut() {
            Some(b) if (keyed[b.start as usize].0, keyed[b.start as usize].1) == (level, kind) => {
                b.end = i + 1
            }
            _ => blocks.push(Block {
                start: i,
                end: i + 1,
            }),
        }
    }
    ir.insts = keyed.into_iter().map(|k| k.3).collect();
    (ir, blocks)
}

/// The scalar lowering of an [`Ir`]; see the module documentation.
#[derive(Debug, Clone)]
pub struct Program {
    /// The IR in execution order.
    ir: Ir,
    blocks: Vec<Block>,
    /// The same IR as machine code ([`Program::with_native`]), run instead of the
    /// blocks when present; shared by clones.
    native: Option<Arc<Native>>,
}

impl Program {
    /// Build the IR of `outputs` ([`Ir::build`]) and lower it. `input_of` maps each
    /// variable the expressions read to an input slot in `0..n_inputs`; any other
    /// variable is an error.
    pub fn compile(
        outputs: &[Expr],
        n_inputs: usize,
        input_of: &dyn Fn(Var) -> Option<usize>,
    ) -> Result<Program, UnboundVar> {
        Ok(Program::lower(Ir::build(outputs, n_inputs, input_of)?))
    }

    /// Lower an IR (reordered into blocks; the IR it runs is [`Program::ir`]).
    pub fn lower(ir: Ir) -> Program {
        let (ir, blocks) = schedule(ir);
        Program {
            ir,
            blocks,
            native: None,
        }
    }

    /// Also compile this program's IR to machine code ([`Native`], once per shape per
    /// process: [`super::native::shared`]), which [`Program::run`] then executes
    /// (same register file, same outputs, same bits).
    /// On an error (a target without a code generator, a build without the
    /// `native` feature) the program stays interpreted and works as before.
    pub fn compile_native(&mut self) -> Result<(), NativeError> {
        self.native = Some(super::native::shared(&self.ir)?);
        Ok(())
    }

    /// Whether [`Program::run`] executes machine code.
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The IR this program runs, in its execution order: what other lowerings (the
    /// lane backend, a JIT) start from.
    pub fn ir(&self) -> &Ir {
        &self.ir
    }

    pub fn n_inputs(&self) -> usize {
        self.ir.n_inputs
    }
    pub fn n_outputs(&self) -> usize {
        self.ir.outputs.len()
    }
    pub fn n_ops(&self) -> usize {
        self.ir.insts.len()
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
        self.ir.init.clone()
    }

    /// Execute. `regs` must come from [`Program::workspace`] with inputs written in
    /// `regs[..n_inputs]`.
    #[inline]
    pub fn run(&self, regs: &mut [f64]) {
        if let Some(n) = &self.native {
            return n.run(regs);
        }
        assert_eq!(
            regs.len(),
            self.ir.init.len(),
            "register file from another program"
        );
        let r = regs.as_mut_ptr();
        // SAFETY: every slot in the IR was allocated by its builder, so it is below
        // `init.len()`, and the assertion above makes `regs` exactly that long. Reads
        // and writes are plain f64 loads and stores on that one buffer.
        unsafe {
            let g = |i: u32| *r.add(i as usize);
            for b in &self.blocks {
                let insts = &self.ir.insts[b.start as usize..b.end as usize];
                // One loop per block, for the kind of its first instruction (a block
                // holds one kind, so the pattern always matches and `eval` is
                // specialised to that kind).
                macro_rules! each {
                    ($($v:ident),*) => {
                        match insts[0].op {
                            $(Op::$v(..) => {
                                for i in insts {
                                    if let Op::$v(..) = i.op {
                                        *r.add(i.dst as usize) = i.op.eval(g);
                                    }
                                }
                            })*
                        }
                    };
                }
                each!(
                    Add, Sub, Mul, Div, Neg, Pow, PowC, F1, F2, If, MulAdd, MulSub, SubMul, Hill,
                    HillRep, HillF, HillRepF, HillAff, HillRepAff, Copy
                );
            }
        }
    }

    /// Output `k` after [`Program::run`].
    #[inline]
    pub fn output(&self, regs: &[f64], k: usize) -> f64 {
        regs[self.ir.outputs[k] as usize]
    }

    /// Copy all outputs into `out` after [`Program::run`].
    #[inline]
    pub fn outputs_into(&self, regs: &[f64], out: &mut [f64]) {
        for (o, &r) in out.iter_mut().zip(&self.ir.outputs) {
            *o = regs[r as usize];
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
        use super::super::ir::half_steps;
        assert_eq!(half_steps(-1.5), None);
        assert_eq!(half_steps(2.5), Some(5));
        assert_eq!(half_steps(-3.0), Some(-6));
        assert_eq!(half_steps(1.3), None);
        assert_eq!(half_steps(65.0), None);
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
        let insts = &p.ir.insts;
        let written: std::collections::HashSet<u32> = insts.iter().map(|i| i.dst).collect();
        let mut ready: Vec<bool> = (0..p.ir.n_slots() as u32)
            .map(|r| !written.contains(&r))
            .collect();
        let mut covered = 0;
        for b in &p.blocks {
            assert_eq!(b.start as usize, covered, "blocks tile the instructions");
            let block = &insts[b.start as usize..b.end as usize];
            for i in block {
                assert_eq!(
                    std::mem::discriminant(&i.op),
                    std::mem::discriminant(&block[0].op)
                );
                let (regs, k) = i.op.operands();
                for &r in &regs[..k] {
                    assert!(ready[r as usize], "{i:?} reads r{r} before it is written");
                }
            }
            for i in block {
                ready[i.dst as usize] = true;
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
