//! One replicate of the agent-based engine: cells as struct-of-arrays, fixed time steps,
//! exact-in-step birth-death sampling, mutation at division, optional noise, lumping of
//! large clones into counts, passaging and a carrying capacity.
//!
//! ## The step
//! Each step of length `dt` at time `t`, for every cell: (1) the model advances its loop
//! state; (2) intrinsic noise is added; (3) the model gives division and death hazards
//! `b`, `d`; (4) the number `K` of cells the cell has become at `t + dt` is drawn from
//! the exact law of a linear birth-death process with hazards frozen over the step
//! (Kendall 1948): `P(K = 0) = alpha`, `P(K = k) = (1 - alpha)(1 - beta) beta^(k-1)` for
//! `k >= 1`, with `g = (exp((b - d) dt) - 1) / (b - d)`, `alpha = d g / (1 + b g)`,
//! `beta = b g / (1 + b g)`; (5) each of the `K - 1` new cells inherits the state (with
//! partition noise if on).
//!
//! Mutation: a division whose new cell mutates (total probability `u`) leaves the cell's
//! genotype as it was and adds a mutant, so the genotype's own cells are exactly a
//! birth-death process with division hazard `b (1 - u)` (the Kendall step above, with
//! that hazard), and mutants are emitted beside it at rate `b u` per living cell (see
//! `emit_mutants`). Every division counts, including those whose line dies within the
//! step, so the mutation supply carries no time-step bias.
//!
//! For constant hazards this is exact in distribution at any `dt` (up to order `u^2` in
//! the joint law of a cell's fate and its emissions within one step): means, variances
//! and extinction probabilities of a linear birth-death-mutation process carry no
//! time-step error. With state-dependent hazards the only error is freezing `b`, `d`
//! over a step, O(dt) globally.
//!
//! ## References
//! - Kendall, D. G. (1948). On the generalized "birth-and-death" process. Annals of
//!   Mathematical Statistics 19(1), 1-15.
//! - Gillespie, D. T. (2001). Approximate accelerated stochastic simulation of chemically
//!   reacting systems (tau-leaping). Journal of Chemical Physics 115(4), 1716-1733.

use rand::Rng;
use rand_distr::{Binomial, Distribution, Gamma, Poisson, StandardNormal};
use rayon::prelude::*;

use super::error::AbmError;
use super::fates::{
    draw_fates, expm1_over_x, first_bad_hazard, kendall, valid_hazard, BadHazard, BlockHazards,
    FateDraw, FateEvent,
};
use super::model::{CellModel, Exposure, NoiseSpec, StateError, States, StatesMut, StepContext};
use super::rng::{LaneStream, Stream};

/// Cells per block. Loop states are stored in blocks of `BLOCK` cells, species-major
/// inside a block, so a model call sees up to `BLOCK` cells whose values of one species
/// are contiguous (good for SIMD), and blocks can be processed in parallel.
pub const BLOCK: usize = 256;
/// Blocks per parallel work unit (one unit reuses one scratch buffer).
const UNIT_BLOCKS: usize = 16;
/// Fraction of intrinsic-noise updates allowed to cross zero before the configuration
/// is refused (the rest are clamped at 0 and counted).
pub const NOISE_NEGATIVE_LIMIT: f64 = 1e-4;

// Stream tags: keep the parallel, sequential and lump streams of a step apart.
const TAG_BLOCK: u64 = 1;
const TAG_SEQ: u64 = 2;
const TAG_LUMP: u64 = 3;
const TAG_PASSAGE: u64 = 4;
const TAG_LANES: u64 = 5;

/// A founding clone: `count` cells of `genotype`, in the model's initial state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Founders {
    pub genotype: usize,
    pub count: u64,
}

/// Passaging: when the population reaches `at` cells, keep each cell independently with
/// probability `keep_fraction` (a random sample of survivors, as when a dish is split).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Passage {
    pub at: u64,
    pub keep_fraction: f64,
}

/// Engine options. Build with [`AbmOptions::per_cell`], [`AbmOptions::aggregated`] or
/// [`AbmOptions::hybrid`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct AbmOptions {
    /// Time step (model time unit).
    pub dt: f64,
    /// Interval between timeline records (model time unit).
    pub record_every: f64,
    /// Start of treatment: clones born before it count as pre-existing.
    pub treatment_start: f64,
    /// Optional carrying capacity `K`: division hazards are multiplied by
    /// `max(0, 1 - N/K)` with `N` the population at the start of the step.
    pub carrying_capacity: Option<f64>,
    /// Every division hazard times this (1 in culture; a host's slower growth below 1).
    pub division_factor: f64,
    /// No cell divides in a step whose midpoint is before this time (a host's lag
    /// after injection; stop a run there so that no step straddles it).
    pub division_from: f64,
    /// Optional passaging rule.
    pub passage: Option<Passage>,
    /// A clone of individual cells with more than this many cells is lumped into one
    /// count with a shared loop state (needs noise off). `u64::MAX` = never lump.
    pub lump_above: u64,
    /// A lumped clone with fewer than this many cells is expanded back to cells.
    pub expand_below: u64,
    /// Refuse (with the byte estimate) populations of individual cells needing more.
    pub memory_limit_bytes: u64,
    /// Process blocks of cells in parallel inside a replicate (same output either way).
    pub parallel_cells: bool,
    /// Stop as soon as the population reaches this many cells.
    pub stop_at_population: Option<u64>,
    /// Stop when the population goes extinct.
    pub stop_when_extinct: bool,
    /// Times at which to keep a sample of single-cell loop states.
    pub snapshot_times: Vec<f64>,
    /// At most this many individual cells per snapshot (evenly strided sample).
    pub snapshot_max_cells: usize,
    /// Keep clone sizes at every record (Muller-plot data).
    pub record_clones: bool,
}

impl AbmOptions {
    /// Every cell simulated individually.
    pub fn per_cell(dt: f64) -> Self {
        AbmOptions {
            dt,
            record_every: dt,
            treatment_start: 0.0,
            carrying_capacity: None,
            division_factor: 1.0,
            division_from: f64::NEG_INFINITY,
            passage: None,
            lump_above: u64::MAX,
            expand_below: 0,
            memory_limit_bytes: 4 << 30,
            parallel_cells: false,
            stop_at_population: None,
            stop_when_extinct: true,
            snapshot_times: Vec::new(),
            snapshot_max_cells: 100_000,
            record_clones: true,
        }
    }

    /// Every clone kept as a count with a shared state (clone-level tau-leaping).
    pub fn aggregated(dt: f64) -> Self {
        AbmOptions {
            lump_above: 0,
            expand_below: 0,
            ..Self::per_cell(dt)
        }
    }

    /// Clones above `lump_above` cells are counts, below `expand_below` cells again.
    pub fn hybrid(dt: f64, lump_above: u64, expand_below: u64) -> Self {
        AbmOptions {
            lump_above,
            expand_below,
            ..Self::per_cell(dt)
        }
    }
}

/// Bytes of storage per individual cell for a loop of `n_species` species: `f32` per
/// species, clone id (`u32`) and birth time (`f32`). The genotype costs nothing: cells
/// are grouped by genotype; a step's fates are kept only for the cells that died or
/// divided.
pub fn bytes_per_cell(n_species: usize) -> u64 {
    4 * n_species as u64 + 8
}

/// One clone: the founder or mutant cell and all its same-genotype descendants.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneInfo {
    pub id: u32,
    /// Clone in which the founding mutation happened (`None` for founders).
    pub parent: Option<u32>,
    pub genotype: usize,
    /// Time the clone arose (start of the step of the mutation; start time for founders).
    pub born: f64,
    /// Current size.
    pub size: u64,
    /// Largest size at any record.
    pub max_size: u64,
}

