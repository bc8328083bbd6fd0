//! The mean-field and hybrid population engines: one implementation over the
//! population ODE.
//!
//! The mean-field engine integrates the population ODE: every count is an expected
//! value, so a genotype can hold 0.03 cells and regrow from it. The hybrid engine
//! runs the same ODE for large clones and keeps every clone below
//! [`HybridSettings::promote_at`] cells as an integer count that changes by random
//! events:
//!
//! - a birth or death in a small clone (per-cell hazards `b c` and `d` from its
//!   genotype's loop state, the drugs and the crowding, as in the ODE);
//! - a mutant arrival into a small clone, from a division of a small parent
//!   (probability `u` per division) or, at rate `u b_p c N_p`, from a large parent.
//!
//! Between the driver's stops the engine integrates the ODE in segments of at most
//! two expected events per cell, each over a grid sized by how fast the hazards
//! change. The ODE carries, per genotype, the integrated per-cell hazards and, per
//! mutation edge, the expected arrivals from a large parent (the accumulators of
//! [`PopulationSystem`](super::ode::PopulationSystem)), so each grid interval's
//! hazards are exact to the solver's tolerance; within an interval the engine draws
//! events with those hazards held constant (Gillespie's direct method). With
//! constant hazards this is exact on any grid, so a segment whose hazards stay
//! within [`HybridSettings::max_rate_change`] of constant (a small clone between
//! doses, at constant drug levels) runs on four long intervals; where they change,
//! the grid is fine enough that no cell has more than [`HybridSettings::max_hazard`]
//! expected events per interval, and the remaining bias (how the hazards vary within
//! one interval) is far below the sampling error of 10,000 replicates.
//!
//! A small clone reaching `promote_at` cells joins the ODE at that event; a large clone
//! falling below `demote_below` cells leaves it at the grid point where it is seen
//! below, with a count drawn from a law with the ODE's mean *and variance* (the ODE
//! carries the count's variance, see the population system's docs): a compound
//! Poisson number of surviving lineages, each of geometric size, which is the law of
//! a linear birth-death process descended from many founders (Kendall 1948). Rounding
//! the mean instead would ignore the fluctuations a shrinking clone has built up and
//! bias the probability of extinction. Mutants sent from a small parent into a large
//! child are added to the child at the end of the segment (one cell into a clone of
//! at least `demote_below`).
//!
//! Crowding sees the small clones' counts as of the start of each segment.
//!
//! ## References
//! - Gillespie DT (1977). Exact stochastic simulation of coupled chemical reactions.
//!   J Phys Chem 81:2340-2361.
//! - Kendall DG (1948). On the generalized "birth-and-death" process. Ann Math Stat
//!   19:1-15.

use super::ode::{
    Captured, OdeRun, PopulationSystem, RunSettings, SimError, SolverStats, ACC_PER_GENOTYPE,
    ACC_VARIANCE,
};
use super::{Advanced, Counters, Engine, EngineKind, Watch, WatchTarget};
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::agent::rng::{Exponentials, Stream};
use crate::engine::agent::simulation::{binomial, negative_binomial, poisson};
use crate::pkpd::{DoseKind, Exposure};

/// Thresholds and grid of the hybrid engine.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HybridSettings {
    /// A small clone with this many cells joins the ODE.
    pub promote_at: f64,
    /// A large clone with fewer cells leaves the ODE (below `promote_at`, so that a
    /// clone does not flip at every step).
    pub demote_below: f64,
    /// Largest expected number of events per cell in one grid interval where the
    /// hazards change within the segment.
    pub max_hazard: f64,
    /// When a segment runs as a few long intervals of constant hazards: every
    /// hazard's range over the segment, times one such interval, is at most this
    /// fraction of the larger of its expected events per cell in that interval and
    /// `max_hazard` (0: only when the hazards do not change at all).
    pub max_rate_change: f64,
}

impl Default for HybridSettings {
    fn default() -> Self {
        HybridSettings {
            promote_at: 1000.0,
            demote_below: 250.0,
            max_hazard: 0.05,
            max_rate_change: 0.01,
        }
    }
}

impl HybridSettings {
    fn check(&self) -> Result<(), SimError> {
        let ok = self.promote_at.is_finite()
            && self.demote_below >= 1.0
            && self.demote_below < self.promote_at
            && self.max_hazard > 0.0
            && self.max_hazard <= 1.0
            && (0.0..=1.0).contains(&self.max_rate_change);
        if ok {
            Ok(())
        } else {
            Err(SimError::Settings(format!(
                "hybrid thresholds must satisfy 1 <= demote_below < promote_at < inf, \
                 0 < max_hazard <= 1 and 0 <= max_rate_change <= 1 (found demote_below {}, \
                 promote_at {}, max_hazard {}, max_rate_change {})",
                self.demote_below, self.promote_at, self.max_hazard, self.max_rate_change
            )))
        }
    }
}

/// Which engine a [`PopulationEngine`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    MeanField,
    Hybrid {
        settings: HybridSettings,
        seed: u64,
        replicate: u64,
    },
}

