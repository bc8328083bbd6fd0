//! The population ODE: for each genotype g, the loop state x_g of a representative
//! cell and the number of cells N_g.
//!
//! ```text
//! dx_g/dt = rates_g(x_g, C(t), t)
//! dN_g/dt = b_g c N_g (1 - sum_k u_gk) - d_g N_g + sum_p u_pg b_p c N_p
//! c       = f max(0, 1 - N_total / K)      (f the host's division factor, 1 in
//!                                          culture; no max term without a carrying
//!                                          capacity; 0 before the host's lag ends)
//! ```
//! with b, d the model's division and death rates and u the probability per
//! division that one daughter carries the child genotype. A mutant's representative
//! cell follows the loop with its own parameters from the model's initial state; the
//! state of incoming mutant cells is not averaged into it (the loop settles within
//! days, fast next to clonal expansion).
//!
//! ## The hybrid layout
//!
//! The hybrid engine (`crate::engine::population`) keeps small clones as integer
//! counts that change by random events. For it the system can mark genotypes as
//! *stochastic*: their count is held constant by the ODE (it still enters the
//! crowding term), and mutation flux from a deterministic parent into a stochastic
//! child is not added to the child but integrated into an accumulator, the expected
//! number of mutant arrivals, which the engine turns into discrete arrivals. With
//! accumulators on, the state carries after the population block, per genotype,
//! the per-cell division hazard `int b c dt`, the per-cell death hazard `int d dt`
//! and the divisions and deaths of its deterministic cells `int b c N dt`,
//! `int d N dt`, and the variance `V` of its count; then per mutation edge the
//! expected arrivals `int u b_p c N_p dt`. They feed back into nothing, so they never
//! change the population's trajectory.
//!
//! The count of a deterministic genotype is the mean of a linear birth-death process
//! with per-cell birth rate `l = b c (1 - sum u)` (births that keep the genotype),
//! death rate `m = d` and Poisson immigration `r` (mutants from deterministic
//! parents). Its variance obeys the exact moment equation
//! `dV/dt = 2 (l - m) V + (l + m) N + r`, so when a large clone shrinks to the
//! hybrid threshold the engine can draw its count from a law with the right mean and
//! variance instead of rounding the mean (which would bias extinction).
//!
//! ## References
//! - Kendall DG (1948). On the generalized "birth-and-death" process. Ann Math Stat
//!   19:1-15 (moments of the time-inhomogeneous linear birth-death process).

use nalgebra::DMatrix;

use super::solver::{OdeSystem, SolverError, SolverErrorKind};
use crate::compile::{BoundModel, CompiledModel};
use crate::pkpd::Exposure;

/// Accumulators per genotype in the hybrid layout: per-cell division hazard,
/// per-cell death hazard, divisions, deaths, and the variance of the count.
pub const ACC_PER_GENOTYPE: usize = 5;
/// Index of the count's variance among a genotype's accumulators. Unlike the others it
/// is a state, not a running total: the engine never resets it within a segment.
pub const ACC_VARIANCE: usize = 4;

pub struct PopulationSystem<'a> {
    pub model: &'a CompiledModel,
    pub bound: &'a BoundModel,
    pub exposure: Exposure,
    pub capacity: Option<f64>,
    /// Every division hazard times this (see `RunSettings::division_factor`).
    pub division_factor: f64,
    /// No division before this time (see `RunSettings::division_from`).
    pub division_from: f64,
    /// In the host's lag: no division. A phase of the run set by [`Self::enter_phase`]
    /// where a run segment starts, not a test of `t` in the right-hand side: a
    /// step ending exactly at the lag's end evaluates its last stage there, and a
    /// right-hand side that switched at that `t` showed the step a jump it cannot
    /// resolve (Rosenbrock steps shrank to underflow).
    lagging: bool,
    /// Per genotype: (child genotype, probability per division, edge index).
    children: Vec<Vec<(usize, f64, usize)>>,
    /// Mutation edges (parent, child, probability per division).
    edges: Vec<(usize, usize, f64)>,
    /// Genotypes whose count the ODE holds constant (see the module docs).
    stochastic: Vec<bool>,
    /// Accumulators appended to the state (see the module docs).
    accumulate: bool,
    /// Scratch of the Jacobian: the rows a genotype's births and deaths feed.
    birth_rows: Vec<(usize, f64)>,
    death_rows: Vec<(usize, f64)>,
    regs: Vec<Vec<f64>>,
    /// Per genotype: whether `regs` holds a completed run of the right-hand-side
    /// program at the inputs it holds.
    rhs_valid: Vec<bool>,
    jregs: Vec<Vec<f64>>,
    drugs: Vec<f64>,
    /// A species or population more negative than this is a failure.
    pub negative_tolerance: f64,
    /// Per event: whether it fires when its trigger is next true (its trigger was
    /// false at the last accepted state).
    armed: Vec<bool>,
    /// Register files of the trigger and assignment programs (genotype 0).
    tregs: Vec<f64>,
    aregs: Vec<f64>,
    /// Delayed events waiting to execute: (time, event, values from the trigger
    /// time if the event uses them).
    queue: Vec<(f64, usize, Option<Vec<f64>>)>,
    /// Breaks ties between events of equal priority (SBML leaves their order
    /// random); a fixed seed keeps every run the same.
    tie_rng: rand_chacha::ChaCha8Rng,
}

