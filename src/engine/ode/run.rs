//! A stateful population ODE run: the one driver every ODE user shares.
//!
//! `simulate` (a fixed list of doses), the therapy driver (refreshes, escalation
//! decisions, passaging), the assays (a snapshot exposed to fixed concentrations) and
//! the fact runner all need the same thing: advance to the next discontinuity, apply
//! it, restart warm, go on. [`OdeRun`] owns the time, the state, the exposure and a
//! solver, and exposes exactly those moves. Rows of a [`Timeline`](super::Timeline)
//! are produced by [`RowRecorder`], which evaluates observables and fate rates at a
//! state.

use super::driver::{Column, SimError};
use super::population::PopulationSystem;
use super::solver::{
    Method, OdeSystem, Solver, SolverError, SolverErrorKind, SolverStats, StepLimit,
};
use crate::compile::{BoundModel, CompiledModel};
use crate::pkpd::{DoseEvent, DoseKind, Exposure};

/// Numerical settings of a run. Unlike [`OdeOptions`](super::OdeOptions) nothing is
/// defaulted from the model: the caller decides the carrying capacity.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RunSettings {
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// `None`: unbounded growth (an assay well); `Some(K)`: logistic crowding.
    pub carrying_capacity: Option<f64>,
    /// Every division hazard times this (1 in culture; a host's slower growth, e.g. a
    /// xenograft's, below 1).
    pub division_factor: f64,
    /// No cell divides before this time: the lag of a host after injection (`[tumour]
    /// lag`; `-inf` or 0 when there is none). Its end is a discontinuity: drivers stop
    /// there as at a dose.
    pub division_from: f64,
    /// Species or cell counts below minus this are a failure.
    pub negative_tolerance: f64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            method: Method::default(),
            rtol: 1e-6,
            atol: 1e-9,
            carrying_capacity: None,
            division_factor: 1.0,
            division_from: 0.0,
            negative_tolerance: 1e-6,
        }
    }
}

/// How far below zero a species or cell count may go before a run fails, unless
/// the caller says otherwise: 1e3 x atol for a model of cells (a count or a
/// concentration dipping through the solver's error), no limit for a plain ODE
/// model, whose species may be signed quantities.
pub fn default_negative_tolerance(model: &CompiledModel, atol: f64) -> f64 {
    if model.has_cells {
        1e3 * atol
    } else {
        f64::INFINITY
    }
}

impl RunSettings {
    fn check(&self) -> Result<(), SimError> {
        if !(self.rtol > 0.0 && self.atol > 0.0 && self.rtol < 1.0) {
            return Err(SimError::Settings(format!(
                "tolerances must satisfy 0 < rtol < 1 and atol > 0 (rtol {}, atol {})",
                self.rtol, self.atol
            )));
        }
        if !(self.division_factor.is_finite() && self.division_factor >= 0.0) {
            return Err(SimError::Settings(format!(
                "the division factor must be finite and non-negative, found {}",
                self.division_factor
            )));
        }
        if self.division_from.is_nan() || self.division_from == f64::INFINITY {
            return Err(SimError::Settings(format!(
                "the time division starts from must be a number below infinity, found {}",
                self.division_from
            )));
        }
        if let Some(k) = self.carrying_capacity {
            if !(k.is_finite() && k > 0.0) {
                return Err(SimError::Settings(format!(
                    "the carrying capacity must be positive and finite, found {k}"
                )));
            }
        }
        Ok(())
    }
}

/// Outputs captured by the last [`OdeRun::advance_to`]: times and states.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub times: Vec<f64>,
    /// `states[k * stride..(k + 1) * stride]` is the state at `times[k]`.
    pub states: Vec<f64>,
    pub stride: usize,
}

impl Captured {
    pub fn iter(&self) -> impl Iterator<Item = (f64, &[f64])> {
        self.times
            .iter()
            .enumerate()
            .map(move |(k, &t)| (t, &self.states[k * self.stride..(k + 1) * self.stride]))
    }
}

