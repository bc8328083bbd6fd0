//! Batch evaluation of a register program over many cells at once, for the
//! agent-based engine.
//!
//! Why: the scalar [`Program::run`](super::Program::run) dispatches every instruction
//! once per cell, which is what limits a per-cell loop with 10^6 cells. Here the
//! instructions are split, once, into
//!
//! - **uniform** ones, which read no per-cell input (drug effects, time-dependent
//!   terms, constants): run once per batch in `f64`, as the ODE engine runs them, and
//! - **lane** ones, which read a per-cell input (loop species): each instruction runs
//!   as one tight loop over all cells of the batch ("lanes") in `f32`, which the
//!   compiler vectorises, so the dispatch cost is paid once per batch, not per cell.
//!   The program's fused instructions (Hill terms, `a*b + c`) stay fused: one pass
//!   over the lanes instead of four, which is what bounds these loops (memory traffic
//!   between lane registers, not arithmetic).
//!
//! Lane registers are allocated by liveness (a register is reused once its last reader
//! has run), so a batch of 256 lanes of a 10-species loop stays in the L1 cache.
//! Only the instructions needed for the requested outputs are kept, so one compiled
//! right-hand side yields a rates-only and a fate-only batch program.
//!
//! Every lane instruction is elementwise: the value of a lane depends on that lane's
//! inputs only, never on the batch size or position, and no fused multiply-add is
//! introduced, so a cell evaluated alone and inside a batch of 256 gives identical bits.

use super::tree::Func;

/// One instruction of a register program, in the neutral form [`FlatProgram`] uses:
/// destination register first, then operand registers. The semantics are those of
/// the program's instructions of the same names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatOp {
    Add(u32, u32, u32),
    Sub(u32, u32, u32),
    Mul(u32, u32, u32),
    Div(u32, u32, u32),
    Neg(u32, u32),
    /// `a^b`, `b` read at run time (`tree::pow` semantics).
    Powf(u32, u32, u32),
    /// `a^(h/2)` for a constant number `h` of half-steps (integer or positive
    /// half-integer exponents).
    PowC(u32, u32, i32),
    F1(Func, u32, u32),
    Min(u32, u32, u32),
    Max(u32, u32, u32),
    /// Any other two-argument function: (f, d, a, b).
    F2(Func, u32, u32, u32),
    /// `if(c, a, b)`: (d, c, a, b).
    If(u32, u32, u32, u32),
    /// `a*b + c`
    MulAdd(u32, u32, u32, u32),
    /// `a*b - c`
    MulSub(u32, u32, u32, u32),
    /// `c - a*b`
    SubMul(u32, u32, u32, u32),
    /// `p / (kn + p)`, `p = max(x, 0)^(h/2)`: (d, x, kn, h).
    Hill(u32, u32, u32, i32),
    /// `kn / (kn + p)`, `p = max(x, 0)^(h/2)`: (d, x, kn, h).
    HillRep(u32, u32, u32, i32),
    /// As `Hill` with the exponent `n` read from a register: (d, x, kn, n).
    HillF(u32, u32, u32, u32),
    /// As `HillRep` with the exponent `n` read from a register: (d, x, kn, n).
    HillRepF(u32, u32, u32, u32),
    /// `a * hill + c` with `hill` a fixed-exponent Hill (repressor when the flag is
    /// set) term: (d, x, kn, h, a, c, repressor). Never produced by
    /// [`Program::flat`](super::Program::flat): the batch builder fuses a Hill term
    /// and the one multiply-add that reads it (same roundings as the two apart).
    HillAff(u32, u32, u32, i32, u32, u32, bool),
}

impl FlatOp {
    /// Destination, operand registers and their number.
    fn parts(&self) -> (u32, [u32; 4], usize) {
        match *self {
            FlatOp::Add(d, a, b)
            | FlatOp::Sub(d, a, b)
            | FlatOp::Mul(d, a, b)
            | FlatOp::Div(d, a, b)
            | FlatOp::Powf(d, a, b)
            | FlatOp::Min(d, a, b)
            | FlatOp::Max(d, a, b)
            | FlatOp::F2(_, d, a, b) => (d, [a, b, 0, 0], 2),
            FlatOp::Neg(d, a) | FlatOp::PowC(d, a, _) | FlatOp::F1(_, d, a) => (d, [a, 0, 0, 0], 1),
            FlatOp::MulAdd(d, a, b, c)
            | FlatOp::MulSub(d, a, b, c)
            | FlatOp::SubMul(d, a, b, c)
            | FlatOp::HillF(d, a, b, c)
            | FlatOp::HillRepF(d, a, b, c)
            | FlatOp::If(d, a, b, c) => (d, [a, b, c, 0], 3),
            FlatOp::Hill(d, x, kn, _) | FlatOp::HillRep(d, x, kn, _) => (d, [x, kn, 0, 0], 2),
            FlatOp::HillAff(d, x, kn, _, a, c, _) => (d, [x, kn, a, c], 4),
        }
    }

