//! `resloop._resloop`: the native half of the Python package.
//!
//! Every function here calls the same library functions as the matching `resloop`
//! subcommand (see `src/cli/`), with the GIL released while it computes, and hands
//! back plain columns (lists) or JSON text that `resloop/__init__.py` turns into
//! pandas DataFrames. Defaults live in the library's request types
//! (`SimulateRequest::new`, `TherapySettings::default`, `AbmSettings::new`,
//! `SynergyOptions::new`, ...): an argument left `None` keeps them.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use resloop::abm::run::AbmSettings;
use resloop::abm::run::{prepare as abm_prepare, simulate as abm_simulate, write_outputs};
use resloop::abm::AbmError;
use resloop::compile::{compile_file, CompiledModel};
use resloop::engine::ode::{Method, Timeline};
use resloop::engine::EngineKind;
use resloop::experiment::{
    self, CheckerboardRequest, ExperimentError, SimulateRequest, TherapySettings,
};
use resloop::model::ModelError;
use resloop::plate::{Plate, PlateError};
use resloop::schedule::{Schedule, ScheduleError};
use resloop::sensitivity::{sensitivity_with, SensitivityOptions};
use resloop::sweep::{load_model_sweep, run_sweep, LoadOptions, Outcome, RunOptions, SweepError};
use resloop::synergy::report::{score_rows, SCORE_COLUMNS};
use resloop::synergy::{
    score_blocks, LoeweFallback, Method as SynergyMethod, SynergyError, SynergyOptions,
};
use resloop::therapy::{output::write_run, EnsembleSummary, TherapyResult};

create_exception!(
    _resloop,
    ResloopError,
    PyException,
    "A resloop input or run failed. Attributes: `message`, and where the input is \
     located, `file`, `line`, `column` and `field` (None when the error has no place)."
);

/// Where an error is, when it is in a file (model, schedule, sweep, facts, plate).
#[derive(Default)]
struct Place {
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    field: Option<String>,
}

impl Place {
    fn of_model(e: &ModelError) -> Place {
        Place {
            file: Some(e.at.file.clone()),
            line: (e.at.line > 0).then_some(e.at.line),
            column: (e.at.line > 0).then_some(e.at.column),
            field: e.field.clone(),
        }
    }

    fn of_schedule(e: &ScheduleError) -> Place {
        let at = e.location();
        Place {
            file: Some(at.file.clone()),
            line: (at.line > 0).then_some(at.line),
            column: (at.line > 0).then_some(at.column),
            field: e.field().map(str::to_string),
        }
    }

    fn of_plate(e: &PlateError) -> Option<Place> {
        use PlateError::*;
        let (at, field) = match e {
            Csv { at, .. } => (at, None),
            NotANumber { at, field, .. } | BadDose { at, field, .. } => (at, Some(*field)),
            NonFiniteResponse { at, .. }
            | NegativeResponse { at, .. }
            | ResponseTooHigh { at, .. } => (at, Some("response")),
            DuplicateWell { at, .. } | MixedReplicate { at } => (at, None),
            UnitMismatch { at, field, .. } | DrugMismatch { at, field, .. } => (at, Some(*field)),
            _ => return None,
        };
        Some(Place {
            file: Some(at.source.clone()),
            line: Some(at.line as usize),
            column: None,
            field: field.map(str::to_string),
        })
    }