/// Most events that may fire at one instant (an event whose assignments make
/// another trigger true fires it at the same instant; a loop of them is an error).
pub const MAX_EVENT_ROUNDS: usize = 10_000;

impl<'a> PopulationSystem<'a> {
    pub fn new(
        model: &'a CompiledModel,
        bound: &'a BoundModel,
        capacity: Option<f64>,
        negative_tolerance: f64,
    ) -> Self {
        let mut children = vec![Vec::new(); model.genotypes.len()];
        let mut edges = Vec::new();
        for (c, g) in model.genotypes.iter().enumerate() {
            if let Some(p) = g.parent {
                children[p].push((c, g.mutation_probability, edges.len()));
                edges.push((p, c, g.mutation_probability));
            }
        }
        PopulationSystem {
            model,
            bound,
            exposure: Exposure::new(model),
            capacity,
            division_factor: 1.0,
            division_from: f64::NEG_INFINITY,
            lagging: false,
            children,
            stochastic: vec![false; model.genotypes.len()],
            edges,
            accumulate: false,
            birth_rows: Vec::new(),
            death_rows: Vec::new(),
            regs: bound.genotypes.iter().map(|g| g.rhs.workspace()).collect(),
            rhs_valid: vec![false; model.genotypes.len()],
            jregs: bound
                .genotypes
                .iter()
                .map(|g| g.jacobian.workspace())
                .collect(),
            drugs: vec![0.0; model.drugs.len()],
            negative_tolerance,
            armed: model.events.iter().map(|e| !e.initial_value).collect(),
            tregs: bound.genotypes[0].triggers.workspace(),
            aregs: bound.genotypes[0].assignments.workspace(),
            queue: Vec::new(),
            tie_rng: rand::SeedableRng::seed_from_u64(0),
        }
    }

    /// Evaluate every event's trigger and priority at `(t, y)` into the trigger
    /// registers (read them with [`PopulationSystem::trigger`]).
    fn run_triggers(&mut self, t: f64, y: &[f64]) {
        self.exposure.concentrations(t, &mut self.drugs);
        let (n, nd) = (self.bound.n_species, self.bound.n_drugs);
        self.tregs[..n].copy_from_slice(&y[..n]);
        self.tregs[n..n + nd].copy_from_slice(&self.drugs);
        self.tregs[n + nd] = t;
        self.bound.genotypes[0].triggers.run(&mut self.tregs);
    }

    /// The delay of event `k` after [`PopulationSystem::run_triggers`].
    fn delay(&self, k: usize) -> f64 {
        let ne = self.model.events.len();
        self.bound.genotypes[0]
            .triggers
            .output(&self.tregs, 2 * ne + k)
    }

    /// The earliest time a delayed event waits for, if any.
    pub fn next_scheduled(&self) -> Option<f64> {
        self.queue.iter().map(|q| q.0).reduce(f64::min)
    }

    fn trigger(&self, k: usize) -> bool {
        self.bound.genotypes[0].triggers.output(&self.tregs, k) != 0.0
    }

    fn priority(&self, k: usize) -> f64 {
        let p = self.bound.genotypes[0]
            .triggers
            .output(&self.tregs, self.model.events.len() + k);
        if p.is_nan() {
            f64::NEG_INFINITY
        } else {
            p
        }
    }

