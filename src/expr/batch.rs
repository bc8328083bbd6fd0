//! The lane backend: the [`Ir`] lowered for evaluation over many cells at once, for
//! the agent-based engine.
//!
//! Why: the scalar [`Program::run`](super::Program::run) dispatches every instruction
//! once per cell, which is what limits a per-cell loop with 10^6 cells. Here the
//! instructions are split, once, into
//!
//! - **uniform** ones, which read no per-cell input (drug effects, time-dependent
//!   terms, constants): run once per batch in `f64`, as the ODE engine runs them, and
//! - **lane** ones, which read a per-cell input (loop species): each instruction runs
//!   as one tight loop over all cells of the batch ("lanes") in `f32` (the engine
//!   stores cell state in `f32`), which the compiler vectorises, so the dispatch cost
//!   is paid once per batch, not per cell. The IR's fused instructions (Hill terms,
//!   `a*b + c`) stay fused, and a Hill term read only by `a * hill + c` with uniform
//!   `a`, `c` is fused further ([`Op::HillAff`]): one pass over the lanes instead of
//!   two, which is what bounds these loops (memory traffic between lane registers,
//!   not arithmetic).
//!
//! Lane instructions are the IR's [`Op`]s with operands re-typed as [`Src`] (lane or
//! uniform register); every loop computes [`Op::eval`] (or the same functions of
//! [`super::real`]) per lane in `f32`, so the meaning of an instruction is the one the
//! IR defines.
//!
//! Lane registers are allocated by liveness (a register is reused once its last reader
//! has run), so a batch of 256 lanes of a 10-species loop stays in the L1 cache.
//! Only the instructions needed for the requested outputs are kept, so one compiled
//! right-hand side yields a rates-only and a fate-only batch program.
//!
//! Every lane instruction is elementwise: the value of a lane depends on that lane's
//! inputs only, never on the batch size or position, and no fused multiply-add is
//! introduced, so a cell evaluated alone and inside a batch of 256 gives identical bits.

use super::ir::{hill_fixed, hill_run_time, Inst, Ir, Op};
use super::real;
use super::tree::Func;

/// Where a value lives during batch evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Src {
    /// A lane register: one `f32` per cell.
    Lane(u32),
    /// A uniform register: one `f64` for the whole batch.
    Uniform(u32),
}

/// A program split into uniform and lane parts; see the module documentation.
#[derive(Debug, Clone)]
pub struct BatchProgram {
    n_inputs: usize,
    uniform_init: Vec<f64>,
    uniform_ops: Vec<Inst>,
    /// Destinations are lane registers.
    lane_ops: Vec<Inst<Src>>,
    n_lane_regs: usize,
    /// Lane register of each varying input, in the order the caller listed them.
    lane_inputs: Vec<u32>,
    /// The varying inputs were distinct, so input `k` is lane register `k`.
    inputs_distinct: bool,
    outputs: Vec<Src>,
}