/// One timeline record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub t: f64,
    pub total: u64,
    pub by_genotype: Vec<u64>,
    /// Mean loop state of each genotype's cells: species `s` of genotype `g` at
    /// `g * n_species + s` (NaN when the genotype has no cell).
    pub species_mean: Vec<f64>,
}

impl Record {
    /// Mean of species `s` over all cells (NaN when extinct).
    pub fn species_mean_all(&self, s: usize) -> f64 {
        let ns = self.species_mean.len() / self.by_genotype.len().max(1);
        let mut sum = 0.0;
        for (g, &n) in self.by_genotype.iter().enumerate() {
            if n > 0 {
                sum += self.species_mean[g * ns + s] * n as f64;
            }
        }
        sum / self.total as f64
    }
}

/// Sizes of the living clones at a record time: `(clone id, size)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneSizes {
    pub t: f64,
    pub sizes: Vec<(u32, u64)>,
}

/// A sample of single-cell loop states: `values[k * n_species + s]` is species `s` of
/// sampled entry `k`, which stands for `weights[k]` cells.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSnapshot {
    pub t: f64,
    pub n_species: usize,
    pub values: Vec<f32>,
    pub weights: Vec<u64>,
}

/// A passage: time, population before and after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassageEvent {
    pub t: f64,
    pub before: u64,
    pub after: u64,
}

/// Why [`Simulation::advance_to`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    ReachedTime,
    Extinct,
    PopulationReached,
}

/// Something a driver (e.g. a therapy schedule) did or observed during a replicate.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicateEvent {
    pub t: f64,
    /// `dose_change`, `bolus`, `passage`, `ic50`, `resistance:<rule>`, `arm_start`, `stop`.
    pub kind: String,
    /// Drug name, if the event is about one.
    pub drug: Option<String>,
    pub value: f64,
    pub unit: String,
    pub detail: String,
}

/// Everything one replicate produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicateResult {
    pub replicate: u64,
    pub timeline: Vec<Record>,
    pub clone_sizes: Vec<CloneSizes>,
    pub clones: Vec<CloneInfo>,
    pub snapshots: Vec<CellSnapshot>,
    pub passages: Vec<PassageEvent>,
    pub extinction_time: Option<f64>,
    pub treatment_start: f64,
    /// Species values clamped at zero (intrinsic or partition noise).
    pub clamps: u64,
    /// Cell-steps simulated individually and clone-steps simulated as counts.
    pub cell_steps: u64,
    pub lump_steps: u64,
    pub final_time: f64,
    /// Filled by drivers: their events, the first resistance event `(time, rule)`,
    /// the scheduled dose of each drug at each readout `(time, doses)` and IC50
    /// readouts `(time, IC50; None above the tested range)`.
    pub events: Vec<ReplicateEvent>,
    pub resistance: Option<(f64, String)>,
    pub doses: Vec<(f64, Vec<f64>)>,
    pub ic50: Vec<(f64, Option<f64>)>,
}

/// Observer of progress; engines never print. Calls come from worker threads.
pub trait Progress: Sync {
    /// Called at every timeline record.
    fn record(&self, replicate: u64, t: f64, population: u64) {
        let _ = (replicate, t, population);
    }
    /// Called when a replicate of an ensemble is finished.
    fn replicate_done(&self, replicate: u64) {
        let _ = replicate;
    }
}

/// A progress observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Sum of `n` geometric counts `P(j) = (1 - beta) beta^j`: negative binomial, drawn as
/// Poisson(Gamma(n, beta / (1 - beta))).
pub(crate) fn negative_binomial(n: u64, beta: f64, rng: &mut Stream) -> u64 {
    if n == 0 || beta <= 0.0 {
        return 0;
    }
    let scale = beta / (1.0 - beta);
    let lambda = match Gamma::new(n as f64, scale) {
        Ok(g) => g.sample(rng),
        Err(_) => return 0,
    };
    poisson(lambda, rng)
}

pub(crate) fn poisson(lambda: f64, rng: &mut Stream) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    match Poisson::new(lambda.min(Poisson::<f64>::MAX_LAMBDA)) {
        Ok(p) => {
            let x: f64 = p.sample(rng);
            x as u64
        }
        Err(_) => 0,
    }
}

/// Poisson(`lambda`) by sequential inversion for the small means of a block's mutant
/// emission (one uniform and one exponential; `rand_distr`'s sampler sets up tables
/// on every call, which cost more than the block's fates); large means go to
/// [`poisson`].
#[inline]
fn small_poisson(lambda: f64, rng: &mut Stream) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    if lambda > 8.0 {
        return poisson(lambda, rng);
    }
    let u = rng.uniform();
    let mut p = (-lambda).exp();
    let mut cum = p;
    let mut k = 0u64;
    while u >= cum && k < 1000 {
        k += 1;
        p *= lambda / k as f64;
        cum += p;
    }
    k
}

/// Binomial(n, p) with `p` clamped into [0, 1].
pub(crate) fn binomial(n: u64, p: f64, rng: &mut Stream) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    match Binomial::new(n, p) {
        Ok(b) => b.sample(rng),
        Err(_) => 0,
    }
}

/// Upper tail of the standard normal, `P(Z > z)` (Abramowitz and Stegun 7.1.26,
/// absolute error < 1.5e-7): used only to vet noise amplitudes.
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if x >= 0.0 {
        0.5 * erfc
    } else {
        1.0 - 0.5 * erfc
    }
}

#[inline(always)]
fn at(ns: usize, i: usize, s: usize) -> usize {
    (i / BLOCK) * ns * BLOCK + s * BLOCK + (i % BLOCK)
}

/// Newborn cells waiting to be appended to a genotype group (cell-major states).
#[derive(Debug, Default)]
struct Newborns {
    states: Vec<f32>,
    clone: Vec<u32>,
    birth: Vec<f32>,
}

impl Newborns {
    fn clear(&mut self) {
        self.states.clear();
        self.clone.clear();
        self.birth.clear();
    }
}

/// The individual cells of one genotype.
#[derive(Debug, Default)]
struct Group {
    n: usize,
    /// Blocks of `BLOCK` cells, species-major inside a block.
    states: Vec<f32>,
    clone: Vec<u32>,
    birth: Vec<f32>,
}

impl Group {
    fn push(&mut self, ns: usize, state: &[f32], clone: u32, birth: f32) {
        let i = self.n;
        if i.is_multiple_of(BLOCK) && self.states.len() < (i / BLOCK + 1) * ns * BLOCK {
            self.states.resize((i / BLOCK + 1) * ns * BLOCK, 0.0);
        }
        for (s, &v) in state.iter().enumerate() {
            self.states[at(ns, i, s)] = v;
        }
        self.clone.push(clone);
        self.birth.push(birth);
        self.n += 1;
    }

    fn move_cell(&mut self, ns: usize, from: usize, to: usize) {
        for s in 0..ns {
            self.states[at(ns, to, s)] = self.states[at(ns, from, s)];
        }
        self.clone[to] = self.clone[from];
        self.birth[to] = self.birth[from];
    }

    fn truncate(&mut self, ns: usize, n: usize) {
        self.n = n;
        self.clone.truncate(n);
        self.birth.truncate(n);
        self.states.truncate(n.div_ceil(BLOCK) * ns * BLOCK);
    }

