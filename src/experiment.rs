//! Experiment runner: turns a request (model file, doses, settings) into a run and
//! its outputs. It owns validation and output writing; engines do neither.
//!
//! Everything is checked before anything is written, and every file is written
//! atomically, so a failed run leaves `--out` without files that look complete.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compile::{compile_file, BoundModel, CompiledModel};
use crate::engine::doses::run_doses;
use crate::engine::ode::{
    Method, OdeOptions, OdeRun, RowRecorder, RunSettings, SimError, SimResult,
};
use crate::engine::population::{HybridSettings, Mode, PopulationEngine};
use crate::engine::{Engine, EngineKind};
use crate::limits::{check, Limit, LimitExceeded};
use crate::model::ModelError;
use crate::output::manifest::{command_line, write_json, VERSION};
use crate::output::plot::PlotError;
use crate::output::timeline::write_timeline_csv;
use crate::output::timeline_plot::TimelineFigure;
use crate::pkpd::{parse_dose_spec, DoseEvent, DoseSpecError};

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Dose(#[from] DoseSpecError),
    #[error("--set `{spec}`: {message}")]
    Set { spec: String, message: String },
    #[error("{0}")]
    Settings(String),
    #[error("{model}: {failure}")]
    Sim { model: String, failure: SimError },
    #[error("cannot write {path}: {failure}")]
    Io {
        path: String,
        failure: std::io::Error,
    },
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    #[error(transparent)]
    NonPhysical(#[from] crate::output::timeline::NonPhysical),
    #[error(transparent)]
    Range(#[from] crate::limits::OutOfRange),
    #[error(transparent)]
    Bind(#[from] crate::compile::BindError),
}

/// A command-line style simulation request.
#[derive(Debug, Clone)]
pub struct SimulateRequest {
    pub model: PathBuf,
    pub days: f64,
    /// `DRUG=AMOUNT@EVERY[xCOUNT]`
    pub doses: Vec<String>,
    /// `PARAM=VALUE`
    pub sets: Vec<String>,
    /// Accept `sets` outside the parameters' declared bounds.
    pub allow_out_of_bounds: bool,
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    pub points: usize,
    pub cells: Option<f64>,
    pub plot: bool,
    /// `None`: hybrid for a model with genotypes, mean-field otherwise.
    pub engine: Option<EngineKind>,
    /// Seed of the hybrid engine's random events.
    pub seed: u64,
}

impl SimulateRequest {
    pub fn new(model: &Path, days: f64) -> SimulateRequest {
        SimulateRequest {
            model: model.to_path_buf(),
            days,
            doses: Vec::new(),
            sets: Vec::new(),
            allow_out_of_bounds: false,
            method: Method::default(),
            rtol: 1e-6,
            atol: 1e-9,
            points: 400,
            cells: None,
            plot: true,
            engine: None,
            seed: 1,
        }
    }
}

/// Apply `PARAM=VALUE` changes to base parameter values; a value outside the bounds
/// the model declares for the parameter is refused.
pub fn apply_sets(model: &CompiledModel, sets: &[String]) -> Result<Vec<f64>, ExperimentError> {
    apply_sets_checked(model, sets, false)
}

/// [`apply_sets`], accepting values outside the declared bounds when
/// `allow_out_of_bounds` (the bounds say where the model was calibrated and
/// swept, not what is physically possible).
pub fn apply_sets_checked(
    model: &CompiledModel,
    sets: &[String],
    allow_out_of_bounds: bool,
) -> Result<Vec<f64>, ExperimentError> {
    let mut values = model.param_values();
    for spec in sets {
        let fail = |m: String| ExperimentError::Set {
            spec: spec.clone(),
            message: m,
        };
        let (name, v) = spec
            .split_once('=')
            .ok_or_else(|| fail("expected PARAM=VALUE".into()))?;
        let name = name.trim();
        let i = model.param_index(name).ok_or_else(|| {
            fail(format!(
                "the model has no parameter `{name}`{}",
                crate::expr::resolve::did_you_mean_among(name, model.param_names())
            ))
        })?;
        let x: f64 = v
            .trim()
            .parse()
            .map_err(|_| fail(format!("cannot read the value `{v}` as a number")))?;
        if !x.is_finite() {
            return Err(fail(format!("expected a finite value, found {x}")));
        }
        if let (Some([lo, hi]), false) = (model.params[i].bounds, allow_out_of_bounds) {
            if !(lo..=hi).contains(&x) {
                return Err(fail(format!(
                    "{x} lies outside the bounds [{lo}, {hi}] the model declares for `{name}`; \
                     pass --allow-out-of-bounds to run it anyway"
                )));
            }
        }
        values[i] = x;
    }
    Ok(values)
}

/// The length (days) and dose specs of a run given on the command line: what was
/// given, else the model's `[scenario]`; `drug_free` drops the scenario's doses. The
/// simulate and agent-based commands read it the same way, so a model runs under the
/// same drug whichever engine runs it.
pub fn scenario_plan(
    model: &CompiledModel,
    days: Option<f64>,
    doses: &[String],
    drug_free: bool,
) -> Result<(f64, Vec<String>), ExperimentError> {
    if drug_free && !doses.is_empty() {
        return Err(ExperimentError::Settings(
            "--drug-free and --dose exclude each other".into(),
        ));
    }
    let days = match (days, &model.scenario) {
        (Some(d), _) => d,
        (None, Some(s)) => s.days,
        (None, None) => {
            return Err(ExperimentError::Settings(format!(
                "{} has no [scenario]: give the length of the run with --days",
                model.meta.path
            )))
        }
    };
    let doses = if drug_free {
        Vec::new()
    } else if !doses.is_empty() {
        doses.to_vec()
    } else {
        model
            .scenario
            .as_ref()
            .map(|s| s.doses.clone())
            .unwrap_or_default()
    };
    Ok((days, doses))
}

/// What a finished simulation wrote and measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunManifest {
    pub resloop_version: &'static str,
    pub command_line: Vec<String>,
    pub model: ModelRef,
    pub days: f64,
    pub time_unit: String,
    pub parameters: indexmap::IndexMap<String, f64>,
    pub parameter_changes: Vec<String>,
    pub dose_specs: Vec<String>,
    pub doses: Vec<DoseEvent>,
    pub engine: EngineKind,
    pub seed: u64,
    pub solver: OdeOptions,
    pub stats: crate::engine::ode::SolverStats,
    pub columns: Vec<crate::engine::ode::Column>,
    pub wall_seconds: f64,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub path: String,
    pub sha256: String,
}

/// Everything prepared and checked, ready to run.
pub struct Prepared {
    pub model: CompiledModel,
    pub params: Vec<f64>,
    pub bound: BoundModel,
    pub doses: Vec<DoseEvent>,
    pub options: OdeOptions,
}

/// Load, check and bind; expand doses. No output is touched.
pub fn prepare(req: &SimulateRequest) -> Result<Prepared, ExperimentError> {
    if !(req.days.is_finite() && req.days > 0.0) {
        return Err(ExperimentError::Settings(format!(
            "--days must be a positive number, found {}",
            req.days
        )));
    }
    crate::limits::check_tolerances(req.rtol, req.atol)?;
    if req.points == 0 {
        return Err(ExperimentError::Settings(
            "--points must be at least 1".into(),
        ));
    }
    check(Limit::Days, req.days)?;
    check(Limit::Points, req.points as f64)?;
    if let Some(c) = req.cells {
        crate::limits::check_positive("--cells", c)?;
    }
    let model = compile_file(&req.model)?;
    let t_end = req.days * 24.0 / model.meta.time_unit.hours();
    let params = apply_sets_checked(&model, &req.sets, req.allow_out_of_bounds)?;
    let mut doses = Vec::new();
    for d in &req.doses {
        doses.extend(parse_dose_spec(&model, d, t_end)?);
    }
    check(Limit::OutputMb, timeline_mb(&model, req.points))?;
    let bound = BoundModel::new(&model, &params)?;
    let mut options = OdeOptions::new(t_end);
    options.method = req.method;
    options.rtol = req.rtol;
    options.atol = req.atol;
    options.n_out = req.points;
    options.initial_cells = req.cells;
    Ok(Prepared {
        model,
        params,
        bound,
        doses,
        options,
    })
}

/// Estimated size (MB) of a timeline of `points` intervals: one long-format row (about
/// 40 bytes) per time, genotype and column (species, observables, drugs, cells).
pub fn timeline_mb(model: &CompiledModel, points: usize) -> f64 {
    let columns = model.genotypes.len() * (model.species.len() + 2)
        + model.observables.len()
        + model.drugs.len()
        + 2;
    (points as f64 + 1.0) * columns as f64 * 40.0 / 1e6
}

/// Run the prepared doses on the mean-field or hybrid engine (replicate 0 of `seed`).
pub fn simulate_on(p: &Prepared, engine: EngineKind, seed: u64) -> Result<SimResult, SimError> {
    let started = std::time::Instant::now();
    let o = &p.options;
    let settings = RunSettings {
        method: o.method,
        rtol: o.rtol,
        atol: o.atol,
        carrying_capacity: o.carrying_capacity.or(p.model.carrying_capacity),
        division_factor: 1.0,
        negative_tolerance: o.negative_tolerance.unwrap_or(1e3 * o.atol),
    };
    let mode = match engine {
        EngineKind::MeanField => Mode::MeanField,
        EngineKind::Hybrid => Mode::Hybrid {
            settings: HybridSettings::default(),
            seed,
            replicate: 0,
        },
        EngineKind::AgentBased => {
            return Err(SimError::Settings(
                "the agent-based engine runs through `resloop abm`".into(),
            ))
        }
    };
    let cells = o.initial_cells.unwrap_or(p.model.initial_cells);
    let y0 = OdeRun::initial_state(&p.model, &p.bound, cells);
    let mut e = PopulationEngine::new(&p.model, &p.bound, &settings, &y0, 0.0, mode)?;
    let outs: Vec<f64> = (0..=o.n_out)
        .map(|k| o.t_end * k as f64 / o.n_out as f64)
        .collect();
    let mut rec = RowRecorder::new(&p.model, &p.bound);
    let unit = p.model.meta.time_unit.symbol();
    let timeline = run_doses(&mut e, &mut rec, &p.doses, &outs, unit)?;
    Ok(SimResult {
        timeline,
        stats: e.stats(),
        final_state: e.population().to_vec(),
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Run a simulation and write `timeline.csv`, `manifest.json` and the timeline plot
/// into `out`.
pub fn run_simulate(
    req: &SimulateRequest,
    out: &Path,
) -> Result<(RunManifest, SimResult), ExperimentError> {
    let p = prepare(req)?;
    let engine = req.engine.unwrap_or(if p.model.genotypes.len() > 1 {
        EngineKind::Hybrid
    } else {
        EngineKind::MeanField
    });
    let res = simulate_on(&p, engine, req.seed).map_err(|failure| ExperimentError::Sim {
        model: p.model.meta.path.clone(),
        failure,
    })?;
    crate::output::timeline::check_timeline(&res.timeline)?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |failure| ExperimentError::Io { path, failure }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut outputs = Vec::new();
    let csv = out.join("timeline.csv");
    write_timeline_csv(&csv, &res.timeline).map_err(io(&csv))?;
    outputs.push("timeline.csv".to_string());
    if req.plot {
        let species: Vec<String> = p.model.species.iter().map(|s| s.name.clone()).collect();
        let obs: Vec<String> = p.model.observables.iter().map(|s| s.name.clone()).collect();
        TimelineFigure::new(&res.timeline, &p.model.genotypes[0].name, &species, &obs)
            .save(&out.join("timeline"))?;
        outputs.extend(["timeline.png".to_string(), "timeline.svg".to_string()]);
    }
    let manifest = RunManifest {
        resloop_version: VERSION,
        command_line: command_line(),
        model: ModelRef {
            name: p.model.meta.name.clone(),
            path: p.model.meta.path.clone(),
            sha256: p.model.meta.sha256.clone(),
        },
        days: req.days,
        time_unit: p.model.meta.time_unit.symbol().to_string(),
        parameters: p
            .model
            .params
            .iter()
            .zip(&p.params)
            .map(|(q, v)| (q.name.clone(), *v))
            .collect(),
        parameter_changes: req.sets.clone(),
        dose_specs: req.doses.clone(),
        doses: p.doses.clone(),
        engine,
        seed: req.seed,
        solver: p.options.clone(),
        stats: res.stats,
        columns: res.timeline.columns.clone(),
        wall_seconds: res.wall_seconds,
        outputs,
    };
    let mpath = out.join("manifest.json");
    write_json(&mpath, &manifest).map_err(io(&mpath))?;
    Ok((manifest, res))
}