/// Most grid points in one segment (bounds memory; the hazard per interval grows
/// beyond `max_hazard` only for segments longer than this many intervals).
const MAX_GRID: usize = 200_000;
/// Longest segment, in expected events per cell at the segment's start.
const SEGMENT_EVENTS: f64 = 2.0;
/// Intervals of a segment whose hazards are steady (see `PopulationEngine::steady`).
const COARSE_GRID: usize = 4;
/// Random stream tag of the hybrid engine.
const TAG_HYBRID: u64 = 0x4859_4252;

struct Hybrid {
    s: HybridSettings,
    rng: Stream,
    /// Waiting times of the event loop.
    exp: Exponentials,
    /// Cells of every genotype that is stochastic (others: unused).
    counts: Vec<f64>,
    /// Mutants from small parents waiting to join their large child.
    pending: Vec<f64>,
    /// Per parent genotype: (child, probability per division) of its mutation edges.
    children: Vec<Vec<(usize, f64)>>,
    /// The event loop's hazards, kept between intervals so that it allocates nothing.
    rates: Rates,
    /// Whether the last segment's hazards were steady: then the next segment tries
    /// the coarse grid first.
    steady: bool,
}

/// The hazards of one grid interval.
#[derive(Default)]
struct Rates {
    /// Per genotype: whether it is a small clone.
    is_small: Vec<bool>,
    /// The small genotypes, in order.
    small: Vec<usize>,
    /// Per genotype: per-cell division and death hazards, and their sum.
    birth: Vec<f64>,
    death: Vec<f64>,
    both: Vec<f64>,
    /// Per mutation edge: arrivals per unit time into a small child from a large
    /// parent (0 otherwise).
    arrive: Vec<f64>,
}

impl Rates {
    /// The mean hazards over an interval of length `dt` from `ya` to `yb`.
    fn fill(&mut self, e: &PopulationEngine, ya: &[f64], yb: &[f64], dt: f64) {
        let per_dt = |i: usize| ((yb[i] - ya[i]) / dt).max(0.0);
        self.is_small.clear();
        self.small.clear();
        self.birth.clear();
        self.death.clear();
        self.both.clear();
        self.arrive.clear();
        for g in 0..e.ng {
            let small = e.stochastic(g);
            self.is_small.push(small);
            if small {
                self.small.push(g);
            }
            let (b, d) = (per_dt(e.acc(g, 0)), per_dt(e.acc(g, 1)));
            self.birth.push(b);
            self.death.push(d);
            self.both.push(b + d);
        }
        for (k, &(p, c, _)) in e.edges.iter().enumerate() {
            let into_small = !self.is_small[p] && self.is_small[c];
            self.arrive.push(if into_small {
                per_dt(e.edge_acc(k))
            } else {
                0.0
            });
        }
    }
}

/// One grid interval as the event loop sees it.
struct Span {
    ta: f64,
    dt: f64,
    /// Where the loop stops: the interval's end or an earlier crossing.
    t_lim: f64,
    /// The large clones' total cells at the interval's ends.
    large: (f64, f64),
}

/// The mean-field or hybrid engine.
pub struct PopulationEngine<'a> {
    ode: OdeRun<'a>,
    hybrid: Option<Hybrid>,
    counters: Counters,
    ng: usize,
    stride: usize,
    pop: usize,
    edges: Vec<(usize, usize, f64)>,
    /// Time resolution: stops closer than this are the same time.
    eps: f64,
    /// The running totals (after the population block) at the last harvest.
    acc_base: Vec<f64>,
}

/// How an interval of the grid ended.
enum Interrupt {
    Promote(usize),
    Watch(usize),
    Extinct,
}