    /// Run the assignment programs at `(t, y)`; read values with
    /// [`PopulationSystem::assigned`].
    fn run_assignments(&mut self, t: f64, y: &[f64]) {
        self.exposure.concentrations(t, &mut self.drugs);
        let (n, nd) = (self.bound.n_species, self.bound.n_drugs);
        self.aregs[..n].copy_from_slice(&y[..n]);
        self.aregs[n..n + nd].copy_from_slice(&self.drugs);
        self.aregs[n + nd] = t;
        self.bound.genotypes[0].assignments.run(&mut self.aregs);
    }

    /// The values event `k` assigns, computed at `(t, y)`.
    fn values_of(&mut self, k: usize, t: f64, y: &[f64]) -> Vec<f64> {
        self.run_assignments(t, y);
        let first: usize = self.model.events[..k]
            .iter()
            .map(|e| e.assignments.len())
            .sum();
        let p = &self.bound.genotypes[0].assignments;
        (first..first + self.model.events[k].assignments.len())
            .map(|j| p.output(&self.aregs, j))
            .collect()
    }

    /// Fire every event due at `(t, y)`, changing `y` (SBML's semantics of events
    /// without delay). An armed event whose trigger is true becomes pending (with
    /// its values computed then, if `use_values_from_trigger_time`); pending events
    /// fire one at a time, highest priority first, and after each firing every
    /// trigger and priority is evaluated again: an event whose trigger turned false
    /// is armed again (and may become pending once more at this instant), a
    /// pending non-persistent one whose trigger turned false is dropped. Equal
    /// priorities fire in an order drawn from the system's fixed-seed stream;
    /// events without a priority fire last, in file order. Returns whether any
    /// event fired.
    pub fn fire_events(&mut self, t: f64, y: &mut [f64]) -> Result<bool, SolverError> {
        use rand::Rng;
        let ne = self.model.events.len();
        if ne == 0 {
            return Ok(false);
        }
        // (event, values from its trigger time)
        let mut pending: Vec<(usize, Option<Vec<f64>>)> = Vec::new();
        let mut fired = 0usize;
        loop {
            self.run_triggers(t, y);
            let on: Vec<bool> = (0..ne).map(|k| self.trigger(k)).collect();
            // Delayed events whose time has come join the ones due now.
            let mut i = 0;
            while i < self.queue.len() {
                if self.queue[i].0 <= t {
                    let (_, k, v) = self.queue.remove(i);
                    pending.push((k, v));
                } else {
                    i += 1;
                }
            }
            pending.retain(|&(k, _)| self.model.events[k].persistent || on[k]);
            for (k, &is_on) in on.iter().enumerate() {
                if !is_on {
                    self.armed[k] = true;
                } else if self.armed[k] {
                    self.armed[k] = false;
                    let v = match self.model.events[k].use_values_from_trigger_time {
                        true => Some(self.values_of(k, t, y)),
                        false => None,
                    };
                    let d = self.delay(k);
                    if self.model.events[k].delay.is_some() && d > 0.0 {
                        self.queue.push((t + d, k, v));
                    } else {
                        pending.push((k, v));
                    }
                }
            }
            if pending.is_empty() {
                return Ok(fired > 0);
            }
            if fired >= MAX_EVENT_ROUNDS {
                return Err(SolverError {
                    time: t,
                    kind: SolverErrorKind::EventLoop {
                        rounds: MAX_EVENT_ROUNDS,
                    },
                });
            }
            // Priorities as they are now (`run_triggers` evaluated them).
            let prio: Vec<f64> = pending.iter().map(|&(k, _)| self.priority(k)).collect();
            let best = prio.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ties: Vec<usize> = (0..pending.len()).filter(|&i| prio[i] == best).collect();
            let pick = if ties.len() > 1 && best > f64::NEG_INFINITY {
                ties[self.tie_rng.random_range(0..ties.len())]
            } else {
                ties[0]
            };
            let (k, values) = pending.remove(pick);
            let values = match values {
                Some(v) => v,
                None => self.values_of(k, t, y),
            };
            for (&(species, _), v) in self.model.events[k].assignments.iter().zip(values) {
                y[species] = v;
            }
            fired += 1;
            self.check(t, y)?;
        }
    }

