//! The event-driven run: advance to the next dose, apply it, restart warm, go on.

use std::time::Instant;

use serde::Serialize;

use super::population::PopulationSystem;
use super::solver::{Method, Solver, SolverError, SolverStats};
use crate::compile::{BoundModel, CompiledModel};
use crate::pkpd::{DoseEvent, ExposureError};

/// Settings of one ODE run.
#[derive(Debug, Clone, Serialize)]
pub struct OdeOptions {
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// End time (model time unit).
    pub t_end: f64,
    /// Number of output intervals: outputs at t_end * k / n_out, k = 0..=n_out.
    pub n_out: usize,
    /// Cells at t = 0 (default: the model's `initial_cells`).
    pub initial_cells: Option<f64>,
    /// Carrying capacity (default: the model's).
    pub carrying_capacity: Option<f64>,
    /// Species or cell counts below `-negative_tolerance` are a failure
    /// (default 1e3 x atol).
    pub negative_tolerance: Option<f64>,
}

impl OdeOptions {
    pub fn new(t_end: f64) -> OdeOptions {
        OdeOptions {
            method: Method::Dopri5,
            rtol: 1e-6,
            atol: 1e-9,
            t_end,
            n_out: 200,
            initial_cells: None,
            carrying_capacity: None,
            negative_tolerance: None,
        }
    }
}

/// One column of a timeline: a variable of a population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Genotype name, `total`, or `exposure` (drug concentrations).
    pub population: String,
    pub variable: String,
    pub unit: String,
}

/// Values over time, one row per output time.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub times: Vec<f64>,
    pub time_unit: String,
    pub columns: Vec<Column>,
    /// Row-major: `values[row * columns.len() + col]`.
    pub values: Vec<f64>,
}