impl<'a> PopulationEngine<'a> {
    /// Start at `t0` from `y0` (the population block: per genotype, species then
    /// cells). In hybrid mode, every clone below `promote_at` becomes an integer
    /// count (the fractional part by a Bernoulli draw, so the mean is kept).
    pub fn new(
        model: &'a CompiledModel,
        bound: &'a BoundModel,
        settings: &RunSettings,
        y0: &[f64],
        t0: f64,
        mode: Mode,
    ) -> Result<Self, SimError> {
        let sys = PopulationSystem::new(
            model,
            bound,
            settings.carrying_capacity,
            settings.negative_tolerance,
        )
        .with_division_factor(settings.division_factor)
        .with_division_from(settings.division_from)
        .with_accumulators();
        let ng = model.genotypes.len();
        let stride = sys.stride();
        let pop = sys.population_len();
        let edges = sys.edges().to_vec();
        if y0.len() != pop {
            return Err(SimError::Settings(format!(
                "a state of this model has {pop} entries (species and cells per genotype), found {}",
                y0.len()
            )));
        }
        let solver = settings.method.solver(settings.rtol, settings.atol);
        let ode = OdeRun::with_system(sys, settings, y0, t0, solver)?;
        let hybrid = match mode {
            Mode::MeanField => None,
            Mode::Hybrid {
                settings,
                seed,
                replicate,
            } => {
                settings.check()?;
                let mut children = vec![Vec::new(); ng];
                for &(p, c, u) in &edges {
                    children[p].push((c, u));
                }
                Some(Hybrid {
                    s: settings,
                    rng: Stream::derive(seed, &[replicate, TAG_HYBRID]),
                    exp: Exponentials::derive(seed, &[replicate, TAG_HYBRID, 1]),
                    counts: vec![0.0; ng],
                    pending: vec![0.0; ng],
                    children,
                    rates: Rates::default(),
                    steady: true,
                })
            }
        };
        let mut e = PopulationEngine {
            ode,
            hybrid,
            counters: Counters::new(ng),
            ng,
            stride,
            pop,
            edges,
            eps: 1e-12 * t0.abs().max(1.0),
            acc_base: Vec::new(),
        };
        e.acc_base = vec![0.0; e.ode.state().len() - pop];
        if let Some(h) = &e.hybrid {
            let promote_at = h.s.promote_at;
            let small: Vec<usize> = (0..ng)
                .filter(|&g| e.cells_of(e.ode.state(), g) < promote_at)
                .collect();
            let mut y = e.ode.state().to_vec();
            for g in small {
                let n = e.cells_of(&y, g);
                let h = e.hybrid.as_mut().expect("hybrid");
                let k = round_unbiased(n, &mut h.rng);
                h.counts[g] = k;
                y[g * stride + stride - 1] = k;
                e.ode.system_mut().set_stochastic(g, true);
            }
            e.ode.set_state(&y)?;
        }
        Ok(e)
    }

    fn cells_of(&self, y: &[f64], g: usize) -> f64 {
        y[g * self.stride + self.stride - 1]
    }
    fn acc(&self, g: usize, k: usize) -> usize {
        self.pop + g * ACC_PER_GENOTYPE + k
    }
    fn edge_acc(&self, e: usize) -> usize {
        self.pop + self.ng * ACC_PER_GENOTYPE + e
    }
    fn stochastic(&self, g: usize) -> bool {
        self.ode.system().is_stochastic(g)
    }

    /// Whether genotype `g` is currently a small clone of integer count.
    pub fn is_small(&self, g: usize) -> bool {
        self.stochastic(g)
    }

    /// The variance of each genotype's count as the ODE carries it (0 for small
    /// clones, whose counts are exact).
    pub fn count_variance(&self) -> Vec<f64> {
        let y = self.ode.state();
        (0..self.ng).map(|g| y[self.acc(g, ACC_VARIANCE)]).collect()
    }

    /// Move the accumulated expected divisions, deaths and arrivals of the large
    /// clones into the counters and zero the accumulators (not the variances).
    fn harvest(&mut self) -> Result<(), SimError> {
        let mut y = self.ode.state().to_vec();
        let mut any = false;
        // The mean-field engine keeps its running totals in the state (no restart at
        // every stop) and counts what they gained since the last harvest; the hybrid
        // zeroes them at every segment so that each interval's increments stay exact
        // to the solver's tolerance rather than to a growing total's.
        let reset = self.hybrid.is_some();
        let mut take = |i: usize, y: &mut [f64], base: &mut [f64]| -> f64 {
            let j = i - self.pop;
            let gained = y[i] - base[j];
            any |= y[i] != 0.0;
            if reset {
                y[i] = 0.0;
                base[j] = 0.0;
            } else {
                base[j] = y[i];
            }
            gained
        };
        let mut base = std::mem::take(&mut self.acc_base);
        for g in 0..self.ng {
            for k in 0..ACC_PER_GENOTYPE {
                if k == ACC_VARIANCE {
                    continue;
                }
                let gained = take(self.acc(g, k), &mut y, &mut base);
                if !self.stochastic(g) {
                    match k {
                        2 => self.counters.divisions[g] += gained,
                        3 => self.counters.deaths[g] += gained,
                        _ => {}
                    }
                }
            }
        }
        for (e, &(_, c, _)) in self.edges.iter().enumerate() {
            let gained = take(self.edge_acc(e), &mut y, &mut base);
            // Arrivals into a small child were counted one by one as events.
            if !self.stochastic(c) {
                self.counters.arrivals[c] += gained;
            }
        }
        self.acc_base = base;
        if any && reset {
            let t = self.ode.time();
            self.ode.set_time_state(t, &y)?;
        }
        Ok(())
    }

    /// Restart the ODE at `(t, y)` with the small clones' current counts and the
    /// mutants waiting for large children.
    fn load(&mut self, t: f64, y: &[f64]) -> Result<(), SimError> {
        let mut y = y.to_vec();
        if let Some(h) = &mut self.hybrid {
            for g in 0..self.ng {
                let i = g * self.stride + self.stride - 1;
                if self.ode.system().is_stochastic(g) {
                    y[i] = h.counts[g];
                } else {
                    y[i] += h.pending[g];
                    h.pending[g] = 0.0;
                }
            }
        }
        self.ode.set_time_state(t, &y)
    }

