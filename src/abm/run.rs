//! The agent-based experiment runner: a model file, doses and settings in; an ensemble
//! and its files out. It sits at the experiment layer (it owns seeding, threads,
//! observers and outputs; the engine does none of that) and is what `resloop abm`
//! calls.
//!
//! Everything is checked before a cell is simulated, and nothing is written before the
//! ensemble has finished; every file is written atomically and `manifest.json` last, so
//! a folder with a manifest is complete (a stale manifest is removed first).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::ensemble::{run_replicates, Ensemble, EnsembleConfig, ResistanceCriterion};
use super::output::{
    most_mutant, plot_muller, plot_population, plot_resistance_times, plot_species_distributions,
    write_clones_csv, write_events_csv, write_muller_csv, write_summary_csv, write_timeline_csv,
    ExposureRows,
};
use crate::compile::{compile_file, BoundModel, CompiledModel};
use crate::engine::agent::as_engine::AgentEngine;
use crate::engine::agent::compiled::{CompiledCells, Integrator, LoopIntegration};
use crate::engine::agent::error::AbmError;
use crate::engine::agent::model::CellModel;
use crate::engine::agent::simulation::{
    bytes_per_cell, AbmOptions, Founders, Progress, Simulation,
};
use crate::engine::agent::simulation::{ReplicateEvent, ReplicateResult};
use crate::engine::{Engine, EngineKind};
use crate::output::manifest::{model_ref, schedule_ref, Manifest};
use crate::pkpd::{DoseEvent, DoseSpec};
use crate::schedule::Schedule;
use crate::therapy::{EventKind, TherapyOptions};

/// How cells are represented (see `docs/abm.md`, "switch rule").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Mode {
    /// Hybrid when the model has no noise (exact in distribution), per-cell otherwise.
    Auto,
    PerCell,
    Aggregated,
    Hybrid {
        lump_above: u64,
        expand_below: u64,
    },
}

impl Mode {
    /// Default thresholds of the hybrid mode: clones above 10^4 cells are counts,
    /// below 10^3 individual cells again.
    pub const LUMP_ABOVE: u64 = 10_000;
    pub const EXPAND_BELOW: u64 = 1_000;

    /// Parse `auto`, `per-cell`, `aggregated` or `hybrid`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "auto" => Some(Mode::Auto),
            "per-cell" | "per_cell" => Some(Mode::PerCell),
            "aggregated" => Some(Mode::Aggregated),
            "hybrid" => Some(Mode::Hybrid {
                lump_above: Self::LUMP_ABOVE,
                expand_below: Self::EXPAND_BELOW,
            }),
            _ => None,
        }
    }
}

/// When a replicate counts as resistant, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum ResistanceSpec {
    /// `regrowth:F`: the population regrows to F times its nadir after treatment
    /// starts (default 1.25, the loop A study's "more than 25% from the smallest").
    Regrowth(f64),
    /// `cells:N`: the population reaches N cells.
    Cells(f64),
    /// `genotype:NAME[+NAME..]:F`: those genotypes exceed a fraction F.
    Genotypes(Vec<String>, f64),
}

impl ResistanceSpec {
    /// Parse `regrowth:1.25`, `cells:1e7` or `genotype:gatekeeper:0.5`.
    pub fn parse(s: &str) -> Result<ResistanceSpec, String> {
        let bad = || {
            format!(
                "--resistance `{s}`: expected regrowth:FACTOR (> 1), cells:N (> 0) or \
                 genotype:NAME[+NAME...]:FRACTION (in (0, 1))"
            )
        };
        let parts: Vec<&str> = s.split(':').collect();
        let num = |x: &str| x.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        match parts.as_slice() {
            ["regrowth", f] => num(f)
                .filter(|&f| f > 1.0)
                .map(Self::Regrowth)
                .ok_or_else(bad),
            ["cells", n] => num(n).filter(|&n| n > 0.0).map(Self::Cells).ok_or_else(bad),
            ["genotype", names, f] => {
                let f = num(f).filter(|&f| f > 0.0 && f < 1.0).ok_or_else(bad)?;
                let names: Vec<String> = names.split('+').map(|x| x.trim().to_string()).collect();
                if names.iter().any(|n| n.is_empty()) {
                    return Err(bad());
                }
                Ok(Self::Genotypes(names, f))
            }
            _ => Err(bad()),
        }
    }

