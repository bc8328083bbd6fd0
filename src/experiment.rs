//! Experiment runner: turns a request (model file, doses, settings) into a run and
//! its outputs. It owns validation and output writing; engines do neither.
//!
//! Everything is checked before anything is written, and every file is written
//! atomically, so a failed run leaves `--out` without files that look complete.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::compile::{compile_file, BoundModel, CompiledModel};
use crate::engine::ode::{Method, OdeOptions, OdeRun, SimError, SimResult};
use crate::engine::EngineKind;
use crate::limits::{check, Limit, LimitExceeded};
use crate::model::ModelError;
use crate::output::manifest::{model_ref, Manifest};
use crate::output::plot::PlotError;
use crate::output::timeline::write_timeline_csv;
use crate::output::timeline_plot::TimelineFigure;
use crate::pkpd::{DoseEvent, DoseSpec, DoseSpecError, DrugQuantity};
use crate::schedule::Schedule;
use crate::therapy::{TherapyOptions, TherapyResult};

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
    Therapy(#[from] crate::therapy::TherapyError),
    #[error(transparent)]
    Assay(#[from] crate::assay::AssayError),
    #[error(transparent)]
    Bind(#[from] crate::compile::BindError),
}

/// A command-line style simulation request.
#[derive(Debug, Clone)]
pub struct SimulateRequest {
    pub model: PathBuf,
    /// Length of the run; `None`: the model's `[scenario]`.
    pub days: Option<f64>,
    /// `DRUG=AMOUNT@EVERY[xCOUNT]`; when empty, the model's `[scenario]` doses unless
    /// `drug_free` (see [`scenario_plan`]).
    pub doses: Vec<String>,
    /// No drug at all.
    pub drug_free: bool,
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
    /// Replicates of a stochastic engine (the mean field runs once whatever it says).
    pub replicates: u64,
    /// Seed of a stochastic engine: replicate r is a pure function of (inputs, seed, r).
    pub seed: u64,
}

impl SimulateRequest {
    /// `days` long, under the model's `[scenario]` doses unless `doses` or
    /// `drug_free` are set.
    pub fn new(model: &Path, days: f64) -> SimulateRequest {
        SimulateRequest {
            model: model.to_path_buf(),
            days: Some(days),
            doses: Vec::new(),
            drug_free: false,
            sets: Vec::new(),
            allow_out_of_bounds: false,
            method: Method::default(),
            rtol: 1e-6,
            atol: 1e-9,
            points: 400,
            cells: None,
            plot: true,
            engine: None,
            replicates: 1,
            seed: 1,
        }
    }

    /// The engine that runs the request on `model`: the one asked for, else the
    /// model's default.
    pub fn engine_for(&self, model: &CompiledModel) -> EngineKind {
        self.engine
            .unwrap_or_else(|| EngineKind::default_for(model))
    }

    /// How many runs the request makes on `model`: its replicates on a stochastic
    /// engine, one of the mean field.
    pub fn runs_on(&self, model: &CompiledModel) -> u64 {
        if self.engine_for(model).is_stochastic() {
            self.replicates
        } else {
            1
        }
    }
}

/// Apply `PARAM=VALUE` changes to base parameter values; a value outside the bounds
/// the model declares for the parameter is refused. A drug quantity
/// (`drug.NAME.half_life`, ..., see [`DrugQuantity`]) changes the model itself.
pub fn apply_sets(model: &mut CompiledModel, sets: &[String]) -> Result<Vec<f64>, ExperimentError> {
    apply_sets_checked(model, sets, false)
}

/// [`apply_sets`], accepting values outside the declared bounds when
/// `allow_out_of_bounds` (the bounds say where the model was calibrated and
/// swept, not what is physically possible).
pub fn apply_sets_checked(
    model: &mut CompiledModel,
    sets: &[String],
    allow_out_of_bounds: bool,
) -> Result<Vec<f64>, ExperimentError> {
    let values = model.param_values();
    apply_sets_onto(model, values, sets, allow_out_of_bounds)
}

/// [`apply_sets_checked`] on given parameter values (e.g. a fact state's). Drug
/// quantities must be positive whatever `allow_out_of_bounds` says (the model file
/// requires it).
pub fn apply_sets_onto(
    model: &mut CompiledModel,
    mut values: Vec<f64>,
    sets: &[String],
    allow_out_of_bounds: bool,
) -> Result<Vec<f64>, ExperimentError> {
    for spec in sets {
        let fail = |m: String| ExperimentError::Set {
            spec: spec.clone(),
            message: m,
        };
        let (name, v) = spec
            .split_once('=')
            .ok_or_else(|| fail("expected PARAM=VALUE".into()))?;
        let name = name.trim();
        let x: f64 = v
            .trim()
            .parse()
            .map_err(|_| fail(format!("cannot read the value `{v}` as a number")))?;
        if !x.is_finite() {
            return Err(fail(format!("expected a finite value, found {x}")));
        }
        if DrugQuantity::is_drug_name(name) {
            DrugQuantity::parse(model, name)
                .and_then(|q| q.set(model, x))
                .map_err(fail)?;
            continue;
        }
        let i = model.param_index(name).ok_or_else(|| {
            fail(format!(
                "the model has no parameter `{name}`{}",
                crate::expr::resolve::did_you_mean_among(name, model.param_names())
            ))
        })?;
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

/// The length (days) and doses of a run given on the command line: what was given,
/// else the model's `[scenario]`; `drug_free` drops the scenario's doses. The
/// simulate, agent-based and export commands read it the same way, so a model runs
/// under the same drug whichever engine runs it. Given specs are read here, where they
/// enter; the scenario's were read when the model was compiled.
pub fn scenario_plan(
    model: &CompiledModel,
    days: Option<f64>,
    doses: &[String],
    drug_free: bool,
) -> Result<(f64, Vec<DoseSpec>), ExperimentError> {
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
        doses
            .iter()
            .map(|d| DoseSpec::parse(model, d))
            .collect::<Result<_, _>>()?
    } else {
        model
            .scenario
            .as_ref()
            .map(|s| s.doses.clone())
            .unwrap_or_default()
    };
    Ok((days, doses))
}

/// What a finished simulation wrote and measured: `manifest.json`.
pub type RunManifest = Manifest<SimulateRun>;

/// A simulation's settings and solver statistics, inside the common envelope.
#[derive(Debug, Clone, Serialize)]
pub struct SimulateRun {
    pub days: f64,
    pub time_unit: String,
    pub parameters: indexmap::IndexMap<String, f64>,
    pub parameter_changes: Vec<String>,
    pub dose_specs: Vec<DoseSpec>,
    pub doses: Vec<DoseEvent>,
    pub engine: EngineKind,
    pub seed: u64,
    /// Runs made: the replicates of a stochastic engine (stacked in `timeline.csv`
    /// with a leading `replicate` column when more than one), one of the mean field.
    pub replicates: u64,
    pub solver: OdeOptions,
    /// Solver work of replicate 0.
    pub stats: crate::engine::ode::SolverStats,
    pub columns: Vec<crate::engine::ode::Column>,
}

/// Everything prepared and checked, ready to run.
pub struct Prepared {
    pub model: CompiledModel,
    pub params: Vec<f64>,
    pub bound: BoundModel,
    /// Length of the run (days): the request's, else the model's scenario's.
    pub days: f64,
    /// The dose specs the run gets (given, or the model's scenario's).
    pub dose_specs: Vec<DoseSpec>,
    pub doses: Vec<DoseEvent>,
    pub options: OdeOptions,
}

/// Load, check and bind; expand doses. No output is touched.
pub fn prepare(req: &SimulateRequest) -> Result<Prepared, ExperimentError> {
    if let Some(days) = req.days {
        if !(days.is_finite() && days > 0.0) {
            return Err(ExperimentError::Settings(format!(
                "--days must be a positive number, found {days}"
            )));
        }
        check(Limit::Days, days)?;
    }
    crate::limits::check_tolerances(req.rtol, req.atol)?;
    if req.points == 0 {
        return Err(ExperimentError::Settings(
            "--points must be at least 1".into(),
        ));
    }
    check_replicates(req.replicates)?;
    check(Limit::Points, req.points as f64)?;
    if let Some(c) = req.cells {
        crate::limits::check_positive("--cells", c)?;
    }
    let mut model = compile_file(&req.model)?;
    let params = apply_sets_checked(&mut model, &req.sets, req.allow_out_of_bounds)?;
    let (days, dose_specs) = scenario_plan(&model, req.days, &req.doses, req.drug_free)?;
    let t_end = days * 24.0 / model.meta.time_unit.hours();
    let mut doses = Vec::new();
    for d in &dose_specs {
        doses.extend(d.events(t_end)?);
    }
    check(
        Limit::OutputMb,
        timeline_mb(&model, req.points) * req.runs_on(&model) as f64,
    )?;
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
        days,
        dose_specs,
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

/// The prepared run as a schedule: the doses as fixed events, a readout at each of
/// the `points + 1` output times, the initial cells.
pub fn dose_schedule(p: &Prepared) -> Schedule {
    let o = &p.options;
    let mut s = Schedule::fixed_doses(
        &p.model,
        "--dose",
        o.t_end,
        o.t_end / o.n_out as f64,
        &p.doses,
    );
    s.initial_cells = o.initial_cells;
    // The run's own capacity, else the model's (the driver falls back to it).
    s.host.carrying_capacity = o.carrying_capacity;
    s
}

/// Run the prepared doses through the therapy driver on `engine`: replicates
/// `0..replicates` of `seed` on a stochastic engine (in parallel), one run of the
/// mean field. Each timeline holds the population's columns
/// ([`crate::engine::ode::timeline_columns`]) at every output time, a dose at an
/// output time given before that row.
pub fn simulate_on(
    p: &Prepared,
    engine: EngineKind,
    seed: u64,
    replicates: u64,
) -> Result<Vec<SimResult>, SimError> {
    let o = &p.options;
    let schedule = dose_schedule(p);
    let opts = TherapyOptions {
        params: Some(p.params.clone()),
        method: o.method,
        rtol: o.rtol,
        atol: o.atol,
        negative_tolerance: o.negative_tolerance,
        engine,
        seed,
        ..TherapyOptions::default()
    };
    let runs =
        crate::therapy::run_replicates_bound(&p.model, &p.bound, &schedule, &opts, replicates)
            .map_err(|e| match e {
                crate::therapy::TherapyError::Sim { source, .. } => *source,
                other => SimError::Settings(other.to_string()),
            })?;
    // The driver's own columns (expanded cells, resistant fractions, doses) follow
    // the population's.
    let keep = crate::engine::ode::timeline_columns(&p.model).len();
    Ok(runs
        .into_iter()
        .map(|r| {
            let mut timeline = r.timeline;
            let width = timeline.columns.len();
            timeline.columns.truncate(keep);
            timeline.values = timeline
                .values
                .chunks_exact(width)
                .flat_map(|row| row[..keep].iter().copied())
                .collect();
            SimResult {
                timeline,
                stats: r.stats,
                final_state: r.final_state,
                wall_seconds: r.wall_seconds,
            }
        })
        .collect())
}

/// Refuse zero replicates (`--replicates`).
pub fn check_replicates(replicates: u64) -> Result<(), ExperimentError> {
    if replicates == 0 {
        return Err(ExperimentError::Settings(
            "--replicates must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Run a simulation in memory, writing nothing: the request's engine (or the model's
/// default) and its runs (replicate 0 first), every timeline checked as
/// [`run_simulate`] checks it before writing.
pub fn simulate(
    req: &SimulateRequest,
) -> Result<(Prepared, EngineKind, Vec<SimResult>), ExperimentError> {
    let p = prepare(req)?;
    let engine = req.engine_for(&p.model);
    let runs = simulate_on(&p, engine, req.seed, req.replicates).map_err(|failure| {
        ExperimentError::Sim {
            model: p.model.meta.path.clone(),
            failure,
        }
    })?;
    for r in &runs {
        crate::output::timeline::check_timeline(&r.timeline)?;
    }
    Ok((p, engine, runs))
}

/// Run a simulation and write `timeline.csv` (every run), `manifest.json` and the
/// timeline plot (replicate 0) into `out`.
pub fn run_simulate(
    req: &SimulateRequest,
    out: &Path,
) -> Result<(RunManifest, Vec<SimResult>), ExperimentError> {
    let (p, engine, runs) = simulate(req)?;
    let res = &runs[0];
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |failure| ExperimentError::Io { path, failure }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut outputs = Vec::new();
    let csv = out.join("timeline.csv");
    let timelines: Vec<&crate::engine::ode::Timeline> = runs.iter().map(|r| &r.timeline).collect();
    write_timeline_csv(&csv, &timelines).map_err(io(&csv))?;
    outputs.push("timeline.csv".to_string());
    if req.plot {
        let species: Vec<String> = p.model.species.iter().map(|s| s.name.clone()).collect();
        let obs: Vec<String> = p.model.observables.iter().map(|s| s.name.clone()).collect();
        TimelineFigure::new(&res.timeline, &p.model.genotypes[0].name, &species, &obs)
            .save(&out.join("timeline"))?;
        outputs.extend(["timeline.png".to_string(), "timeline.svg".to_string()]);
    }
    let run = SimulateRun {
        days: p.days,
        time_unit: p.model.meta.time_unit.symbol().to_string(),
        parameters: p
            .model
            .params
            .iter()
            .zip(&p.params)
            .map(|(q, v)| (q.name.clone(), *v))
            .collect(),
        parameter_changes: req.sets.clone(),
        dose_specs: p.dose_specs.clone(),
        doses: p.doses.clone(),
        engine,
        seed: req.seed,
        replicates: runs.len() as u64,
        solver: p.options.clone(),
        stats: res.stats,
        columns: res.timeline.columns.clone(),
    };
    let manifest = Manifest::new(
        vec![model_ref(&p.model)],
        run,
        Some(res.wall_seconds),
        outputs,
    );
    let mpath = out.join("manifest.json");
    manifest.write(&mpath).map_err(io(&mpath))?;
    Ok((manifest, runs))
}

/// The run settings `resloop therapy` and `resloop compare` share (and the Python
/// package's `therapy` and `compare`), as a user gives them.
#[derive(Debug, Clone)]
pub struct TherapySettings {
    /// `PARAM=VALUE` changes.
    pub sets: Vec<String>,
    /// Accept `sets` outside the parameters' declared bounds.
    pub allow_out_of_bounds: bool,
    /// Start from a state of a fact file (`--facts FILE --state NAME`): its
    /// parameters (with `sets` on top) and its population.
    pub start: Option<FactState>,
    /// Integrator name (`auto`, `dopri5`, `rodas5p`, ...).
    pub method: String,
    pub rtol: f64,
    pub atol: f64,
    /// Engine name; `None`: the model's default ([`EngineKind::default_for`]).
    pub engine: Option<String>,
    /// Replicates of a stochastic engine (ignored by mean-field).
    pub replicates: u64,
    pub seed: u64,
}

/// A state of a fact file as the start of a run (`--facts FILE --state NAME`).
#[derive(Debug, Clone)]
pub struct FactState {
    /// The fact file (`None`: the model's own, `models/x.facts.toml` for `models/x.toml`).
    pub facts: Option<PathBuf>,
    pub state: String,
}

impl FactState {
    /// Make the state on `model`: the fact file must describe the same model file
    /// (same SHA-256), so a state is never carried into a different model.
    pub fn start_point(
        &self,
        model: &CompiledModel,
    ) -> Result<crate::facts::StartPoint, ExperimentError> {
        let fail = ExperimentError::Settings;
        let path = match &self.facts {
            Some(p) => p.clone(),
            None => facts_path(Path::new(&model.meta.path)),
        };
        if !path.is_file() {
            return Err(fail(format!(
                "--state {}: no fact file {} (give one with --facts FILE)",
                self.state,
                path.display()
            )));
        }
        let file = crate::facts::load(&path)?;
        if file.model.meta.sha256 != model.meta.sha256 {
            return Err(fail(format!(
                "--facts {}: its states are of {} ({}), not of {} ({})",
                path.display(),
                file.model.meta.path,
                file.model.meta.name,
                model.meta.path,
                model.meta.name
            )));
        }
        crate::facts::start_point(&file, &self.state)
            .map_err(|e| fail(format!("--state {} of {}: {e}", self.state, path.display())))
    }
}

impl Default for TherapySettings {
    fn default() -> Self {
        TherapySettings {
            sets: Vec::new(),
            allow_out_of_bounds: false,
            start: None,
            method: "auto".into(),
            rtol: 1e-6,
            atol: 1e-9,
            engine: None,
            replicates: 1,
            seed: 1,
        }
    }
}

impl TherapySettings {
    /// Check the settings against `model` and turn them into [`TherapyOptions`]. A
    /// `--set` of a drug quantity (`drug.NAME.half_life`, ...) changes `model`.
    pub fn options(&self, model: &mut CompiledModel) -> Result<TherapyOptions, ExperimentError> {
        let method = Method::parse(&self.method).ok_or_else(|| {
            ExperimentError::Settings(format!(
                "--method `{}`: expected {}",
                self.method,
                Method::EXPECTED
            ))
        })?;
        crate::limits::check_tolerances(self.rtol, self.atol)?;
        let engine =
            EngineKind::chosen(self.engine.as_deref(), model).map_err(ExperimentError::Settings)?;
        check_replicates(self.replicates)?;
        let (base, initial_state) = match &self.start {
            Some(fs) => {
                let p = fs.start_point(model)?;
                (p.params, Some(p.state))
            }
            None => (model.param_values(), None),
        };
        Ok(TherapyOptions {
            params: Some(apply_sets_onto(
                model,
                base,
                &self.sets,
                self.allow_out_of_bounds,
            )?),
            initial_state,
            method,
            rtol: self.rtol,
            atol: self.atol,
            engine,
            seed: self.seed,
            ..TherapyOptions::default()
        })
    }
}

/// Refuse, before running, replicates whose timelines would exceed the output cap
/// (`--limit output_mb=...`): the estimate is one run's readouts times replicates.
pub fn check_output_size(
    model: &CompiledModel,
    schedules: &[&Schedule],
    opts: &TherapyOptions,
    replicates: u64,
) -> Result<(), LimitExceeded> {
    let reps = if opts.engine.is_stochastic() {
        replicates.max(1)
    } else {
        1
    };
    let mb: f64 = schedules
        .iter()
        .map(|s| {
            let readouts = (s.duration / s.readout_every).ceil() as usize;
            timeline_mb(model, readouts) * reps as f64
        })
        .sum();
    check(Limit::OutputMb, mb)
}

/// Run one schedule's replicates (in parallel) after checking the output size, and
/// check every timeline as the writers will.
pub fn run_therapy(
    model: &CompiledModel,
    schedule: &Schedule,
    opts: &TherapyOptions,
    replicates: u64,
) -> Result<Vec<TherapyResult>, ExperimentError> {
    check_output_size(model, &[schedule], opts, replicates)?;
    let results = crate::therapy::run_replicates(model, schedule, opts, replicates)?;
    for r in &results {
        crate::output::timeline::check_timeline(&r.timeline)?;
    }
    Ok(results)
}

/// Run several schedules on one model (in parallel), each with its replicates.
/// Schedule names name the output folders, so they must differ; `labels` (file
/// names, one per schedule) name the clashing inputs. Everything is checked before
/// anything runs.
pub fn run_compare(
    model: &CompiledModel,
    schedules: &[Schedule],
    labels: &[String],
    opts: &TherapyOptions,
    replicates: u64,
) -> Result<Vec<Vec<TherapyResult>>, ExperimentError> {
    for (k, s) in schedules.iter().enumerate() {
        if let Some(prev) = schedules[..k].iter().position(|x| x.name == s.name) {
            let label = |i: usize| labels.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
            return Err(ExperimentError::Settings(format!(
                "{} and {} are both named `{}`; schedule names name the output folders and \
                 must differ",
                label(prev),
                label(k),
                s.name
            )));
        }
    }
    let all: Vec<&Schedule> = schedules.iter().collect();
    check_output_size(model, &all, opts, replicates)?;
    let results = schedules
        .par_iter()
        .map(|s| crate::therapy::run_replicates(model, s, opts, replicates))
        .collect::<Result<Vec<_>, _>>()?;
    for (s, reps) in schedules.iter().zip(&results) {
        for r in reps {
            crate::output::timeline::check_timeline(&r.timeline)
                .map_err(|e| ExperimentError::Settings(format!("schedule `{}`: {e}", s.name)))?;
        }
    }
    Ok(results)
}

/// The fact file of a model file (`models/x.toml` -> `models/x.facts.toml`), or the
/// fact file itself.
pub fn facts_path(p: &Path) -> PathBuf {
    if p.to_string_lossy().ends_with(".facts.toml") {
        return p.to_path_buf();
    }
    p.with_extension("facts.toml")
}

/// Run fact files (model files name theirs, see [`facts_path`]): per file, the
/// model's name and one outcome per fact (only facts whose id contains `only`).
/// `engine` is mean-field (facts compare expected behaviour with the studies) or
/// hybrid (replicate 0 of `seed`).
pub fn validate(
    files: &[PathBuf],
    only: Option<&str>,
    engine: &str,
    seed: u64,
) -> Result<Vec<(String, Vec<crate::facts::Outcome>)>, ExperimentError> {
    let engine = match EngineKind::parse(engine) {
        Some(EngineKind::AgentBased) | None => {
            return Err(ExperimentError::Settings(format!(
                "--engine `{engine}`: expected mean-field or hybrid"
            )))
        }
        Some(k) => k,
    };
    let mut loaded = Vec::new();
    let mut ids = Vec::new();
    for path in files {
        let mut file = crate::facts::load(&facts_path(path))?;
        ids.extend(file.facts.iter().map(|f| f.id.clone()));
        if let Some(only) = only {
            file.facts.retain(|f| f.id.contains(only));
        }
        loaded.push(file);
    }
    // A filter that matches nothing is a mistake, not an empty success.
    if let Some(only) = only {
        if loaded.iter().all(|f| f.facts.is_empty()) {
            let shown = ids.iter().take(12).cloned().collect::<Vec<_>>().join(", ");
            let more = ids.len().saturating_sub(12);
            return Err(ExperimentError::Settings(format!(
                "--only `{only}`: no fact id contains it; the facts are: {shown}{}",
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )));
        }
    }
    let mut rows = Vec::new();
    for file in &loaded {
        let outcomes = crate::facts::Runner::new(file)
            .with_engine(engine, seed)
            .run_all();
        rows.push((file.model.meta.name.clone(), outcomes));
    }
    Ok(rows)
}

/// A simulated two-drug viability checkerboard (`resloop checkerboard`).
#[derive(Debug, Clone)]
pub struct CheckerboardRequest {
    pub model: PathBuf,
    pub drug_a: String,
    /// Comma-separated concentrations (0 included); a bare number is in the drug's
    /// unit, e.g. `0,0.1,0.3,1` or `0,100nM,300nM,1uM`.
    pub doses_a: String,
    pub drug_b: String,
    pub doses_b: String,
    /// Assay length in hours.
    pub hours: f64,
    /// Cells seeded per well.
    pub seeding: f64,
    /// `initial` (the model's initial state) or a state of the fact file.
    pub state: String,
    /// The fact file whose state is tested (`None`: the model's own).
    pub facts: Option<PathBuf>,
}

/// Simulate the checkerboard of `req` on its population state: the model and the
/// plate (the lab-data format, ready for [`crate::synergy`]).
pub fn simulate_checkerboard(
    req: &CheckerboardRequest,
) -> Result<(CompiledModel, crate::plate::Plate), ExperimentError> {
    let model = compile_file(&req.model)?;
    let drug = |n: &str, flag: &str| {
        crate::pkpd::find_drug(&model, n)
            .map_err(|m| ExperimentError::Settings(format!("{flag} `{n}`: {m}")))
    };
    let (da, db) = (
        drug(&req.drug_a, "--drug-a")?,
        drug(&req.drug_b, "--drug-b")?,
    );
    let doses_a = concentrations(&model, da, &req.doses_a, "--doses-a")?;
    let doses_b = concentrations(&model, db, &req.doses_b, "--doses-b")?;
    if !(req.hours.is_finite() && req.hours > 0.0) {
        return Err(ExperimentError::Settings(format!(
            "--hours must be positive, found {}",
            req.hours
        )));
    }
    let (y, bound) = assay_state(&model, &req.state, req.facts.as_deref())?;
    let mut settings = crate::assay::AssaySettings::standard(&model);
    settings.duration = req.hours / model.meta.time_unit.hours();
    settings.seeding = req.seeding;
    let background = vec![0.0; model.drugs.len()];
    let plate = crate::assay::checkerboard(
        &model,
        &bound,
        &y,
        &background,
        da,
        &doses_a,
        db,
        &doses_b,
        &settings,
    )?;
    Ok((model, plate))
}

/// A comma-separated list of concentrations of drug `drug` (bare numbers in its unit).
fn concentrations(
    model: &CompiledModel,
    drug: usize,
    list: &str,
    flag: &str,
) -> Result<Vec<f64>, ExperimentError> {
    use crate::pkpd::{parse_amount, DoseKind};
    let unit = model.drugs[drug].unit.symbol();
    let mut v = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        let text = if item
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        {
            format!("{item}{unit}")
        } else {
            item.to_string()
        };
        let fail = |m: String| ExperimentError::Settings(format!("{flag} `{item}`: {m}"));
        match parse_amount(model, drug, &text).map_err(fail)? {
            DoseKind::SetConcentration { value } => v.push(value),
            DoseKind::Bolus { .. } => {
                return Err(fail(
                    "a checkerboard takes concentrations, not mg/kg".into(),
                ))
            }
        }
    }
    Ok(v)
}

/// The population state an assay tests (`initial`, or a state of a fact file: the
/// model's own unless `facts` names one) and the model bound as that state was made.
fn assay_state(
    model: &CompiledModel,
    name: &str,
    facts: Option<&Path>,
) -> Result<(Vec<f64>, BoundModel), ExperimentError> {
    if name == "initial" && facts.is_none() {
        let b = BoundModel::new(model, &model.param_values())?;
        let y = OdeRun::initial_state(model, &b, model.initial_cells);
        return Ok((y, b));
    }
    let start = FactState {
        facts: facts.map(Path::to_path_buf),
        state: name.to_string(),
    }
    .start_point(model)?;
    let b = BoundModel::new(model, &start.params)?;
    Ok((start.state, b))
}