    /// Make large clone `g` small, drawing its count from the law with the ODE's mean
    /// and variance.
    fn demote(&mut self, g: usize) -> Result<(), SimError> {
        let mut y = self.ode.state().to_vec();
        let (ni, vi) = (g * self.stride + self.stride - 1, self.acc(g, ACC_VARIANCE));
        let h = self
            .hybrid
            .as_mut()
            .expect("demotion needs the hybrid engine");
        let n = draw_count(y[ni], y[vi], &mut h.rng);
        h.counts[g] = n;
        y[ni] = n;
        y[vi] = 0.0;
        self.ode.system_mut().set_stochastic(g, true);
        let t = self.ode.time();
        self.ode.set_time_state(t, &y)
    }

    /// Make small clone `g` large: its exact count becomes the ODE's mean, with no
    /// variance.
    fn promote(&mut self, g: usize) -> Result<(), SimError> {
        let mut y = self.ode.state().to_vec();
        let h = self
            .hybrid
            .as_ref()
            .expect("promotion needs the hybrid engine");
        y[g * self.stride + self.stride - 1] = h.counts[g];
        let vi = self.acc(g, ACC_VARIANCE);
        y[vi] = 0.0;
        self.ode.system_mut().set_stochastic(g, false);
        let t = self.ode.time();
        self.ode.set_time_state(t, &y)
    }

    /// Demote every large clone now below the threshold; true if any was.
    fn demote_small(&mut self) -> Result<bool, SimError> {
        let Some(h) = &self.hybrid else {
            return Ok(false);
        };
        let below = h.s.demote_below;
        let low: Vec<usize> = (0..self.ng)
            .filter(|&g| !self.stochastic(g) && self.cells_of(self.ode.state(), g) < below)
            .collect();
        for &g in &low {
            self.demote(g)?;
        }
        Ok(!low.is_empty())
    }

    fn all_small_and_empty(&self) -> bool {
        match &self.hybrid {
            None => false,
            Some(h) => (0..self.ng).all(|g| self.stochastic(g) && h.counts[g] == 0.0),
        }
    }

    /// Value a watch reads from a state (small clones at their current counts).
    fn watched(&self, w: &Watch, y: &[f64]) -> f64 {
        let cells = |g: usize| match &self.hybrid {
            Some(h) if self.stochastic(g) => h.counts[g],
            _ => self.cells_of(y, g),
        };
        match w.target {
            WatchTarget::Total => (0..self.ng).map(cells).sum(),
            WatchTarget::Genotype(g) => cells(g),
        }
    }

    fn first_watch(&self, watches: &[Watch], y: &[f64]) -> Option<usize> {
        watches.iter().position(|w| self.watched(w, y) >= w.cells)
    }

    /// The next segment from `t0` (where the right-hand side is `dy`): its end and its
    /// fine grid's number of intervals. A segment spans at most [`SEGMENT_EVENTS`]
    /// expected events per cell at the hazards of its start (so a watch is seen
    /// before the trajectory runs far past it); the fine grid has enough points that
    /// no cell's expected events per interval exceed `max_hazard` (32 points for the
    /// mean-field engine, which needs a grid only to locate watches).
    fn plan_segment(&self, t0: f64, t_end: f64, dy: &[f64]) -> (f64, usize) {
        let rate = (0..self.ng)
            .map(|g| dy[self.acc(g, 0)].abs() + dy[self.acc(g, 1)].abs())
            .fold(0.0f64, f64::max);
        let seg_end = if rate > 0.0 {
            t_end.min(t0 + SEGMENT_EVENTS / rate)
        } else {
            t_end
        };
        let Some(max_hazard) = self.hybrid.as_ref().map(|h| h.s.max_hazard) else {
            return (seg_end, 32);
        };
        let k = ((seg_end - t0) * rate / max_hazard).ceil();
        let k = if k.is_finite() {
            (k as usize).clamp(1, MAX_GRID)
        } else {
            MAX_GRID
        };
        (seg_end, k)
    }

    /// Random events of the small clones in `(ta, tb]` (stopping at `t_stop`), with
    /// the interval's hazards from the accumulators of `ya` and `yb`. Returns the
    /// event that interrupts the segment and its time.
    fn events(
        &mut self,
        (ta, ya): (f64, &[f64]),
        (tb, yb): (f64, &[f64]),
        t_stop: f64,
        watches: &[Watch],
    ) -> Option<(f64, Interrupt)> {
        let dt = tb - ta;
        if dt <= 0.0 {
            return None;
        }
        let mut rates = std::mem::take(&mut self.hybrid.as_mut()?.rates);
        rates.fill(self, ya, yb, dt);
        // The large clones' total, log-linear within the interval, for total watches.
        let large = |y: &[f64]| -> f64 {
            (0..self.ng)
                .filter(|&g| !self.stochastic(g))
                .map(|g| self.cells_of(y, g))
                .sum()
        };
        let span = Span {
            ta,
            dt,
            t_lim: tb.min(t_stop),
            large: (large(ya), large(yb)),
        };
        let hit = self.draw_events(&rates, &span, watches);
        if let Some(h) = self.hybrid.as_mut() {
            h.rates = rates;
        }
        hit
    }

