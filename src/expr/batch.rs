//! Batch evaluation of a register program over many cells at once, for the
//! agent-based engine.
//!
//! Why: the scalar [`Program::run`](super::Program::run) dispatches every instruction
//! once per cell, which is what limits a per-cell loop with 10^6 cells. Here the
//! instructions are split, once, into
//!
//! - **uniform** ones, which read no per-cell input (drug effects, time-dependent
//!   terms, constants): run once per batch in `f64`, exactly as the ODE engine runs
//!   them, and
//! - **lane** ones, which read a per-cell input (loop species): each instruction runs
//!   as one tight loop over all cells of the batch ("lanes") in `f32`, which the
//!   compiler vectorises, so the dispatch cost is paid once per batch, not per cell.
//!
//! Lane registers are allocated by liveness (a register is reused once its last reader
//! has run), so a batch of 64 lanes of a 10-species loop stays in the L1 cache.
//! Only the instructions needed for the requested outputs are kept, so one compiled
//! right-hand side yields a rates-only and a fate-only batch program.
//!
//! Every lane instruction is elementwise: the value of a lane depends on that lane's
//! inputs only, never on the batch size or position, and no fused multiply-add is
//! introduced, so a cell evaluated alone and inside a batch of 256 gives identical bits.

use super::tree::Func;

/// One instruction of a register program, in the neutral form [`FlatProgram`] uses.
/// `(d, a, b)` are destination and operand registers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatOp {
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

impl FlatOp {
    fn dest(&self) -> u32 {
        match *self {
            FlatOp::Add(d, ..)
            | FlatOp::Sub(d, ..)
            | FlatOp::Mul(d, ..)
            | FlatOp::Div(d, ..)
            | FlatOp::Neg(d, _)
            | FlatOp::Powf(d, ..)
            | FlatOp::Powi(d, ..)
            | FlatOp::F1(_, d, _)
            | FlatOp::Min(d, ..)
            | FlatOp::Max(d, ..) => d,
        }
    }

    /// Operand registers (the second is `None` for unary instructions).
    fn operands(&self) -> (u32, Option<u32>) {
        match *self {
            FlatOp::Add(_, a, b)
            | FlatOp::Sub(_, a, b)
            | FlatOp::Mul(_, a, b)
            | FlatOp::Div(_, a, b)
            | FlatOp::Powf(_, a, b)
            | FlatOp::Min(_, a, b)
            | FlatOp::Max(_, a, b) => (a, Some(b)),
            FlatOp::Neg(_, a) | FlatOp::Powi(_, a, _) | FlatOp::F1(_, _, a) => (a, None),
        }
    }
}

/// A register program laid out flat: registers `0..n_inputs` are inputs, `init` holds
/// the initial value of every register (constants pre-filled), `ops` run in order and
/// `outputs` name the registers holding the results. Produced by
/// [`Program::flat`](super::Program::flat).
#[derive(Debug, Clone, PartialEq)]
pub struct FlatProgram {
    pub n_inputs: usize,
    pub init: Vec<f64>,
    pub ops: Vec<FlatOp>,
    pub outputs: Vec<u32>,
}