    fn append(&mut self, ns: usize, nb: &Newborns) {
        for k in 0..nb.clone.len() {
            self.push(
                ns,
                &nb.states[k * ns..(k + 1) * ns],
                nb.clone[k],
                nb.birth[k],
            );
        }
    }

    /// Keep the cells for which `keep(clone, index)` is true, in order.
    fn retain(&mut self, ns: usize, mut keep: impl FnMut(u32) -> bool) {
        let mut w = 0;
        for i in 0..self.n {
            if keep(self.clone[i]) {
                if w != i {
                    self.move_cell(ns, i, w);
                }
                w += 1;
            }
        }
        self.truncate(ns, w);
    }
}

/// A clone kept as a count: all its cells share one loop state.
#[derive(Debug, Clone)]
struct Lump {
    clone: u32,
    genotype: usize,
    count: u64,
    state: Vec<f32>,
}

/// Per-unit scratch for the parallel phase.
struct UnitScratch<S> {
    model: S,
    div: Vec<f64>,
    death: Vec<f64>,
    /// Hazards at the start of the step (trapezoid rule).
    div0: Vec<f64>,
    death0: Vec<f64>,
    /// The unit's cells that died or divided in this step, in index order.
    events: Vec<FateEvent>,
    /// The clone of each event's cell, and the state of each dividing cell (`ns`
    /// values per event with `k >= 2`, in event order): copied while the block is in
    /// cache, so the sequential phase does not fetch them from scattered cells.
    event_clone: Vec<u32>,
    event_state: Vec<f32>,
    /// Mutant daughters emitted by the unit's cells in this step: target genotype and
    /// parent clone of each, and its state (`ns` values each, the parent's).
    mutants: Vec<(usize, u32)>,
    mutant_state: Vec<f32>,
}

/// Outcome of the parallel phase for one unit of blocks.
#[derive(Debug, Clone, Copy, Default)]
struct UnitOutcome {
    clamps: u64,
    bad: Option<BadHazard>,
    bad_state: Option<(usize, StateError)>,
}

/// The lower-indexed of two findings, so an error does not depend on threads.
fn first<T>(a: Option<(usize, T)>, b: Option<(usize, T)>) -> Option<(usize, T)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

impl UnitOutcome {
    fn merge(self, other: UnitOutcome) -> UnitOutcome {
        UnitOutcome {
            clamps: self.clamps + other.clamps,
            bad: first(
                self.bad.map(|(i, w, v)| (i, (w, v))),
                other.bad.map(|(i, w, v)| (i, (w, v))),
            )
            .map(|(i, (w, v))| (i, w, v)),
            bad_state: first(self.bad_state, other.bad_state),
        }
    }
}

/// Inputs shared by every unit of the parallel phase of one genotype group.
struct PhaseInput<'a, M: ?Sized> {
    model: &'a M,
    ctx: StepContext<'a>,
    noise_scale: &'a [f64],
    div_factor: f64,
    /// The genotype's mutation table `(target, probability per division)` and its
    /// total probability.
    mutations: &'a [(usize, f64)],
    mutation_total: f64,
    seed: u64,
    keys: [u64; 3],
}

/// `end <- (start + end) / 2`: the trapezoid rule for a hazard over the step.
#[inline]
fn trapezoid(end: &mut [f64], start: &[f64]) {
    for (e, &s) in end.iter_mut().zip(start) {
        *e = 0.5 * (*e + s);
    }
}

impl<M: CellModel + ?Sized> PhaseInput<'_, M> {
    /// Context of the hazards at the start of the step.
    fn ctx_start(&self) -> StepContext<'_> {
        StepContext {
            dt: 0.0,
            ..self.ctx
        }
    }
}