    /// The place of a library error that has one (looking through the error types
    /// that wrap a located error, then down the `source` chain).
    fn find(e: &(dyn StdError + 'static)) -> Option<Place> {
        let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(e) = cur {
            if let Some(m) = e.downcast_ref::<ModelError>() {
                return Some(Place::of_model(m));
            }
            if let Some(s) = e.downcast_ref::<ScheduleError>() {
                return Some(Place::of_schedule(s));
            }
            if let Some(p) = e.downcast_ref::<PlateError>() {
                return Place::of_plate(p);
            }
            match e.downcast_ref::<ExperimentError>() {
                Some(ExperimentError::Model(m)) => return Some(Place::of_model(m)),
                Some(ExperimentError::Therapy(t)) => {
                    cur = Some(t);
                    continue;
                }
                _ => {}
            }
            match e.downcast_ref::<SweepError>() {
                Some(SweepError::Input(m)) => return Some(Place::of_model(m)),
                Some(SweepError::Schedule(s)) => return Some(Place::of_schedule(s)),
                _ => {}
            }
            if let Some(AbmError::Model(m)) = e.downcast_ref::<AbmError>() {
                return Some(Place::of_model(m));
            }
            if let Some(SynergyError::Plate(p)) = e.downcast_ref::<SynergyError>() {
                return Place::of_plate(p);
            }
            cur = e.source();
        }
        None
    }
}

/// A `ResloopError` carrying the message and the place of `e`.
fn py_err(e: impl StdError + 'static) -> PyErr {
    let place = Place::find(&e).unwrap_or_default();
    raise(e.to_string(), place)
}

fn msg_err(message: impl Into<String>) -> PyErr {
    raise(message.into(), Place::default())
}

fn raise(message: String, place: Place) -> PyErr {
    let err = ResloopError::new_err(message.clone());
    Python::with_gil(|py| {
        let v = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail.
        let _ = v.setattr("message", message);
        let _ = v.setattr("file", place.file);
        let _ = v.setattr("line", place.line);
        let _ = v.setattr("column", place.column);
        let _ = v.setattr("field", place.field);
    });
    err
}

/// A JSON document as text (`json.loads` on the Python side).
fn json(v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| msg_err(format!("internal error: {e}")))
}

/// Long-format timelines, as `timeline.csv` holds them: `time, population, variable,
/// value` columns, and with more than one run a leading `replicate` column numbering
/// the runs from 0 (`resloop::output::timeline::write_timeline_csv`'s layout).
fn timeline_columns<'py>(py: Python<'py>, runs: &[&Timeline]) -> PyResult<Bound<'py, PyDict>> {
    let n = runs
        .iter()
        .map(|tl| tl.times.len() * tl.columns.len())
        .sum();
    let (mut replicate, mut time, mut population, mut variable, mut value) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (r, tl) in runs.iter().enumerate() {
        for &t in &tl.times {
            for c in &tl.columns {
                replicate.push(r);
                time.push(t);
                population.push(c.population.as_str());
                variable.push(c.variable.as_str());
            }
        }
        value.extend_from_slice(&tl.values);
    }
    let d = PyDict::new(py);
    if runs.len() > 1 {
        d.set_item("replicate", replicate)?;
    }
    d.set_item("time", time)?;
    d.set_item("population", population)?;
    d.set_item("variable", variable)?;
    d.set_item("value", value)?;
    Ok(d)
}

fn method(name: Option<&str>) -> PyResult<Method> {
    match name {
        None => Ok(Method::default()),
        Some(n) => Method::parse(n)
            .ok_or_else(|| msg_err(format!("method `{n}`: expected {}", Method::EXPECTED))),
    }
}

/// A model's tables and summary (`resloop check`).
#[pyfunction]
fn load_model(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let m = py.allow_threads(|| compile_file(&path)).map_err(py_err)?;
    let d = PyDict::new(py);
    d.set_item("meta", json(&m.meta)?)?;
    d.set_item("summary", m.summary())?;
    d.set_item("parameters", json(&m.params)?)?;
    let species: Vec<(&str, &str, f64, &str)> = m
        .species
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.unit.as_str(),
                s.initial,
                s.description.as_str(),
            )
        })
        .collect();
    d.set_item("species", species)?;
    let drugs: Vec<(&str, String, &str)> = m
        .drugs
        .iter()
        .map(|x| {
            (
                x.name.as_str(),
                x.unit.symbol().to_string(),
                x.target.as_str(),
            )
        })
        .collect();
    d.set_item("drugs", drugs)?;
    let obs: Vec<&str> = m.observables.iter().map(|o| o.name.as_str()).collect();
    d.set_item("observables", obs)?;
    let genotypes: Vec<(&str, Option<&str>, f64)> = m
        .genotypes
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.parent.map(|p| m.genotypes[p].name.as_str()),
                g.mutation_probability,
            )
        })
        .collect();
    d.set_item("genotypes", genotypes)?;
    let warnings: Vec<(&str, &str)> = m
        .warnings
        .iter()
        .map(|w| (w.at.as_str(), w.message.as_str()))
        .collect();
    d.set_item("warnings", warnings)?;
    d.set_item("initial_cells", m.initial_cells)?;
    Ok(d)
}

