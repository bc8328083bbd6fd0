//! A [`CellModel`] for any compiled model file, so the agent-based engine runs the same
//! models as the ODE engine.
//!
//! Each cell carries the model's species. Per step, the loop of every cell is advanced
//! by an explicit Runge-Kutta method (Euler, Heun or classical RK4, optionally in
//! substeps) evaluated over batches of cells at once: the model's right-hand side is
//! split into a *uniform* part (drug effects, time terms: run once per batch in `f64`)
//! and a *per-cell* part (anything reading a species: run as vectorisable `f32` loops
//! over up to [`LANES`] cells), see [`crate::expr::batch`]. Division and death hazards
//! come from the model's `fate` expressions on the advanced state; mutations at
//! division follow the model's genotypes (`parent` -> child with
//! `mutation_probability`); the `[heterogeneity]` section sets intrinsic
//! (`species_noise`, the same amplitude on every species) and partition noise
//! (`partition_cv`). Nothing here names a species: everything comes from the file.
//!
//! Error terms (besides the engine's, see `docs/abm.md`): the loop's explicit method
//! has global error O(h^p) with p = 1, 2, 4 for Euler, Heun, RK4 and h the substep; a
//! step that sends a species negative beyond rounding or to a non-finite value is
//! reported ([`StateError`]), never clamped silently.
//!
//! ## References
//! - Hairer, E., Norsett, S. P. and Wanner, G. (1993). Solving Ordinary Differential
//!   Equations I, 2nd ed., Springer, section II.1 (explicit Runge-Kutta methods).

use super::error::AbmError;
use super::model::{CellModel, NoiseSpec, StateError, States, StatesMut, StepContext};
use super::simulation::Founders;
use crate::compile::{BoundModel, CompiledModel};
use crate::expr::batch::{BatchProgram, Src};

/// Budget for one worker's lane register file: the per-cell registers of a batch stay
/// in the L1 data cache.
const LANE_FILE_BYTES: usize = 24 << 10;

/// Explicit method for the loop of each cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Integrator {
    /// Forward Euler: one evaluation per substep, first order.
    Euler,
    /// Heun's method (explicit trapezoid): two evaluations, second order.
    Heun,
    /// Classical Runge-Kutta: four evaluations, fourth order.
    Rk4,
}

impl Integrator {
    /// Parse `euler`, `heun` or `rk4`.
    pub fn parse(s: &str) -> Option<Integrator> {
        match s.to_ascii_lowercase().as_str() {
            "euler" => Some(Integrator::Euler),
            "heun" | "rk2" => Some(Integrator::Heun),
            "rk4" => Some(Integrator::Rk4),
            _ => None,
        }
    }

    fn stages(self) -> usize {
        match self {
            Integrator::Euler => 1,
            Integrator::Heun => 2,
            Integrator::Rk4 => 4,
        }
    }
}

/// How the loop is integrated within an engine step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LoopIntegration {
    pub method: Integrator,
    /// Substeps per engine step (at least 1).
    pub substeps: u32,
}

impl Default for LoopIntegration {
    fn default() -> Self {
        LoopIntegration {
            method: Integrator::Heun,
            substeps: 1,
        }
    }
}

struct GenotypePrograms {
    /// Outputs: the rate of every species.
    rates: BatchProgram,
    /// Outputs: division, death.
    fate: BatchProgram,
    /// Species the rates read (only those get a state for the later stages).
    rate_inputs: Vec<usize>,
}

/// A compiled model file as a cell model. Build with [`CompiledCells::new`].
pub struct CompiledCells {
    species: Vec<String>,
    genotypes: Vec<String>,
    n_drugs: usize,
    /// Initial loop state per genotype.
    initial: Vec<Vec<f64>>,
    initial_fractions: Vec<f64>,
    programs: Vec<GenotypePrograms>,
    mutations: Vec<Vec<(usize, f64)>>,
    noise: NoiseSpec,
    integration: LoopIntegration,
    /// A species below `-tol` after a step is an error; between `-tol` and 0 it is
    /// rounding and set to 0.
    negative_tolerance: Vec<f32>,
    rates_read_time: bool,
    /// The fate reads a species or time, so hazards change within a step.
    fate_varies: bool,
    fate_regs: usize,
    rate_regs: usize,
    /// Cells per pass of a batch program: 256, 128 or 64, the most whose lane
    /// registers fit in `LANE_FILE_BYTES` (fewer passes, less dispatch per cell).
    lanes: usize,
}