    /// Gillespie's direct method over one interval at constant hazards: an
    /// exponential waiting time at the total rate, one uniform to pick the event.
    /// Nothing here allocates; kept out of line so that the loop's values stay in
    /// registers.
    #[inline(never)]
    fn draw_events(
        &mut self,
        r: &Rates,
        span: &Span,
        watches: &[Watch],
    ) -> Option<(f64, Interrupt)> {
        let h = self.hybrid.as_mut()?;
        let counters = &mut self.counters;
        let edges = &self.edges;
        let &Span {
            ta,
            dt,
            t_lim,
            large: (la, lb),
        } = span;
        let promote_at = h.s.promote_at;
        let all_small = r.small.len() == self.ng;
        let arrive_total: f64 = r.arrive.iter().sum();
        let total_watch = watches.iter().any(|w| w.target == WatchTarget::Total);
        let only = match r.small[..] {
            [g] if arrive_total == 0.0 => Some(g),
            _ => None,
        };
        // Cells in small clones (whole numbers, so the sum stays exact).
        let mut smalls: f64 = r.small.iter().map(|&g| h.counts[g]).sum();
        let mut t = ta;
        // The first time in (t0, t1] at which the large clones' total, log-linear in
        // the interval, reaches a total watch less the small clones now.
        let total_crossing = |t0: f64, t1: f64, smalls: f64| -> Option<(f64, usize)> {
            let mut best: Option<(f64, usize)> = None;
            for (i, w) in watches.iter().enumerate() {
                if w.target != WatchTarget::Total {
                    continue;
                }
                let need = w.cells - smalls;
                let at = |t: f64| log_linear(la, lb, (t - ta) / dt);
                if at(t1) < need {
                    continue;
                }
                let tc = if at(t0) >= need {
                    t0
                } else if la > 0.0 && lb > 0.0 && need > 0.0 {
                    ta + dt * (need / la).ln() / (lb / la).ln()
                } else {
                    ta + dt * (need - la) / (lb - la)
                };
                let tc = tc.clamp(t0, t1);
                if best.is_none_or(|b| tc < b.0) {
                    best = Some((tc, i));
                }
            }
            best
        };
        // The total rate, kept up to date event by event (a sum of whole multiples
        // of the hazards, recomputed at every interval, so rounding cannot build up).
        let mut rate = arrive_total;
        for &g in &r.small {
            rate += h.counts[g] * r.both[g];
        }
        loop {
            let t_prev = t;
            if rate > 0.0 {
                t += h.exp.next_exp() / rate;
            } else {
                t = f64::INFINITY;
            }
            // The large clones may carry a total watch across before the next event.
            if total_watch {
                if let Some((tc, i)) = total_crossing(t_prev, t.min(t_lim), smalls) {
                    if tc > t_prev || t_prev == ta {
                        return Some((tc, Interrupt::Watch(i)));
                    }
                }
            }
            if t >= t_lim {
                return None;
            }
            // Pick the event: an arrival, or else a genotype and then birth or death
            // (one comparison, with no branch on its outcome where no daughter can
            // mutate: a coin flip between birth and death is what a branch
            // predictor cannot learn).
            let u = h.rng.uniform();
            let mut x = u * rate;
            let grew = if x < arrive_total {
                let mut child = None;
                for (e, &a) in r.arrive.iter().enumerate() {
                    if a > 0.0 {
                        child = Some(edges[e].1);
                        if x < a {
                            break;
                        }
                    }
                    x -= a;
                }
                let Some(c) = child else { continue };
                h.counts[c] += 1.0;
                smalls += 1.0;
                rate += r.both[c];
                counters.arrivals[c] += 1.0;
                if h.counts[c] >= promote_at {
                    return Some((t, Interrupt::Promote(c)));
                }
                c
            } else {
                // The genotype, then birth or death by what is left of the uniform.
                // With one small clone and no arrivals the genotype is known and
                // `x < n b` reads `u (b + d) < b`: free of the count, so the next
                // event need not wait for this one.
                let (g, birth) = if let Some(g) = only {
                    (g, u * r.both[g] < r.birth[g])
                } else {
                    x -= arrive_total;
                    let mut pick = None;
                    for &g in &r.small {
                        let w = h.counts[g] * r.both[g];
                        if x < w {
                            pick = Some(g);
                            break;
                        }
                        x -= w;
                    }
                    // Past every channel (rounding): no event.
                    let Some(g) = pick else { continue };
                    (g, x < h.counts[g] * r.birth[g])
                };
                let children = &h.children[g];
                let mut target = g;
                if !children.is_empty() && birth {
                    // One daughter may carry a mutation.
                    let mut v = h.rng.uniform();
                    for &(c, u) in children {
                        if v < u {
                            target = c;
                            break;
                        }
                        v -= u;
                    }
                    if target != g {
                        counters.arrivals[target] += 1.0;
                        if !r.is_small[target] {
                            h.pending[target] += 1.0;
                            counters.divisions[g] += 1.0;
                            continue;
                        }
                    }
                }
                // +1 or -1 by arithmetic, not by a branch.
                let born = f64::from(u8::from(birth));
                let step = 2.0 * born - 1.0;
                counters.divisions[g] += born;
                counters.deaths[g] += 1.0 - born;
                h.counts[target] += step;
                smalls += step;
                rate += step * r.both[target];
                if smalls == 0.0 && all_small {
                    return Some((t, Interrupt::Extinct));
                }
                if h.counts[target] >= promote_at {
                    return Some((t, Interrupt::Promote(target)));
                }
                if watches.is_empty() || !birth {
                    continue;
                }
                target
            };
            for (i, w) in watches.iter().enumerate() {
                let v = match w.target {
                    WatchTarget::Genotype(k) if k == grew => h.counts[grew],
                    WatchTarget::Genotype(_) => continue,
                    WatchTarget::Total => smalls + log_linear(la, lb, (t - ta) / dt),
                };
                if v >= w.cells {
                    return Some((t, Interrupt::Watch(i)));
                }
            }
        }
    }