/// A population ODE in progress.
pub struct OdeRun<'a> {
    sys: PopulationSystem<'a>,
    solver: Box<dyn Solver + 'a>,
    /// Tolerances of the run, to say which variable held a stalled step down.
    rtol: f64,
    atol: f64,
    t: f64,
    y: Vec<f64>,
    captured: Captured,
    /// Whether events due at the start time have been fired.
    events_started: bool,
}

impl<'a> OdeRun<'a> {
    /// Start at time `t0` from state `y0` (per genotype: species then cells; see
    /// [`OdeRun::initial_state`]) with no drug present.
    pub fn new(
        model: &'a CompiledModel,
        bound: &'a BoundModel,
        settings: &RunSettings,
        y0: &[f64],
        t0: f64,
    ) -> Result<OdeRun<'a>, SimError> {
        let solver = settings.method.solver(settings.rtol, settings.atol);
        Self::with_solver(model, bound, settings, y0, t0, solver)
    }

    /// As [`OdeRun::new`] with a given solver (benches reuse one).
    pub fn with_solver(
        model: &'a CompiledModel,
        bound: &'a BoundModel,
        settings: &RunSettings,
        y0: &[f64],
        t0: f64,
        solver: Box<dyn Solver + 'a>,
    ) -> Result<OdeRun<'a>, SimError> {
        let sys = PopulationSystem::new(
            model,
            bound,
            settings.carrying_capacity,
            settings.negative_tolerance,
        )
        .with_division_factor(settings.division_factor)
        .with_division_from(settings.division_from);
        Self::with_system(sys, settings, y0, t0, solver)
    }

    /// As [`OdeRun::new`] on a given system (the hybrid engine's, with accumulators).
    pub fn with_system(
        sys: PopulationSystem<'a>,
        settings: &RunSettings,
        y0: &[f64],
        t0: f64,
        solver: Box<dyn Solver + 'a>,
    ) -> Result<OdeRun<'a>, SimError> {
        settings.check()?;
        if sys.has_events() && !solver.supports_events() {
            return Err(SimError::Settings(format!(
                "the model has events, which method `{}` does not locate; use auto, dopri5, radau5, bdf, \
                 rodas5p or rodas4",
                solver.name()
            )));
        }
        if !t0.is_finite() {
            return Err(SimError::Settings(format!(
                "the start time must be finite, found {t0}"
            )));
        }
        let mut run = OdeRun {
            captured: Captured {
                stride: sys.state_len(),
                ..Captured::default()
            },
            sys,
            solver,
            rtol: settings.rtol,
            atol: settings.atol,
            t: t0,
            y: Vec::new(),
            events_started: false,
        };
        run.set_state(y0)?;
        Ok(run)
    }

    /// The model's initial loop state for every genotype, `cells` split by the
    /// genotypes' initial fractions.
    pub fn initial_state(model: &CompiledModel, bound: &BoundModel, cells: f64) -> Vec<f64> {
        PopulationSystem::new(model, bound, None, 0.0).initial_state(cells)
    }

    pub fn model(&self) -> &'a CompiledModel {
        self.sys.model
    }
    pub fn time(&self) -> f64 {
        self.t
    }
    pub fn state(&self) -> &[f64] {
        &self.y
    }
    /// Entries per genotype in the state: species then cells.
    pub fn stride(&self) -> usize {
        self.sys.stride()
    }
    /// The population block of the state (every genotype's species and cells),
    /// without the hybrid layout's accumulators.
    pub fn population(&self) -> &[f64] {
        &self.y[..self.sys.population_len()]
    }
    pub fn system(&self) -> &PopulationSystem<'a> {
        &self.sys
    }
    /// The system, to mark genotypes stochastic (a discontinuity: call
    /// [`OdeRun::set_state`] or [`OdeRun::restart`] after a change).
    pub fn system_mut(&mut self) -> &mut PopulationSystem<'a> {
        &mut self.sys
    }
    /// The right-hand side at the current time and state.
    pub fn derivative(&mut self) -> Vec<f64> {
        use super::solver::OdeSystem;
        if self.sys.enter_phase(self.t) {
            self.solver.restart();
        }
        let mut dy = vec![0.0; self.y.len()];
        self.sys.rhs(self.t, &self.y, &mut dy);
        dy
    }
    /// Forget the solver's derivative information (the system changed).
    pub fn restart(&mut self) {
        self.solver.restart();
    }
    /// Move to time `t` with state `y` (a restore; the solver restarts).
    pub fn set_time_state(&mut self, t: f64, y: &[f64]) -> Result<(), SimError> {
        if !t.is_finite() {
            return Err(SimError::Settings(format!(
                "the time must be finite, found {t}"
            )));
        }
        self.set_state(y)?;
        self.t = t;
        Ok(())
    }
    pub fn stats(&self) -> SolverStats {
        self.solver.stats()
    }
    pub fn exposure(&self) -> &Exposure {
        &self.sys.exposure
    }

    /// Replace the state (a discontinuity: the solver restarts).
    pub fn set_state(&mut self, y: &[f64]) -> Result<(), SimError> {
        let want = self.captured.stride;
        let pop = self.sys.population_len();
        if y.len() != want && y.len() != pop {
            return Err(SimError::Settings(format!(
                "a state of this model has {pop} entries (species and cells per genotype), found {}",
                y.len()
            )));
        }
        for (i, &v) in y.iter().enumerate() {
            if !v.is_finite() || v < -self.sys.negative_tolerance {
                return Err(SimError::Settings(format!(
                    "state entry {} is {v}: values must be finite and not negative",
                    self.sys.variable_name(i)
                )));
            }
        }
        self.y.clear();
        self.y.extend_from_slice(y);
        // A population block alone starts the accumulators at zero.
        self.y.resize(want, 0.0);
        self.solver.restart();
        Ok(())
    }

    /// Apply a dose at the current time (its `time` field is replaced by it).
    pub fn apply_dose(&mut self, drug: usize, kind: DoseKind) -> Result<(), SimError> {
        let ev = DoseEvent {
            time: self.t,
            drug,
            kind,
        };
        self.sys.exposure.apply(&ev, self.sys.model)?;
        self.solver.restart();
        Ok(())
    }

    /// Set every drug's concentration (in vitro medium), e.g. for an assay well.
    pub fn set_concentrations(&mut self, conc: &[f64]) -> Result<(), SimError> {
        for (i, &c) in conc.iter().enumerate() {
            if !(c.is_finite() && c >= 0.0) {
                return Err(SimError::Settings(format!(
                    "concentration of drug `{}` must be finite and not negative, found {c}",
                    self.sys.model.drugs[i].name
                )));
            }
            self.apply_dose(i, DoseKind::SetConcentration { value: c })?;
        }
        Ok(())
    }

    /// Multiply every genotype's cell count (a passage keeps 1/K of the cells).
    pub fn scale_cells(&mut self, factor: f64) {
        let s = self.stride();
        for g in 0..self.sys.model.genotypes.len() {
            self.y[g * s + s - 1] *= factor;
        }
        self.solver.restart();
    }

    /// Cells of genotype `g`.
    pub fn cells(&self, g: usize) -> f64 {
        let s = self.stride();
        self.y[g * s + s - 1]
    }
    pub fn total_cells(&self) -> f64 {
        total_cells(self.population(), self.stride())
    }

    /// Integrate to `t_end` with no discontinuity in between, capturing the state at
    /// every time of `outs` in `[time, t_end)` (read them with [`OdeRun::captured`]).
    pub fn advance_to(&mut self, t_end: f64, outs: &[f64]) -> Result<(), SimError> {
        self.captured.times.clear();
        self.captured.states.clear();
        if !t_end.is_finite() || t_end < self.t {
            return Err(SimError::Settings(format!(
                "cannot advance from t = {} to t = {t_end}",
                self.t
            )));
        }
        if !self.events_started {
            self.events_started = true;
            self.fire_events()?;
        }
        if t_end == self.t {
            return Ok(());
        }
        if self.sys.enter_phase(self.t) {
            self.solver.restart();
        }
        loop {
            // Stop also where a delayed event is due and, in a model with events,
            // at every output time: a trigger that is true only between two step
            // ends is missed, and output times bound the steps (as they do where
            // runs advance output by output).
            let mut stop = self
                .sys
                .next_scheduled()
                .map_or(t_end, |s| s.clamp(self.t, t_end));
            if self.sys.has_events() {
                if let Some(&o) = outs.iter().find(|&&o| o > self.t) {
                    stop = stop.min(o);
                }
            }
            let cap = &mut self.captured;
            let done = self.solver.advance(
                &mut self.sys,
                &mut self.t,
                &mut self.y,
                stop,
                outs,
                &mut |tk, yk| {
                    cap.times.push(tk);
                    cap.states.extend_from_slice(yk);
                },
            );
            done.map_err(|e| SimError::Solver(self.explain(e)))?;
            // The solver stops early only at an event (also checked at the end);
            // a delayed event due now executes here.
            let delayed = self.sys.next_scheduled().is_some_and(|s| s <= self.t);
            if self.sys.has_events() && (delayed || self.sys.event_due(self.t, &self.y)) {
                self.fire_events()?;
            }
            if self.t >= t_end {
                return Ok(());
            }
        }
    }

    /// Fire the events due now (a discontinuity: the solver restarts).
    fn fire_events(&mut self) -> Result<(), SimError> {
        if self.sys.fire_events(self.t, &mut self.y)? {
            self.solver.restart();
        }
        Ok(())
    }

    /// Say which variable held the step down when a method stalled: the one whose
    /// rate, at the last accepted state, is the largest relative to the tolerances.
    fn explain(&mut self, mut e: SolverError) -> SolverError {
        let limit = match &mut e.kind {
            SolverErrorKind::StepSizeUnderflow { limit, .. }
            | SolverErrorKind::TooManySteps { limit, .. } => limit,
            _ => return e,
        };
        let n = self.sys.population_len().min(self.y.len());
        let mut dy = vec![0.0; self.y.len()];
        self.sys.rhs(self.t, &self.y, &mut dy);
        let speed = |i: usize| dy[i].abs() / (self.atol + self.rtol * self.y[i].abs());
        let fastest = (0..n)
            .filter(|&i| speed(i).is_finite())
            .max_by(|&a, &b| speed(a).total_cmp(&speed(b)));
        if let Some(i) = fastest {
            *limit = Some(StepLimit {
                variable: self.sys.variable_name(i),
                method: self.solver.name(),
            });
        }
        e
    }

    pub fn captured(&self) -> &Captured {
        &self.captured
    }

    /// Concentrations of every drug at the current time.
    pub fn concentrations(&self) -> Vec<f64> {
        let mut c = vec![0.0; self.sys.model.drugs.len()];
        self.sys.exposure.concentrations(self.t, &mut c);
        c
    }
}