/// Advance, add noise, evaluate hazards and draw fates for one unit of blocks. The
/// engine's own loops (noise, trapezoid, hazard checks) run compiled for AVX2 when the
/// CPU has it (the same IEEE operations, so the same bits either way).
fn process_unit<M: CellModel + ?Sized>(
    inp: &PhaseInput<'_, M>,
    unit: usize,
    states: &mut [f32],
    clones: &[u32],
    cells: usize,
    scratch: &mut UnitScratch<M::Scratch>,
) -> UnitOutcome {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { process_unit_avx2(inp, unit, states, clones, cells, scratch) };
        }
    }
    process_unit_any(inp, unit, states, clones, cells, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn process_unit_avx2<M: CellModel + ?Sized>(
    inp: &PhaseInput<'_, M>,
    unit: usize,
    states: &mut [f32],
    clones: &[u32],
    cells: usize,
    scratch: &mut UnitScratch<M::Scratch>,
) -> UnitOutcome {
    process_unit_any(inp, unit, states, clones, cells, scratch)
}

#[inline(always)]
fn process_unit_any<M: CellModel + ?Sized>(
    inp: &PhaseInput<'_, M>,
    unit: usize,
    states: &mut [f32],
    clones: &[u32],
    cells: usize,
    scratch: &mut UnitScratch<M::Scratch>,
) -> UnitOutcome {
    let ns = inp.model.n_species();
    let mut out = UnitOutcome::default();
    let dt = inp.ctx.dt;
    scratch.events.clear();
    scratch.event_clone.clear();
    scratch.event_state.clear();
    scratch.mutants.clear();
    scratch.mutant_state.clear();
    for b in 0..cells.div_ceil(BLOCK) {
        let len = (cells - b * BLOCK).min(BLOCK);
        let block = unit * UNIT_BLOCKS + b;
        let data = if ns == 0 {
            &mut [][..]
        } else {
            &mut states[b * ns * BLOCK..(b + 1) * ns * BLOCK]
        };
        let mut rng = Stream::derive(
            inp.seed,
            &[
                TAG_BLOCK,
                inp.keys[0],
                inp.keys[1],
                inp.keys[2],
                block as u64,
            ],
        );
        let mut sm = StatesMut::new(data, BLOCK, len, ns);
        // Hazards at the start of the step, for the trapezoid rule.
        let varying = inp.model.hazards_vary();
        if varying {
            let (div0, death0) = (&mut scratch.div0[..len], &mut scratch.death0[..len]);
            inp.model.hazards(
                &inp.ctx_start(),
                &sm.as_states(),
                div0,
                death0,
                &mut scratch.model,
            );
            if let Some((i, which, v)) = first_bad_hazard(div0, death0) {
                if out.bad.is_none() {
                    out.bad = Some((block * BLOCK + i, which, v));
                }
                continue;
            }
        }
        if let Err(e) = inp.model.advance(&inp.ctx, &mut sm, &mut scratch.model) {
            if out.bad_state.is_none() {
                out.bad_state = Some((block * BLOCK, e));
            }
            continue;
        }
        for (s, &scale) in inp.noise_scale.iter().enumerate() {
            if scale > 0.0 {
                for x in sm.species_mut(s) {
                    let xi: f64 = rng.sample(StandardNormal);
                    let v = *x as f64 * (1.0 + scale * xi);
                    if v < 0.0 {
                        *x = 0.0;
                        out.clamps += 1;
                    } else {
                        *x = v as f32;
                    }
                }
            }
        }
        let div = &mut scratch.div[..len];
        let death = &mut scratch.death[..len];
        let hctx = StepContext {
            t: inp.ctx.t + dt,
            dt: 0.0,
            ..inp.ctx
        };
        inp.model
            .hazards(&hctx, &sm.as_states(), div, death, &mut scratch.model);
        if varying {
            trapezoid(div, &scratch.div0[..len]);
            trapezoid(death, &scratch.death0[..len]);
        }
        // Kendall's law for every cell, one uniform per cell from the block's lanes;
        // only the cells that died or divided are kept.
        let mut lanes = LaneStream::derive(
            inp.seed,
            &[
                TAG_LANES,
                inp.keys[0],
                inp.keys[1],
                inp.keys[2],
                block as u64,
            ],
        );
        let base = (block * BLOCK) as u32;
        // Divisions whose new cell stays in the genotype: the genotype's own cells are
        // a birth-death process with division hazard b (1 - u); mutant daughters are
        // emitted beside it (`emit_mutants`).
        let hazards = BlockHazards {
            div,
            death,
            factor: inp.div_factor * (1.0 - inp.mutation_total),
            dt,
        };
        let mut draw = FateDraw {
            lanes: &mut lanes,
            extra: &mut rng,
            base,
            events: &mut scratch.events,
        };
        let drawn = draw_fates(&hazards, &mut draw);
        if let Some((i, which, v)) = drawn {
            if out.bad.is_none() {
                out.bad = Some((block * BLOCK + i, which, v));
            }
        }
        if inp.mutation_total > 0.0 {
            let st = sm.as_states();
            let from = scratch.mutants.len();
            emit_mutants(
                inp.mutations,
                inp.div_factor,
                &hazards,
                &mut rng,
                &mut scratch.mutants,
            );
            for m in &mut scratch.mutants[from..] {
                // The emitting cell's index in the block becomes its clone.
                let j = m.1 as usize;
                m.1 = clones[block * BLOCK - unit * UNIT_BLOCKS * BLOCK + j];
                scratch
                    .mutant_state
                    .extend((0..ns).map(|s| st.species(s)[j]));
            }
        }
        for e in &scratch.events[scratch.event_clone.len()..] {
            let local = e.index as usize - unit * UNIT_BLOCKS * BLOCK;
            scratch.event_clone.push(clones[local]);
            if e.k >= 2 {
                let j = e.index as usize % BLOCK;
                let st = &sm.as_states();
                scratch
                    .event_state
                    .extend((0..ns).map(|s| st.species(s)[j]));
            }
        }
    }
    out
}

/// Mutant daughters of a block's cells over one step, appended to `out` as `(target
/// genotype, cell index in the block)`.
///
/// A division whose new cell mutates (probability `u`, the table's total) leaves the
/// dividing cell's genotype unchanged and adds one mutant; one that does not adds a
/// cell of the genotype. So the genotype's cells are exactly a birth-death process
/// with division hazard `b (1 - u)` (the Kendall step of `fates`, with that
/// hazard), and mutants are emitted at rate `b u` per living cell: over a step, a cell
/// emits a Poisson number with mean `b u g`, `g = (exp((b (1 - u) - d) dt) - 1) /
/// (b (1 - u) - d)` (the expected cell-time of its line). Every division counts,
/// also those whose line dies within the step, so the mutation supply has no
/// time-step bias. (The emission count is drawn independently of the cell's own
/// fate; their correlation within one step changes the law at order `u^2`.)
///
/// Drawn by thinning: `Poisson(n w_max)` candidates at uniformly chosen cells, each
/// kept with probability `w_i / w_max`, where `w_max` bounds every cell's mean; the
/// usual step draws one Poisson variate with a tiny mean and nothing else. A kept
/// mutant's target is drawn with probability `p_c / u`. A mutant starts as one cell
/// of its genotype at the end of the step, with its parent's loop state.
fn emit_mutants(
    table: &[(usize, f64)],
    div_factor: f64,
    h: &BlockHazards<'_>,
    rng: &mut Stream,
    out: &mut Vec<(usize, u32)>,
) {
    let n = h.div.len();
    let u: f64 = table.iter().map(|&(_, p)| p).sum();
    let f = div_factor;
    let dt = h.dt;
    let b_max = h.div.iter().fold(0.0f64, |a, &b| a.max(b)) * f;
    let d_min = h.death.iter().fold(f64::INFINITY, |a, &d| a.min(d));
    let growth = (b_max * (1.0 - u) - d_min).max(0.0) * dt;
    // (exp(x) - 1) / x <= exp(max(x, 0)), so this bounds every cell's mean.
    let w_max = b_max * u * dt * growth.exp();
    if !(w_max > 0.0 && w_max.is_finite()) {
        return;
    }
    let mean = |i: usize| {
        let b = h.div[i] * f;
        b * u * dt * expm1_over_x((b * (1.0 - u) - h.death[i]) * dt)
    };
    for _ in 0..small_poisson(n as f64 * w_max, rng) {
        let i = ((rng.uniform() * n as f64) as usize).min(n - 1);
        if rng.uniform() * w_max >= mean(i) {
            continue;
        }
        let v = rng.uniform() * u;
        let mut acc = 0.0;
        let mut target = table.last().map_or(0, |&(c, _)| c);
        for &(c, p) in table {
            acc += p;
            if v < acc {
                target = c;
                break;
            }
        }
        out.push((target, i as u32));
    }
}

/// One replicate of the agent-based engine.
pub struct Simulation<'m, M: CellModel + ?Sized> {
    model: &'m M,
    opts: AbmOptions,
    seed: u64,
    replicate: u64,
    t: f64,
    step: u64,
    ns: usize,
    noise: NoiseSpec,
    mutations: Vec<Vec<(usize, f64)>>,
    groups: Vec<Group>,
    incoming: Vec<Newborns>,
    lumps: Vec<Lump>,
    clones: Vec<CloneInfo>,
    clone_lumped: Vec<bool>,
    scratch: Vec<UnitScratch<M::Scratch>>,
    /// Model scratch for lumps (one cell at a time).
    lump_scratch: M::Scratch,
    drugs: Vec<f64>,
    tmp_state: Vec<f32>,
    next_record: f64,
    next_snapshot: usize,
    result: ReplicateResult,
}

impl<'m, M: CellModel + ?Sized> Simulation<'m, M> {
    /// Validate the model and options and seed the founders. Errors name the bad input.
    pub fn new(
        model: &'m M,
        founders: &[Founders],
        opts: AbmOptions,
        seed: u64,
        replicate: u64,
    ) -> Result<Self, AbmError> {
        let ng = model.n_genotypes();
        let ns = model.n_species();
        validate_options(&opts)?;
        if ng == 0 {
            return Err(AbmError::NoGenotypes);
        }
        let total: u64 = founders.iter().map(|f| f.count).sum();
        if total == 0 {
            return Err(AbmError::NoCells);
        }
        for f in founders {
            if f.genotype >= ng {
                return Err(AbmError::GenotypeOutOfRange {
                    genotype: f.genotype,
                    n_genotypes: ng,
                });
            }
        }
        let mutations = validate_mutations(model)?;
        let noise = model.noise();
        let noise_scale = validate_noise(&noise, ns, opts.dt)?;
        let _ = noise_scale;
        if opts.lump_above != u64::MAX && !noise.is_off() {
            return Err(AbmError::LumpingWithNoise);
        }
        let agents: u64 = founders
            .iter()
            .filter(|f| f.count <= opts.lump_above)
            .map(|f| f.count)
            .sum();
        check_memory(agents, ns, opts.memory_limit_bytes)?;

        let mut init = vec![0.0f64; ns];
        let mut sim = Simulation {
            model,
            seed,
            replicate,
            t: 0.0,
            step: 0,
            ns,
            mutations,
            groups: (0..ng).map(|_| Group::default()).collect(),
            incoming: (0..ng).map(|_| Newborns::default()).collect(),
            lumps: Vec::new(),
            clones: Vec::new(),
            clone_lumped: Vec::new(),
            scratch: Vec::new(),
            lump_scratch: model.scratch(1),
            drugs: vec![0.0; model.n_drugs()],
            tmp_state: vec![0.0; ns],
            next_record: 0.0,
            next_snapshot: 0,
            result: ReplicateResult {
                replicate,
                timeline: Vec::new(),
                clone_sizes: Vec::new(),
                clones: Vec::new(),
                snapshots: Vec::new(),
                passages: Vec::new(),
                extinction_time: None,
                treatment_start: opts.treatment_start,
                clamps: 0,
                cell_steps: 0,
                lump_steps: 0,
                final_time: 0.0,
                events: Vec::new(),
                resistance: None,
                doses: Vec::new(),
                ic50: Vec::new(),
            },
            noise,
            opts,
        };
        for f in founders.iter().filter(|f| f.count > 0) {
            model.initial_state(f.genotype, &mut init);
            let state: Vec<f32> = init.iter().map(|&v| v as f32).collect();
            let id = sim.new_clone(None, f.genotype, 0.0);
            sim.clones[id as usize].size = f.count;
            if f.count > sim.opts.lump_above {
                sim.lump_new(id, f.genotype, f.count, state);
            } else {
                for _ in 0..f.count {
                    sim.groups[f.genotype].push(ns, &state, id, 0.0);
                }
            }
        }
        sim.record(&NoProgress);
        sim.take_snapshots();
        Ok(sim)
    }