    /// First time in `(ta, tb]` at which the large clones carry a watch across its
    /// threshold (log-linear between the grid points), with its index.
    fn large_crossing(
        &self,
        watches: &[Watch],
        (ta, ya): (f64, &[f64]),
        (tb, yb): (f64, &[f64]),
    ) -> Option<(f64, usize)> {
        let mut best: Option<(f64, usize)> = None;
        for (i, w) in watches.iter().enumerate() {
            if let WatchTarget::Genotype(g) = w.target {
                if self.stochastic(g) {
                    continue;
                }
            }
            let (a, b) = (self.watched(w, ya), self.watched(w, yb));
            if a < w.cells && b >= w.cells {
                let f = if a > 0.0 && b > 0.0 {
                    (w.cells / a).ln() / (b / a).ln()
                } else {
                    (w.cells - a) / (b - a)
                };
                let t = ta + f.clamp(0.0, 1.0) * (tb - ta);
                if best.is_none_or(|(tb0, _)| t < tb0) {
                    best = Some((t, i));
                }
            }
        }
        best
    }
}

/// `a` to `b` at fraction `f`, geometrically when both are positive.
fn log_linear(a: f64, b: f64, f: f64) -> f64 {
    if a > 0.0 && b > 0.0 {
        a * (b / a).powf(f)
    } else {
        a + (b - a) * f
    }
}

/// `floor(x)` plus one with probability `x - floor(x)`: an integer with mean `x`.
fn round_unbiased(x: f64, rng: &mut Stream) -> f64 {
    let f = x.max(0.0).floor();
    f + if rng.uniform() < x - f { 1.0 } else { 0.0 }
}

/// A count with mean `m` and variance `v`: when over-dispersed (`v > m`), a Poisson
/// number of lineages each of geometric size on {1, 2, ...} (mean `a`, so
/// `m = lambda a` and `v = lambda a (2 a - 1)`), the law of a linear birth-death
/// process descended from many founders; otherwise the mean rounded without bias.
pub fn draw_count(m: f64, v: f64, rng: &mut Stream) -> f64 {
    if m.is_nan() || m <= 0.0 {
        return 0.0;
    }
    if v.is_nan() || v <= m * (1.0 + 1e-9) || !v.is_finite() {
        return round_unbiased(m, rng);
    }
    let a = 0.5 * (v / m + 1.0);
    let lineages = poisson(m / a, rng);
    if lineages == 0 {
        return 0.0;
    }
    // Sizes beyond the first cell: geometric with P(j) = (1 - beta) beta^j.
    let beta = (a - 1.0) / a;
    (lineages + negative_binomial(lineages, beta, rng)) as f64
}