/// `resloop simulate`: in memory, or written to `out` exactly as the CLI writes it;
/// every replicate's timeline (stacked as in `timeline.csv`), replicate 0's solver work.
#[pyfunction]
#[pyo3(signature = (model, days, doses, sets, method_name, rtol, atol, points, cells, engine, replicates, seed, out, plot))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    model: PathBuf,
    days: f64,
    doses: Vec<String>,
    sets: Vec<String>,
    method_name: Option<String>,
    rtol: Option<f64>,
    atol: Option<f64>,
    points: Option<usize>,
    cells: Option<f64>,
    engine: Option<String>,
    replicates: Option<u64>,
    seed: Option<u64>,
    out: Option<PathBuf>,
    plot: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut req = SimulateRequest::new(&model, days);
    // The doses given, and only those (none: drug-free).
    req.drug_free = doses.is_empty();
    req.doses = doses;
    req.sets = sets;
    req.method = method(method_name.as_deref())?;
    req.rtol = rtol.unwrap_or(req.rtol);
    req.atol = atol.unwrap_or(req.atol);
    req.points = points.unwrap_or(req.points);
    req.cells = cells;
    req.replicates = replicates.unwrap_or(req.replicates);
    req.seed = seed.unwrap_or(req.seed);
    req.plot = plot;
    let (engine, runs) = py.allow_threads(|| -> PyResult<_> {
        if let Some(name) = &engine {
            let m = compile_file(&model).map_err(py_err)?;
            req.engine = Some(EngineKind::chosen(Some(name), &m).map_err(msg_err)?);
        }
        match &out {
            Some(dir) => experiment::run_simulate(&req, dir)
                .map(|(m, r)| (m.run.engine, r))
                .map_err(py_err),
            None => experiment::simulate(&req)
                .map(|(_, e, r)| (e, r))
                .map_err(py_err),
        }
    })?;
    let timelines: Vec<&Timeline> = runs.iter().map(|r| &r.timeline).collect();
    let d = timeline_columns(py, &timelines)?;
    d.set_item("engine", engine.label())?;
    d.set_item("stats", json(&runs[0].stats)?)?;
    d.set_item("wall_seconds", runs[0].wall_seconds)?;
    Ok(d)
}

/// A schedule for `model`: from a file, or from TOML text (a dict serialised by
/// [`schedule_toml`]) labelled `label`, read by the same parser.
fn load_schedule(
    model: &CompiledModel,
    path: Option<&Path>,
    text: Option<&str>,
    label: &str,
) -> PyResult<Schedule> {
    match (path, text) {
        (Some(p), None) => Schedule::load(p, model).map_err(py_err),
        (None, Some(t)) => Schedule::parse(Path::new(label), t, model).map_err(py_err),
        _ => Err(msg_err("a schedule is a file path or a dict")),
    }
}

/// The shared run settings of `therapy` and `compare`.
#[allow(clippy::too_many_arguments)]
fn therapy_settings(
    sets: Vec<String>,
    method_name: Option<String>,
    rtol: Option<f64>,
    atol: Option<f64>,
    engine: Option<String>,
    replicates: Option<u64>,
    seed: Option<u64>,
) -> TherapySettings {
    let d = TherapySettings::default();
    TherapySettings {
        sets,
        allow_out_of_bounds: false,
        start: None,
        method: method_name.unwrap_or(d.method),
        rtol: rtol.unwrap_or(d.rtol),
        atol: atol.unwrap_or(d.atol),
        engine,
        replicates: replicates.unwrap_or(d.replicates),
        seed: seed.unwrap_or(d.seed),
    }
}