    fn new_clone(&mut self, parent: Option<u32>, genotype: usize, born: f64) -> u32 {
        let id = self.clones.len() as u32;
        self.clones.push(CloneInfo {
            id,
            parent,
            genotype,
            born,
            size: 0,
            max_size: 0,
        });
        self.clone_lumped.push(false);
        id
    }

    fn bad_state(&self, genotype: usize, t: f64, dt: f64, e: StateError) -> AbmError {
        AbmError::BadState {
            species: self.model.species_name(e.species),
            genotype: self.model.genotype_name(genotype),
            t,
            dt,
            value: e.value,
        }
    }

    fn lump_new(&mut self, clone: u32, genotype: usize, count: u64, state: Vec<f32>) {
        self.clone_lumped[clone as usize] = true;
        self.lumps.push(Lump {
            clone,
            genotype,
            count,
            state,
        });
    }

    /// Current time.
    pub fn time(&self) -> f64 {
        self.t
    }

    /// Current population size.
    pub fn population(&self) -> u64 {
        self.groups.iter().map(|g| g.n as u64).sum::<u64>()
            + self.lumps.iter().map(|l| l.count).sum::<u64>()
    }

    /// Current population size of each genotype.
    pub fn counts_by_genotype(&self) -> Vec<u64> {
        let mut c: Vec<u64> = self.groups.iter().map(|g| g.n as u64).collect();
        for l in &self.lumps {
            c[l.genotype] += l.count;
        }
        c
    }

    /// Cells of each genotype and the mean loop state of each genotype's cells
    /// (species `s` of genotype `g` at `g * n_species + s`; NaN for a genotype with no
    /// cell): what an assay on the population's mean state needs.
    pub fn genotype_means(&self) -> (Vec<u64>, Vec<f64>) {
        let counts = self.counts_by_genotype();
        let means = self.species_means(&counts);
        (counts, means)
    }

    /// Clones so far (sizes are current).
    pub fn clones(&self) -> &[CloneInfo] {
        &self.clones
    }

    /// Number of cells simulated individually and number of lumped clones.
    pub fn representation(&self) -> (u64, usize) {
        (
            self.groups.iter().map(|g| g.n as u64).sum(),
            self.lumps.len(),
        )
    }

    /// Advance until `t_end` (the last step is shortened to land on it), the population
    /// goes extinct or reaches `stop_at_population`. The exposure is read at the start
    /// of every step, so a schedule driver should call this up to each dose and change
    /// the exposure in between.
    pub fn advance_to(
        &mut self,
        t_end: f64,
        exposure: &dyn Exposure,
        progress: &dyn Progress,
    ) -> Result<StopReason, AbmError> {
        if !t_end.is_finite() {
            return Err(AbmError::BadOption {
                name: "t_end",
                value: t_end,
                reason: "must be finite",
            });
        }
        loop {
            let n = self.population();
            if n == 0 && self.opts.stop_when_extinct {
                return Ok(StopReason::Extinct);
            }
            if let Some(m) = self.opts.stop_at_population {
                if n >= m {
                    return Ok(StopReason::PopulationReached);
                }
            }
            let remaining = t_end - self.t;
            if remaining <= 1e-9 * self.opts.dt {
                return Ok(StopReason::ReachedTime);
            }
            let mut dt = self.opts.dt.min(remaining);
            // End the step at the next jump of the exposure, so none is straddled.
            if let Some(tj) = exposure.next_discontinuity(self.t) {
                if tj - self.t > 1e-9 * self.opts.dt {
                    dt = dt.min(tj - self.t);
                }
            }
            // Memory is watched as the population grows, not only at the start (a
            // step can overshoot the limit by at most its own growth, under 2x).
            let individual = self.groups.iter().map(|g| g.n as u64).sum::<u64>();
            check_memory(individual, self.ns, self.opts.memory_limit_bytes)?;
            self.step_once(dt, exposure, progress)?;
        }
    }

    /// Stop advances when the population reaches this many cells (`None`: never).
    pub fn set_stop_at_population(&mut self, cells: Option<u64>) {
        self.opts.stop_at_population = cells;
    }

    /// Thin the population, keeping each cell with probability `keep_fraction`.
    pub fn passage(&mut self, keep_fraction: f64) -> Result<(), AbmError> {
        if !(keep_fraction > 0.0 && keep_fraction <= 1.0) {
            return Err(AbmError::BadOption {
                name: "keep_fraction",
                value: keep_fraction,
                reason: "must lie in (0, 1]",
            });
        }
        let before = self.population();
        let mut rng = Stream::derive(self.seed, &[TAG_PASSAGE, self.replicate, self.step]);
        let ns = self.ns;
        for g in &mut self.groups {
            let clones = &mut self.clones;
            g.retain(ns, |c| {
                let keep = rng.uniform() < keep_fraction;
                if !keep {
                    clones[c as usize].size -= 1;
                }
                keep
            });
        }
        for l in &mut self.lumps {
            let kept = binomial(l.count, keep_fraction, &mut rng);
            self.clones[l.clone as usize].size -= l.count - kept;
            l.count = kept;
        }
        self.lumps.retain(|l| l.count > 0);
        let after = self.population();
        self.result.passages.push(PassageEvent {
            t: self.t,
            before,
            after,
        });
        if after == 0 && self.result.extinction_time.is_none() {
            self.result.extinction_time = Some(self.t);
        }
        Ok(())
    }