impl Engine for PopulationEngine<'_> {
    fn kind(&self) -> EngineKind {
        if self.hybrid.is_some() {
            EngineKind::Hybrid
        } else {
            EngineKind::MeanField
        }
    }
    fn time(&self) -> f64 {
        self.ode.time()
    }
    fn population(&self) -> &[f64] {
        self.ode.population()
    }
    fn stride(&self) -> usize {
        self.stride
    }
    fn exposure(&self) -> &Exposure {
        self.ode.exposure()
    }
    fn apply_dose(&mut self, drug: usize, kind: DoseKind) -> Result<(), SimError> {
        self.ode.apply_dose(drug, kind)
    }

    fn passage(&mut self, split: f64) -> Result<(), SimError> {
        if !(split.is_finite() && split >= 1.0) {
            return Err(SimError::Settings(format!(
                "a passage splits 1:K with K >= 1, found {split}"
            )));
        }
        let p = 1.0 / split;
        let mut y = self.ode.state().to_vec();
        for g in 0..self.ng {
            let ni = g * self.stride + self.stride - 1;
            let vi = self.acc(g, ACC_VARIANCE);
            if self.stochastic(g) {
                let h = self.hybrid.as_mut().expect("small clones are hybrid");
                h.counts[g] = binomial(h.counts[g] as u64, p, &mut h.rng) as f64;
                y[ni] = h.counts[g];
            } else {
                let n = y[ni];
                y[ni] = p * n;
                y[vi] = p * p * y[vi] + p * (1.0 - p) * n;
            }
        }
        let t = self.ode.time();
        self.ode.set_time_state(t, &y)?;
        self.demote_small()?;
        Ok(())
    }

    fn advance_to(&mut self, t_end: f64, watches: &[Watch]) -> Result<Advanced, SimError> {
        let t = self.ode.time();
        if !t_end.is_finite() || t_end < t {
            return Err(SimError::Settings(format!(
                "cannot advance from t = {t} to t = {t_end}"
            )));
        }
        if self.all_small_and_empty() {
            // Extinct before this advance: only the loop states move on.
            self.ode.advance_to(t_end, &[])?;
            self.harvest()?;
            return Ok(Advanced::Reached);
        }
        if let Some(i) = self.first_watch(watches, self.ode.state()) {
            return Ok(Advanced::Watch(i));
        }
        self.eps = 1e-12 * t_end.abs().max(1.0);
        if self.hybrid.is_none() && watches.is_empty() {
            self.ode.advance_to(t_end, &[])?;
            self.harvest()?;
            return Ok(Advanced::Reached);
        }
        'segment: loop {
            self.harvest()?;
            let t0 = self.ode.time();
            if t_end - t0 <= self.eps {
                return Ok(Advanced::Reached);
            }
            let y0 = self.ode.state().to_vec();
            let dy0 = self.ode.derivative();
            let (seg_end, fine) = self.plan_segment(t0, t_end, &dy0);
            let k = self.integrate_segment(watches, (t0, &y0, &dy0), seg_end, fine)?;
            let cap: Captured = self.ode.captured().clone();
            let y_end = self.ode.state().to_vec();
            let point = |i: usize| -> (f64, &[f64]) {
                if i == 0 {
                    (t0, &y0)
                } else if i < k && i - 1 < cap.times.len() {
                    let w = cap.stride;
                    (cap.times[i - 1], &cap.states[(i - 1) * w..i * w])
                } else {
                    (seg_end, &y_end)
                }
            };
            for i in 1..=k {
                let (a, b) = (point(i - 1), point(i));
                let crossing = self.large_crossing(watches, a, b);
                let t_stop = crossing.map_or(f64::INFINITY, |c| c.0);
                let hit = self
                    .events(a, b, t_stop, watches)
                    .or(crossing.map(|(t, w)| (t, Interrupt::Watch(w))));
                if let Some((at, what)) = hit {
                    let ya = a.1.to_vec();
                    self.load(a.0, &ya)?;
                    self.ode.advance_to(at, &[])?;
                    match what {
                        Interrupt::Promote(g) => {
                            self.promote(g)?;
                            continue 'segment;
                        }
                        Interrupt::Watch(w) => {
                            self.load_current()?;
                            self.polish_crossing(&watches[w])?;
                            self.harvest()?;
                            return Ok(Advanced::Watch(w));
                        }
                        Interrupt::Extinct => {
                            self.load_current()?;
                            self.harvest()?;
                            return Ok(Advanced::Extinct);
                        }
                    }
                }
                if self.hybrid.is_some() {
                    let below = self.hybrid.as_ref().map_or(0.0, |h| h.s.demote_below);
                    let low =
                        (0..self.ng).any(|g| !self.stochastic(g) && self.cells_of(b.1, g) < below);
                    if low {
                        let yb = b.1.to_vec();
                        self.load(b.0, &yb)?;
                        self.demote_small()?;
                        continue 'segment;
                    }
                }
            }
            self.load_current()?;
            if seg_end < t_end {
                continue 'segment;
            }
            self.harvest()?;
            return Ok(Advanced::Reached);
        }
    }

    fn counters(&self) -> Option<&Counters> {
        Some(&self.counters)
    }
    fn stats(&self) -> SolverStats {
        self.ode.stats()
    }
}