/// Where a value lives during batch evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    /// A lane register: one `f32` per cell.
    Lane(u32),
    /// A uniform register: one `f64` for the whole batch.
    Uniform(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum LaneOp {
    Bin(Bin, u32, Src, Src),
    Neg(u32, u32),
    Powi(u32, u32, i32),
    F1(Func, u32, u32),
}

/// A program split into uniform and lane parts; see the module documentation.
#[derive(Debug, Clone)]
pub struct BatchProgram {
    n_inputs: usize,
    uniform_init: Vec<f64>,
    uniform_ops: Vec<FlatOp>,
    lane_ops: Vec<LaneOp>,
    n_lane_regs: usize,
    /// Lane register of each varying input, in the order the caller listed them.
    lane_inputs: Vec<u32>,
    outputs: Vec<Src>,
}

/// Error building a batch program: an output or varying input out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("batch program: {0}")]
pub struct BatchError(pub String);

impl BatchProgram {
    /// Split `flat` for batches in which the inputs listed in `varying` differ from
    /// lane to lane (every other input is the same for the whole batch), keeping only
    /// what the outputs listed in `outputs` need.
    pub fn new(
        flat: &FlatProgram,
        varying: &[usize],
        outputs: &[usize],
    ) -> Result<BatchProgram, BatchError> {
        let n_regs = flat.init.len();
        if let Some(&v) = varying.iter().find(|&&v| v >= flat.n_inputs) {
            return Err(BatchError(format!(
                "varying input {v} but the program has {} inputs",
                flat.n_inputs
            )));
        }
        if let Some(&k) = outputs.iter().find(|&&k| k >= flat.outputs.len()) {
            return Err(BatchError(format!(
                "output {k} but the program has {} outputs",
                flat.outputs.len()
            )));
        }
        // Which registers vary per lane.
        let mut lane = vec![false; n_regs];
        for &v in varying {
            lane[v] = true;
        }
        for op in &flat.ops {
            let (a, b) = op.operands();
            lane[op.dest() as usize] = lane[a as usize] || b.is_some_and(|b| lane[b as usize]);
        }
        // Which instructions the requested outputs need (backward pass).
        let mut needed = vec![false; n_regs];
        for &k in outputs {
            needed[flat.outputs[k] as usize] = true;
        }
        let mut keep = vec![false; flat.ops.len()];
        for (i, op) in flat.ops.iter().enumerate().rev() {
            if needed[op.dest() as usize] {
                keep[i] = true;
                let (a, b) = op.operands();
                needed[a as usize] = true;
                if let Some(b) = b {
                    needed[b as usize] = true;
                }
            }
        }
        let uniform_ops: Vec<FlatOp> = flat
            .ops
            .iter()
            .zip(&keep)
            .filter(|(op, &k)| k && !lane[op.dest() as usize])
            .map(|(op, _)| *op)
            .collect();
        let lane_flat: Vec<FlatOp> = flat
            .ops
            .iter()
            .zip(&keep)
            .filter(|(op, &k)| k && lane[op.dest() as usize])
            .map(|(op, _)| *op)
            .collect();

        // Last reader of every lane register (outputs live to the end).
        let end = lane_flat.len();
        let mut last_use = vec![0usize; n_regs];
        for (i, op) in lane_flat.iter().enumerate() {
            let (a, b) = op.operands();
            last_use[a as usize] = i;
            if let Some(b) = b {
                last_use[b as usize] = i;
            }
        }
        for &k in outputs {
            last_use[flat.outputs[k] as usize] = end;
        }
        // Inputs are never overwritten: the caller may read them back after a run.
        for &v in varying {
            last_use[v] = end;
        }

        // Allocate lane slots: inputs first, then results; the destination is taken
        // before the operands are freed, so it never aliases an operand.
        let mut slot = vec![u32::MAX; n_regs];
        let mut free: Vec<u32> = Vec::new();
        let mut n_slots = 0u32;
        let mut lane_inputs = Vec::with_capacity(varying.len());
        for &v in varying {
            if slot[v] == u32::MAX {
                slot[v] = n_slots;
                n_slots += 1;
            }
            lane_inputs.push(slot[v]);
        }
        let src = |r: u32, slot: &[u32]| {
            if lane[r as usize] {
                Src::Lane(slot[r as usize])
            } else {
                Src::Uniform(r)
            }
        };
        let mut lane_ops = Vec::with_capacity(lane_flat.len());
        for (i, op) in lane_flat.iter().enumerate() {
            let d = op.dest();
            let ds = free.pop().unwrap_or_else(|| {
                n_slots += 1;
                n_slots - 1
            });
            let (a, b) = op.operands();
            let (sa, sb) = (src(a, &slot), b.map(|b| src(b, &slot)));
            slot[d as usize] = ds;
            let lane_of = |s: Src| match s {
                Src::Lane(x) => x,
                // A unary lane instruction has a lane operand by construction.
                Src::Uniform(_) => unreachable!("unary lane op with a uniform operand"),
            };
            let bin = |k: Bin| LaneOp::Bin(k, ds, sa, sb.expect("binary op"));
            lane_ops.push(match *op {
                FlatOp::Add(..) => bin(Bin::Add),
                FlatOp::Sub(..) => bin(Bin::Sub),
                FlatOp::Mul(..) => bin(Bin::Mul),
                FlatOp::Div(..) => bin(Bin::Div),
                FlatOp::Min(..) => bin(Bin::Min),
                FlatOp::Max(..) => bin(Bin::Max),
                FlatOp::Powf(..) => bin(Bin::Pow),
                FlatOp::Neg(..) => LaneOp::Neg(ds, lane_of(sa)),
                FlatOp::Powi(_, _, n) => LaneOp::Powi(ds, lane_of(sa), n),
                FlatOp::F1(f, ..) => LaneOp::F1(f, ds, lane_of(sa)),
            });
            // Free operands read for the last time here (once, even if a == b).
            for r in std::iter::once(a).chain(b) {
                if lane[r as usize] && last_use[r as usize] == i {
                    let s = slot[r as usize];
                    if !free.contains(&s) {
                        free.push(s);
                    }
                }
            }
            // A result nobody reads (cannot happen for kept ops, but stay safe).
            if last_use[d as usize] < i {
                free.push(ds);
            }
        }
        let outputs = outputs
            .iter()
            .map(|&k| src(flat.outputs[k], &slot))
            .collect();
        Ok(BatchProgram {
            n_inputs: flat.n_inputs,
            uniform_init: flat.init.clone(),
            uniform_ops,
            lane_ops,
            n_lane_regs: n_slots as usize,
            lane_inputs,
            outputs,
        })
    }

    /// Number of program inputs (uniform inputs are written into the uniform file at
    /// their input index).
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// A uniform register file with constants pre-filled; write the uniform inputs at
    /// their input indices, then call [`BatchProgram::run_uniform`].
    pub fn uniform_workspace(&self) -> Vec<f64> {
        self.uniform_init.clone()
    }

    /// Number of lane registers; a lane file for batches of up to `lanes` cells has
    /// `n_lane_regs() * lanes` values.
    pub fn n_lane_regs(&self) -> usize {
        self.n_lane_regs
    }

    /// Lane register holding varying input `k` (in the order given to `new`).
    pub fn lane_input(&self, k: usize) -> u32 {
        self.lane_inputs[k]
    }

    /// Where output `k` (in the order given to `new`) is after a run.
    pub fn output(&self, k: usize) -> Src {
        self.outputs[k]
    }

    /// Whether the kept instructions read input `k` (e.g. whether time matters, so a
    /// caller can skip re-running the uniform part at a new time).
    pub fn reads_input(&self, k: usize) -> bool {
        let k = k as u32;
        let uni = |s: &Src| *s == Src::Uniform(k);
        self.uniform_ops.iter().any(|op| {
            let (a, b) = op.operands();
            a == k || b == Some(k)
        }) || self.lane_ops.iter().any(|op| match op {
            LaneOp::Bin(_, _, a, b) => uni(a) || uni(b),
            _ => false,
        }) || self.outputs.iter().any(uni)
    }

    /// Whether any kept instruction or output reads varying input `k` (so a caller
    /// need not load inputs nobody reads).
    pub fn reads_lane_input(&self, k: usize) -> bool {
        let r = self.lane_inputs[k];
        let lane = |s: &Src| *s == Src::Lane(r);
        self.lane_ops.iter().any(|op| match *op {
            LaneOp::Bin(_, _, a, b) => lane(&a) || lane(&b),
            LaneOp::Neg(_, a) | LaneOp::Powi(_, a, _) | LaneOp::F1(_, _, a) => a == r,
        }) || self.outputs.iter().any(lane)
    }

    /// Number of lane instructions (per-cell work) and uniform instructions.
    pub fn n_ops(&self) -> (usize, usize) {
        (self.lane_ops.len(), self.uniform_ops.len())
    }

    /// Run the uniform part on `uregs` (from [`BatchProgram::uniform_workspace`]).
    pub fn run_uniform(&self, uregs: &mut [f64]) {
        for op in &self.uniform_ops {
            let g = |i: u32| uregs[i as usize];
            let v = match *op {
                FlatOp::Add(_, a, b) => g(a) + g(b),
                FlatOp::Sub(_, a, b) => g(a) - g(b),
                FlatOp::Mul(_, a, b) => g(a) * g(b),
                FlatOp::Div(_, a, b) => g(a) / g(b),
                FlatOp::Neg(_, a) => -g(a),
                FlatOp::Powf(_, a, b) => super::tree::pow(g(a), g(b)),
                FlatOp::Powi(_, a, n) => g(a).powi(n),
                FlatOp::F1(f, _, a) => f.apply1(g(a)),
                FlatOp::Min(_, a, b) => g(a).min(g(b)),
                FlatOp::Max(_, a, b) => g(a).max(g(b)),
            };
            uregs[op.dest() as usize] = v;
        }
    }

    /// Run the lane part for `n` cells. `lregs` holds `n_lane_regs()` registers of
    /// `stride >= n` values each (register `r`, lane `i` at `r * stride + i`), with the
    /// varying inputs written in their registers; `uregs` is the uniform file after
    /// [`BatchProgram::run_uniform`].
    ///
    /// On x86-64 CPUs with AVX2 the same loops run compiled for it (chosen at run
    /// time; the build targets baseline SSE2; AVX-512 measured no faster). Every
    /// lane operation is an IEEE operation without contraction into fused
    /// multiply-adds, so all paths give identical bits.
    pub fn run_lanes(&self, uregs: &[f64], lregs: &mut [f32], stride: usize, n: usize) {
        assert!(
            n <= stride && lregs.len() >= self.n_lane_regs * stride,
            "lane file too small for the batch"
        );
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { self.run_lanes_avx2(uregs, lregs, stride, n) };
                return;
            }
        }
        self.run_lanes_any(uregs, lregs, stride, n);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_lanes_avx2(&self, uregs: &[f64], lregs: &mut [f32], stride: usize, n: usize) {
        self.run_lanes_any(uregs, lregs, stride, n);
    }

    /// The lane loops, inlined into each instruction-set variant.
    #[inline(always)]
    fn run_lanes_any(&self, uregs: &[f64], lregs: &mut [f32], stride: usize, n: usize) {
        for op in &self.lane_ops {
            match *op {
                LaneOp::Bin(k, d, a, b) => bin(k, lregs, stride, n, d, a, b, uregs),
                LaneOp::Neg(d, a) => unary(lregs, stride, n, d, a, |x| -x),
                LaneOp::Powi(d, a, p) => powi_lanes(lregs, stride, n, d, a, p),
                LaneOp::F1(f, d, a) => match f {
                    Func::Exp => unary(lregs, stride, n, d, a, f32::exp),
                    Func::Ln => unary(lregs, stride, n, d, a, f32::ln),
                    Func::Log10 => unary(lregs, stride, n, d, a, f32::log10),
                    Func::Sqrt => unary(lregs, stride, n, d, a, f32::sqrt),
                    Func::Abs => unary(lregs, stride, n, d, a, f32::abs),
                    Func::Step => {
                        unary(lregs, stride, n, d, a, |x| if x >= 0.0 { 1.0 } else { 0.0 })
                    }
                    Func::Min | Func::Max => unary(lregs, stride, n, d, a, |_| f32::NAN),
                },
            }
        }
    }
}