/// Fuse each fixed-exponent Hill term whose only reader is a multiply-add by uniform
/// factors (`a * hill + c`, the usual synthesis term `k_syn * hill(..) + basal`) into
/// one [`Op::HillAff`] (or [`Op::HillRepAff`]): one pass over the lanes instead of two. The IR is in
/// single-assignment form (checked; nothing is fused otherwise), so the Hill term's
/// operands still hold their values where the multiply-add was.
fn fuse_hill_affine(insts: Vec<Inst>, lane: &[bool], outputs: &[u32]) -> Vec<Inst> {
    let n_slots = lane.len();
    let mut writer = vec![usize::MAX; n_slots];
    let mut readers = vec![0u32; n_slots];
    for (i, inst) in insts.iter().enumerate() {
        if writer[inst.dst as usize] != usize::MAX {
            return insts;
        }
        writer[inst.dst as usize] = i;
        let (regs, k) = inst.op.operands();
        for &r in &regs[..k] {
            readers[r as usize] += 1;
        }
    }
    let mut fused: Vec<Option<Inst>> = insts.iter().copied().map(Some).collect();
    for (j, inst) in insts.iter().enumerate() {
        let Op::MulAdd(a, b, c) = inst.op else {
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
        let (x, kn, e, rep) = match insts.get(i).map(|t| t.op) {
            Some(Op::Hill(x, kn, e)) => (x, kn, e, false),
            Some(Op::HillRep(x, kn, e)) => (x, kn, e, true),
            _ => continue,
        };
        fused[i] = None;
        fused[j] = Some(Inst {
            dst: inst.dst,
            op: if rep {
                Op::HillRepAff(x, kn, e, scale, c)
            } else {
                Op::HillAff(x, kn, e, scale, c)
            },
        });
    }
    fused.into_iter().flatten().collect()
}

/// Error building a batch program: an output or varying input out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("batch program: {0}")]
pub struct BatchError(pub String);

impl BatchProgram {
    /// Lower `ir` for batches in which the inputs listed in `varying` differ from lane
    /// to lane (every other input is the same for the whole batch), keeping only what
    /// the outputs listed in `outputs` need.
    pub fn new(ir: &Ir, varying: &[usize], outputs: &[usize]) -> Result<BatchProgram, BatchError> {
        let n_slots = ir.n_slots();
        if let Some(&v) = varying.iter().find(|&&v| v >= ir.n_inputs) {
            return Err(BatchError(format!(
                "varying input {v} but the program has {} inputs",
                ir.n_inputs
            )));
        }
        if let Some(&k) = outputs.iter().find(|&&k| k >= ir.outputs.len()) {
            return Err(BatchError(format!(
                "output {k} but the program has {} outputs",
                ir.outputs.len()
            )));
        }
        // Which slots vary per lane.
        let mut lane = vec![false; n_slots];
        for &v in varying {
            lane[v] = true;
        }
        for inst in &ir.insts {
            let (regs, k) = inst.op.operands();
            lane[inst.dst as usize] = regs[..k].iter().any(|&r| lane[r as usize]);
        }
        // Which instructions the requested outputs need (backward pass).
        let mut needed = vec![false; n_slots];
        for &k in outputs {
            needed[ir.outputs[k] as usize] = true;
        }
        let mut keep = vec![false; ir.insts.len()];
        for (i, inst) in ir.insts.iter().enumerate().rev() {
            if needed[inst.dst as usize] {
                keep[i] = true;
                let (regs, k) = inst.op.operands();
                for &r in &regs[..k] {
                    needed[r as usize] = true;
                }
            }
        }
        let kept = |want_lane: bool| -> Vec<Inst> {
            ir.insts
                .iter()
                .zip(&keep)
                .filter(|(inst, &k)| k && lane[inst.dst as usize] == want_lane)
                .map(|(inst, _)| *inst)
                .collect()
        };
        let uniform_ops = kept(false);
        let out_slots: Vec<u32> = outputs.iter().map(|&k| ir.outputs[k]).collect();
        let lane_ir = fuse_hill_affine(kept(true), &lane, &out_slots);

        // Last reader of every lane slot (outputs and inputs live to the end: the
        // caller may read inputs back after a run).
        let end = lane_ir.len();
        let mut last_use = vec![0usize; n_slots];
        for (i, inst) in lane_ir.iter().enumerate() {
            let (regs, k) = inst.op.operands();
            for &r in &regs[..k] {
                last_use[r as usize] = i;
            }
        }
        for &r in &out_slots {
            last_use[r as usize] = end;
        }
        for &v in varying {
            last_use[v] = end;
        }

        // Allocate lane registers: inputs first, then results; the destination is
        // taken before the operands are freed, so it never aliases an operand.
        let mut slot = vec![u32::MAX; n_slots];
        let mut free: Vec<u32> = Vec::new();
        let mut n_regs = 0u32;
        let mut lane_inputs = Vec::with_capacity(varying.len());
        for &v in varying {
            if slot[v] == u32::MAX {
                slot[v] = n_regs;
                n_regs += 1;
            }
            lane_inputs.push(slot[v]);
        }
        let mut lane_ops = Vec::with_capacity(lane_ir.len());
        for (i, inst) in lane_ir.iter().enumerate() {
            let ds = free.pop().unwrap_or_else(|| {
                n_regs += 1;
                n_regs - 1
            });
            let op = inst.op.map(|r| {
                if lane[r as usize] {
                    Src::Lane(slot[r as usize])
                } else {
                    Src::Uniform(r)
                }
            });
            lane_ops.push(Inst { dst: ds, op });
            slot[inst.dst as usize] = ds;
            // Free operands read for the last time here (once, even if repeated).
            let (regs, k) = inst.op.operands();
            for &r in &regs[..k] {
                if lane[r as usize] && last_use[r as usize] == i {
                    let sr = slot[r as usize];
                    if !free.contains(&sr) {
                        free.push(sr);
                    }
                }
            }
            // A result nobody reads (cannot happen for kept instructions, but stay
            // safe).
            if last_use[inst.dst as usize] < i {
                free.push(ds);
            }
        }
        // An output that is itself a varying input gets its own register, so outputs
        // are in the lane file even when the inputs are read in place.
        let n_in = lane_inputs.len() as u32;
        let outputs = out_slots
            .iter()
            .map(|&r| {
                if !lane[r as usize] {
                    return Src::Uniform(r);
                }
                let s = slot[r as usize];
                if s < n_in {
                    lane_ops.push(Inst {
                        dst: n_regs,
                        op: Op::Copy(Src::Lane(s)),
                    });
                    n_regs += 1;
                    Src::Lane(n_regs - 1)
                } else {
                    Src::Lane(s)
                }
            })
            .collect();
        Ok(BatchProgram {
            n_inputs: ir.n_inputs,
            uniform_init: ir.init.clone(),
            uniform_ops,
            lane_ops,
            n_lane_regs: n_regs as usize,
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
        self.uniform_ops.iter().any(|i| {
            let (regs, n) = i.op.operands();
            regs[..n].contains(&k)
        }) || self.lane_ops.iter().any(|i| {
            let (s, n) = i.op.operands();
            s[..n].contains(&Src::Uniform(k))
        }) || self.outputs.contains(&Src::Uniform(k))
    }

    /// Whether any kept instruction or output reads varying input `k` (so a caller
    /// need not load inputs nobody reads).
    pub fn reads_lane_input(&self, k: usize) -> bool {
        let r = Src::Lane(self.lane_inputs[k]);
        self.lane_ops.iter().any(|i| {
            let (s, n) = i.op.operands();
            s[..n].contains(&r)
        }) || self.outputs.contains(&r)
    }

    /// Number of lane instructions (per-cell work) and uniform instructions.
    pub fn n_ops(&self) -> (usize, usize) {
        (self.lane_ops.len(), self.uniform_ops.len())
    }

    /// Run the uniform part on `uregs` (from [`BatchProgram::uniform_workspace`]).
    pub fn run_uniform(&self, uregs: &mut [f64]) {
        for i in &self.uniform_ops {
            uregs[i.dst as usize] = i.op.eval(|r| uregs[r as usize]);
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

    /// The lane loops, inlined into each instruction-set variant. Each arm builds the
    /// instruction over lane values and calls [`Op::eval`] on it (`id` reads a value
    /// as itself), so the loops compute exactly what the IR defines.
    #[inline(always)]
    fn run_lanes_any(&self, u: &[f64], l: &mut Lanes<'_>) {
        let id = |v: f32| v;
        for inst in &self.lane_ops {
            let d = inst.dst;
            match inst.op {
                Op::Add(a, b) => bin(l, d, a, b, u, |p, q| Op::Add(p, q).eval(id)),
                Op::Sub(a, b) => bin(l, d, a, b, u, |p, q| Op::Sub(p, q).eval(id)),
                Op::Mul(a, b) => bin(l, d, a, b, u, |p, q| Op::Mul(p, q).eval(id)),
                Op::Div(a, b) => bin(l, d, a, b, u, |p, q| Op::Div(p, q).eval(id)),
                Op::Pow(a, b) => bin(l, d, a, b, u, |p, q| Op::Pow(p, q).eval(id)),
                Op::F2(Func::Min, a, b) => {
                    bin(l, d, a, b, u, |p, q| Op::F2(Func::Min, p, q).eval(id))
                }
                Op::F2(Func::Max, a, b) => {
                    bin(l, d, a, b, u, |p, q| Op::F2(Func::Max, p, q).eval(id))
                }
                Op::F2(f, a, b) => {
                    generic(l, d, [a, b, b, b], u, |p, q, _, _| Op::F2(f, p, q).eval(id))
                }
                Op::MulAdd(a, b, c) => {
                    tern(l, d, [a, b, c], u, |p, q, c| Op::MulAdd(p, q, c).eval(id))
                }
                Op::MulSub(a, b, c) => {
                    tern(l, d, [a, b, c], u, |p, q, c| Op::MulSub(p, q, c).eval(id))
                }
                Op::SubMul(a, b, c) => {
                    tern(l, d, [a, b, c], u, |p, q, c| Op::SubMul(p, q, c).eval(id))
                }
                Op::Neg(a) => un(l, d, a, u, |x| Op::Neg(x).eval(id)),
                Op::Copy(a) => un(l, d, a, u, |x| Op::Copy(x).eval(id)),
                Op::PowC(a, h) => {
                    // Common exponents as constants, so the loop is straight products.
                    macro_rules! pow {
                        ($($k:literal)*) => {
                            match h {
                                $($k => un(l, d, a, u, |x| Op::PowC(x, $k).eval(id)),)*
                                h => un(l, d, a, u, |x| Op::PowC(x, h).eval(id)),
                            }
                        };
                    }
                    pow!(2 3 4 6 8 -2)
                }
                Op::F1(f, a) => {
                    // The functions rate laws use as constants (native `f32`, vectorised).
                    macro_rules! f1 {
                        ($($g:ident)*) => {
                            match f {
                                $(Func::$g => un(l, d, a, u, |x| Op::F1(Func::$g, x).eval(id)),)*
                                f => un(l, d, a, u, |x| Op::F1(f, x).eval(id)),
                            }
                        };
                    }
                    f1!(Exp Ln Log10 Sqrt Abs Step)
                }
                Op::If(c, a, b) => {
                    generic(l, d, [c, a, b, b], u, |c, a, b, _| Op::If(c, a, b).eval(id))
                }
                Op::Hill(x, kn, h) => hill_lanes(l, d, x, kn, h, false, None, u),
                Op::HillRep(x, kn, h) => hill_lanes(l, d, x, kn, h, true, None, u),
                Op::HillAff(x, kn, h, a, c) => hill_lanes(l, d, x, kn, h, false, Some((a, c)), u),
                Op::HillRepAff(x, kn, h, a, c) => hill_lanes(l, d, x, kn, h, true, Some((a, c)), u),
                Op::HillF(x, kn, e) => generic(l, d, [x, kn, e, e], u, |x, kn, e, _| {
                    hill_run_time(x, kn, e, false)
                }),
                Op::HillRepF(x, kn, e) => generic(l, d, [x, kn, e, e], u, |x, kn, e, _| {
                    hill_run_time(x, kn, e, true)
                }),
            }
        }
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

/// A one-operand instruction per lane (an operand that is uniform, which the
/// splitter never produces, fills the lanes with one value).
#[inline(always)]
fn un(l: &mut Lanes<'_>, d: u32, a: Src, u: &[f64], f: impl Fn(f32) -> f32) {
    match a {
        Src::Lane(r) => unary(l, d, r, f),
        Src::Uniform(r) => {
            let n = l.n;
            l.split(d).0[..n].fill(f(u[r as usize] as f32));
        }
    }
}

/// Any instruction as a per-lane closure of up to four operands: the slow, general
/// path for rare shapes (operand kinds are matched per element).
#[inline(always)]
fn generic(
    l: &mut Lanes<'_>,
    d: u32,
    s: [Src; 4],
    u: &[f64],
    f: impl Fn(f32, f32, f32, f32) -> f32,
) {
    let n = l.n;
    let (dst, v) = l.split(d);
    let [a, b, c, e] = s.map(|x| v.operand(x, u));
    for (i, o) in dst[..n].iter_mut().enumerate() {
        *o = f(a.at(i), b.at(i), c.at(i), e.at(i));
    }
}

/// A Hill term per lane, times `a` plus `c` when `aff = Some((a, c))`
/// ([`Op::HillAff`], [`Op::HillRepAff`]); the usual shape (per-cell x, uniform kn, uniform a and c, a
/// common exponent) as a straight loop with the exponent and kind as constants.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn hill_lanes(
    l: &mut Lanes<'_>,
    d: u32,
    x: Src,
    kn: Src,
    h: i32,
    rep: bool,
    aff: Option<(Src, Src)>,
    u: &[f64],
) {
    let aff_uniform = match aff {
        None => Some(None),
        Some((Src::Uniform(a), Src::Uniform(c))) => {
            Some(Some((u[a as usize] as f32, u[c as usize] as f32)))
        }
        Some(_) => None,
    };
    if let (Src::Lane(xr), Src::Uniform(kr), Some(aff)) = (x, kn, aff_uniform) {
        let k = u[kr as usize] as f32;
        macro_rules! go {
            ($h:expr, $rep:expr) => {
                match aff {
                    None => unary(l, d, xr, |x| hill_fixed(x, k, $h, $rep)),
                    Some((a, c)) => unary(l, d, xr, |x| {
                        real::mul_add(a, hill_fixed(x, k, $h, $rep), c)
                    }),
                }
            };
        }
        macro_rules! exps {
            ($rep:expr; $($k:literal)*) => {
                match h {
                    $($k => go!($k, $rep),)*
                    h => go!(h, $rep),
                }
            };
        }
        if rep {
            exps!(true; 2 3 4 6 8)
        } else {
            exps!(false; 2 3 4 6 8)
        }
        return;
    }
    let (a, c) = aff.unwrap_or((kn, kn));
    let scaled = aff.is_some();
    generic(l, d, [x, kn, a, c], u, |x, kn, a, c| {
        if scaled {
            real::mul_add(a, hill_fixed(x, kn, h, rep), c)
        } else {
            hill_fixed(x, kn, h, rep)
        }
    })
}

/// A two-operand instruction per lane, with each shape of operands (lane or
/// uniform) as its own straight loop.
#[inline(always)]
fn bin(l: &mut Lanes<'_>, d: u32, a: Src, b: Src, u: &[f64], f: impl Fn(f32, f32) -> f32) {
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
}

/// `a*b + c`, `a*b - c`, `c - a*b` per lane (`f` is one of them). The shapes rate
/// laws produce (a rate constant times a per-cell term, plus or minus a constant or a
/// per-cell term) are straight loops; any other takes the general path.
#[inline(always)]
fn tern(l: &mut Lanes<'_>, d: u32, s: [Src; 3], u: &[f64], f: impl Fn(f32, f32, f32) -> f32) {
    // The product commutes: put a uniform factor first.
    let [a, b, c] = match s {
        [Src::Lane(x), Src::Uniform(y), c] => [Src::Uniform(y), Src::Lane(x), c],
        s => s,
    };
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
        let bp = BatchProgram::new(p.ir(), &[0, 1], &[0]).unwrap();
        assert_eq!(bp.n_ops().0, 2, "{:?}", bp.lane_ops);
        assert!(matches!(bp.lane_ops[0].op, Op::HillAff(..)));
        let p = program(&["0.3 * hill(x, 0.5, 2) + 0.01 + hill(x, 0.5, 2) * y"]);
        let bp = BatchProgram::new(p.ir(), &[0, 1], &[0]).unwrap();
        assert!(!bp
            .lane_ops
            .iter()
            .any(|i| matches!(i.op, Op::HillAff(..) | Op::HillRepAff(..))));
    }

    /// Batch evaluation agrees with the scalar program to f32 precision, for every
    /// output subset, whatever the batch size.
    #[test]
    fn matches_scalar_program() {
        let p = program(&SRCS);
        let ir = p.ir();
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
            let bp = BatchProgram::new(ir, &[0, 1], &outs).unwrap();
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
        let bp = BatchProgram::new(p.ir(), &[0, 1], &[0, 1, 2, 3]).unwrap();
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
        let bp = BatchProgram::new(p.ir(), &[0, 1], &all).unwrap();
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
        let ir = p.ir();
        let bp = BatchProgram::new(ir, &[0, 1], &[0]).unwrap();
        assert_eq!(bp.n_ops().0, 0, "a drug-only output needs no lane work");
        assert!(!bp.reads_lane_input(0) && !bp.reads_lane_input(1));
        let xy = BatchProgram::new(ir, &[0, 1], &[1]).unwrap();
        assert!(xy.reads_lane_input(0) && xy.reads_lane_input(1));
        assert!(matches!(bp.output(0), Src::Uniform(_)));
        assert!(BatchProgram::new(ir, &[7], &[0]).is_err());
        assert!(BatchProgram::new(ir, &[0], &[2]).is_err());
    }
}