/// The in-memory facts of one schedule's replicates: per-replicate summaries and,
/// for several, the ensemble summary (Kaplan-Meier times).
fn therapy_summary<'py>(py: Python<'py>, runs: &[TherapyResult]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let summaries: Vec<_> = runs.iter().map(|r| &r.summary).collect();
    d.set_item("replicates", json(&summaries)?)?;
    let ensemble = (runs.len() > 1).then(|| EnsembleSummary::of(runs));
    d.set_item("ensemble", json(&ensemble)?)?;
    d.set_item("warnings", runs[0].warnings.clone())?;
    Ok(d)
}

/// `resloop therapy`: runs the schedule's replicates and writes the CLI's files
/// into `out` (the Python side reads the tables from there).
#[pyfunction]
#[pyo3(signature = (model, schedule_path, schedule_text, label, sets, method_name, rtol, atol, engine, replicates, seed, out, plot))]
#[allow(clippy::too_many_arguments)]
fn therapy<'py>(
    py: Python<'py>,
    model: PathBuf,
    schedule_path: Option<PathBuf>,
    schedule_text: Option<String>,
    label: String,
    sets: Vec<String>,
    method_name: Option<String>,
    rtol: Option<f64>,
    atol: Option<f64>,
    engine: Option<String>,
    replicates: Option<u64>,
    seed: Option<u64>,
    out: PathBuf,
    plot: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let s = therapy_settings(sets, method_name, rtol, atol, engine, replicates, seed);
    let runs = py.allow_threads(|| -> PyResult<_> {
        let mut model = compile_file(&model).map_err(py_err)?;
        let opts = s.options(&mut model).map_err(py_err)?;
        let schedule = load_schedule(
            &model,
            schedule_path.as_deref(),
            schedule_text.as_deref(),
            &label,
        )?;
        let runs =
            experiment::run_therapy(&model, &schedule, &opts, s.replicates).map_err(py_err)?;
        write_run(&out, &model, &schedule, &opts, &runs, plot).map_err(py_err)?;
        Ok(runs)
    })?;
    therapy_summary(py, &runs)
}

/// `resloop compare`: several schedules (files or TOML texts) on one model; the
/// comparison table in memory, the CLI's files in `out`.
#[pyfunction]
#[pyo3(signature = (model, schedules, sets, method_name, rtol, atol, engine, replicates, seed, out, plot))]
#[allow(clippy::too_many_arguments)]
fn compare<'py>(
    py: Python<'py>,
    model: PathBuf,
    schedules: Vec<(Option<PathBuf>, Option<String>, String)>,
    sets: Vec<String>,
    method_name: Option<String>,
    rtol: Option<f64>,
    atol: Option<f64>,
    engine: Option<String>,
    replicates: Option<u64>,
    seed: Option<u64>,
    out: PathBuf,
    plot: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let s = therapy_settings(sets, method_name, rtol, atol, engine, replicates, seed);
    let (names, table, results) = py.allow_threads(|| -> PyResult<_> {
        let mut model = compile_file(&model).map_err(py_err)?;
        let opts = s.options(&mut model).map_err(py_err)?;
        let mut loaded = Vec::new();
        for (p, t, label) in &schedules {
            loaded.push(load_schedule(&model, p.as_deref(), t.as_deref(), label)?);
        }
        let labels: Vec<String> = schedules.iter().map(|x| x.2.clone()).collect();
        let results = experiment::run_compare(&model, &loaded, &labels, &opts, s.replicates)
            .map_err(py_err)?;
        let runs: Vec<_> = loaded
            .iter()
            .zip(&results)
            .map(|(s, r)| (s, r.as_slice()))
            .collect();
        let table = resloop::therapy::compare::write_compare(&out, &model, &opts, &runs, plot)
            .map_err(py_err)?;
        let names: Vec<String> = loaded.iter().map(|s| s.name.clone()).collect();
        Ok((names, table, results))
    })?;
    let d = PyDict::new(py);
    d.set_item("header", table.header)?;
    d.set_item("rows", table.rows)?;
    d.set_item("names", names)?;
    let summaries = PyList::empty(py);
    for r in &results {
        summaries.append(therapy_summary(py, r)?)?;
    }
    d.set_item("summaries", summaries)?;
    Ok(d)
}