impl Timeline {
    pub fn column(&self, population: &str, variable: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.population == population && c.variable == variable)
    }
    /// The series of one column.
    pub fn series(&self, col: usize) -> Vec<f64> {
        let w = self.columns.len();
        (0..self.times.len())
            .map(|r| self.values[r * w + col])
            .collect()
    }
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.values[row * self.columns.len() + col]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimResult {
    pub timeline: Timeline,
    pub stats: SolverStats,
    pub final_state: Vec<f64>,
    pub wall_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Solver(#[from] SolverError),
    #[error(transparent)]
    Exposure(#[from] ExposureError),
    #[error("invalid run settings: {0}")]
    Settings(String),
}

fn timeline_columns(model: &CompiledModel) -> Vec<Column> {
    let mut cols = Vec::new();
    for g in &model.genotypes {
        for s in &model.species {
            cols.push(Column {
                population: g.name.clone(),
                variable: s.name.clone(),
                unit: s.unit.clone(),
            });
        }
        for o in &model.observables {
            cols.push(Column {
                population: g.name.clone(),
                variable: o.name.clone(),
                unit: o.unit.clone().unwrap_or_default(),
            });
        }
        let per = format!("1/{}", model.meta.time_unit.symbol());
        cols.push(Column {
            population: g.name.clone(),
            variable: "cells".into(),
            unit: "cells".into(),
        });
        cols.push(Column {
            population: g.name.clone(),
            variable: "division_rate".into(),
            unit: per.clone(),
        });
        cols.push(Column {
            population: g.name.clone(),
            variable: "death_rate".into(),
            unit: per,
        });
    }
    cols.push(Column {
        population: "total".into(),
        variable: "cells".into(),
        unit: "cells".into(),
    });
    for d in &model.drugs {
        cols.push(Column {
            population: "exposure".into(),
            variable: d.name.clone(),
            unit: d.unit.symbol().into(),
        });
    }
    cols
}

/// Fill one timeline row from the state at time t.
fn record_row(
    sys: &PopulationSystem,
    t: f64,
    y: &[f64],
    regs: &mut [Vec<f64>],
    oregs: &mut [Vec<f64>],
    drugs: &mut [f64],
    row: &mut Vec<f64>,
) {
    let model = sys.model;
    let n = sys.bound.n_species;
    let nd = sys.bound.n_drugs;
    let s = n + 1;
    sys.exposure.concentrations(t, drugs);
    let mut total = 0.0;
    for (g, bg) in sys.bound.genotypes.iter().enumerate() {
        let x = &y[g * s..g * s + n];
        for r in [&mut regs[g], &mut oregs[g]] {
            r[..n].copy_from_slice(x);
            r[n..n + nd].copy_from_slice(drugs);
            r[n + nd] = t;
        }
        bg.rhs.run(&mut regs[g]);
        bg.observables.run(&mut oregs[g]);
        row.extend_from_slice(x);
        for k in 0..model.observables.len() {
            row.push(bg.observables.output(&oregs[g], k));
        }
        let cells = y[g * s + n];
        total += cells;
        row.push(cells);
        row.push(bg.rhs.output(&regs[g], n));
        row.push(bg.rhs.output(&regs[g], n + 1));
    }
    row.push(total);
    row.extend_from_slice(drugs);
}

/// Simulate the population ODE under `doses`.
pub fn simulate(
    model: &CompiledModel,
    bound: &BoundModel,
    doses: &[DoseEvent],
    opts: &OdeOptions,
) -> Result<SimResult, SimError> {
    let mut solver = opts.method.solver(opts.rtol, opts.atol);
    simulate_with(model, bound, doses, opts, solver.as_mut())
}

/// Simulate with a given solver instance (lets benches reuse one).
pub fn simulate_with(
    model: &CompiledModel,
    bound: &BoundModel,
    doses: &[DoseEvent],
    opts: &OdeOptions,
    solver: &mut dyn Solver,
) -> Result<SimResult, SimError> {
    let start = Instant::now();
    if !(opts.t_end.is_finite() && opts.t_end > 0.0) {
        return Err(SimError::Settings(format!(
            "the run length must be positive, found {}",
            opts.t_end
        )));
    }
    if !(opts.rtol > 0.0 && opts.atol > 0.0 && opts.rtol < 1.0) {
        return Err(SimError::Settings(format!(
            "tolerances must satisfy 0 < rtol < 1 and atol > 0 (rtol {}, atol {})",
            opts.rtol, opts.atol
        )));
    }
    if opts.n_out == 0 {
        return Err(SimError::Settings(
            "at least one output interval is needed".into(),
        ));
    }
    let capacity = opts.carrying_capacity.or(model.carrying_capacity);
    let neg_tol = opts.negative_tolerance.unwrap_or(1e3 * opts.atol);
    let mut sys = PopulationSystem::new(model, bound, capacity, neg_tol);
    let cells = opts.initial_cells.unwrap_or(model.initial_cells);
    let mut y = sys.initial_state(cells);

    let mut events: Vec<DoseEvent> = doses
        .iter()
        .copied()
        .filter(|e| e.time <= opts.t_end)
        .collect();
    events.sort_by(|a, b| a.time.total_cmp(&b.time));
    let outs: Vec<f64> = (0..=opts.n_out)
        .map(|k| opts.t_end * k as f64 / opts.n_out as f64)
        .collect();

    let columns = timeline_columns(model);
    let mut values = Vec::with_capacity(columns.len() * outs.len());
    let mut regs: Vec<Vec<f64>> = bound.genotypes.iter().map(|g| g.rhs.workspace()).collect();
    let mut oregs: Vec<Vec<f64>> = bound
        .genotypes
        .iter()
        .map(|g| g.observables.workspace())
        .collect();
    let mut drugs = vec![0.0; model.drugs.len()];

    let (mut pend_t, mut pend_y) = (Vec::new(), Vec::new());
    let mut t = 0.0;
    let mut ei = 0;
    loop {
        // Apply every event due now, then integrate to the next one.
        while ei < events.len() && events[ei].time <= t {
            sys.exposure.apply(&events[ei], model)?;
            ei += 1;
            solver.restart();
        }
        let t_next = events
            .get(ei)
            .map_or(opts.t_end, |e| e.time.min(opts.t_end));
        if t_next > t {
            // The solver holds the system mutably while it runs, so outputs are
            // buffered and turned into rows afterwards.
            pend_t.clear();
            pend_y.clear();
            solver.advance(&mut sys, &mut t, &mut y, t_next, &outs, &mut |tk, yk| {
                pend_t.push(tk);
                pend_y.extend_from_slice(yk);
            })?;
            for (k, &tk) in pend_t.iter().enumerate() {
                let yk = &pend_y[k * y.len()..(k + 1) * y.len()];
                record_row(&sys, tk, yk, &mut regs, &mut oregs, &mut drugs, &mut values);
            }
        }
        if t >= opts.t_end {
            break;
        }
    }
    record_row(
        &sys,
        opts.t_end,
        &y,
        &mut regs,
        &mut oregs,
        &mut drugs,
        &mut values,
    );
    Ok(SimResult {
        timeline: Timeline {
            times: outs,
            time_unit: model.meta.time_unit.symbol().to_string(),
            columns,
            values,
        },
        stats: solver.stats(),
        final_state: y,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}