    fn criterion(&self, model: &CompiledModel) -> Result<ResistanceCriterion, AbmError> {
        Ok(match self {
            Self::Regrowth(f) => ResistanceCriterion::Regrowth { factor: *f },
            Self::Cells(n) => ResistanceCriterion::AboveTotal {
                cells: n.ceil() as u64,
            },
            Self::Genotypes(names, f) => ResistanceCriterion::GenotypeFraction {
                genotypes: names
                    .iter()
                    .map(|n| {
                        model.genotype_index(n).ok_or_else(|| {
                            settings(format!(
                                "--resistance: the model has no genotype `{n}`{}; its \
                                 genotypes are: {}",
                                crate::expr::resolve::did_you_mean_among(
                                    n,
                                    model.genotypes.iter().map(|g| g.name.as_str())
                                ),
                                names_of(model.genotypes.iter().map(|g| g.name.as_str()))
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                fraction: *f,
            },
        })
    }
}

fn names_of<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

fn settings(message: String) -> AbmError {
    AbmError::Settings(message)
}

/// A command-line style agent-based run.
#[derive(Debug, Clone)]
pub struct AbmRequest {
    pub model: PathBuf,
    /// Therapy schedule (then `days`, `doses` and `drug_free` must stay unset).
    pub schedule: Option<PathBuf>,
    /// Cells at t = 0 (default: the model's `initial_cells`).
    pub cells: Option<u64>,
    pub replicates: u64,
    pub seed: u64,
    /// Worker threads (default: all cores). Output does not depend on it.
    pub threads: Option<usize>,
    /// Length of the run in days (default: the model's scenario).
    pub days: Option<f64>,
    /// `DRUG=AMOUNT@EVERY[xCOUNT]`; when empty, the model's scenario doses (unless
    /// `drug_free`).
    pub doses: Vec<String>,
    pub drug_free: bool,
    /// `PARAM=VALUE` changes.
    pub sets: Vec<String>,
    /// Accept `sets` outside the parameters' declared bounds.
    pub allow_out_of_bounds: bool,
    /// Engine step (`1h`, `0.5h`, `0.1d`).
    pub dt: String,
    pub integration: LoopIntegration,
    pub mode: Mode,
    /// Interval between timeline records (default `1d`, or the schedule's readouts).
    pub record_every: Option<String>,
    /// Times of single-cell snapshots (`0d`, `30d`); default: start, middle, end.
    pub snapshots: Vec<String>,
    /// Species whose single-cell distributions are plotted (default: all).
    pub species: Vec<String>,
    pub resistance: ResistanceSpec,
    pub memory_limit_bytes: u64,
    pub plot: bool,
}

impl AbmRequest {
    /// Defaults for `model`: 8 replicates, seed 1, the model's scenario, 1 h steps,
    /// Heun, automatic mode, daily records, regrowth by 25% as resistance.
    pub fn new(model: &Path) -> AbmRequest {
        AbmRequest {
            model: model.to_path_buf(),
            schedule: None,
            cells: None,
            replicates: 8,
            seed: 1,
            threads: None,
            days: None,
            doses: Vec::new(),
            drug_free: false,
            sets: Vec::new(),
            allow_out_of_bounds: false,
            dt: "1h".into(),
            integration: LoopIntegration::default(),
            mode: Mode::Auto,
            record_every: None,
            snapshots: Vec::new(),
            species: Vec::new(),
            resistance: ResistanceSpec::Regrowth(1.25),
            memory_limit_bytes: 4 << 30,
            plot: true,
        }
    }
}

/// An agent-based run as a user gives it (the `resloop abm` flags, the Python
/// package's `abm` keywords), checked into an [`AbmRequest`] by [`AbmSettings::request`].
#[derive(Debug, Clone)]
pub struct AbmSettings {
    pub model: PathBuf,
    pub schedule: Option<PathBuf>,
    /// Cells at the start (a whole number >= 1; default: the model's).
    pub cells: Option<f64>,
    pub replicates: u64,
    pub seed: u64,
    pub threads: Option<usize>,
    pub days: Option<f64>,
    pub doses: Vec<String>,
    pub drug_free: bool,
    pub sets: Vec<String>,
    /// Accept `sets` outside the parameters' declared bounds.
    pub allow_out_of_bounds: bool,
    pub dt: String,
    /// euler, heun or rk4.
    pub integrator: String,
    pub substeps: u32,
    /// auto, per-cell, aggregated or hybrid.
    pub mode: String,
    pub lump_above: Option<u64>,
    pub expand_below: Option<u64>,
    pub record_every: Option<String>,
    pub snapshots: Vec<String>,
    pub species: Vec<String>,
    /// regrowth:FACTOR, cells:N or genotype:NAME[+NAME...]:FRACTION.
    pub resistance: String,
    pub memory_gb: f64,
    pub plot: bool,
}

impl AbmSettings {
    /// The defaults of `resloop abm` for `model`.
    pub fn new(model: &Path) -> AbmSettings {
        AbmSettings {
            model: model.to_path_buf(),
            schedule: None,
            cells: None,
            replicates: 8,
            seed: 1,
            threads: None,
            days: None,
            doses: Vec::new(),
            drug_free: false,
            sets: Vec::new(),
            allow_out_of_bounds: false,
            dt: "1h".into(),
            integrator: "heun".into(),
            substeps: 1,
            mode: "auto".into(),
            lump_above: None,
            expand_below: None,
            record_every: None,
            snapshots: Vec::new(),
            species: Vec::new(),
            resistance: "regrowth:1.25".into(),
            memory_gb: 4.0,
            plot: true,
        }
    }

    /// Check every setting and build the request.
    pub fn request(&self) -> Result<AbmRequest, AbmError> {
        let a = self;
        let mut r = AbmRequest::new(&a.model);
        r.schedule = a.schedule.clone();
        r.cells = match a.cells {
            None => None,
            Some(c) if (1.0..=1e15).contains(&c) => Some(c.round() as u64),
            Some(0.0) => Some(0),
            Some(c) => {
                return Err(settings(format!(
                    "--cells must be a whole number of cells >= 1, found {c}"
                )))
            }
        };
        r.replicates = a.replicates;
        r.seed = a.seed;
        r.threads = a.threads;
        if let Some(d) = a.days {
            crate::limits::check(crate::limits::Limit::Days, d)
                .map_err(|e| settings(e.to_string()))?;
        }
        r.days = a.days;
        r.doses = a.doses.clone();
        r.drug_free = a.drug_free;
        r.sets = a.sets.clone();
        r.allow_out_of_bounds = a.allow_out_of_bounds;
        r.dt = a.dt.clone();
        r.integration = LoopIntegration {
            method: Integrator::parse(&a.integrator).ok_or_else(|| {
                settings(format!(
                    "--integrator `{}`: expected euler, heun or rk4",
                    a.integrator
                ))
            })?,
            substeps: a.substeps,
        };
        r.mode = Mode::parse(&a.mode).ok_or_else(|| {
            settings(format!(
                "--mode `{}`: expected auto, per-cell, aggregated or hybrid",
                a.mode
            ))
        })?;
        if a.lump_above.is_some() || a.expand_below.is_some() {
            let lump_above = a.lump_above.unwrap_or(Mode::LUMP_ABOVE);
            let expand_below = a.expand_below.unwrap_or(Mode::EXPAND_BELOW.min(lump_above));
            r.mode = match r.mode {
                Mode::Hybrid { .. } | Mode::Auto => Mode::Hybrid {
                    lump_above,
                    expand_below,
                },
                _ => {
                    return Err(settings(
                        "--lump-above and --expand-below need --mode hybrid (or auto)".into(),
                    ))
                }
            };
        }
        r.record_every = a.record_every.clone();
        r.snapshots = a.snapshots.clone();
        r.species = a.species.clone();
        r.resistance = ResistanceSpec::parse(&a.resistance).map_err(settings)?;
        if !(a.memory_gb.is_finite() && a.memory_gb > 0.0) {
            return Err(settings(format!(
                "--memory-gb must be positive, found {}",
                a.memory_gb
            )));
        }
        r.memory_limit_bytes = (a.memory_gb * (1u64 << 30) as f64) as u64;
        r.plot = a.plot;
        Ok(r)
    }
}

/// What a finished run wrote: `manifest.json`.
pub type AbmManifest = Manifest<AbmRun>;

/// An agent-based run's settings and headline numbers, inside the common envelope.
#[derive(Debug, Clone, Serialize)]
pub struct AbmRun {
    pub time_unit: String,
    pub days: f64,
    pub t_end: f64,
    /// The checked schedule as the run used it, if one drove the run.
    pub schedule: Option<crate::schedule::Schedule>,
    pub parameters: indexmap::IndexMap<String, f64>,
    pub parameter_changes: Vec<String>,
    pub dose_specs: Vec<DoseSpec>,
    pub doses: Vec<DoseEvent>,
    pub seed: u64,
    pub replicates: u64,
    pub threads: Option<usize>,
    pub initial_cells: u64,
    pub founders: Vec<(String, u64)>,
    pub dt: f64,
    pub record_every: f64,
    pub mode: Mode,
    pub lump_above: u64,
    pub expand_below: u64,
    pub integration: LoopIntegration,
    pub intrinsic_noise: f64,
    pub partition_cv: f64,
    pub carrying_capacity: Option<f64>,
    pub resistance: String,
    pub bytes_per_cell: u64,
    pub summary: EnsembleFacts,
}

/// Headline numbers of an ensemble (also printed by the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleFacts {
    pub replicates: usize,
    pub resistant: usize,
    pub extinct: usize,
    /// Median time to resistance among resistant replicates (model time unit).
    pub median_time_to_resistance: Option<f64>,
    /// Relapses by origin of the dominant clone at resistance.
    pub relapse_founder: u64,
    pub relapse_pre_existing: u64,
    pub relapse_de_novo: u64,
    /// Median final population.
    pub median_final_cells: f64,
    /// Cell-steps simulated individually and clone-steps as counts.
    pub cell_steps: u64,
    pub lump_steps: u64,
    /// Species values clamped at zero by noise.
    pub clamps: u64,
}

impl EnsembleFacts {
    fn of(ens: &Ensemble) -> EnsembleFacts {
        let times = ens.resistance_times();
        let [f, p, d] = ens.relapse_origins();
        let mut finals: Vec<f64> = ens.summaries.iter().map(|s| s.final_total as f64).collect();
        finals.sort_by(f64::total_cmp);
        EnsembleFacts {
            replicates: ens.summaries.len(),
            resistant: times.len(),
            extinct: ens
                .summaries
                .iter()
                .filter(|s| s.extinction_time.is_some())
                .count(),
            median_time_to_resistance: (!times.is_empty())
                .then(|| super::ensemble::quantile(&times, 0.5)),
            relapse_founder: f,
            relapse_pre_existing: p,
            relapse_de_novo: d,
            median_final_cells: super::ensemble::quantile(&finals, 0.5),
            cell_steps: ens.replicates.iter().map(|r| r.cell_steps).sum(),
            lump_steps: ens.replicates.iter().map(|r| r.lump_steps).sum(),
            clamps: ens.replicates.iter().map(|r| r.clamps).sum(),
        }
    }
}

/// Everything checked and built, ready to run.
pub struct Prepared {
    pub model: CompiledModel,
    pub params: Vec<f64>,
    pub bound: BoundModel,
    pub cells: CompiledCells,
    /// The schedule file, if one was given.
    pub schedule: Option<Schedule>,
    /// What the therapy driver runs: the schedule file, or the doses as fixed events
    /// ([`Schedule::fixed_doses`]) with a readout at every record.
    pub plan: Schedule,
    pub founders: Vec<Founders>,
    pub doses: Vec<DoseEvent>,
    pub dose_specs: Vec<DoseSpec>,
    pub options: AbmOptions,
    pub config: EnsembleConfig,
    pub initial_cells: u64,
    pub days: f64,
    /// Species plotted as single-cell distributions.
    pub plot_species: Vec<usize>,
}

fn duration(s: &str, what: &str, model: &CompiledModel) -> Result<f64, AbmError> {
    crate::units::duration(s, model.meta.time_unit).map_err(|m| settings(format!("{what}: {m}")))
}

/// Load, check and build; expand doses. Nothing is simulated or written.
pub fn prepare(req: &AbmRequest) -> Result<Prepared, AbmError> {
    if req.replicates == 0 {
        return Err(settings("--replicates must be at least 1".into()));
    }
    if req.cells == Some(0) {
        return Err(settings(
            "--cells 0: the initial population must have at least one cell".into(),
        ));
    }
    if req.threads == Some(0) {
        return Err(settings("--threads must be at least 1".into()));
    }
    if let Some(d) = req.days {
        if !(d.is_finite() && d > 0.0) {
            return Err(settings(format!(
                "--days must be a positive number, found {d}"
            )));
        }
    }
    if req.drug_free && !req.doses.is_empty() {
        return Err(settings("--drug-free and --dose exclude each other".into()));
    }
    let mut model = compile_file(&req.model)?;
    let params =
        crate::experiment::apply_sets_checked(&mut model, &req.sets, req.allow_out_of_bounds)
            .map_err(|e| settings(e.to_string()))?;
    let bound = BoundModel::new(&model, &params)
        .map_err(|e| AbmError::Internal(format!("binding the model: {e}")))?;
    let mut cells = CompiledCells::new(&model, &bound, req.integration)?;
    let hours = model.meta.time_unit.hours();
    let schedule = match &req.schedule {
        None => None,
        Some(path) => {
            if req.days.is_some() || !req.doses.is_empty() || req.drug_free {
                return Err(settings(format!(
                    "{} sets the duration and the doses: --days, --dose and --drug-free do \
                     not apply with a schedule",
                    path.display()
                )));
            }
            let mut s = Schedule::load(path, &model).map_err(Box::new)?;
            if let Some(c) = req.cells {
                s.initial_cells = Some(c as f64);
            }
            // Every genotype's cells start from its loop state after the schedule's
            // start (equilibration, growth); the same in every replicate, since loop
            // states do not depend on the cell counts.
            let y0 = crate::therapy::start(&model, &bound, &s, &therapy_options(&params, 0, 0))
                .map_err(Box::new)?;
            let (states, fractions) = states_and_fractions(&y0, model.species.len() + 1);
            cells.set_initial(states, fractions)?;
            Some(s)
        }
    };
    let (days, dose_specs) = match &schedule {
        Some(s) => (s.duration * hours / 24.0, Vec::new()),
        None => crate::experiment::scenario_plan(&model, req.days, &req.doses, req.drug_free)
            .map_err(|e| match e {
                crate::experiment::ExperimentError::Dose(d) => AbmError::Dose(d),
                e => settings(format!("{e} (or a schedule)")),
            })?,
    };
    let t_end = days * 24.0 / hours;
    let mut doses = Vec::new();
    for d in &dose_specs {
        doses.extend(d.events(t_end)?);
    }
    if let Some(e) = doses.iter().find(|e| !e.time.is_finite()) {
        return Err(AbmError::BadOption {
            name: "dose time",
            value: e.time,
            reason: "must be finite",
        });
    }

    let dt = duration(&req.dt, "--dt", &model)?;
    if dt <= 0.0 {
        return Err(settings(format!("--dt `{}` must be positive", req.dt)));
    }
    let record_every = match (&req.record_every, &schedule) {
        (Some(r), _) => {
            let v = duration(r, "--record-every", &model)?;
            if v <= 0.0 {
                return Err(settings(format!("--record-every `{r}` must be positive")));
            }
            v
        }
        (None, Some(s)) => s.readout_every,
        (None, None) => 24.0 / hours,
    };
    let mut snapshot_times = Vec::new();
    for s in &req.snapshots {
        let t = duration(s, "--snapshot", &model)?;
        if t > t_end {
            return Err(settings(format!(
                "--snapshot `{s}` is after the end of the run ({days} days)"
            )));
        }
        snapshot_times.push(t);
    }
    if snapshot_times.is_empty() {
        snapshot_times = vec![0.0, 0.5 * t_end, t_end];
    }
    snapshot_times.sort_by(f64::total_cmp);
    snapshot_times.dedup();
    let plot_species = if req.species.is_empty() {
        (0..model.species.len()).collect()
    } else {
        req.species
            .iter()
            .map(|n| {
                model.species_index(n).ok_or_else(|| {
                    settings(format!(
                        "--species: the model has no species `{n}`{}; its species are: {}",
                        crate::expr::resolve::did_you_mean_among(
                            n,
                            model.species.iter().map(|s| s.name.as_str())
                        ),
                        names_of(model.species.iter().map(|s| s.name.as_str()))
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };

    let initial_cells = match (req.cells, schedule.as_ref().and_then(|s| s.initial_cells)) {
        (Some(c), _) => c,
        (None, Some(c)) => c.round() as u64,
        (None, None) => model.initial_cells.round() as u64,
    };
    if initial_cells == 0 {
        return Err(AbmError::NoCells);
    }
    let noisy = !cells.noise().is_off();
    let mode = match req.mode {
        Mode::Auto if noisy => Mode::PerCell,
        Mode::Auto => Mode::Hybrid {
            lump_above: Mode::LUMP_ABOVE,
            expand_below: Mode::EXPAND_BELOW,
        },
        m => m,
    };
    let mut options = match mode {
        Mode::PerCell | Mode::Auto => AbmOptions::per_cell(dt),
        Mode::Aggregated => AbmOptions::aggregated(dt),
        Mode::Hybrid {
            lump_above,
            expand_below,
        } => AbmOptions::hybrid(dt, lump_above, expand_below),
    };
    if noisy && options.lump_above != u64::MAX {
        return Err(settings(format!(
            "--mode: {} has [heterogeneity] noise, so cells of a clone differ and cannot be \
             kept as counts; use --mode per-cell (or auto)",
            model.meta.path
        )));
    }
    options.record_every = record_every;
    options.treatment_start = doses.iter().map(|d| d.time).fold(f64::INFINITY, f64::min);
    if !options.treatment_start.is_finite() {
        options.treatment_start = 0.0;
    }
    options.carrying_capacity = model.carrying_capacity;
    options.memory_limit_bytes = req.memory_limit_bytes;
    options.snapshot_times = snapshot_times;
    options.snapshot_max_cells = 20_000;
    let threads = req.threads.unwrap_or_else(rayon::current_num_threads);
    options.parallel_cells = (req.replicates as usize) < threads;
    let mut criterion = req.resistance.criterion(&model)?;
    if let Some(s) = &schedule {
        // The therapy driver passages and stops; the simulation records. The host
        // (in vivo) sets the growth.
        options.carrying_capacity = s.host.carrying_capacity.or(model.carrying_capacity);
        options.division_factor = s.host.division_factor;
        options.division_from = s.host.lag;
        options.passage = None;
        options.stop_at_population = None;
        options.stop_when_extinct = true;
        options.treatment_start = s
            .arms
            .iter()
            .filter_map(|a| match a.start {
                crate::schedule::ArmStart::At(t) => Some(t),
                _ => None,
            })
            .fold(f64::INFINITY, f64::min);
        if !options.treatment_start.is_finite() {
            options.treatment_start = 0.0;
        }
        let r = &s.resistance;
        let can_fire = r.regrowth.is_some()
            || r.steady_growth.is_some()
            || (r.ic50_fold.is_some() && s.ic50_every.is_some());
        if can_fire {
            criterion = ResistanceCriterion::Events;
        }
    }
    let mut config = EnsembleConfig::new(req.replicates, req.seed, t_end, criterion);
    config.threads = req.threads;
    let founders = cells.founders(initial_cells);
    let plan = match &schedule {
        Some(s) => s.clone(),
        None => Schedule::fixed_doses(&model, "--dose", t_end, record_every, &doses),
    };
    Ok(Prepared {
        model,
        params,
        bound,
        cells,
        schedule,
        plan,
        founders,
        doses,
        dose_specs,
        options,
        config,
        initial_cells,
        days,
        plot_species,
    })
}

/// Run the ensemble of a prepared request: every replicate through the therapy
/// driver under its plan (the schedule file, or the doses as fixed events).
pub fn simulate(p: &Prepared, progress: &dyn Progress) -> Result<Ensemble, AbmError> {
    // Validate once up front so a bad input fails before any thread starts.
    Simulation::new(&p.cells, &p.founders, p.options.clone(), p.config.seed, 0)?;
    run_replicates(&p.cells, &p.config, progress, |r| {
        scheduled_replicate(p, &p.plan, r, progress)
    })
}

/// Therapy options of replicate `replicate`: this run's parameters on the
/// agent-based engine (the schedule's `grow_from` phase runs on the hybrid engine,
/// exact in distribution for births, deaths and mutations).
fn therapy_options(params: &[f64], seed: u64, replicate: u64) -> TherapyOptions {
    TherapyOptions {
        params: Some(params.to_vec()),
        engine: EngineKind::AgentBased,
        seed,
        replicate,
        ..TherapyOptions::default()
    }
}

/// Per genotype of a population block: its loop state and its fraction of the cells.
fn states_and_fractions(y: &[f64], stride: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let total: f64 = y.chunks_exact(stride).map(|c| c[stride - 1]).sum();
    y.chunks_exact(stride)
        .map(|c| {
            let f = if total > 0.0 {
                (c[stride - 1] / total).clamp(0.0, 1.0)
            } else {
                0.0
            };
            (c[..stride - 1].to_vec(), f)
        })
        .unzip()
}

/// Replicate `r` under the schedule: the one therapy driver (`crate::therapy`) over
/// the agent-based engine with this command's options (step, mode, records,
/// snapshots); the simulation's clone lineages and records, with the driver's
/// events, resistance, doses, exposure and IC50 readouts. A dose list's doses are
/// the run's `dose` events, common to all replicates, so the driver's own dose
/// records are left out of its events.
fn scheduled_replicate(
    p: &Prepared,
    schedule: &Schedule,
    r: u64,
    progress: &dyn Progress,
) -> Result<ReplicateResult, AbmError> {
    let m = &p.model;
    let opts = therapy_options(&p.params, p.config.seed, r);
    let therapy = |e: crate::therapy::TherapyError| AbmError::from(Box::new(e));
    // Founders: the start state's cells (a random growth per replicate under
    // `grow_from`; in vivo the cells that take), whole cells.
    let in_vivo = schedule.setting == crate::schedule::Setting::InVivo;
    let founders: Vec<Founders> = if schedule.grow_from.is_some() || in_vivo {
        let y0 = crate::therapy::start(m, &p.bound, schedule, &opts).map_err(therapy)?;
        y0.chunks_exact(m.species.len() + 1)
            .enumerate()
            .map(|(g, c)| Founders {
                genotype: g,
                count: c[m.species.len()].max(0.0).round() as u64,
            })
            .filter(|f| f.count > 0)
            .collect()
    } else {
        p.founders.clone()
    };
    let sim = Simulation::new(&p.cells, &founders, p.options.clone(), p.config.seed, r)?;
    let mut engine = AgentEngine::from_simulation(m, &p.cells, sim, progress);
    let y0 = engine.population().to_vec();
    let result =
        crate::therapy::drive(m, &p.bound, schedule, &opts, &y0, &mut engine).map_err(therapy)?;
    let mut rep = engine.into_simulation().finish();
    let fixed = p.schedule.is_none();
    rep.events = result
        .events
        .iter()
        .filter(|e| !(fixed && matches!(e.kind, EventKind::DoseChange | EventKind::Bolus)))
        .map(|e| ReplicateEvent {
            t: e.time,
            kind: e.kind.label(),
            drug: e.drug.clone(),
            value: e.value,
            unit: e.unit.clone(),
            detail: e.detail.clone(),
        })
        .collect();
    rep.resistance = result
        .summary
        .resistance_rule
        .zip(result.summary.time_to_resistance)
        .map(|(rule, t)| (t, rule.label().to_string()));
    rep.doses = readouts_of(&result.timeline, "dose");
    rep.exposure = readouts_of(&result.timeline, "exposure");
    rep.ic50 = result.ic50.iter().map(|x| (x.time, x.ic50)).collect();
    Ok(rep)
}

/// The values of every column of population `population` at each readout of `tl`:
/// `(time, values in column order)`.
fn readouts_of(tl: &crate::engine::ode::Timeline, population: &str) -> Vec<(f64, Vec<f64>)> {
    let w = tl.columns.len();
    let cols: Vec<usize> = (0..w)
        .filter(|&c| tl.columns[c].population == population)
        .collect();
    tl.times
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, cols.iter().map(|&c| tl.values[i * w + c]).collect()))
        .collect()
}

/// Prepare, run and write every output into `out`; returns the manifest and the
/// ensemble.
pub fn run_abm(
    req: &AbmRequest,
    out: &Path,
    progress: &dyn Progress,
) -> Result<(AbmManifest, Ensemble), AbmError> {
    let p = prepare(req)?;
    let start = Instant::now();
    let ens = simulate(&p, progress)?;
    let wall = start.elapsed().as_secs_f64();
    let manifest = write_outputs(req, &p, &ens, out, wall)?;
    Ok((manifest, ens))
}

/// Write every output of a finished ensemble; the manifest last.
pub fn write_outputs(
    req: &AbmRequest,
    p: &Prepared,
    ens: &Ensemble,
    out: &Path,
    wall_seconds: f64,
) -> Result<AbmManifest, AbmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AbmError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mpath = out.join("manifest.json");
    if mpath.exists() {
        std::fs::remove_file(&mpath).map_err(io(&mpath))?;
    }
    let m = &p.model;
    let tu = m.meta.time_unit.symbol();
    let mut outputs = Vec::new();
    let drugs: Vec<String> = m.drugs.iter().map(|d| d.name.clone()).collect();
    // Fixed doses give every replicate the same exposure (the first's readouts);
    // with a schedule it differs by replicate: its doses are in the replicates'
    // `dose` rows instead.
    let rows = ExposureRows {
        readouts: ens.replicates.first().map_or(&[][..], |r| &r.exposure[..]),
        drugs: &drugs,
    };
    let rows = p.schedule.is_none().then_some(&rows);
    let scheduled_drugs: Vec<String> = match &p.schedule {
        Some(s) => {
            let mut d: Vec<usize> = s.arms.iter().map(|a| a.drug).collect();
            d.sort_unstable();
            d.dedup();
            d.into_iter().map(|i| m.drugs[i].name.clone()).collect()
        }
        None => Vec::new(),
    };
    write_timeline_csv(&out.join("timeline.csv"), ens, rows, &scheduled_drugs)?;
    write_clones_csv(&out.join("clones.csv"), ens)?;
    write_summary_csv(&out.join("summary.csv"), ens)?;
    write_muller_csv(&out.join("muller.csv"), ens)?;
    write_events_csv(&out.join("events.csv"), ens, &p.doses, &drugs)?;
    outputs.extend(
        [
            "timeline.csv",
            "clones.csv",
            "summary.csv",
            "muller.csv",
            "events.csv",
        ]
        .map(String::from),
    );
    if req.plot {
        plot_population(&out.join("population"), ens, tu)?;
        outputs.push("population.png/svg".into());
        if !ens.resistance_times().is_empty() {
            plot_resistance_times(&out.join("time_to_resistance"), ens, tu)?;
            outputs.push("time_to_resistance.png/svg".into());
        }
        if let Some(r) = most_mutant(ens) {
            plot_muller(&out.join("muller"), r, &ens.genotype_names, tu)?;
            outputs.push("muller.png/svg".into());
            for &s in &p.plot_species {
                let sp = &m.species[s];
                let stem = out.join(format!("cells_{}", sp.name));
                if plot_species_distributions(&stem, &r.snapshots, s, &sp.name, &sp.unit, tu)? {
                    outputs.push(format!("cells_{}.png/svg", sp.name));
                }
            }
        }
    }
    let founders = &p.founders;
    let run = AbmRun {
        time_unit: tu.to_string(),
        days: p.days,
        t_end: p.config.t_end,
        schedule: p.schedule.clone(),
        parameters: m
            .params
            .iter()
            .zip(&p.params)
            .map(|(q, v)| (q.name.clone(), *v))
            .collect(),
        parameter_changes: req.sets.clone(),
        dose_specs: p.dose_specs.clone(),
        doses: p.doses.clone(),
        seed: req.seed,
        replicates: req.replicates,
        threads: req.threads,
        initial_cells: p.initial_cells,
        founders: founders
            .iter()
            .map(|f| (m.genotypes[f.genotype].name.clone(), f.count))
            .collect(),
        dt: p.options.dt,
        record_every: p.options.record_every,
        mode: if p.options.lump_above == u64::MAX {
            Mode::PerCell
        } else if p.options.lump_above == 0 {
            Mode::Aggregated
        } else {
            Mode::Hybrid {
                lump_above: p.options.lump_above,
                expand_below: p.options.expand_below,
            }
        },
        lump_above: p.options.lump_above,
        expand_below: p.options.expand_below,
        integration: p.cells.integration(),
        intrinsic_noise: m.heterogeneity.species_noise,
        partition_cv: m.heterogeneity.partition_cv,
        carrying_capacity: p.options.carrying_capacity,
        resistance: format!("{:?}", p.config.criterion),
        bytes_per_cell: bytes_per_cell(m.species.len()),
        summary: EnsembleFacts::of(ens),
    };
    let mut inputs = vec![model_ref(m)];
    inputs.extend(p.schedule.as_ref().map(schedule_ref));
    let manifest = Manifest::new(inputs, run, Some(wall_seconds), outputs);
    manifest.write(&mpath).map_err(io(&mpath))?;
    Ok(manifest)
}