/// `resloop abm`: an agent-based (or hybrid-mode) ensemble; the CLI's files in
/// `out`, the ensemble summary in memory.
#[pyfunction]
#[pyo3(signature = (model, schedule, cells, replicates, seed, threads, days, doses, drug_free, sets, dt, integrator, substeps, mode, lump_above, expand_below, record_every, snapshots, species, resistance, memory_gb, out, plot))]
#[allow(clippy::too_many_arguments)]
fn abm<'py>(
    py: Python<'py>,
    model: PathBuf,
    schedule: Option<PathBuf>,
    cells: Option<f64>,
    replicates: Option<u64>,
    seed: Option<u64>,
    threads: Option<usize>,
    days: Option<f64>,
    doses: Vec<String>,
    drug_free: bool,
    sets: Vec<String>,
    dt: Option<String>,
    integrator: Option<String>,
    substeps: Option<u32>,
    mode: Option<String>,
    lump_above: Option<u64>,
    expand_below: Option<u64>,
    record_every: Option<String>,
    snapshots: Vec<String>,
    species: Vec<String>,
    resistance: Option<String>,
    memory_gb: Option<f64>,
    out: PathBuf,
    plot: bool,
) -> PyResult<String> {
    let d = AbmSettings::new(&model);
    let s = AbmSettings {
        model,
        schedule,
        cells,
        replicates: replicates.unwrap_or(d.replicates),
        seed: seed.unwrap_or(d.seed),
        threads,
        days,
        doses,
        drug_free,
        sets,
        allow_out_of_bounds: false,
        dt: dt.unwrap_or(d.dt),
        integrator: integrator.unwrap_or(d.integrator),
        substeps: substeps.unwrap_or(d.substeps),
        mode: mode.unwrap_or(d.mode),
        lump_above,
        expand_below,
        record_every,
        snapshots,
        species,
        resistance: resistance.unwrap_or(d.resistance),
        memory_gb: memory_gb.unwrap_or(d.memory_gb),
        plot,
    };
    let manifest = py.allow_threads(|| -> PyResult<_> {
        let req = s.request().map_err(py_err)?;
        let start = std::time::Instant::now();
        let p = abm_prepare(&req).map_err(py_err)?;
        let ens = abm_simulate(&p, &resloop::abm::NoProgress).map_err(py_err)?;
        write_outputs(&req, &p, &ens, &out, start.elapsed().as_secs_f64()).map_err(py_err)
    })?;
    json(&manifest)
}