    /// Entries per genotype in the state vector: species then cell count.
    pub fn stride(&self) -> usize {
        self.bound.n_species + 1
    }

    /// Entries of the population block (every genotype's species and cells).
    pub fn population_len(&self) -> usize {
        self.stride() * self.model.genotypes.len()
    }

    /// Append the hybrid engine's accumulators to the state (module docs).
    pub fn with_accumulators(mut self) -> Self {
        self.accumulate = true;
        self
    }

    /// Entries of the whole state: the population block, then the accumulators.
    pub fn state_len(&self) -> usize {
        let acc = if self.accumulate {
            ACC_PER_GENOTYPE * self.model.genotypes.len() + self.edges.len()
        } else {
            0
        };
        self.population_len() + acc
    }

    /// Mutation edges: (parent, child, probability per division), in the order of
    /// their accumulators.
    pub fn edges(&self) -> &[(usize, usize, f64)] {
        &self.edges
    }

    /// Hold genotype `g`'s count constant (stochastic) or let it follow the ODE.
    pub fn set_stochastic(&mut self, g: usize, on: bool) {
        self.stochastic[g] = on;
    }

    pub fn is_stochastic(&self, g: usize) -> bool {
        self.stochastic[g]
    }

    /// Initial state: every genotype's loop at the model's initial values; cells
    /// split by the genotypes' initial fractions.
    pub fn initial_state(&self, cells: f64) -> Vec<f64> {
        let n = self.bound.n_species;
        let s = self.stride();
        let mut y = vec![0.0; self.state_len()];
        let mutant: f64 = self
            .model
            .genotypes
            .iter()
            .skip(1)
            .map(|g| g.initial_fraction)
            .sum();
        for (g, gt) in self.model.genotypes.iter().enumerate() {
            for (i, sp) in self.model.species.iter().enumerate() {
                y[g * s + i] = sp.initial;
            }
            y[g * s + n] = cells
                * if g == 0 {
                    1.0 - mutant
                } else {
                    gt.initial_fraction
                };
        }
        y
    }

    /// Scale every division hazard by `f` (a host's growth relative to culture).
    pub fn with_division_factor(mut self, f: f64) -> Self {
        self.division_factor = f;
        self
    }

    /// No division before `t` (a host's lag after injection).
    pub fn with_division_from(mut self, t: f64) -> Self {
        self.division_from = t;
        self
    }

    /// Enter the phase of a run segment that starts at `t` (in the host's lag or
    /// not); true when the phase changed, a discontinuity the solver must restart at.
    /// The lag's end is where drivers stop, so that no segment straddles it.
    pub fn enter_phase(&mut self, t: f64) -> bool {
        let lagging = t < self.division_from;
        std::mem::replace(&mut self.lagging, lagging) != lagging
    }

    /// The factor on division hazards (the host's division factor times the logistic
    /// crowding, 0 during the host's lag) and its derivative with respect to any cell
    /// count.
    fn crowding(&self, y: &[f64]) -> (f64, f64) {
        if self.lagging {
            return (0.0, 0.0);
        }
        let (c, dc) = self.logistic(y);
        (self.division_factor * c, self.division_factor * dc)
    }

    fn logistic(&self, y: &[f64]) -> (f64, f64) {
        match self.capacity {
            None => (1.0, 0.0),
            Some(k) => {
                let s = self.stride();
                let total: f64 = (0..self.model.genotypes.len())
                    .map(|g| y[g * s + s - 1])
                    .sum();
                let c = 1.0 - total / k;
                if c > 0.0 {
                    (c, -1.0 / k)
                } else {
                    (0.0, 0.0)
                }
            }
        }
    }

    /// Load genotype g's inputs and run its right-hand-side program; returns
    /// (division, death). Rates are left in the register file. When the register
    /// file already holds a run at these inputs (a Rosenbrock step's Jacobian comes
    /// right after the right-hand side at the same state), the run is skipped: the
    /// program is a pure function of its inputs.
    #[inline]
    fn run_genotype(&mut self, g: usize, t: f64, y: &[f64]) -> (f64, f64) {
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let regs = &mut self.regs[g];
        let p = &self.bound.genotypes[g].rhs;
        let x = &y[g * s..g * s + n];
        let same = self.rhs_valid[g]
            && regs[..n] == *x
            && regs[n..n + nd] == self.drugs[..]
            && regs[n + nd] == t;
        if !same {
            regs[..n].copy_from_slice(x);
            regs[n..n + nd].copy_from_slice(&self.drugs);
            regs[n + nd] = t;
            p.run(regs);
            self.rhs_valid[g] = true;
        }
        (p.output(regs, n), p.output(regs, n + 1))
    }