    fn dest(&self) -> u32 {
        self.parts().0
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tern {
    MulAdd,
    MulSub,
    SubMul,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum LaneOp {
    Bin(Bin, u32, Src, Src),
    Tern(Tern, u32, Src, Src, Src),
    Neg(u32, u32),
    /// `d = a` (an output that is a varying input).
    Copy(u32, u32),
    PowC(u32, u32, i32),
    F1(Func, u32, u32),
    /// (repressor?, d, x, kn, half-steps)
    Hill(bool, u32, Src, Src, i32),
    /// (repressor?, d, x, kn, n)
    HillF(bool, u32, Src, Src, Src),
    /// `a * hill + c`, `a` and `c` uniform: (repressor?, d, x, kn, half-steps, a, c)
    HillAff(bool, u32, Src, Src, i32, u32, u32),
    /// A generic two-argument function (comparisons, logic, `rem`), in `f64`.
    F2(Func, u32, Src, Src),
    /// `if(c, a, b)`: (d, c, a, b).
    If(u32, Src, Src, Src),
}

impl LaneOp {
    /// Every operand, for liveness and input queries.
    fn operands(&self) -> ([Src; 4], usize) {
        let l = Src::Lane;
        match *self {
            LaneOp::Bin(_, _, a, b) => ([a, b, a, a], 2),
            LaneOp::Tern(_, _, a, b, c) | LaneOp::HillF(_, _, a, b, c) | LaneOp::If(_, a, b, c) => {
                ([a, b, c, c], 3)
            }
            LaneOp::F2(_, _, a, b) => ([a, b, b, b], 2),
            LaneOp::Neg(_, a)
            | LaneOp::Copy(_, a)
            | LaneOp::PowC(_, a, _)
            | LaneOp::F1(_, _, a) => ([l(a), l(a), l(a), l(a)], 1),
            LaneOp::Hill(_, _, x, kn, _) => ([x, kn, kn, kn], 2),
            LaneOp::HillAff(_, _, x, kn, _, a, c) => ([x, kn, Src::Uniform(a), Src::Uniform(c)], 4),
        }
    }
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
    /// The varying inputs were distinct, so input `k` is lane register `k`.
    inputs_distinct: bool,
    outputs: Vec<Src>,
}

/// Fuse each fixed-exponent Hill term whose only reader is a multiply-add by uniform
/// factors (`a * hill + c`, the usual synthesis term `k_syn * hill(..) + basal`) into
/// one instruction: one pass over the lanes instead of two. The flat program is in
/// single-assignment form (checked; nothing is fused otherwise), so the Hill term's
/// operands still hold their values where the multiply-add was.
fn fuse_hill_affine(ops: Vec<FlatOp>, lane: &[bool], outputs: &[u32]) -> Vec<FlatOp> {
    let n_regs = lane.len();
    let mut writer = vec![usize::MAX; n_regs];
    let mut readers = vec![0u32; n_regs];
    for (i, op) in ops.iter().enumerate() {
        let (d, regs, k) = op.parts();
        if writer[d as usize] != usize::MAX {
            return ops;
        }
        writer[d as usize] = i;
        for &r in &regs[..k] {
            readers[r as usize] += 1;
        }
    }
    let mut fused: Vec<Option<FlatOp>> = ops.iter().copied().map(Some).collect();
    for (j, op) in ops.iter().enumerate() {
        let FlatOp::MulAdd(d, a, b, c) = *op else {
            continue;
        };
        let (h, scale) = match (lane[a as usize], lane[b as usize]) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ => continue,
        };
        if lane[c as usize] || readers[h as usize] != 1 || outputs.contains(&h) {
            continue;
        }
        let i = writer[h as usize];
        let (x, kn, e, rep) = match ops.get(i) {
            Some(&FlatOp::Hill(_, x, kn, e)) => (x, kn, e, false),
            Some(&FlatOp::HillRep(_, x, kn, e)) => (x, kn, e, true),
            _ => continue,
        };
        fused[i] = None;
        fused[j] = Some(FlatOp::HillAff(d, x, kn, e, scale, c, rep));
    }
    fused.into_iter().flatten().collect()
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
            let (d, regs, k) = op.parts();
            lane[d as usize] = regs[..k].iter().any(|&r| lane[r as usize]);
        }
        // Which instructions the requested outputs need (backward pass).
        let mut needed = vec![false; n_regs];
        for &k in outputs {
            needed[flat.outputs[k] as usize] = true;
        }
        let mut keep = vec![false; flat.ops.len()];
        for (i, op) in flat.ops.iter().enumerate().rev() {
            let (d, regs, k) = op.parts();
            if needed[d as usize] {
                keep[i] = true;
                for &r in &regs[..k] {
                    needed[r as usize] = true;
                }
            }
        }
        let kept = |want_lane: bool| -> Vec<FlatOp> {
            flat.ops
                .iter()
                .zip(&keep)
                .filter(|(op, &k)| k && lane[op.dest() as usize] == want_lane)
                .map(|(op, _)| *op)
                .collect()
        };
        let uniform_ops = kept(false);
        let out_regs: Vec<u32> = outputs.iter().map(|&k| flat.outputs[k]).collect();
        let lane_flat = fuse_hill_affine(kept(true), &lane, &out_regs);

        // Last reader of every lane register (outputs and inputs live to the end:
        // the caller may read inputs back after a run).
        let end = lane_flat.len();
        let mut last_use = vec![0usize; n_regs];
        for (i, op) in lane_flat.iter().enumerate() {
            let (_, regs, k) = op.parts();
            for &r in &regs[..k] {
                last_use[r as usize] = i;
            }
        }
        for &k in outputs {
            last_use[flat.outputs[k] as usize] = end;
        }
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
        let mut lane_ops = Vec::with_capacity(lane_flat.len());
        for (i, op) in lane_flat.iter().enumerate() {
            let (d, regs, k) = op.parts();
            let src = |r: u32| {
                if lane[r as usize] {
                    Src::Lane(slot[r as usize])
                } else {
                    Src::Uniform(r)
                }
            };
            let s = [src(regs[0]), src(regs[1]), src(regs[2])];
            let ds = free.pop().unwrap_or_else(|| {
                n_slots += 1;
                n_slots - 1
            });
            // A unary lane instruction (and a fixed-exponent Hill term) has a lane
            // first operand by construction: its result would be uniform otherwise.
            let lane_of = |s: Src| match s {
                Src::Lane(x) => Ok(x),
                Src::Uniform(_) => Err(BatchError(format!(
                    "instruction {op:?} varies per cell but its first operand does not"
                ))),
            };
            let bin = |b: Bin| LaneOp::Bin(b, ds, s[0], s[1]);
            let tern = |t: Tern| LaneOp::Tern(t, ds, s[0], s[1], s[2]);
            lane_ops.push(match *op {
                FlatOp::Add(..) => bin(Bin::Add),
                FlatOp::Sub(..) => bin(Bin::Sub),
                FlatOp::Mul(..) => bin(Bin::Mul),
                FlatOp::Div(..) => bin(Bin::Div),
                FlatOp::Min(..) => bin(Bin::Min),
                FlatOp::Max(..) => bin(Bin::Max),
                FlatOp::Powf(..) => bin(Bin::Pow),
                FlatOp::MulAdd(..) => tern(Tern::MulAdd),
                FlatOp::MulSub(..) => tern(Tern::MulSub),
                FlatOp::SubMul(..) => tern(Tern::SubMul),
                FlatOp::Neg(..) => LaneOp::Neg(ds, lane_of(s[0])?),
                FlatOp::PowC(_, _, h) => LaneOp::PowC(ds, lane_of(s[0])?, h),
                FlatOp::F1(f, ..) => LaneOp::F1(f, ds, lane_of(s[0])?),
                FlatOp::F2(f, ..) => LaneOp::F2(f, ds, s[0], s[1]),
                FlatOp::If(..) => LaneOp::If(ds, s[0], s[1], s[2]),
                FlatOp::Hill(_, _, _, h) => LaneOp::Hill(false, ds, s[0], s[1], h),
                FlatOp::HillRep(_, _, _, h) => LaneOp::Hill(true, ds, s[0], s[1], h),
                FlatOp::HillF(..) => LaneOp::HillF(false, ds, s[0], s[1], s[2]),
                FlatOp::HillRepF(..) => LaneOp::HillF(true, ds, s[0], s[1], s[2]),
                FlatOp::HillAff(_, _, _, h, a, c, rep) => {
                    LaneOp::HillAff(rep, ds, s[0], s[1], h, a, c)
                }
            });
            slot[d as usize] = ds;
            // Free operands read for the last time here (once, even if repeated).
            for &r in &regs[..k] {
                if lane[r as usize] && last_use[r as usize] == i {
                    let sr = slot[r as usize];
                    if !free.contains(&sr) {
                        free.push(sr);
                    }
                }
            }
            // A result nobody reads (cannot happen for kept ops, but stay safe).
            if last_use[d as usize] < i {
                free.push(ds);
            }
        }
        // An output that is itself a varying input gets its own register, so outputs
        // are in the lane file even when the inputs are read in place.
        let n_in = lane_inputs.len() as u32;
        let outputs = outputs
            .iter()
            .map(|&k| {
                let r = flat.outputs[k];
                if !lane[r as usize] {
                    return Src::Uniform(r);
                }
                let s = slot[r as usize];
                if s < n_in {
                    lane_ops.push(LaneOp::Copy(n_slots, s));
                    n_slots += 1;
                    Src::Lane(n_slots - 1)
                } else {
                    Src::Lane(s)
                }
            })
            .collect();
        Ok(BatchProgram {
            n_inputs: flat.n_inputs,
            uniform_init: flat.init.clone(),
            uniform_ops,
            lane_ops,
            n_lane_regs: n_slots as usize,
            inputs_distinct: lane_inputs
                .iter()
                .enumerate()
                .all(|(k, &r)| r as usize == k),
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

    /// Whether the kept instructions read uniform input `k` (e.g. whether time
    /// matters, so a caller can skip re-running the uniform part at a new time).
    pub fn reads_input(&self, k: usize) -> bool {
        let k = k as u32;
        self.uniform_ops.iter().any(|op| {
            let (_, regs, n) = op.parts();
            regs[..n].contains(&k)
        }) || self.lane_ops.iter().any(|op| {
            let (s, n) = op.operands();
            s[..n].contains(&Src::Uniform(k))
        }) || self.outputs.contains(&Src::Uniform(k))
    }

    /// Whether any kept instruction or output reads varying input `k` (so a caller
    /// need not load inputs nobody reads).
    pub fn reads_lane_input(&self, k: usize) -> bool {
        let r = Src::Lane(self.lane_inputs[k]);
        self.lane_ops.iter().any(|op| {
            let (s, n) = op.operands();
            s[..n].contains(&r)
        }) || self.outputs.contains(&r)
    }

    /// Number of lane instructions (per-cell work) and uniform instructions.
    pub fn n_ops(&self) -> (usize, usize) {
        (self.lane_ops.len(), self.uniform_ops.len())
    }

    /// Run the uniform part on `uregs` (from [`BatchProgram::uniform_workspace`]).
    pub fn run_uniform(&self, uregs: &mut [f64]) {
        for op in &self.uniform_ops {
            let g = |i: u32| uregs[i as usize];
            let hill = |kn: f64, p: f64, rep: bool| {
                if rep {
                    kn / (kn + p)
                } else {
                    p / (kn + p)
                }
            };
            let v = match *op {
                FlatOp::Add(_, a, b) => g(a) + g(b),
                FlatOp::Sub(_, a, b) => g(a) - g(b),
                FlatOp::Mul(_, a, b) => g(a) * g(b),
                FlatOp::Div(_, a, b) => g(a) / g(b),
                FlatOp::Neg(_, a) => -g(a),
                FlatOp::Powf(_, a, b) => super::tree::pow(g(a), g(b)),
                FlatOp::PowC(_, a, h) => pow_half64(g(a), h),
                FlatOp::F1(f, _, a) => f.apply1(g(a)),
                FlatOp::Min(_, a, b) => g(a).min(g(b)),
                FlatOp::Max(_, a, b) => g(a).max(g(b)),
                FlatOp::F2(f, _, a, b) => f.apply2(g(a), g(b)),
                FlatOp::If(_, c, a, b) => super::tree::select(g(c), g(a), g(b)),
                FlatOp::MulAdd(_, a, b, c) => g(a) * g(b) + g(c),
                FlatOp::MulSub(_, a, b, c) => g(a) * g(b) - g(c),
                FlatOp::SubMul(_, a, b, c) => g(c) - g(a) * g(b),
                FlatOp::Hill(_, x, kn, h) | FlatOp::HillRep(_, x, kn, h) => hill(
                    g(kn),
                    pow_half64(g(x).max(0.0), h),
                    matches!(op, FlatOp::HillRep(..)),
                ),
                FlatOp::HillF(_, x, kn, n) | FlatOp::HillRepF(_, x, kn, n) => hill(
                    g(kn),
                    super::tree::pow(g(x).max(0.0), g(n)),
                    matches!(op, FlatOp::HillRepF(..)),
                ),
                FlatOp::HillAff(_, x, kn, h, a, c, rep) => {
                    g(a) * hill(g(kn), pow_half64(g(x).max(0.0), h), rep) + g(c)
                }
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
        self.run(uregs, &[], 0, lregs, stride, n);
    }

    /// As [`BatchProgram::run_lanes`], with varying input `k` of lane `i` read from
    /// `inputs[k * in_stride + i]` (e.g. straight from species-major cell storage)
    /// instead of being copied into the lane file. Needs `new` to have been given
    /// distinct varying inputs.
    pub fn run_lanes_from(
        &self,
        uregs: &[f64],
        inputs: &[f32],
        in_stride: usize,
        lregs: &mut [f32],
        stride: usize,
        n: usize,
    ) {
        let k = self.lane_inputs.len();
        assert!(
            self.inputs_distinct
                && n <= in_stride
                && (k == 0 || inputs.len() >= (k - 1) * in_stride + n),
            "external inputs do not match the program's varying inputs"
        );
        self.run(uregs, inputs, in_stride, lregs, stride, n);
    }

    fn run(
        &self,
        uregs: &[f64],
        ext: &[f32],
        ext_stride: usize,
        lregs: &mut [f32],
        stride: usize,
        n: usize,
    ) {
        assert!(
            n <= stride && lregs.len() >= self.n_lane_regs * stride,
            "lane file too small for the batch"
        );
        let mut l = Lanes {
            regs: lregs,
            stride,
            n,
            ext,
            ext_stride,
            ext_count: if ext_stride > 0 {
                self.lane_inputs.len()
            } else {
                0
            },
        };
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { self.run_lanes_avx2(uregs, &mut l) };
                return;
            }
        }
        self.run_lanes_any(uregs, &mut l);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_lanes_avx2(&self, uregs: &[f64], l: &mut Lanes<'_>) {
        self.run_lanes_any(uregs, l);
    }

    /// The lane loops, inlined into each instruction-set variant.
    #[inline(always)]
    fn run_lanes_any(&self, uregs: &[f64], l: &mut Lanes<'_>) {
        for op in &self.lane_ops {
            match *op {
                LaneOp::Bin(k, d, a, b) => bin(k, l, d, a, b, uregs),
                LaneOp::Tern(k, d, a, b, c) => tern(k, l, d, [a, b, c], uregs),
                LaneOp::Neg(d, a) => unary(l, d, a, |x| -x),
                LaneOp::Copy(d, a) => unary(l, d, a, |x| x),
                LaneOp::PowC(d, a, h) => pow_half_lanes(l, d, a, h),
                LaneOp::F1(f, d, a) => match f {
                    Func::Exp => unary(l, d, a, f32::exp),
                    Func::Ln => unary(l, d, a, f32::ln),
                    Func::Log10 => unary(l, d, a, f32::log10),
                    Func::Sqrt => unary(l, d, a, f32::sqrt),
                    Func::Abs => unary(l, d, a, f32::abs),
                    Func::Step => unary(l, d, a, |x| if x >= 0.0 { 1.0 } else { 0.0 }),
                    // The rarer functions (trigonometric, floor, ...) in f64.
                    f => unary(l, d, a, |x| f.apply1(x as f64) as f32),
                },
                LaneOp::F2(f, d, a, b) => generic(l, d, [a, b, b], uregs, |p, q, _| {
                    f.apply2(p as f64, q as f64) as f32
                }),
                LaneOp::If(d, c, a, b) => {
                    generic(
                        l,
                        d,
                        [c, a, b],
                        uregs,
                        |c, a, b| {
                            if c != 0.0 {
                                a
                            } else {
                                b
                            }
                        },
                    )
                }
                LaneOp::Hill(rep, d, x, kn, h) => hill_lanes(l, d, x, kn, h, rep, None, uregs),
                LaneOp::HillAff(rep, d, x, kn, h, a, c) => {
                    let aff = (uregs[a as usize] as f32, uregs[c as usize] as f32);
                    hill_lanes(l, d, x, kn, h, rep, Some(aff), uregs)
                }
                LaneOp::HillF(rep, d, x, kn, e) => generic(l, d, [x, kn, e], uregs, |x, kn, e| {
                    let p = pow32(x.max(0.0), e);
                    if rep {
                        kn / (kn + p)
                    } else {
                        p / (kn + p)
                    }
                }),
            }
        }
    }
}

/// `a^(h/2)` in `f64`: `powi` for even `h`, `a^k * sqrt(a)` for odd `h = 2k + 1`.
#[inline(always)]
fn pow_half64(a: f64, h: i32) -> f64 {
    if h & 1 == 0 {
        a.powi(h >> 1)
    } else {
        a.powi(h >> 1) * a.sqrt()
    }
}

/// `a^(h/2)` in `f32`, with the common Hill exponents written out so loops vectorise.
#[inline(always)]
fn pow_half32(a: f32, h: i32) -> f32 {
    match h {
        0 => 1.0,
        2 => a,
        3 => a.sqrt() * a,
        4 => a * a,
        6 => a * a * a,
        8 => {
            let b = a * a;
            b * b
        }
        -2 => 1.0 / a,
        -4 => 1.0 / (a * a),
        h if h & 1 == 0 => a.powi(h >> 1),
        h => a.powi(h >> 1) * a.sqrt(),
    }
}

/// The lane file of one run, and where the per-cell inputs are read from.
struct Lanes<'a> {
    regs: &'a mut [f32],
    stride: usize,
    n: usize,
    /// External inputs: the first `ext_count` lane registers (the varying inputs) are
    /// read from `ext[k * ext_stride..]` instead of `regs` (`ext_count = 0`: none).
    ext: &'a [f32],
    ext_stride: usize,
    ext_count: usize,
}

/// Read access to every register but the destination of one instruction.
struct View<'a> {
    lo: &'a [f32],
    hi: &'a [f32],
    d: usize,
    stride: usize,
    n: usize,
    ext: &'a [f32],
    ext_stride: usize,
    ext_count: usize,
}

impl<'a> Lanes<'a> {
    /// Destination register `d` (mutable) and a view of the others, without aliasing
    /// (`d` never equals an operand by construction of the allocation, and is never
    /// an input).
    #[inline(always)]
    fn split(&mut self, d: u32) -> (&mut [f32], View<'_>) {
        let d = d as usize;
        let (lo, rest) = self.regs.split_at_mut(d * self.stride);
        let (dst, hi) = rest.split_at_mut(self.stride);
        (
            dst,
            View {
                lo,
                hi,
                d,
                stride: self.stride,
                n: self.n,
                ext: self.ext,
                ext_stride: self.ext_stride,
                ext_count: self.ext_count,
            },
        )
    }
}

impl<'a> View<'a> {
    #[inline(always)]
    fn reg(&self, r: u32) -> &'a [f32] {
        let (d, r, n) = (self.d, r as usize, self.n);
        debug_assert_ne!(d, r, "destination aliases an operand");
        if r < self.ext_count {
            let o = r * self.ext_stride;
            &self.ext[o..o + n]
        } else if r < d {
            &self.lo[r * self.stride..r * self.stride + n]
        } else {
            let o = (r - d - 1) * self.stride;
            &self.hi[o..o + n]
        }
    }

    #[inline(always)]
    fn operand(&self, s: Src, u: &[f64]) -> Operand<'a> {
        match s {
            Src::Lane(r) => Operand::L(self.reg(r)),
            Src::Uniform(r) => Operand::U(u[r as usize] as f32),
        }
    }
}