/// `resloop synergy` on a plate given as CSV text (a DataFrame written by pandas),
/// read by the same parser as a plate file; written to `out` when given.
#[pyfunction]
#[pyo3(signature = (csv_text, label, methods, bootstrap, seed, percent_inhibition, drug_a, drug_b, unit_a, unit_b, loewe_fallback, zip_emax, musyc_score, min_r2, min_effect, out, plot))]
#[allow(clippy::too_many_arguments)]
fn synergy<'py>(
    py: Python<'py>,
    csv_text: String,
    label: String,
    methods: Option<String>,
    bootstrap: Option<usize>,
    seed: Option<u64>,
    percent_inhibition: bool,
    drug_a: Option<String>,
    drug_b: Option<String>,
    unit_a: Option<String>,
    unit_b: Option<String>,
    loewe_fallback: Option<String>,
    zip_emax: Option<String>,
    musyc_score: Option<String>,
    min_r2: Option<f64>,
    min_effect: Option<f64>,
    out: Option<PathBuf>,
    plot: bool,
) -> PyResult<Bound<'py, PyList>> {
    let mut o = SynergyOptions::new(&label);
    if let Some(m) = &methods {
        o.methods = SynergyMethod::parse_list(m).map_err(py_err)?;
    }
    o.bootstrap = bootstrap.unwrap_or(o.bootstrap);
    o.seed = seed.unwrap_or(o.seed);
    o.percent_inhibition = percent_inhibition;
    o.drug_a = drug_a;
    o.drug_b = drug_b;
    o.unit_a = unit_a;
    o.unit_b = unit_b;
    if let Some(f) = loewe_fallback {
        o.loewe_fallback = f
            .parse::<LoeweFallback>()
            .map_err(|e| msg_err(format!("loewe_fallback: {e}")))?;
    }
    if let Some(z) = zip_emax {
        o.zip_emax = z.parse().map_err(|e| msg_err(format!("zip_emax: {e}")))?;
    }
    if let Some(m) = musyc_score {
        o.musyc_score = m
            .parse()
            .map_err(|e| msg_err(format!("musyc_score: {e}")))?;
    }
    o.gate.min_r2 = min_r2.unwrap_or(o.gate.min_r2);
    o.gate.min_effect = min_effect.unwrap_or(o.gate.min_effect);
    o.plots = plot;
    let reports = py.allow_threads(|| -> PyResult<_> {
        let blocks = Plate::blocks_from_csv_reader(csv_text.as_bytes(), &label, &o.csv_options())
            .map_err(py_err)?;
        score_blocks(blocks, &o, out.as_deref()).map_err(py_err)
    })?;
    let list = PyList::empty(py);
    for r in &reports {
        let d = PyDict::new(py);
        d.set_item("block", r.block.clone())?;
        d.set_item("drug_a", r.context.grid.drug_a.name.clone())?;
        d.set_item("drug_b", r.context.grid.drug_b.name.clone())?;
        let mut cols: [Vec<Option<f64>>; 7] = Default::default();
        let (mut method, mut status) = (Vec::new(), Vec::new());
        for row in score_rows(&r.results, r.bootstrap.as_ref()) {
            method.push(row.method.name());
            status.push(row.cell.status.to_string());
            for (col, v) in cols.iter_mut().zip(row.numbers()) {
                col.push(v);
            }
        }
        let [method_col, numbers @ .., status_col] = SCORE_COLUMNS;
        d.set_item(method_col, method)?;
        for (name, col) in numbers.iter().zip(cols) {
            d.set_item(*name, col)?;
        }
        d.set_item(status_col, status)?;
        let summary: Vec<_> = r
            .results
            .iter()
            .map(|m| (m.method.name(), &m.summary))
            .collect();
        d.set_item("summary", json(&summary)?)?;
        d.set_item("bootstrap", json(&r.bootstrap)?)?;
        d.set_item("warnings", r.warnings.clone())?;
        list.append(d)?;
    }
    Ok(list)
}

/// `resloop checkerboard`'s simulated plate, as plate CSV text (the lab-data
/// format); scoring it is `synergy`'s job, as in the CLI.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn checkerboard_plate(
    py: Python<'_>,
    model: PathBuf,
    drug_a: String,
    doses_a: String,
    drug_b: String,
    doses_b: String,
    hours: f64,
    seeding: f64,
    state: String,
) -> PyResult<String> {
    let req = CheckerboardRequest {
        model,
        drug_a,
        doses_a,
        drug_b,
        doses_b,
        hours,
        seeding,
        state,
        facts: None,
    };
    py.allow_threads(|| {
        let (_, plate) = experiment::simulate_checkerboard(&req).map_err(py_err)?;
        let mut buf = Vec::new();
        plate
            .write_csv(&mut buf)
            .map_err(|e| msg_err(format!("cannot write the plate: {e}")))?;
        String::from_utf8(buf).map_err(|e| msg_err(format!("internal error: {e}")))
    })
}