    fn step_once(
        &mut self,
        dt: f64,
        exposure: &dyn Exposure,
        progress: &dyn Progress,
    ) -> Result<(), AbmError> {
        let t = self.t;
        exposure.drugs_at(t + 0.5 * dt, &mut self.drugs);
        let n_now = self.population();
        let div_factor = if t + 0.5 * dt < self.opts.division_from {
            0.0
        } else {
            self.opts.division_factor
                * match self.opts.carrying_capacity {
                    Some(k) => (1.0 - n_now as f64 / k).max(0.0),
                    None => 1.0,
                }
        };
        let noise_scale: Vec<f64> = (0..self.ns)
            .map(|s| self.noise.intrinsic.get(s).copied().unwrap_or(0.0) * dt.sqrt())
            .collect();
        for g in 0..self.groups.len() {
            self.step_group(g, t, dt, div_factor, &noise_scale)?;
        }
        self.step_lumps(t, dt, div_factor)?;
        let ns = self.ns;
        for (g, nb) in self.groups.iter_mut().zip(self.incoming.iter_mut()) {
            g.append(ns, nb);
            nb.clear();
        }
        self.apply_lump_rule();
        self.t = t + dt;
        self.step += 1;
        let agents: u64 = self.groups.iter().map(|g| g.n as u64).sum();
        check_memory(agents, ns, self.opts.memory_limit_bytes)?;
        if let Some(p) = self.opts.passage {
            if self.population() >= p.at {
                self.passage(p.keep_fraction)?;
            }
        }
        if self.population() == 0 && self.result.extinction_time.is_none() {
            self.result.extinction_time = Some(self.t);
        }
        self.take_snapshots();
        if self.t >= self.next_record - 1e-9 * self.opts.dt {
            self.record(progress);
        }
        Ok(())
    }

    fn step_group(
        &mut self,
        g: usize,
        t: f64,
        dt: f64,
        div_factor: f64,
        noise_scale: &[f64],
    ) -> Result<(), AbmError> {
        let ns = self.ns;
        let n = self.groups[g].n;
        if n == 0 {
            return Ok(());
        }
        self.result.cell_steps += n as u64;
        let unit_cells = BLOCK * UNIT_BLOCKS;
        let n_units = n.div_ceil(unit_cells);
        while self.scratch.len() < n_units {
            self.scratch.push(UnitScratch {
                model: self.model.scratch(BLOCK),
                div: vec![0.0; BLOCK],
                death: vec![0.0; BLOCK],
                div0: vec![0.0; BLOCK],
                death0: vec![0.0; BLOCK],
                events: Vec::new(),
                event_clone: Vec::new(),
                event_state: Vec::new(),
                mutants: Vec::new(),
                mutant_state: Vec::new(),
            });
        }
        let inp = PhaseInput {
            model: self.model,
            ctx: StepContext {
                genotype: g,
                t,
                dt,
                drugs: &self.drugs,
            },
            noise_scale,
            div_factor,
            mutations: &self.mutations[g],
            mutation_total: self.mutations[g].iter().map(|&(_, p)| p).sum(),
            seed: self.seed,
            keys: [self.replicate, self.step, g as u64],
        };
        let group = &mut self.groups[g];
        let unit_len = ns * BLOCK * UNIT_BLOCKS;
        let cells_in = |u: usize| (n - u * unit_cells).min(unit_cells);
        let outcome = if self.opts.parallel_cells && n_units > 1 {
            let mut jobs: Vec<&mut [f32]> = Vec::with_capacity(n_units);
            let mut rest = &mut group.states[..];
            for _ in 0..n_units {
                let take = unit_len.min(rest.len());
                let (a, b) = rest.split_at_mut(take);
                jobs.push(a);
                rest = b;
            }
            jobs.into_par_iter()
                .zip(group.clone.par_chunks(unit_cells))
                .zip(self.scratch[..n_units].par_iter_mut())
                .enumerate()
                .map(|(u, ((st, cl), sc))| process_unit(&inp, u, st, cl, cells_in(u), sc))
                .reduce(UnitOutcome::default, UnitOutcome::merge)
        } else {
            let mut acc = UnitOutcome::default();
            for u in 0..n_units {
                let lo = (u * unit_len).min(group.states.len());
                let hi = ((u + 1) * unit_len).min(group.states.len());
                let states = &mut group.states[lo..hi];
                let cl = &group.clone[u * unit_cells..u * unit_cells + cells_in(u)];
                let o = process_unit(&inp, u, states, cl, cells_in(u), &mut self.scratch[u]);
                acc = acc.merge(o);
            }
            acc
        };
        self.result.clamps += outcome.clamps;
        if let Some((_, e)) = outcome.bad_state {
            return Err(self.bad_state(g, t, dt, e));
        }
        if let Some((_, which, value)) = outcome.bad {
            return Err(AbmError::BadHazard {
                which,
                genotype: g,
                name: self.model.genotype_name(g),
                t,
                value,
            });
        }
        self.resolve_fates(g, n_units, t, dt);
        Ok(())
    }

    /// Sequential phase: remove the dead (the last cell takes a dead cell's slot, so the
    /// cost is proportional to the events, not to the population) and queue the
    /// newborns, mutants to their own genotype. Cells are visited from the last to the
    /// first, so a cell moved into a slot has already been resolved.
    fn resolve_fates(&mut self, g: usize, n_units: usize, t: f64, dt: f64) {
        let ns = self.ns;
        let mut rng = Stream::derive(self.seed, &[TAG_SEQ, self.replicate, self.step, g as u64]);
        let cv = self.noise.partition_cv;
        let birth_time = (t + dt) as f32;
        let mut n = self.groups[g].n;
        // The parallel phase kept only the cells that died or divided, per unit in
        // index order.
        let scratch = std::mem::take(&mut self.scratch);
        let mut parent = vec![0.0f32; ns];
        for unit in scratch[..n_units].iter().rev() {
            let mut state_end = unit.event_state.len();
            for (&FateEvent { index, k }, &clone) in unit.events.iter().zip(&unit.event_clone).rev()
            {
                let i = index as usize;
                if k == 0 {
                    self.clones[clone as usize].size -= 1;
                    if i != n - 1 {
                        self.groups[g].move_cell(ns, n - 1, i);
                    }
                    n -= 1;
                    continue;
                }
                // Cells are visited from the last, and a death moves a cell from above
                // the current index, so cell `i` still holds the state captured for it.
                parent.copy_from_slice(&unit.event_state[state_end - ns..state_end]);
                state_end -= ns;
                for _ in 1..k {
                    // The parent's state after this division, and the daughter's.
                    self.tmp_state.copy_from_slice(&parent);
                    if cv > 0.0 {
                        let clamps = &mut self.result.clamps;
                        for (p, d) in parent.iter_mut().zip(self.tmp_state.iter_mut()) {
                            let xi: f64 = rng.sample(StandardNormal);
                            let x = *d as f64;
                            *p = clamp_count(x * (1.0 + cv * xi), clamps) as f32;
                            *d = clamp_count(x * (1.0 - cv * xi), clamps) as f32;
                        }
                    }
                    self.clones[clone as usize].size += 1;
                    let nb = &mut self.incoming[g];
                    nb.states.extend_from_slice(&self.tmp_state);
                    nb.clone.push(clone);
                    nb.birth.push(birth_time);
                }
                if cv > 0.0 {
                    let grp = &mut self.groups[g];
                    for (s, &v) in parent.iter().enumerate() {
                        grp.states[at(ns, i, s)] = v;
                    }
                }
            }
        }
        self.groups[g].truncate(ns, n);
        // Mutant daughters, in unit then emission order: new clones of their targets.
        for unit in &scratch[..n_units] {
            for (k, &(target, clone)) in unit.mutants.iter().enumerate() {
                let id = self.new_clone(Some(clone), target, t);
                self.clones[id as usize].size = 1;
                let nb = &mut self.incoming[target];
                nb.states
                    .extend_from_slice(&unit.mutant_state[k * ns..(k + 1) * ns]);
                nb.clone.push(id);
                nb.birth.push(birth_time);
            }
        }
        self.scratch = scratch;
    }