/// Working memory of one worker: per genotype, uniform register files for the stage
/// times of the rates and one for the fate; the lane register file and the slopes of
/// the Runge-Kutta stages.
pub struct CompiledScratch {
    uniform: Vec<[Vec<f64>; 3]>,
    /// Two files for the fate (the start and the end of a step alternate).
    fate_uniform: Vec<[Vec<f64>; 2]>,
    /// Whether each uniform file holds results (for the inputs stored in it).
    uniform_filled: Vec<[bool; 3]>,
    fate_filled: Vec<[bool; 2]>,
    lanes: Vec<f32>,
    slopes: Vec<f32>,
    /// The state at which a later Runge-Kutta stage evaluates the rates.
    stage_in: Vec<f32>,
}

impl CompiledCells {
    /// Build from a compiled model and its bound programs (parameter values of this
    /// run, per genotype).
    pub fn new(
        model: &CompiledModel,
        bound: &BoundModel,
        integration: LoopIntegration,
    ) -> Result<CompiledCells, AbmError> {
        if integration.substeps == 0 {
            return Err(AbmError::BadOption {
                name: "substeps",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        let ns = bound.n_species;
        let species_inputs: Vec<usize> = (0..ns).collect();
        let rate_outputs: Vec<usize> = (0..ns).collect();
        let internal = |e: crate::expr::batch::BatchError| AbmError::Internal(e.to_string());
        let mut programs = Vec::with_capacity(bound.genotypes.len());
        let mut rates_read_time = false;
        let mut fate_varies = false;
        for g in &bound.genotypes {
            let ir = g.rhs.ir();
            let rates = BatchProgram::new(ir, &species_inputs, &rate_outputs).map_err(internal)?;
            let fate = BatchProgram::new(ir, &species_inputs, &[ns, ns + 1]).map_err(internal)?;
            rates_read_time |= rates.reads_input(bound.time_slot());
            fate_varies |= fate.n_ops().0 > 0 || fate.reads_input(bound.time_slot());
            let rate_inputs = (0..ns).filter(|&s| rates.reads_lane_input(s)).collect();
            programs.push(GenotypePrograms {
                rates,
                fate,
                rate_inputs,
            });
        }
        let mut mutations = vec![Vec::new(); model.genotypes.len()];
        for (c, g) in model.genotypes.iter().enumerate() {
            if let Some(p) = g.parent {
                mutations[p].push((c, g.mutation_probability));
            }
        }
        let h = model.heterogeneity;
        let noise = NoiseSpec {
            intrinsic: if h.species_noise > 0.0 {
                vec![h.species_noise; ns]
            } else {
                Vec::new()
            },
            partition_cv: h.partition_cv,
        };
        let initial = model.initial_state();
        let fate_regs = programs
            .iter()
            .map(|p| p.fate.n_lane_regs())
            .max()
            .unwrap_or(0);
        let rate_regs = programs
            .iter()
            .map(|p| p.rates.n_lane_regs())
            .max()
            .unwrap_or(0);
        let regs = rate_regs.max(fate_regs).max(ns).max(1);
        let lanes = [256, 128, 64]
            .into_iter()
            .find(|&l| regs * l * 4 <= LANE_FILE_BYTES)
            .unwrap_or(64);
        Ok(CompiledCells {
            species: model.species.iter().map(|s| s.name.clone()).collect(),
            genotypes: model.genotypes.iter().map(|g| g.name.clone()).collect(),
            n_drugs: bound.n_drugs,
            negative_tolerance: initial
                .iter()
                .map(|&x| (1e-6 * x.abs().max(1.0)) as f32)
                .collect(),
            initial: vec![initial; model.genotypes.len()],
            initial_fractions: model.genotypes.iter().map(|g| g.initial_fraction).collect(),
            programs,
            mutations,
            noise,
            integration,
            rates_read_time,
            fate_varies,
            fate_regs,
            rate_regs,
            lanes,
        })
    }

    /// Founders for a population of `cells`: each non-base genotype gets its
    /// `initial_fraction` (rounded to whole cells), the base genotype the rest.
    pub fn founders(&self, cells: u64) -> Vec<Founders> {
        let mut out = Vec::with_capacity(self.genotypes.len());
        let mut rest = cells;
        for (g, &f) in self.initial_fractions.iter().enumerate().skip(1) {
            let n = ((cells as f64 * f).round() as u64).min(rest);
            rest -= n;
            if n > 0 {
                out.push(Founders {
                    genotype: g,
                    count: n,
                });
            }
        }
        out.insert(
            0,
            Founders {
                genotype: 0,
                count: rest,
            },
        );
        out
    }

    /// Start every genotype's cells from its own loop state (e.g. an equilibrated
    /// one) and split founders by `fractions` (one per genotype, summing to 1)
    /// instead of the file's initial values and fractions.
    pub fn set_initial(
        &mut self,
        states: Vec<Vec<f64>>,
        fractions: Vec<f64>,
    ) -> Result<(), AbmError> {
        let ns = self.species.len();
        let ng = self.genotypes.len();
        let ok = states.len() == ng
            && states
                .iter()
                .all(|x| x.len() == ns && x.iter().all(|v| v.is_finite()))
            && fractions.len() == ng
            && fractions.iter().all(|f| (0.0..=1.0).contains(f));
        if !ok {
            return Err(AbmError::Internal(format!(
                "initial states must be {ng} finite vectors of {ns} species and {ng} fractions in [0, 1]"
            )));
        }
        self.initial = states;
        self.initial_fractions = fractions;
        Ok(())
    }

    /// The loop integration in use.
    pub fn integration(&self) -> LoopIntegration {
        self.integration
    }

    /// Cells per pass of the batch programs and lane registers (rates, fate).
    pub fn lane_layout(&self) -> (usize, usize, usize) {
        (self.lanes, self.rate_regs, self.fate_regs)
    }

    /// Per-cell and per-batch instruction counts of genotype `g`'s rates and fate.
    pub fn op_counts(&self, g: usize) -> ((usize, usize), (usize, usize)) {
        let p = &self.programs[g];
        (p.rates.n_ops(), p.fate.n_ops())
    }

    fn time_slot(&self) -> usize {
        self.species.len() + self.n_drugs
    }

    /// Fill a uniform register file for time `t`, unless it already holds the results
    /// for these inputs (`filled`): every block of a step has the same drugs and
    /// times, so a worker evaluates the uniform part once per step, not once per block.
    fn uniform(
        &self,
        prog: &BatchProgram,
        u: &mut [f64],
        filled: &mut bool,
        drugs: &[f64],
        t: f64,
    ) {
        let ns = self.species.len();
        let ts = self.time_slot();
        if *filled && u[ts] == t && u[ns..ns + self.n_drugs] == *drugs {
            return;
        }
        u[ns..ns + self.n_drugs].copy_from_slice(drugs);
        u[ts] = t;
        prog.run_uniform(u);
        *filled = true;
    }
}

impl CompiledCells {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn hazards_avx2(
        &self,
        ctx: &StepContext<'_>,
        states: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        sc: &mut CompiledScratch,
    ) {
        self.hazards_any(ctx, states, div, death, sc)
    }

    /// The fate program over the batch and the widening to `f64`, inlined into each
    /// instruction-set variant.
    #[inline(always)]
    fn hazards_any(
        &self,
        ctx: &StepContext<'_>,
        states: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        sc: &mut CompiledScratch,
    ) {
        let lanes_n = self.lanes;
        let prog = &self.programs[ctx.genotype].fate;
        let ts = self.time_slot();
        let files = &mut sc.fate_uniform[ctx.genotype];
        let filled = &mut sc.fate_filled[ctx.genotype];
        // The file already evaluated at this time if any, else an empty one, else the
        // one holding the earlier time.
        let holds = |k: usize| filled[k] && files[k][ts] == ctx.t;
        let k = if holds(0) {
            0
        } else if holds(1) {
            1
        } else if !filled[0] {
            0
        } else if !filled[1] {
            1
        } else {
            (files[1][ts] < files[0][ts]) as usize
        };
        self.uniform(prog, &mut files[k], &mut filled[k], ctx.drugs, ctx.t);
        let u = &*files[k];
        let len = states.len();
        let mut c0 = 0;
        while c0 < len {
            let n = (len - c0).min(lanes_n);
            let (data, stride) = states.raw();
            prog.run_lanes_from(u, &data[c0..], stride, &mut sc.lanes, lanes_n, n);
            for (k, out) in [(0, &mut *div), (1, &mut *death)] {
                let out = &mut out[c0..c0 + n];
                match prog.output(k) {
                    Src::Lane(r) => {
                        let r = r as usize * lanes_n;
                        for (o, &v) in out.iter_mut().zip(&sc.lanes[r..r + n]) {
                            *o = v as f64;
                        }
                    }
                    Src::Uniform(r) => out.fill(u[r as usize] as f32 as f64),
                }
            }
            c0 += n;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn advance_avx2(
        &self,
        ctx: &StepContext<'_>,
        states: &mut StatesMut<'_>,
        sc: &mut CompiledScratch,
    ) -> Result<(), StateError> {
        self.advance_any(ctx, states, sc)
    }

    /// The stage and combination loops, inlined into each instruction-set variant (the
    /// same IEEE operations, no FMA contraction, so the same bits either way).
    #[inline(always)]
    fn advance_any(
        &self,
        ctx: &StepContext<'_>,
        states: &mut StatesMut<'_>,
        sc: &mut CompiledScratch,
    ) -> Result<(), StateError> {
        let ns = self.species.len();
        if ns == 0 || states.is_empty() {
            return Ok(());
        }
        let progs = &self.programs[ctx.genotype];
        let prog = &progs.rates;
        let method = self.integration.method;
        let m = self.integration.substeps;
        let h = ctx.dt / m as f64;
        let hf = h as f32;
        let lanes_n = self.lanes;
        let CompiledScratch {
            uniform,
            uniform_filled,
            lanes,
            slopes,
            stage_in,
            ..
        } = sc;
        let uniform = &mut uniform[ctx.genotype];
        // Uniform part at the stage times of a substep: t, t + h/2 (RK4), t + h.
        let offsets: &[f64] = match method {
            Integrator::Euler => &[0.0],
            Integrator::Heun => &[0.0, 1.0],
            Integrator::Rk4 => &[0.0, 0.5, 1.0],
        };
        // Stages: (uniform file, fraction of h at which the stage's state is taken).
        let plan: &[(usize, f32)] = match method {
            Integrator::Euler => &[(0, 0.0)],
            Integrator::Heun => &[(0, 0.0), (1, 1.0)],
            Integrator::Rk4 => &[(0, 0.0), (1, 0.5), (1, 0.5), (2, 1.0)],
        };
        let last = plan.len() - 1;
        let len = states.len();
        let mut bad = false;
        for j in 0..m {
            let tj = ctx.t + j as f64 * h;
            if j == 0 || self.rates_read_time {
                for (k, &o) in offsets.iter().enumerate() {
                    let filled = &mut uniform_filled[ctx.genotype][k];
                    self.uniform(prog, &mut uniform[k], filled, ctx.drugs, tj + o * h);
                }
            }
            let mut c0 = 0;
            while c0 < len {
                let n = (len - c0).min(lanes_n);
                // The state at the start of the substep stays in `states` until the
                // final combination, and the first stage reads it there; later stages
                // read their state from `stage_in`; slopes of all but the last stage
                // are kept.
                for (st, &(ui, _)) in plan.iter().enumerate() {
                    if st == 0 {
                        let (data, stride) = states.raw();
                        prog.run_lanes_from(&uniform[ui], &data[c0..], stride, lanes, lanes_n, n);
                    } else {
                        prog.run_lanes_from(&uniform[ui], stage_in, lanes_n, lanes, lanes_n, n);
                    }
                    if st == last {
                        break;
                    }
                    let c = plan[st + 1].1 * hf;
                    for s in 0..ns {
                        // Slopes of every species; inputs only where read (one pass
                        // that keeps the slope and forms the next stage's input).
                        let off = (st * ns + s) * lanes_n;
                        let slope = &mut slopes[off..off + n];
                        let reads = progs.rate_inputs.contains(&s);
                        let x0 = &states.species(s)[c0..c0 + n];
                        let y = &mut stage_in[s * lanes_n..s * lanes_n + n];
                        match prog.output(s) {
                            Src::Lane(r) if reads => {
                                let k = &lanes[r as usize * lanes_n..r as usize * lanes_n + n];
                                for (((o, y), &x), &k) in slope.iter_mut().zip(y).zip(x0).zip(k) {
                                    *o = k;
                                    *y = x + c * k;
                                }
                            }
                            Src::Lane(r) => {
                                let r = r as usize * lanes_n;
                                slope.copy_from_slice(&lanes[r..r + n]);
                            }
                            Src::Uniform(r) => {
                                let k = uniform[ui][r as usize] as f32;
                                slope.fill(k);
                                if reads {
                                    for (y, &x) in y.iter_mut().zip(x0) {
                                        *y = x + c * k;
                                    }
                                }
                            }
                        }
                    }
                }
                // Combine: x0 + h * sum(w_i k_i), the last slope read in place (a
                // uniform one is first broadcast into the last slope buffer).
                let ul = &uniform[plan[last].0];
                for s in 0..ns {
                    let tol = -self.negative_tolerance[s];
                    let klast: &[f32] = match prog.output(s) {
                        Src::Lane(r) => &lanes[r as usize * lanes_n..r as usize * lanes_n + n],
                        Src::Uniform(r) => {
                            let off = (last * ns + s) * lanes_n;
                            slopes[off..off + n].fill(ul[r as usize] as f32);
                            &slopes[off..off + n]
                        }
                    };
                    let k = |st: usize| {
                        let off = (st * ns + s) * lanes_n;
                        &slopes[off..off + n]
                    };
                    let out = &mut states.species_mut(s)[c0..c0 + n];
                    bad |=
                        match method {
                            Integrator::Euler => combine(out, tol, klast.iter().map(|&k| hf * k)),
                            Integrator::Heun => {
                                let half = 0.5 * hf;
                                let k1 = k(0);
                                combine(
                                    out,
                                    tol,
                                    k1.iter().zip(klast).map(|(&a, &b)| half * (a + b)),
                                )
                            }
                            Integrator::Rk4 => {
                                let sixth = hf / 6.0;
                                let (k1, k2, k3) = (k(0), k(1), k(2));
                                combine(
                                    out,
                                    tol,
                                    k1.iter().zip(k2).zip(k3).zip(klast).map(
                                        |(((&a, &b), &c), &d)| sixth * (a + 2.0 * (b + c) + d),
                                    ),
                                )
                            }
                        };
                }
                c0 += n;
            }
            if bad {
                break;
            }
        }
        if bad {
            for s in 0..ns {
                let tol = -self.negative_tolerance[s];
                if let Some(&v) = states.species(s).iter().find(|&&v| v.is_nan() || v < tol) {
                    return Err(StateError {
                        species: s,
                        value: v as f64,
                    });
                }
            }
        }
        Ok(())
    }
}

/// `x <- x + dx` for every cell; a value at or above `tol` (a negative rounding
/// tolerance) is clamped at 0, anything else (clearly negative, NaN) is left for the
/// caller to report. Returns whether any was left. Written as one branch-free pass so
/// it vectorises.
#[inline(always)]
fn combine(x: &mut [f32], tol: f32, dx: impl Iterator<Item = f32>) -> bool {
    let mut bad = false;
    for (y, d) in x.iter_mut().zip(dx) {
        let v = *y + d;
        let ok = v >= tol;
        bad |= !ok;
        *y = if ok { v.max(0.0) } else { v };
    }
    bad
}

impl CellModel for CompiledCells {
    type Scratch = CompiledScratch;

    fn n_species(&self) -> usize {
        self.species.len()
    }

    fn n_genotypes(&self) -> usize {
        self.genotypes.len()
    }

    fn n_drugs(&self) -> usize {
        self.n_drugs
    }

    fn scratch(&self, _batch: usize) -> CompiledScratch {
        let ns = self.species.len();
        CompiledScratch {
            uniform: self
                .programs
                .iter()
                .map(|p| std::array::from_fn(|_| p.rates.uniform_workspace()))
                .collect(),
            fate_uniform: self
                .programs
                .iter()
                .map(|p| std::array::from_fn(|_| p.fate.uniform_workspace()))
                .collect(),
            uniform_filled: vec![[false; 3]; self.programs.len()],
            fate_filled: vec![[false; 2]; self.programs.len()],
            lanes: vec![0.0; self.rate_regs.max(self.fate_regs).max(ns) * self.lanes],
            slopes: vec![0.0; self.integration.method.stages() * ns * self.lanes],
            stage_in: vec![0.0; ns * self.lanes],
        }
    }

    fn species_name(&self, s: usize) -> String {
        self.species[s].clone()
    }

    fn genotype_name(&self, g: usize) -> String {
        self.genotypes[g].clone()
    }

    fn initial_state(&self, genotype: usize, out: &mut [f64]) {
        out.copy_from_slice(&self.initial[genotype]);
    }

    fn advance(
        &self,
        ctx: &StepContext<'_>,
        states: &mut StatesMut<'_>,
        sc: &mut CompiledScratch,
    ) -> Result<(), StateError> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { self.advance_avx2(ctx, states, sc) };
            }
        }
        self.advance_any(ctx, states, sc)
    }

    fn hazards(
        &self,
        ctx: &StepContext<'_>,
        states: &States<'_>,
        div: &mut [f64],
        death: &mut [f64],
        sc: &mut CompiledScratch,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { self.hazards_avx2(ctx, states, div, death, sc) };
            }
        }
        self.hazards_any(ctx, states, div, death, sc)
    }

