//! The event-driven run: advance to the next dose, apply it, restart warm, go on.

use std::time::Instant;

use serde::Serialize;

use super::run::{default_negative_tolerance, OdeRun, RowRecorder, RunSettings};
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
            method: Method::default(),
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
    if opts.n_out == 0 {
        return Err(SimError::Settings(
            "at least one output interval is needed".into(),
        ));
    }
    let settings = RunSettings {
        method: opts.method,
        rtol: opts.rtol,
        atol: opts.atol,
        carrying_capacity: opts.carrying_capacity.or(model.carrying_capacity),
        division_factor: 1.0,
        division_from: 0.0,
        negative_tolerance: opts
            .negative_tolerance
            .unwrap_or(default_negative_tolerance(model, opts.atol)),
    };
    let cells = opts.initial_cells.unwrap_or(model.initial_cells);
    let y0 = OdeRun::initial_state(model, bound, cells);
    let mut run = OdeRun::with_solver(model, bound, &settings, &y0, 0.0, Box::new(solver))?;
    let mut recorder = RowRecorder::new(model, bound);

    let mut events: Vec<DoseEvent> = doses
        .iter()
        .copied()
        .filter(|e| e.time <= opts.t_end)
        .collect();
    events.sort_by(|a, b| a.time.total_cmp(&b.time));
    let outs: Vec<f64> = (0..=opts.n_out)
        .map(|k| opts.t_end * k as f64 / opts.n_out as f64)
        .collect();

    let columns = recorder.columns();
    let mut values = Vec::with_capacity(columns.len() * outs.len());
    let mut ei = 0;
    loop {
        // Apply every event due now, then integrate to the next one.
        while ei < events.len() && events[ei].time <= run.time() {
            run.apply_dose(events[ei].drug, events[ei].kind)?;
            ei += 1;
        }
        let t_next = events
            .get(ei)
            .map_or(opts.t_end, |e| e.time.min(opts.t_end));
        if t_next > run.time() {
            run.advance_to(t_next, &outs)?;
            for (tk, yk) in run.captured().iter() {
                recorder.row(tk, yk, run.exposure(), &mut values);
            }
        }
        if run.time() >= opts.t_end {
            break;
        }
    }
    recorder.row(opts.t_end, run.state(), run.exposure(), &mut values);
    let (stats, final_state) = (run.stats(), run.state().to_vec());
    Ok(SimResult {
        timeline: Timeline {
            times: outs,
            time_unit: model.meta.time_unit.symbol().to_string(),
            columns,
            values,
        },
        stats,
        final_state,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}