    fn step_lumps(&mut self, t: f64, dt: f64, div_factor: f64) -> Result<(), AbmError> {
        if self.lumps.is_empty() {
            return Ok(());
        }
        let ns = self.ns;
        let mut rng = Stream::derive(self.seed, &[TAG_LUMP, self.replicate, self.step]);
        let mut div = [0.0f64];
        let mut death = [0.0f64];
        let birth_time = (t + dt) as f32;
        for li in 0..self.lumps.len() {
            self.result.lump_steps += 1;
            let g = self.lumps[li].genotype;
            let ctx = StepContext {
                genotype: g,
                t,
                dt,
                drugs: &self.drugs,
            };
            let varying = self.model.hazards_vary();
            let (mut div0, mut death0) = ([0.0f64], [0.0f64]);
            {
                let lump = &mut self.lumps[li];
                if varying {
                    let hctx = StepContext { dt: 0.0, ..ctx };
                    self.model.hazards(
                        &hctx,
                        &States::new(&lump.state, 1, 1, ns),
                        &mut div0,
                        &mut death0,
                        &mut self.lump_scratch,
                    );
                }
                let mut sm = StatesMut::new(&mut lump.state, 1, 1, ns);
                if let Err(e) = self.model.advance(&ctx, &mut sm, &mut self.lump_scratch) {
                    return Err(self.bad_state(g, t, dt, e));
                }
                let hctx = StepContext {
                    t: t + dt,
                    dt: 0.0,
                    ..ctx
                };
                self.model.hazards(
                    &hctx,
                    &States::new(&lump.state, 1, 1, ns),
                    &mut div,
                    &mut death,
                    &mut self.lump_scratch,
                );
            }
            let mut bad = None;
            if varying {
                if !valid_hazard(div0[0]) {
                    bad = Some(("division", div0[0]));
                } else if !valid_hazard(death0[0]) {
                    bad = Some(("death", death0[0]));
                }
                trapezoid(&mut div, &div0);
                trapezoid(&mut death, &death0);
            }
            let b = div[0] * div_factor;
            let d = death[0];
            if bad.is_some() || !(valid_hazard(b) && valid_hazard(d)) {
                let (which, value) = bad.unwrap_or(if valid_hazard(b) {
                    ("death", d)
                } else {
                    ("division", div[0])
                });
                return Err(AbmError::BadHazard {
                    which,
                    genotype: g,
                    name: self.model.genotype_name(g),
                    t,
                    value,
                });
            }
            // As for single cells (`emit_mutants`): the clone is a birth-death process
            // with division hazard b (1 - u), and emits mutants to each target c at
            // rate b p_c per cell, a Poisson number with mean b p_c N g over the step.
            let u: f64 = self.mutations[g].iter().map(|&(_, p)| p).sum();
            let (alpha, beta) = kendall(b * (1.0 - u), d, dt);
            let count = self.lumps[li].count;
            let dead = binomial(count, alpha, &mut rng);
            let surv = count - dead;
            let extra = negative_binomial(surv, beta, &mut rng);
            let cell_time = count as f64 * dt * expm1_over_x((b * (1.0 - u) - d) * dt);
            let clone = self.lumps[li].clone;
            for mi in 0..self.mutations[g].len() {
                let (child, p) = self.mutations[g][mi];
                let m = poisson(b * p * cell_time, &mut rng);
                for _ in 0..m {
                    let id = self.new_clone(Some(clone), child, t);
                    self.clones[id as usize].size = 1;
                    let nb = &mut self.incoming[child];
                    nb.states.extend_from_slice(&self.lumps[li].state);
                    nb.clone.push(id);
                    nb.birth.push(birth_time);
                }
            }
            let new_count = surv + extra;
            self.lumps[li].count = new_count;
            self.clones[clone as usize].size = new_count;
        }
        Ok(())
    }

    /// Lump agent clones above `lump_above`; expand lumps below `expand_below`.
    fn apply_lump_rule(&mut self) {
        let ns = self.ns;
        // Expand small lumps (and drop empty ones).
        let mut i = 0;
        while i < self.lumps.len() {
            let l = &self.lumps[i];
            if l.count == 0 || l.count < self.opts.expand_below {
                let l = self.lumps.remove(i);
                self.clone_lumped[l.clone as usize] = false;
                for _ in 0..l.count {
                    self.groups[l.genotype].push(ns, &l.state, l.clone, self.t as f32);
                }
            } else {
                i += 1;
            }
        }
        if self.opts.lump_above == u64::MAX {
            return;
        }
        let mut to_lump = false;
        for c in &self.clones {
            if !self.clone_lumped[c.id as usize] && c.size > self.opts.lump_above {
                to_lump = true;
                break;
            }
        }
        if !to_lump {
            return;
        }
        for g in 0..self.groups.len() {
            let grp = &mut self.groups[g];
            let mut found: Vec<(u32, Vec<f32>)> = Vec::new();
            let clones = &self.clones;
            let lumped = &self.clone_lumped;
            let lump_above = self.opts.lump_above;
            for i in 0..grp.n {
                let c = grp.clone[i];
                if !lumped[c as usize]
                    && clones[c as usize].size > lump_above
                    && !found.iter().any(|f| f.0 == c)
                {
                    let state = (0..ns).map(|s| grp.states[at(ns, i, s)]).collect();
                    found.push((c, state));
                }
            }
            if found.is_empty() {
                continue;
            }
            grp.retain(ns, |c| !found.iter().any(|f| f.0 == c));
            for (c, state) in found {
                let count = self.clones[c as usize].size;
                self.lump_new(c, g, count, state);
            }
        }
    }

    /// Mean loop state per genotype (sums in `f64` over individual cells and lumps).
    fn species_means(&self, by_genotype: &[u64]) -> Vec<f64> {
        let ns = self.ns;
        let mut sum = vec![0.0f64; by_genotype.len() * ns];
        if ns == 0 {
            return sum;
        }
        for (g, grp) in self.groups.iter().enumerate() {
            for (b, block) in grp.states.chunks(ns * BLOCK).enumerate() {
                let len = (grp.n - b * BLOCK).min(BLOCK);
                for s in 0..ns {
                    let row = &block[s * BLOCK..s * BLOCK + len];
                    sum[g * ns + s] += row.iter().map(|&x| x as f64).sum::<f64>();
                }
            }
        }
        for l in &self.lumps {
            for s in 0..ns {
                sum[l.genotype * ns + s] += l.state[s] as f64 * l.count as f64;
            }
        }
        for (g, &n) in by_genotype.iter().enumerate() {
            for v in &mut sum[g * ns..(g + 1) * ns] {
                *v = if n > 0 { *v / n as f64 } else { f64::NAN };
            }
        }
        sum
    }

    fn record(&mut self, progress: &dyn Progress) {
        let by_genotype = self.counts_by_genotype();
        let total = by_genotype.iter().sum();
        let species_mean = self.species_means(&by_genotype);
        for c in &mut self.clones {
            c.max_size = c.max_size.max(c.size);
        }
        self.result.timeline.push(Record {
            t: self.t,
            total,
            by_genotype,
            species_mean,
        });
        if self.opts.record_clones {
            self.result.clone_sizes.push(CloneSizes {
                t: self.t,
                sizes: self
                    .clones
                    .iter()
                    .filter(|c| c.size > 0)
                    .map(|c| (c.id, c.size))
                    .collect(),
            });
        }
        progress.record(self.replicate, self.t, total);
        self.next_record = self.t + self.opts.record_every;
    }