    /// Variable name of state component `i`, for error messages.
    pub fn variable_name(&self, i: usize) -> String {
        let s = self.stride();
        let pop = self.population_len();
        if i >= pop {
            let k = i - pop;
            let ng = self.model.genotypes.len();
            if k < ACC_PER_GENOTYPE * ng {
                const WHAT: [&str; ACC_PER_GENOTYPE] = [
                    "per-cell division hazard",
                    "per-cell death hazard",
                    "divisions",
                    "deaths",
                    "variance of the count",
                ];
                let g = &self.model.genotypes[k / ACC_PER_GENOTYPE].name;
                return format!("{} (genotype {g})", WHAT[k % ACC_PER_GENOTYPE]);
            }
            let (p, c, _) = self.edges[k - ACC_PER_GENOTYPE * ng];
            return format!(
                "mutant arrivals {} -> {}",
                self.model.genotypes[p].name, self.model.genotypes[c].name
            );
        }
        let (g, j) = (i / s, i % s);
        let gname = &self.model.genotypes[g].name;
        if j < self.bound.n_species {
            format!("{} (genotype {gname})", self.model.species[j].name)
        } else {
            format!("cells (genotype {gname})")
        }
    }
}

impl OdeSystem for PopulationSystem<'_> {
    fn rhs(&mut self, t: f64, y: &[f64], dy: &mut [f64]) {
        self.exposure.concentrations(t, &mut self.drugs);
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let pop = self.population_len();
        let (crowd, _) = self.crowding(y);
        for cells in dy[..pop].iter_mut().skip(n).step_by(s) {
            *cells = 0.0;
        }
        let (dpop, dacc) = dy.split_at_mut(pop);
        dacc.fill(0.0);
        let ng = self.regs.len();
        let (dgen, dedge) = dacc.split_at_mut(if self.accumulate {
            ACC_PER_GENOTYPE * ng
        } else {
            0
        });
        // Every genotype's program runs below, at the inputs left in its registers.
        self.rhs_valid.fill(true);
        let genotypes = self.regs.iter_mut().zip(&self.bound.genotypes);
        for (g, ((regs, bg), yg)) in genotypes.zip(y[..pop].chunks_exact(s)).enumerate() {
            let (x, cells) = (&yg[..n], yg[n]);
            let inputs = &mut regs[..n + nd + 1];
            inputs[..n].copy_from_slice(x);
            inputs[n..n + nd].copy_from_slice(&self.drugs);
            inputs[n + nd] = t;
            let p = &bg.rhs;
            p.run(regs);
            // The first n outputs are the species rates, then division and death.
            p.outputs_into(regs, &mut dpop[g * s..g * s + n]);
            let (div, death) = (p.output(regs, n), p.output(regs, n + 1));
            let stochastic = self.stochastic[g];
            if self.accumulate {
                let a = &mut dgen[g * ACC_PER_GENOTYPE..(g + 1) * ACC_PER_GENOTYPE];
                a[0] = div * crowd;
                a[1] = death;
            }
            if stochastic {
                // Births, deaths and mutations of a stochastic clone are events.
                continue;
            }
            let births = div * crowd * cells;
            let mut kept = births;
            for &(c, u, e) in &self.children[g] {
                if self.stochastic[c] {
                    if let Some(m) = dedge.get_mut(e) {
                        *m = u * births;
                    }
                } else {
                    dpop[c * s + n] += u * births;
                    if self.accumulate {
                        dgen[c * ACC_PER_GENOTYPE + ACC_VARIANCE] += u * births;
                    }
                }
                kept -= u * births;
            }
            dpop[g * s + n] += kept - death * cells;
            if self.accumulate {
                let var = y[pop + g * ACC_PER_GENOTYPE + ACC_VARIANCE];
                // Per-cell rate of births that keep the genotype (as the Jacobian).
                let u_out: f64 = self.children[g].iter().map(|c| c.1).sum();
                let keep_rate = div * crowd * (1.0 - u_out);
                let a = &mut dgen[g * ACC_PER_GENOTYPE..(g + 1) * ACC_PER_GENOTYPE];
                a[2] = births;
                a[3] = death * cells;
                a[ACC_VARIANCE] += 2.0 * (keep_rate - death) * var + kept + death * cells;
            }
        }
    }

    fn jacobian(&mut self, t: f64, y: &[f64], jac: &mut DMatrix<f64>) {
        self.exposure.concentrations(t, &mut self.drugs);
        // On the storage slice: `DMatrix::fill` walks a generic strided iterator
        // element by element (most of this function's time on the il6 loop).
        jac.as_mut_slice().fill(0.0);
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let ng = self.model.genotypes.len();
        let pop = self.population_len();
        let acc = |g: usize, k: usize| pop + g * ACC_PER_GENOTYPE + k;
        let edge_row = |e: usize| pop + ng * ACC_PER_GENOTYPE + e;
        let (crowd, dcrowd) = self.crowding(y);
        for g in 0..ng {
            let (div, death) = self.run_genotype(g, t, y);
            let bg = &self.bound.genotypes[g];
            let jr = &mut self.jregs[g];
            jr[..n + nd + 1].copy_from_slice(&self.regs[g][..n + nd + 1]);
            bg.jacobian.run(jr);
            let cells = y[g * s + n];
            let stochastic = self.stochastic[g];
            // Rows fed by this genotype's births: (row, weight per birth), and rows
            // that its deaths lower: (row, weight per death; negative where a death
            // adds, as to the deaths counted). The own
            // count keeps the non-mutant share; mutant children gain theirs, in their
            // count or in the edge's accumulator when they are stochastic.
            //
            // The variance row: dV/dt = 2 (l - m) V + (l + m) N + r with l N the kept
            // births, m N the deaths: a birth-proportional term (1 + 2 V / N) per kept
            // birth, a death term (1 - 2 V / N) per death, the immigration of mutants.
            let var = if self.accumulate {
                y[acc(g, ACC_VARIANCE)]
            } else {
                0.0
            };
            let u_out: f64 = self.children[g].iter().map(|c| c.1).sum();
            let mut birth_rows = std::mem::take(&mut self.birth_rows);
            let mut death_rows = std::mem::take(&mut self.death_rows);
            birth_rows.clear();
            death_rows.clear();
            if !stochastic {
                birth_rows.push((g * s + n, 1.0 - u_out));
                for &(c, u, e) in &self.children[g] {
                    if self.stochastic[c] {
                        if self.accumulate {
                            birth_rows.push((edge_row(e), u));
                        }
                    } else {
                        birth_rows.push((c * s + n, u));
                        if self.accumulate {
                            birth_rows.push((acc(c, ACC_VARIANCE), u));
                        }
                    }
                }
                death_rows.push((g * s + n, 1.0));
                if self.accumulate {
                    birth_rows.push((acc(g, 2), 1.0));
                    death_rows.push((acc(g, 3), -1.0));
                    // Only the mean-proportional parts here; V's own column below.
                    birth_rows.push((acc(g, ACC_VARIANCE), 1.0 - u_out));
                    death_rows.push((acc(g, ACC_VARIANCE), -1.0));
                }
            }
            for (k, &(row, col)) in bg.jac_pattern.iter().enumerate() {
                let v = bg.jacobian.output(jr, k);
                if row < n {
                    jac[(g * s + row, g * s + col)] += v;
                } else if row == n {
                    // d division / d x
                    for &(r, w) in &birth_rows {
                        jac[(r, g * s + col)] += w * v * crowd * cells;
                    }
                    if self.accumulate {
                        jac[(acc(g, 0), g * s + col)] += v * crowd;
                    }
                } else {
                    for &(r, w) in &death_rows {
                        jac[(r, g * s + col)] -= w * v * cells;
                    }
                    if self.accumulate {
                        jac[(acc(g, 1), g * s + col)] += v;
                    }
                }
            }
            // Dependence on cell counts: own count, and every count through crowding.
            for &(r, w) in &birth_rows {
                jac[(r, g * s + n)] += w * div * crowd;
            }
            for &(r, w) in &death_rows {
                jac[(r, g * s + n)] -= w * death;
            }
            if self.accumulate && !stochastic {
                // 2 (l - m) V: its own column, and l, m through the loop state and
                // crowding (per cell, so the derivative is 2 V dl/dx, -2 V dm/dx).
                let keep = div * crowd * (1.0 - u_out);
                let rv = acc(g, ACC_VARIANCE);
                jac[(rv, rv)] += 2.0 * (keep - death);
                for (k, &(row, col)) in bg.jac_pattern.iter().enumerate() {
                    let v = bg.jacobian.output(jr, k);
                    if row == n {
                        jac[(rv, g * s + col)] += 2.0 * var * v * crowd * (1.0 - u_out);
                    } else if row == n + 1 {
                        jac[(rv, g * s + col)] -= 2.0 * var * v;
                    }
                }
                if dcrowd != 0.0 {
                    for h in 0..ng {
                        jac[(rv, h * s + n)] += 2.0 * var * div * dcrowd * (1.0 - u_out);
                    }
                }
            }
            if dcrowd != 0.0 {
                for h in 0..ng {
                    for &(r, w) in &birth_rows {
                        jac[(r, h * s + n)] += w * div * dcrowd * cells;
                    }
                    if self.accumulate {
                        jac[(acc(g, 0), h * s + n)] += div * dcrowd;
                    }
                }
            }
            self.birth_rows = birth_rows;
            self.death_rows = death_rows;
        }
    }

    fn has_events(&self) -> bool {
        !self.model.events.is_empty()
    }

    fn event_due(&mut self, t: f64, y: &[f64]) -> bool {
        self.run_triggers(t, y);
        (0..self.model.events.len()).any(|k| self.armed[k] && self.trigger(k))
    }

    fn rearm(&mut self, t: f64, y: &[f64]) {
        self.run_triggers(t, y);
        for k in 0..self.model.events.len() {
            if !self.trigger(k) {
                self.armed[k] = true;
            }
        }
    }

    fn check(&self, t: f64, y: &[f64]) -> Result<(), SolverError> {
        // Called on every accepted step: a branch-free scan first, names only on
        // failure.
        let tol = -self.negative_tolerance;
        if y.iter()
            .fold(true, |ok, &v| ok & (v.is_finite() & (v >= tol)))
        {
            return Ok(());
        }
        for (i, &v) in y.iter().enumerate() {
            if !v.is_finite() {
                return Err(SolverError {
                    time: t,
                    kind: SolverErrorKind::NonFinite {
                        variable: self.variable_name(i),
                        value: v,
                    },
                });
            }
            if v < tol {
                return Err(SolverError {
                    time: t,
                    kind: SolverErrorKind::Negative {
                        variable: self.variable_name(i),
                        value: v,
                        tolerance: self.negative_tolerance,
                    },
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_file;
    use crate::engine::ode::{Dopri5, Solver};
    use crate::pkpd::{DoseEvent, DoseKind};
    use std::path::{Path, PathBuf};

    /// Every shipped model (`models/*.toml`, not fact files) and the stiff benchmark loop.
    fn model_files() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("models"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.ends_with(".toml") && !name.ends_with(".facts.toml")
            })
            .collect();
        files.sort();
        files.push(root.join("benches/il6_loop.toml"));
        files
    }

    /// Compare `sys`'s exact Jacobian at `(t, y)` with central differences of its
    /// right-hand side, entry by entry; returns (entries compared, entries skipped).
    /// An entry is skipped where the right-hand side has a kink in that direction
    /// (`max`, `min`, a threshold): there forward and backward differences disagree
    /// and the exact Jacobian holds one of the one-sided derivatives.
    fn compare(sys: &mut PopulationSystem, t: f64, y: &[f64], what: &str) -> (usize, usize) {
        let n = y.len();
        let mut jac = DMatrix::zeros(n, n);
        sys.jacobian(t, y, &mut jac);
        let (mut fp, mut fm, mut f0) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        sys.rhs(t, y, &mut f0);
        let (mut compared, mut kinks) = (0, 0);
        for j in 0..n {
            let h = 1e-6 * y[j].abs().max(1e-3);
            let mut yp = y.to_vec();
            yp[j] += h;
            sys.rhs(t, &yp, &mut fp);
            yp[j] = y[j] - h;
            sys.rhs(t, &yp, &mut fm);
            for i in 0..n {
                let fd = (fp[i] - fm[i]) / (2.0 * h);
                let (fwd, bwd) = ((fp[i] - f0[i]) / h, (f0[i] - fm[i]) / h);
                let scale = fd.abs().max(jac[(i, j)].abs()).max(1e-6);
                // Truncation, and the rounding of rows whose values are large.
                let tol = 1e-4 * scale + 1e-12 * f0[i].abs().max(1.0) / h;
                // Smooth: the one-sided differences agree to O(h f''), far below tol.
                if (fwd - bwd).abs() > tol {
                    kinks += 1;
                    continue;
                }
                compared += 1;
                assert!(
                    (fd - jac[(i, j)]).abs() <= tol,
                    "{what}: d {} / d {}: exact {} vs differences {fd}",
                    sys.variable_name(i),
                    sys.variable_name(j),
                    jac[(i, j)]
                );
            }
        }
        (compared, kinks)
    }

    /// The exact Jacobian of every population system (loop, counts, accumulators and
    /// count variances, with crowding, a division factor, mutation edges, deterministic
    /// and stochastic mutants, every drug present) against central differences of the
    /// right-hand side, on every shipped model and on `benches/il6_loop.toml`, at the
    /// start and at two states along the dosed trajectory.
    #[test]
    fn jacobian_matches_finite_differences_on_every_model() {
        let files = model_files();
        assert!(files.len() >= 5, "models found: {files:?}");
        for file in &files {
            let m = compile_file(file).unwrap();
            let b = BoundModel::new(&m, &m.param_values()).unwrap();
            let ng = m.genotypes.len();
            let stochastic_cases: &[bool] = if ng > 1 { &[false, true] } else { &[false] };
            for accumulate in [false, true] {
                for &stochastic in stochastic_cases {
                    let build = |capacity: f64| {
                        let sys = PopulationSystem::new(&m, &b, Some(capacity), 1.0)
                            .with_division_factor(0.8);
                        let mut sys = if accumulate {
                            sys.with_accumulators()
                        } else {
                            sys
                        };
                        for g in 1..ng {
                            sys.set_stochastic(g, stochastic);
                        }
                        sys
                    };
                    let mut sys = build(3e6);
                    for drug in 0..m.drugs.len() {
                        let dose = DoseEvent {
                            time: 0.0,
                            drug,
                            kind: DoseKind::SetConcentration { value: 1.0 },
                        };
                        sys.exposure.apply(&dose, &m).unwrap();
                    }
                    let mut y = sys.initial_state(1e6);
                    let (s, pop) = (sys.stride(), sys.population_len());
                    for g in 1..ng {
                        y[g * s + s - 1] = 2.5e4;
                    }
                    if accumulate {
                        for g in 0..ng {
                            // Counts' variances, and running totals that feed back
                            // into nothing.
                            y[pop + g * ACC_PER_GENOTYPE + ACC_VARIANCE] = 1.4e6 * (g + 1) as f64;
                            y[pop + g * ACC_PER_GENOTYPE] = 0.3;
                        }
                    }
                    let mut solver = Dopri5::new(1e-8, 1e-10);
                    let (mut compared, mut kinks) = (0, 0);
                    let mut t = 0.0;
                    for t_next in [0.0, 1.0, 10.0] {
                        solver
                            .advance(&mut sys, &mut t, &mut y, t_next, &[], &mut |_, _| {})
                            .unwrap();
                        // Crowding well inside (0, 1): no kink at the capacity.
                        let total: f64 = (0..ng).map(|g| y[g * s + s - 1]).sum();
                        let mut check = build(2.0 * total);
                        check.exposure = sys.exposure.clone();
                        let what = format!(
                            "{} at t = {t} (accumulators {accumulate}, stochastic mutants \
                             {stochastic})",
                            file.display()
                        );
                        let (c, k) = compare(&mut check, t, &y, &what);
                        compared += c;
                        kinks += k;
                    }
                    assert!(
                        kinks * 50 <= compared,
                        "{}: {kinks} entries at kinks, {compared} compared",
                        file.display()
                    );
                }
            }
        }
    }
}