/// `resloop sweep`: every point run in this process on `threads` threads, written
/// to `out` like the CLI (resumable), the rows handed back without reading the
/// file again.
#[pyfunction]
#[pyo3(signature = (sweep, out, threads, allow_outside, resume))]
fn sweep<'py>(
    py: Python<'py>,
    sweep: PathBuf,
    out: PathBuf,
    threads: Option<usize>,
    allow_outside: bool,
    resume: bool,
) -> PyResult<Bound<'py, PyDict>> {
    if threads == Some(0) {
        return Err(msg_err("threads must be at least 1"));
    }
    let s = py.allow_threads(|| -> PyResult<_> {
        let sw = load_model_sweep(&sweep, &LoadOptions { allow_outside }).map_err(py_err)?;
        let options = RunOptions {
            resume,
            threads,
            ..RunOptions::default()
        };
        run_sweep(&sw.spec, &sw.evaluator, &out, &options).map_err(py_err)
    })?;
    let d = PyDict::new(py);
    let n = s.rows.len();
    d.set_item("id", s.rows.iter().map(|r| r.id).collect::<Vec<_>>())?;
    for (k, p) in s.header.parameters.iter().enumerate() {
        d.set_item(p, s.rows.iter().map(|r| r.values[k]).collect::<Vec<_>>())?;
    }
    for (k, m) in s.header.metrics.iter().enumerate() {
        let col: Vec<f64> = s
            .rows
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Ok(v) => v[k],
                Outcome::Failed(_) => f64::NAN,
            })
            .collect();
        d.set_item(m, col)?;
    }
    let (mut status, mut error) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for r in &s.rows {
        match &r.outcome {
            Outcome::Ok(_) => {
                status.push("ok");
                error.push("");
            }
            Outcome::Failed(e) => {
                status.push("failed");
                error.push(e.as_str());
            }
        }
    }
    d.set_item("status", status)?;
    d.set_item("error", error)?;
    d.set_item("wall_seconds", s.wall_time.as_secs_f64())?;
    Ok(d)
}

/// `resloop sensitivity`: Sobol or Morris indices of a finished sweep folder.
#[pyfunction]
#[pyo3(signature = (dir, resamples, confidence, plots))]
fn sensitivity<'py>(
    py: Python<'py>,
    dir: PathBuf,
    resamples: Option<usize>,
    confidence: Option<f64>,
    plots: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let d = SensitivityOptions::default();
    let o = SensitivityOptions {
        resamples: resamples.unwrap_or(d.resamples),
        confidence: confidence.unwrap_or(d.confidence),
        plots,
    };
    if !(o.confidence > 0.0 && o.confidence < 1.0) {
        return Err(msg_err(format!(
            "confidence must lie strictly between 0 and 1, found {}",
            o.confidence
        )));
    }
    if o.resamples == 0 {
        return Err(msg_err("resamples must be at least 1"));
    }
    let rep = py
        .allow_threads(|| sensitivity_with(&dir, &o))
        .map_err(py_err)?;
    let out = PyDict::new(py);
    out.set_item("method", rep.method)?;
    let rows = &rep.indices;
    out.set_item(
        "metric",
        rows.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "parameter",
        rows.iter()
            .map(|r| r.parameter.as_str())
            .collect::<Vec<_>>(),
    )?;
    out.set_item("index", rows.iter().map(|r| r.index).collect::<Vec<_>>())?;
    out.set_item("value", rows.iter().map(|r| r.value).collect::<Vec<_>>())?;
    out.set_item("ci_low", rows.iter().map(|r| r.ci_low).collect::<Vec<_>>())?;
    out.set_item(
        "ci_high",
        rows.iter().map(|r| r.ci_high).collect::<Vec<_>>(),
    )?;
    out.set_item("used", rows.iter().map(|r| r.used).collect::<Vec<_>>())?;
    out.set_item("censored", rep.censored.clone())?;
    Ok(out)
}