    fn hazards_vary(&self) -> bool {
        self.fate_varies
    }

    fn mutations(&self, genotype: usize) -> &[(usize, f64)] {
        &self.mutations[genotype]
    }

    fn noise(&self) -> NoiseSpec {
        self.noise.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_str;

    /// A worker's scratch reuses a uniform file when the drugs and time repeat and
    /// recomputes it when they change: advancing and evaluating hazards through a
    /// sequence of (time, drug) contexts with one scratch gives exactly what a fresh
    /// scratch gives each time.
    #[test]
    fn reused_uniform_files_match_fresh_ones() {
        let text = include_str!("../../../tests/data/linear_fate.toml");
        let m = compile_str(std::path::Path::new("linear_fate.toml"), text).unwrap();
        let b = BoundModel::new(&m, &m.param_values()).unwrap();
        let cells = CompiledCells::new(&m, &b, LoopIntegration::default()).unwrap();
        let (ns, n) = (cells.n_species(), 200);
        let init: Vec<f32> = (0..ns * n).map(|i| 0.2 + (i % 17) as f32 * 0.05).collect();
        let (mut shared_states, mut fresh_states) = (init.clone(), init);
        let mut shared = cells.scratch(n);
        let (mut d1, mut h1) = (vec![0.0; n], vec![0.0; n]);
        let (mut d2, mut h2) = (vec![0.0; n], vec![0.0; n]);
        for &(t, c) in &[
            (0.0, 0.5),
            (1.0, 0.5),
            (0.0, 0.5),
            (1.0, 0.0),
            (1.0, 0.5),
            (2.0, 0.0),
        ] {
            let drugs = [c];
            let ctx = StepContext {
                genotype: 0,
                t,
                dt: 0.5,
                drugs: &drugs,
            };
            let hctx = StepContext { dt: 0.0, ..ctx };
            let mut a = StatesMut::new(&mut shared_states[..], n, n, ns);
            cells.advance(&ctx, &mut a, &mut shared).unwrap();
            cells.hazards(&hctx, &a.as_states(), &mut d1, &mut h1, &mut shared);
            let mut fresh = cells.scratch(n);
            let mut f = StatesMut::new(&mut fresh_states[..], n, n, ns);
            cells.advance(&ctx, &mut f, &mut fresh).unwrap();
            cells.hazards(&hctx, &f.as_states(), &mut d2, &mut h2, &mut fresh);
            assert_eq!(shared_states, fresh_states, "t {t} drug {c}");
            assert_eq!((&d1, &h1), (&d2, &h2), "t {t} drug {c}");
        }
    }
}