/// An operand of a lane instruction: per-lane values or one value for all.
#[derive(Clone, Copy)]
enum Operand<'a> {
    L(&'a [f32]),
    U(f32),
}

impl Operand<'_> {
    #[inline(always)]
    fn at(&self, i: usize) -> f32 {
        match self {
            Operand::L(x) => x[i],
            Operand::U(v) => *v,
        }
    }
}

#[inline(always)]
fn unary(l: &mut Lanes<'_>, d: u32, a: u32, f: impl Fn(f32) -> f32) {
    let n = l.n;
    let (dst, v) = l.split(d);
    let x = v.reg(a);
    for (o, &v) in dst[..n].iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `x^(h/2)` per lane.
#[inline(always)]
fn pow_half_lanes(l: &mut Lanes<'_>, d: u32, a: u32, h: i32) {
    match h {
        0 => unary(l, d, a, |_| 1.0),
        2 => unary(l, d, a, |x| x),
        3 => unary(l, d, a, |x| x.sqrt() * x),
        4 => unary(l, d, a, |x| x * x),
        6 => unary(l, d, a, |x| x * x * x),
        8 => unary(l, d, a, |x| {
            let y = x * x;
            y * y
        }),
        -2 => unary(l, d, a, |x| 1.0 / x),
        _ => unary(l, d, a, |x| pow_half32(x, h)),
    }
}

/// Any instruction as a per-lane closure of up to three operands: the slow, general
/// path for rare shapes (operand kinds are matched per element).
#[inline(always)]
fn generic(l: &mut Lanes<'_>, d: u32, s: [Src; 3], u: &[f64], f: impl Fn(f32, f32, f32) -> f32) {
    let n = l.n;
    let (dst, v) = l.split(d);
    let [a, b, c] = s.map(|x| v.operand(x, u));
    for (i, o) in dst[..n].iter_mut().enumerate() {
        *o = f(a.at(i), b.at(i), c.at(i));
    }
}

/// A Hill term per lane, times `a` plus `c` when `aff = Some((a, c))` (rounded as a
/// separate multiply and add, like the unfused instructions); the usual shape
/// (per-cell x, uniform kn) as a straight loop.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn hill_lanes(
    l: &mut Lanes<'_>,
    d: u32,
    x: Src,
    kn: Src,
    h: i32,
    rep: bool,
    aff: Option<(f32, f32)>,
    u: &[f64],
) {
    if let (Src::Lane(xr), Src::Uniform(kr)) = (x, kn) {
        let k = u[kr as usize] as f32;
        macro_rules! term {
            ($p:expr, $out:expr) => {
                if rep {
                    unary(l, d, xr, |x| {
                        let p = $p(x.max(0.0));
                        $out(k / (k + p))
                    })
                } else {
                    unary(l, d, xr, |x| {
                        let p = $p(x.max(0.0));
                        $out(p / (k + p))
                    })
                }
            };
        }
        macro_rules! go {
            ($p:expr) => {
                match aff {
                    None => term!($p, |v: f32| v),
                    Some((a, c)) => term!($p, |v: f32| a * v + c),
                }
            };
        }
        match h {
            2 => go!(|x: f32| x),
            4 => go!(|x: f32| x * x),
            6 => go!(|x: f32| x * x * x),
            8 => go!(|x: f32| {
                let y = x * x;
                y * y
            }),
            3 => go!(|x: f32| x.sqrt() * x),
            _ => go!(|x: f32| pow_half32(x, h)),
        }
        return;
    }
    let (a, c) = aff.unwrap_or((1.0, 0.0));
    let scaled = aff.is_some();
    generic(l, d, [x, kn, kn], u, |x, kn, _| {
        let p = pow_half32(x.max(0.0), h);
        let v = if rep { kn / (kn + p) } else { p / (kn + p) };
        if scaled {
            a * v + c
        } else {
            v
        }
    })
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
fn bin(k: Bin, l: &mut Lanes<'_>, d: u32, a: Src, b: Src, u: &[f64]) {
    macro_rules! lanes {
        ($f:expr) => {{
            let f = $f;
            let n = l.n;
            let (dst, v) = l.split(d);
            let dst = &mut dst[..n];
            match (a, b) {
                (Src::Lane(x), Src::Lane(y)) => {
                    let (x, y) = (v.reg(x), v.reg(y));
                    for ((o, &p), &q) in dst.iter_mut().zip(x).zip(y) {
                        *o = f(p, q);
                    }
                }
                (Src::Lane(x), Src::Uniform(y)) => {
                    let (x, q) = (v.reg(x), u[y as usize] as f32);
                    for (o, &p) in dst.iter_mut().zip(x) {
                        *o = f(p, q);
                    }
                }
                (Src::Uniform(x), Src::Lane(y)) => {
                    let (p, y) = (u[x as usize] as f32, v.reg(y));
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

/// `a*b + c`, `a*b - c`, `c - a*b` per lane (a product, then a sum: no fused
/// multiply-add). The shapes rate laws produce (a rate constant times a per-cell
/// term, plus or minus a constant or a per-cell term) are straight loops; any other
/// takes the general path.
#[inline(always)]
fn tern(k: Tern, l: &mut Lanes<'_>, d: u32, s: [Src; 3], u: &[f64]) {
    // The product commutes: put a uniform factor first.
    let [a, b, c] = match s {
        [Src::Lane(x), Src::Uniform(y), c] => [Src::Uniform(y), Src::Lane(x), c],
        s => s,
    };
    macro_rules! shapes {
        ($f:expr) => {{
            let f = $f;
            let n = l.n;
            let (dst, view) = l.split(d);
            let dst = &mut dst[..n];
            let r = |x: u32| view.reg(x);
            let v = |x: u32| u[x as usize] as f32;
            match (a, b, c) {
                (Src::Uniform(p), Src::Lane(q), Src::Uniform(c)) => {
                    let (p, q, c) = (v(p), r(q), v(c));
                    for (o, &q) in dst.iter_mut().zip(q) {
                        *o = f(p, q, c);
                    }
                }
                (Src::Uniform(p), Src::Lane(q), Src::Lane(c)) => {
                    let (p, q, c) = (v(p), r(q), r(c));
                    for ((o, &q), &c) in dst.iter_mut().zip(q).zip(c) {
                        *o = f(p, q, c);
                    }
                }
                (Src::Lane(p), Src::Lane(q), Src::Uniform(c)) => {
                    let (p, q, c) = (r(p), r(q), v(c));
                    for ((o, &p), &q) in dst.iter_mut().zip(p).zip(q) {
                        *o = f(p, q, c);
                    }
                }
                (Src::Lane(p), Src::Lane(q), Src::Lane(c)) => {
                    let (p, q, c) = (r(p), r(q), r(c));
                    for (((o, &p), &q), &c) in dst.iter_mut().zip(p).zip(q).zip(c) {
                        *o = f(p, q, c);
                    }
                }
                (Src::Uniform(p), Src::Uniform(q), Src::Lane(c)) => {
                    let (p, q, c) = (v(p), v(q), r(c));
                    for (o, &c) in dst.iter_mut().zip(c) {
                        *o = f(p, q, c);
                    }
                }
                _ => {
                    let [a, b, c] = [a, b, c].map(|x| view.operand(x, u));
                    for (i, o) in dst.iter_mut().enumerate() {
                        *o = f(a.at(i), b.at(i), c.at(i));
                    }
                }
            }
        }};
    }
    match k {
        Tern::MulAdd => shapes!(|p: f32, q: f32, c: f32| p * q + c),
        Tern::MulSub => shapes!(|p: f32, q: f32, c: f32| p * q - c),
        Tern::SubMul => shapes!(|p: f32, q: f32, c: f32| c - p * q),
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

    /// Every instruction kind and operand shape: fused Hill terms (fixed, half-integer
    /// and run-time exponents, per-cell dissociation constant), `a*b +- c` with
    /// uniform and per-cell factors, powers, functions, uniform-only outputs.
    const SRCS: [&str; 14] = [
        "hill(x, 0.5, 2) * y + hill_rep(c, 0.3, 1.5)",
        "hill(x, 0.5, 2) + y^3 - exp(-y) + t * c",
        "x^1.7 / (1 + y) - min(x, y) + max(c, 0.2) * sqrt(y)",
        "ln(1 + x) + log10(2 + y) + abs(x - y) + y^-2 + x^4",
        "c * 2 + t",
        "x",
        "hill_rep(y, 0.4, 1.5) + hill(x, y, 3) - hill(c, x, 2) + hill(x, 0.7, c * 4)",
        "0.3 * x + 0.1 - x * y + (2 - 0.5 * y) + (x * y - 1) + (c * t + x) + (y - c * t)",
        "x^0.5 + y^2.5 + x^-1 + x^6 + y^8 + x^3",
        "hill(c, 0.2, 2) * x - 0.05 * y",
        // Fused into `a * hill + c` (uniform factors), or not (read twice, per-cell
        // factor).
        "0.3 * hill(x, 0.5, 2) + 0.01 - 0.2 * y",
        "c * hill_rep(y, 0.4, 1.5) + t * c + hill(x, c, 2) * 0.5 + 0.1",
        "0.3 * hill(y, 0.6, 4) + 0.02 + hill(y, 0.6, 4) + x * hill(x, 0.2, 2) + 0.1",
        // Conditions, `if` with per-cell and uniform branches, the f64 fallbacks.
        "if(x > y, sin(x), cos(c)) + (x < 1 || c > 0.5) * atan(y) + tanh(x) * not(y > 1.9)",
    ];

    /// A Hill term read once, by `a * hill + c` with uniform `a` and `c`, becomes one
    /// lane instruction; one read twice stays apart.
    #[test]
    fn hill_times_uniform_plus_uniform_is_one_instruction() {
        let p = program(&["0.3 * hill(x, 0.5, 2) + 0.01 - 0.2 * y"]);
        let bp = BatchProgram::new(&p.flat(), &[0, 1], &[0]).unwrap();
        assert_eq!(bp.n_ops().0, 2, "{:?}", bp.lane_ops);
        assert!(matches!(bp.lane_ops[0], LaneOp::HillAff(false, ..)));
        let p = program(&["0.3 * hill(x, 0.5, 2) + 0.01 + hill(x, 0.5, 2) * y"]);
        let bp = BatchProgram::new(&p.flat(), &[0, 1], &[0]).unwrap();
        assert!(!bp
            .lane_ops
            .iter()
            .any(|op| matches!(op, LaneOp::HillAff(..))));
    }

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
        for outs in [
            (0..SRCS.len()).collect(),
            vec![2],
            vec![4, 0],
            vec![5],
            vec![7, 6],
            vec![10, 11, 12],
            vec![13],
        ] {
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
        let all: Vec<usize> = (0..SRCS.len()).collect();
        let bp = BatchProgram::new(&p.flat(), &[0, 1], &all).unwrap();
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
        let mut l = Lanes {
            regs: &mut b,
            stride: 256,
            n: 256,
            ext: &[],
            ext_stride: 0,
            ext_count: 0,
        };
        bp.run_lanes_any(&u, &mut l);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
        // Inputs read in place from species-major storage (stride 300, from cell 10)
        // give the same outputs as inputs copied into the lane file.
        let mut store = vec![0.0f32; 2 * 300];
        for i in 0..256 {
            store[10 + i] = a[bp.lane_input(0) as usize * 256 + i];
            store[300 + 10 + i] = a[bp.lane_input(1) as usize * 256 + i];
        }
        let mut c = vec![0.0f32; bp.n_lane_regs() * 256];
        bp.run_lanes_from(&u, &store[10..], 300, &mut c, 256, 256);
        for k in 0..all.len() {
            if let Src::Lane(r) = bp.output(k) {
                let r = r as usize * 256;
                assert_eq!(bits(&a[r..r + 256]), bits(&c[r..r + 256]), "output {k}");
            }
        }
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