impl PopulationEngine<'_> {
    /// Integrate the ODE from `t0` (state `y0`, derivative `dy0`) to `seg_end` on a
    /// grid, and return its number of intervals. The hybrid engine sizes the grid by
    /// how fast the hazards change: it tries [`COARSE_GRID`] intervals when the last
    /// segment's hazards were steady and keeps them if this segment's are too (see
    /// [`steady`](Self::steady)); otherwise it integrates again on the `fine` grid of
    /// at most `max_hazard` expected events per cell per interval.
    fn integrate_segment(
        &mut self,
        watches: &[Watch],
        (t0, y0, dy0): (f64, &[f64], &[f64]),
        seg_end: f64,
        fine: usize,
    ) -> Result<usize, SimError> {
        // A model with events (triggers, delays) keeps state the solver changes as
        // it goes, which integrating again from `t0` would not undo: it keeps the
        // fine grid.
        let try_coarse = self.ode.model().events.is_empty()
            && self
                .hybrid
                .as_ref()
                .is_some_and(|h| h.steady && fine > COARSE_GRID);
        let k = if try_coarse { COARSE_GRID } else { fine };
        let grid = |k: usize| -> Vec<f64> {
            let step = (seg_end - t0) / k as f64;
            (1..k).map(|i| t0 + i as f64 * step).collect()
        };
        self.ode.advance_to(seg_end, &grid(k))?;
        if self.hybrid.is_none() {
            return Ok(k);
        }
        let steady = self.steady(watches, (t0, y0, dy0), seg_end);
        if let Some(h) = self.hybrid.as_mut() {
            h.steady = steady;
        }
        if try_coarse && !steady {
            self.ode.set_time_state(t0, y0)?;
            self.ode.advance_to(seg_end, &grid(fine))?;
            return Ok(fine);
        }
        Ok(k)
    }

    /// Whether the hazards the events use were constant enough over the segment just
    /// integrated for [`COARSE_GRID`] intervals of constant hazards: over the start,
    /// the end and every captured interval's mean, each hazard's range times a coarse
    /// interval is at most `max_rate_change` times the larger of its expected events
    /// per cell in a coarse interval and `max_hazard`. The range bounds the hazard's
    /// deviation from the interval mean, so the expected number of events per cell a
    /// coarse interval moves in time (the total-variation distance between the two
    /// processes, by coupling) is at most that fraction. A large clone below twice
    /// `demote_below` also needs the fine grid, which sees it fall below the threshold
    /// close to where it does.
    fn steady(
        &mut self,
        watches: &[Watch],
        (t0, y0, dy0): (f64, &[f64], &[f64]),
        seg_end: f64,
    ) -> bool {
        let Some(s) = self.hybrid.as_ref().map(|h| h.s) else {
            return false;
        };
        let dy1 = self.ode.derivative();
        let y1 = self.ode.state();
        let cap = self.ode.captured();
        let len = seg_end - t0;
        let coarse = len / COARSE_GRID as f64;
        let mut points = Vec::with_capacity(cap.times.len() + 2);
        points.push((t0, y0));
        points.extend(cap.iter());
        points.push((seg_end, y1));
        let band = 2.0 * s.demote_below;
        let near_demotion = (0..self.ng)
            .filter(|&g| !self.stochastic(g))
            .any(|g| points.iter().any(|(_, y)| self.cells_of(y, g) < band));
        if near_demotion {
            return false;
        }
        let steady_at = |i: usize| -> bool {
            let (mut lo, mut hi) = (dy0[i].min(dy1[i]), dy0[i].max(dy1[i]));
            for w in points.windows(2) {
                let (ta, ya) = w[0];
                let (tb, yb) = w[1];
                if tb > ta {
                    let m = (yb[i] - ya[i]) / (tb - ta);
                    lo = lo.min(m);
                    hi = hi.max(m);
                }
            }
            let mean = (y1[i] - y0[i]) / len;
            (hi - lo) * coarse <= s.max_rate_change * (mean * coarse).max(s.max_hazard)
        };
        // The large clones' hazards matter where a watch interpolates their cells.
        let genotypes = (0..self.ng).filter(|&g| self.stochastic(g) || !watches.is_empty());
        for g in genotypes {
            if !steady_at(self.acc(g, 0)) || !steady_at(self.acc(g, 1)) {
                return false;
            }
        }
        self.edges
            .iter()
            .enumerate()
            .filter(|(_, &(p, c, _))| !self.stochastic(p) && self.stochastic(c))
            .all(|(e, _)| steady_at(self.edge_acc(e)))
    }

    /// After stopping at an interpolated crossing of the large clones' trajectory,
    /// take Newton steps along the ODE until the watched value reaches its threshold.
    fn polish_crossing(&mut self, w: &Watch) -> Result<(), SimError> {
        for _ in 0..8 {
            let v = self.watched(w, self.ode.state());
            if v >= w.cells {
                break;
            }
            let dy = self.ode.derivative();
            let n = self.stride - 1;
            let slope: f64 = (0..self.ng)
                .filter(|&g| !self.stochastic(g))
                .filter(|&g| w.target == WatchTarget::Total || w.target == WatchTarget::Genotype(g))
                .map(|g| dy[g * self.stride + n])
                .sum();
            if slope.is_nan() || slope <= 0.0 {
                break;
            }
            let t = self.ode.time() + (w.cells - v) / slope * (1.0 + 1e-9) + self.eps;
            self.ode.advance_to(t, &[])?;
        }
        Ok(())
    }

    /// Write the small clones' counts and pending mutants into the ODE's state.
    fn load_current(&mut self) -> Result<(), SimError> {
        if self.hybrid.is_none() {
            return Ok(());
        }
        let y = self.ode.state().to_vec();
        let t = self.ode.time();
        self.load(t, &y)
    }
}