/// Total cells of a state.
pub fn total_cells(y: &[f64], stride: usize) -> f64 {
    y.chunks_exact(stride).map(|g| g[stride - 1]).sum()
}

/// Scale every genotype's cells of a state so that they add up to `total` (a state
/// with no cells, or infinitely many, is left as it is).
pub fn rescale_cells(y: &mut [f64], stride: usize, total: f64) {
    let now = total_cells(y, stride);
    if now > 0.0 && now.is_finite() {
        for g in y.chunks_exact_mut(stride) {
            g[stride - 1] *= total / now;
        }
    }
}

/// Evaluates observables and fate rates at a state, for timeline rows and readouts.
pub struct RowRecorder<'a> {
    model: &'a CompiledModel,
    bound: &'a BoundModel,
    regs: Vec<Vec<f64>>,
    oregs: Vec<Vec<f64>>,
    drugs: Vec<f64>,
}

/// Per-genotype view of a state: what a readout needs.
#[derive(Debug, Clone, PartialEq)]
pub struct GenotypeReading {
    pub cells: f64,
    pub division: f64,
    pub death: f64,
    /// Species then observables, in model order.
    pub values: Vec<f64>,
}

impl<'a> RowRecorder<'a> {
    pub fn new(model: &'a CompiledModel, bound: &'a BoundModel) -> RowRecorder<'a> {
        RowRecorder {
            model,
            bound,
            regs: bound.genotypes.iter().map(|g| g.rhs.workspace()).collect(),
            oregs: bound
                .genotypes
                .iter()
                .map(|g| g.observables.workspace())
                .collect(),
            drugs: vec![0.0; model.drugs.len()],
        }
    }

    /// The timeline columns matching [`RowRecorder::row`].
    pub fn columns(&self) -> Vec<Column> {
        timeline_columns(self.model)
    }

    /// Evaluate genotype `g` at state `y` and time `t` under concentrations `drugs`;
    /// returns (division, death) and leaves observables in the register file.
    fn eval(&mut self, g: usize, t: f64, y: &[f64]) -> (f64, f64) {
        let n = self.bound.n_species;
        let nd = self.bound.n_drugs;
        let s = n + 1;
        let x = &y[g * s..g * s + n];
        let bg = &self.bound.genotypes[g];
        for r in [&mut self.regs[g], &mut self.oregs[g]] {
            r[..n].copy_from_slice(x);
            r[n..n + nd].copy_from_slice(&self.drugs);
            r[n + nd] = t;
        }
        bg.rhs.run(&mut self.regs[g]);
        bg.observables.run(&mut self.oregs[g]);
        (
            bg.rhs.output(&self.regs[g], n),
            bg.rhs.output(&self.regs[g], n + 1),
        )
    }

    /// Every genotype's reading at state `y`, time `t`, concentrations `drugs`.
    pub fn read(&mut self, t: f64, y: &[f64], drugs: &[f64]) -> Vec<GenotypeReading> {
        self.drugs.copy_from_slice(drugs);
        let n = self.bound.n_species;
        let s = n + 1;
        (0..self.model.genotypes.len())
            .map(|g| {
                let (division, death) = self.eval(g, t, y);
                let mut values = y[g * s..g * s + n].to_vec();
                let bg = &self.bound.genotypes[g];
                values.extend(
                    (0..self.model.observables.len())
                        .map(|k| bg.observables.output(&self.oregs[g], k)),
                );
                GenotypeReading {
                    cells: y[g * s + n],
                    division,
                    death,
                    values,
                }
            })
            .collect()
    }

    /// Append one timeline row (see [`RowRecorder::columns`]) for state `y` at `t`
    /// under the exposure `exposure`.
    pub fn row(&mut self, t: f64, y: &[f64], exposure: &Exposure, row: &mut Vec<f64>) {
        let mut drugs = std::mem::take(&mut self.drugs);
        exposure.concentrations(t, &mut drugs);
        self.drugs = drugs;
        let n = self.bound.n_species;
        let s = n + 1;
        let mut total = 0.0;
        for g in 0..self.model.genotypes.len() {
            let (division, death) = self.eval(g, t, y);
            row.extend_from_slice(&y[g * s..g * s + n]);
            let bg = &self.bound.genotypes[g];
            for k in 0..self.model.observables.len() {
                row.push(bg.observables.output(&self.oregs[g], k));
            }
            let cells = y[g * s + n];
            total += cells;
            if self.model.has_cells {
                row.push(cells);
                row.push(division);
                row.push(death);
            }
        }
        if self.model.has_cells {
            row.push(total);
        }
        row.extend_from_slice(&self.drugs);
    }
}

/// Columns of a population timeline: per genotype its species, observables, cells,
/// division and death rates; then total cells and every drug's exposure. A plain
/// ODE model (no cells) has only its species, observables and exposures.
pub fn timeline_columns(model: &CompiledModel) -> Vec<Column> {
    let mut cols = Vec::new();
    let per = format!("1/{}", model.meta.time_unit.symbol());
    for g in &model.genotypes {
        let col = |variable: &str, unit: &str| Column {
            population: g.name.clone(),
            variable: variable.into(),
            unit: unit.into(),
        };
        for s in &model.species {
            cols.push(col(&s.name, &s.unit));
        }
        for o in &model.observables {
            cols.push(col(&o.name, o.unit.as_deref().unwrap_or_default()));
        }
        if model.has_cells {
            cols.push(col("cells", "cells"));
            cols.push(col("division_rate", &per));
            cols.push(col("death_rate", &per));
        }
    }
    if model.has_cells {
        cols.push(Column {
            population: "total".into(),
            variable: "cells".into(),
            unit: "cells".into(),
        });
    }
    for d in &model.drugs {
        cols.push(Column {
            population: "exposure".into(),
            variable: d.name.clone(),
            unit: d.unit.symbol().into(),
        });
    }
    cols
}