    fn take_snapshots(&mut self) {
        let ns = self.ns;
        while self.next_snapshot < self.opts.snapshot_times.len()
            && self.t >= self.opts.snapshot_times[self.next_snapshot] - 1e-9 * self.opts.dt
        {
            let agents: usize = self.groups.iter().map(|g| g.n).sum();
            let stride = agents.div_ceil(self.opts.snapshot_max_cells.max(1)).max(1);
            let mut snap = CellSnapshot {
                t: self.t,
                n_species: ns,
                values: Vec::new(),
                weights: Vec::new(),
            };
            for g in &self.groups {
                for i in (0..g.n).step_by(stride) {
                    for s in 0..ns {
                        snap.values.push(g.states[at(ns, i, s)]);
                    }
                    snap.weights.push(stride as u64);
                }
            }
            for l in &self.lumps {
                snap.values.extend_from_slice(&l.state);
                snap.weights.push(l.count);
            }
            self.result.snapshots.push(snap);
            self.next_snapshot += 1;
        }
    }

    /// Finish: record the final state (if not just recorded) and return the results.
    pub fn finish(mut self) -> ReplicateResult {
        if self.result.timeline.last().map(|r| r.t) != Some(self.t) {
            self.record(&NoProgress);
        }
        for c in &mut self.clones {
            c.max_size = c.max_size.max(c.size);
        }
        self.result.clones = self.clones;
        self.result.final_time = self.t;
        self.result
    }
}

fn clamp_count(x: f64, clamps: &mut u64) -> f64 {
    if x < 0.0 {
        *clamps += 1;
        0.0
    } else {
        x
    }
}

fn validate_options(o: &AbmOptions) -> Result<(), AbmError> {
    let bad = |name, value, reason| {
        Err(AbmError::BadOption {
            name,
            value,
            reason,
        })
    };
    if !(o.dt > 0.0 && o.dt.is_finite()) {
        return bad("dt", o.dt, "must be positive and finite");
    }
    if !(o.record_every > 0.0 && o.record_every.is_finite()) {
        return bad(
            "record_every",
            o.record_every,
            "must be positive and finite",
        );
    }
    if !o.treatment_start.is_finite() {
        return bad("treatment_start", o.treatment_start, "must be finite");
    }
    if let Some(k) = o.carrying_capacity {
        if k.is_nan() || k <= 0.0 {
            return bad("carrying_capacity", k, "must be positive");
        }
    }
    if !(o.division_factor.is_finite() && o.division_factor >= 0.0) {
        return bad(
            "division_factor",
            o.division_factor,
            "must be finite and non-negative",
        );
    }
    if o.division_from.is_nan() {
        return bad("division_from", o.division_from, "must be a number");
    }
    if let Some(p) = o.passage {
        if !(p.keep_fraction > 0.0 && p.keep_fraction < 1.0) {
            return bad(
                "passage.keep_fraction",
                p.keep_fraction,
                "must lie in (0, 1)",
            );
        }
        if p.at == 0 {
            return bad("passage.at", 0.0, "must be at least 1");
        }
    }
    if o.expand_below > o.lump_above {
        return bad(
            "expand_below",
            o.expand_below as f64,
            "must not exceed lump_above, or clones would flip every step",
        );
    }
    Ok(())
}

fn validate_mutations<M: CellModel + ?Sized>(
    model: &M,
) -> Result<Vec<Vec<(usize, f64)>>, AbmError> {
    let ng = model.n_genotypes();
    let mut out = Vec::with_capacity(ng);
    for g in 0..ng {
        let table = model.mutations(g);
        let mut sum = 0.0;
        for &(to, p) in table {
            if !(0.0..=1.0).contains(&p) {
                return Err(AbmError::MutationProbability {
                    from: g,
                    to,
                    probability: p,
                });
            }
            if to >= ng {
                return Err(AbmError::GenotypeOutOfRange {
                    genotype: to,
                    n_genotypes: ng,
                });
            }
            sum += p;
        }
        if sum > 1.0 + 1e-12 {
            return Err(AbmError::MutationSum { genotype: g, sum });
        }
        out.push(table.iter().copied().filter(|&(_, p)| p > 0.0).collect());
    }
    Ok(out)
}

/// Check noise amplitudes; returns `sigma_s sqrt(dt)` per species.
fn validate_noise(noise: &NoiseSpec, ns: usize, dt: f64) -> Result<Vec<f64>, AbmError> {
    if !noise.intrinsic.is_empty() && noise.intrinsic.len() != ns {
        return Err(AbmError::NoiseLength {
            given: noise.intrinsic.len(),
            n_species: ns,
        });
    }
    if !(0.0..1.0).contains(&noise.partition_cv) {
        return Err(AbmError::PartitionNoise {
            cv: noise.partition_cv,
        });
    }
    let mut scales = vec![0.0; ns];
    for (s, &a) in noise.intrinsic.iter().enumerate() {
        if !(a >= 0.0 && a.is_finite()) {
            return Err(AbmError::NoiseAmplitude {
                species: s,
                amplitude: a,
            });
        }
        let scaled = a * dt.sqrt();
        if scaled > 0.0 {
            // x (1 + scaled xi) < 0 exactly when xi < -1/scaled.
            let fraction = normal_upper_tail(1.0 / scaled);
            if fraction > NOISE_NEGATIVE_LIMIT {
                return Err(AbmError::NoiseTooLarge {
                    species: s,
                    amplitude: a,
                    dt,
                    scaled,
                    fraction,
                    limit: NOISE_NEGATIVE_LIMIT,
                });
            }
        }
        scales[s] = scaled;
    }
    Ok(scales)
}

/// Refuse populations of individual cells that would exceed the memory limit.
pub fn check_memory(cells: u64, n_species: usize, limit: u64) -> Result<(), AbmError> {
    let per = bytes_per_cell(n_species);
    let bytes = cells.saturating_mul(per);
    if bytes > limit {
        return Err(AbmError::MemoryExceeded {
            cells,
            bytes,
            bytes_per_cell: per,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutant emission over a step: per cell a Poisson number with mean `b u g`
    /// (`g` the expected cell-time of its line under division hazard `b (1 - u)`),
    /// split among targets by `p_c / u`; cells with different hazards emit in
    /// proportion to their own means (within 5 standard errors).
    #[test]
    fn mutants_are_emitted_at_the_division_rate() {
        let table = [(1usize, 0.01), (2usize, 0.03)];
        let u = 0.04;
        let dt = 0.5;
        let div = [1.0, 0.2];
        let death = [0.7, 0.1];
        let h = BlockHazards {
            div: &div,
            death: &death,
            factor: 1.0 - u,
            dt,
        };
        let mut rng = Stream::derive(4, &[]);
        let mut out = Vec::new();
        let steps = 200_000;
        for _ in 0..steps {
            emit_mutants(&table, 1.0, &h, &mut rng, &mut out);
        }
        let mean = |i: usize| div[i] * u * dt * expm1_over_x((div[i] * (1.0 - u) - death[i]) * dt);
        for (cell, target, p) in [(0, 1, 0.01), (0, 2, 0.03), (1, 1, 0.01), (1, 2, 0.03)] {
            let got = out
                .iter()
                .filter(|&&(t, i)| t == target && i as usize == cell)
                .count() as f64;
            let want = steps as f64 * mean(cell) * p / u;
            assert!(
                (got - want).abs() < 5.0 * want.sqrt(),
                "cell {cell} -> {target}: {got} vs {want}"
            );
        }
        // No mutation table, no mutants.
        let before = out.len();
        emit_mutants(&[], 1.0, &h, &mut rng, &mut out);
        assert_eq!(out.len(), before);
    }

    #[test]
    fn tail_matches_known_values() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper_tail(1.959964) - 0.025).abs() < 1e-6);
        assert!((normal_upper_tail(3.719) - 1e-4).abs() < 1e-6);
    }
}