/// `resloop validate`: fact files run; one row per fact; `validate.csv` written
/// into `out` when given.
#[pyfunction]
#[pyo3(signature = (files, only, engine, seed, out))]
fn validate<'py>(
    py: Python<'py>,
    files: Vec<PathBuf>,
    only: Option<String>,
    engine: Option<String>,
    seed: Option<u64>,
    out: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let rows = py.allow_threads(|| -> PyResult<_> {
        let rows = experiment::validate(
            &files,
            only.as_deref(),
            engine.as_deref().unwrap_or("mean-field"),
            seed.unwrap_or(1),
        )
        .map_err(py_err)?;
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir)
                .and_then(|_| resloop::facts::write_csv(&dir.join("validate.csv"), &rows))
                .map_err(|e| msg_err(format!("cannot write {}: {e}", dir.display())))?;
        }
        Ok(rows)
    })?;
    // The columns of `validate.csv`, in its order.
    let all = || rows.iter().flat_map(|(m, o)| o.iter().map(move |x| (m, x)));
    let d = PyDict::new(py);
    d.set_item("model", all().map(|(m, _)| m.as_str()).collect::<Vec<_>>())?;
    d.set_item(
        "fact",
        all().map(|(_, o)| o.id.as_str()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "role",
        all().map(|(_, o)| o.role.label()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "claim",
        all().map(|(_, o)| o.claim.as_str()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "study",
        all().map(|(_, o)| o.study.as_str()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "tolerance",
        all().map(|(_, o)| o.tolerance.as_str()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "value",
        all()
            .map(|(_, o)| o.reading.map(|r| r.value))
            .collect::<Vec<_>>(),
    )?;
    // The bound's serde name (`exact`, `at_least`, `at_most`), as the CSV writes it.
    let bounds: Vec<Option<String>> = all()
        .map(|(_, o)| {
            o.reading
                .and_then(|r| serde_json::to_value(r.bound).ok())
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .collect();
    d.set_item("bound", bounds)?;
    d.set_item(
        "status",
        all().map(|(_, o)| o.status.label()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "known_failure",
        all()
            .map(|(_, o)| o.known_failure.as_deref())
            .collect::<Vec<_>>(),
    )?;
    d.set_item(
        "detail",
        all().map(|(_, o)| o.detail.as_str()).collect::<Vec<_>>(),
    )?;
    Ok(d)
}

/// The command line's `--limit NAME=VALUE` settings, on top of the defaults, in force
/// for every later call in this process (an empty list restores the defaults).
#[pyfunction]
fn set_limits(settings: Vec<String>) -> PyResult<()> {
    let mut l = resloop::limits::Limits::DEFAULT;
    for s in &settings {
        l.apply(s).map_err(msg_err)?;
    }
    resloop::limits::set(l);
    Ok(())
}

/// The fact file a model file names (`x.toml` -> `x.facts.toml`).
#[pyfunction]
fn facts_path(path: PathBuf) -> PathBuf {
    experiment::facts_path(&path)
}

/// Every `*.facts.toml` in a folder.
#[pyfunction]
fn fact_files(dir: PathBuf) -> PyResult<Vec<PathBuf>> {
    resloop::facts::fact_files(&dir).map_err(|e| msg_err(format!("{}: {e}", dir.display())))
}

/// A Python dict (nested dicts, lists, str, int, float, bool) as TOML text, for
/// schedules given as dicts: the text then goes through the schedule parser.
#[pyfunction]
fn schedule_toml(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match to_toml(obj, "")? {
        toml::Value::Table(t) => {
            toml::to_string(&t).map_err(|e| msg_err(format!("cannot write TOML: {e}")))
        }
        _ => Err(msg_err("a schedule dict must be a dict")),
    }
}

fn to_toml(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<toml::Value> {
    let key = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    if let Ok(d) = obj.downcast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, v) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| msg_err(format!("`{at}`: dict keys must be strings")))?;
            let value = to_toml(&v, &key(&k))?;
            t.insert(k, value);
        }
        return Ok(toml::Value::Table(t));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(obj.extract()?));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(obj.extract()?));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(obj.extract()?));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut a = Vec::new();
        for (i, v) in obj.try_iter()?.enumerate() {
            a.push(to_toml(&v?, &format!("{at}[{i}]"))?);
        }
        return Ok(toml::Value::Array(a));
    }
    // numpy scalars and other numbers: through float().
    if let Ok(x) = obj.call_method0("__float__") {
        return Ok(toml::Value::Float(x.extract()?));
    }
    Err(msg_err(format!(
        "`{at}`: cannot write a {} in a schedule (expected dict, list, str, int, float or bool)",
        obj.get_type().name()?
    )))
}

#[pymodule]
fn _resloop(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ResloopError", m.py().get_type::<ResloopError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCORE_COLUMNS", SCORE_COLUMNS.to_vec())?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(therapy, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(abm, m)?)?;
    m.add_function(wrap_pyfunction!(synergy, m)?)?;
    m.add_function(wrap_pyfunction!(checkerboard_plate, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(sensitivity, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(set_limits, m)?)?;
    m.add_function(wrap_pyfunction!(facts_path, m)?)?;
    m.add_function(wrap_pyfunction!(fact_files, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_toml, m)?)?;
    Ok(())
}