/// Destination register `d` (mutable) and a reader for any other register, without
/// aliasing (`d` never equals an operand by construction of the allocation).
#[inline(always)]
fn split_dest(lregs: &mut [f32], stride: usize, d: u32) -> (&mut [f32], &[f32], &[f32]) {
    let d = d as usize;
    let (lo, rest) = lregs.split_at_mut(d * stride);
    let (dst, hi) = rest.split_at_mut(stride);
    (dst, lo, hi)
}

#[inline(always)]
fn reg<'a>(lo: &'a [f32], hi: &'a [f32], stride: usize, d: u32, r: u32, n: usize) -> &'a [f32] {
    let (d, r) = (d as usize, r as usize);
    debug_assert_ne!(d, r, "destination aliases an operand");
    if r < d {
        &lo[r * stride..r * stride + n]
    } else {
        let o = (r - d - 1) * stride;
        &hi[o..o + n]
    }
}

#[inline(always)]
fn unary(lregs: &mut [f32], stride: usize, n: usize, d: u32, a: u32, f: impl Fn(f32) -> f32) {
    let (dst, lo, hi) = split_dest(lregs, stride, d);
    let x = reg(lo, hi, stride, d, a, n);
    for (o, &v) in dst[..n].iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `x^p` per lane, with the common Hill exponents written out so the loop vectorises.
#[inline(always)]
fn powi_lanes(lregs: &mut [f32], stride: usize, n: usize, d: u32, a: u32, p: i32) {
    match p {
        0 => unary(lregs, stride, n, d, a, |_| 1.0),
        1 => unary(lregs, stride, n, d, a, |x| x),
        2 => unary(lregs, stride, n, d, a, |x| x * x),
        3 => unary(lregs, stride, n, d, a, |x| x * x * x),
        4 => unary(lregs, stride, n, d, a, |x| {
            let y = x * x;
            y * y
        }),
        -1 => unary(lregs, stride, n, d, a, |x| 1.0 / x),
        -2 => unary(lregs, stride, n, d, a, |x| 1.0 / (x * x)),
        _ => unary(lregs, stride, n, d, a, |x| x.powi(p)),
    }
}

/// `pow` with the tree evaluator's rule: integer exponents up to 64 use `powi`.
#[inline(always)]
fn pow32(a: f32, b: f32) -> f32 {
    if b == b.trunc() && b.abs() <= 64.0 {
        a.powi(b as i32)
    } else {
        a.powf(b)
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn bin(k: Bin, lregs: &mut [f32], stride: usize, n: usize, d: u32, a: Src, b: Src, u: &[f64]) {
    macro_rules! lanes {
        ($f:expr) => {{
            let f = $f;
            let (dst, lo, hi) = split_dest(lregs, stride, d);
            let dst = &mut dst[..n];
            match (a, b) {
                (Src::Lane(x), Src::Lane(y)) => {
                    let (x, y) = (reg(lo, hi, stride, d, x, n), reg(lo, hi, stride, d, y, n));
                    for ((o, &p), &q) in dst.iter_mut().zip(x).zip(y) {
                        *o = f(p, q);
                    }
                }
                (Src::Lane(x), Src::Uniform(y)) => {
                    let (x, q) = (reg(lo, hi, stride, d, x, n), u[y as usize] as f32);
                    for (o, &p) in dst.iter_mut().zip(x) {
                        *o = f(p, q);
                    }
                }
                (Src::Uniform(x), Src::Lane(y)) => {
                    let (p, y) = (u[x as usize] as f32, reg(lo, hi, stride, d, y, n));
                    for (o, &q) in dst.iter_mut().zip(y) {
                        *o = f(p, q);
                    }
                }
                (Src::Uniform(x), Src::Uniform(y)) => {
                    // Not produced by the splitter (the result would be uniform).
                    dst.fill(f(u[x as usize] as f32, u[y as usize] as f32));
                }
            }
        }};
    }
    match k {
        Bin::Add => lanes!(|p: f32, q: f32| p + q),
        Bin::Sub => lanes!(|p: f32, q: f32| p - q),
        Bin::Mul => lanes!(|p: f32, q: f32| p * q),
        Bin::Div => lanes!(|p: f32, q: f32| p / q),
        Bin::Min => lanes!(|p: f32, q: f32| p.min(q)),
        Bin::Max => lanes!(|p: f32, q: f32| p.max(q)),
        Bin::Pow => lanes!(pow32),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, resolve, Program, Scope, Var};
    use super::*;

    /// Species x, y vary per lane; drug c and time are uniform.
    fn program(srcs: &[&str]) -> Program {
        let mut s = Scope::new();
        s.insert("x", Var::Species(0));
        s.insert("y", Var::Species(1));
        s.insert("c", Var::Drug(0));
        let exprs: Vec<_> = srcs
            .iter()
            .map(|e| resolve(&parse(e).unwrap(), &s).unwrap())
            .collect();
        let slot = |v: Var| match v {
            Var::Species(i) => Some(i),
            Var::Drug(0) => Some(2),
            Var::Time => Some(3),
            _ => None,
        };
        Program::compile(&exprs, 4, &slot).unwrap()
    }

    const SRCS: [&str; 6] = [
        "hill(x, 0.5, 2) * y + hill_rep(c, 0.3, 1.5)",
        "hill(x, 0.5, 2) + y^3 - exp(-y) + t * c",
        "x^1.7 / (1 + y) - min(x, y) + max(c, 0.2) * sqrt(y)",
        "ln(1 + x) + log10(2 + y) + abs(x - y) + y^-2 + x^4",
        "c * 2 + t",
        "x",
    ];

    /// Batch evaluation agrees with the scalar program to f32 precision, for every
    /// output subset, whatever the batch size.
    #[test]
    fn matches_scalar_program() {
        let p = program(&SRCS);
        let flat = p.flat();
        let lanes = 37;
        let xs: Vec<(f32, f32)> = (0..lanes)
            .map(|i| (0.05 + 0.13 * i as f32, 2.0 - 0.04 * i as f32))
            .collect();
        let (c, t) = (0.7, 3.5);
        for outs in [vec![0, 1, 2, 3, 4, 5], vec![2], vec![4, 0], vec![5]] {
            let bp = BatchProgram::new(&flat, &[0, 1], &outs).unwrap();
            let mut u = bp.uniform_workspace();
            u[2] = c;
            u[3] = t;
            bp.run_uniform(&mut u);
            let mut l = vec![0.0f32; bp.n_lane_regs() * 64];
            for (i, &(x, y)) in xs.iter().enumerate() {
                l[bp.lane_input(0) as usize * 64 + i] = x;
                l[bp.lane_input(1) as usize * 64 + i] = y;
            }
            bp.run_lanes(&u, &mut l, 64, lanes);
            let mut regs = p.workspace();
            for (i, &(x, y)) in xs.iter().enumerate() {
                regs[..4].copy_from_slice(&[x as f64, y as f64, c, t]);
                p.run(&mut regs);
                for (k, &o) in outs.iter().enumerate() {
                    let want = p.output(&regs, o);
                    let got = match bp.output(k) {
                        Src::Lane(r) => l[r as usize * 64 + i] as f64,
                        Src::Uniform(r) => u[r as usize],
                    };
                    assert!(
                        (got - want).abs() <= 2e-5 * want.abs().max(1.0),
                        "output {o} lane {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// A lane's value does not depend on the batch it is in (bitwise).
    #[test]
    fn lanes_are_independent() {
        let p = program(&SRCS[..4]);
        let bp = BatchProgram::new(&p.flat(), &[0, 1], &[0, 1, 2, 3]).unwrap();
        let mut u = bp.uniform_workspace();
        u[2] = 0.3;
        u[3] = 1.0;
        bp.run_uniform(&mut u);
        let run = |n: usize, first: (f32, f32)| {
            let mut l = vec![0.0f32; bp.n_lane_regs() * 256];
            for i in 0..n {
                let (x, y) = if i == 0 {
                    first
                } else {
                    (i as f32 * 0.01, 1.0 + i as f32 * 0.02)
                };
                l[bp.lane_input(0) as usize * 256 + i] = x;
                l[bp.lane_input(1) as usize * 256 + i] = y;
            }
            bp.run_lanes(&u, &mut l, 256, n);
            (0..4)
                .map(|k| match bp.output(k) {
                    Src::Lane(r) => l[r as usize * 256].to_bits(),
                    Src::Uniform(_) => unreachable!(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1, (0.42, 1.7)), run(256, (0.42, 1.7)));
        assert_eq!(run(1, (0.42, 1.7)), run(5, (0.42, 1.7)));
    }

    /// The instruction-set variant chosen at run time gives the same bits as the
    /// baseline loops.
    #[test]
    fn dispatch_is_bitwise_identical() {
        let p = program(&SRCS);
        let bp = BatchProgram::new(&p.flat(), &[0, 1], &[0, 1, 2, 3, 4, 5]).unwrap();
        let mut u = bp.uniform_workspace();
        u[2] = 0.3;
        u[3] = 2.0;
        bp.run_uniform(&mut u);
        let fill = |l: &mut Vec<f32>| {
            for i in 0..256 {
                l[bp.lane_input(0) as usize * 256 + i] = i as f32 * 0.013;
                l[bp.lane_input(1) as usize * 256 + i] = 3.0 - i as f32 * 0.011;
            }
        };
        let mut a = vec![0.0f32; bp.n_lane_regs() * 256];
        let mut b = a.clone();
        fill(&mut a);
        fill(&mut b);
        bp.run_lanes(&u, &mut a, 256, 256);
        bp.run_lanes_any(&u, &mut b, 256, 256);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
    }

    #[test]
    fn uniform_only_outputs_and_bad_indices() {
        let p = program(&["c * 2 + t", "x * y"]);
        let flat = p.flat();
        let bp = BatchProgram::new(&flat, &[0, 1], &[0]).unwrap();
        assert_eq!(bp.n_ops().0, 0, "a drug-only output needs no lane work");
        assert!(!bp.reads_lane_input(0) && !bp.reads_lane_input(1));
        let xy = BatchProgram::new(&flat, &[0, 1], &[1]).unwrap();
        assert!(xy.reads_lane_input(0) && xy.reads_lane_input(1));
        assert!(matches!(bp.output(0), Src::Uniform(_)));
        assert!(BatchProgram::new(&flat, &[7], &[0]).is_err());
        assert!(BatchProgram::new(&flat, &[0], &[2]).is_err());
    }
}
