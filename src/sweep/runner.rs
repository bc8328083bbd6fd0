//! The sweep runner: evaluates a design's points in parallel, streams each finished
//! row to `runs.csv` through one writer thread, resumes a killed sweep, runs one shard
//! of a sweep, and finally rewrites `runs.csv` sorted by point id.
//!
//! Every run is a pure function of (point, seed), with the seed derived from the sweep
//! seed and the point id, so the sorted output is the same for any thread count, any
//! sharding and any number of interruptions.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::design::{Design, Point};
use super::error::SweepError;
use super::manifest::{inputs_differ, runs_path, InputFile, Manifest, SweepStatus};
use super::runs::{read_runs, write_runs, Outcome, RunRow, RunsHeader};
use super::seed::{derive_seed, Stream};
use super::shard::Shard;
use super::spec::{is_reserved, SweepSpec};
use super::writer;

/// Turns one point into metric values. The model evaluator (simulate a model under a
/// schedule, compute metrics) implements this; tests use analytic functions.
///
/// Errors are plain messages because all the runner does with them is record them in
/// `runs.csv`; any error type converts with `to_string()`.
pub trait Evaluator: Sync {
    /// Names of the metrics `evaluate` returns, in order. Called once per sweep.
    fn metric_names(&self) -> Vec<String>;
    /// Evaluate `point` (parameter values in spec order). Must be a pure function of
    /// `(point, seed)`; `seed` is the only randomness it may use.
    fn evaluate(&self, point: &[f64], seed: u64) -> Result<Vec<f64>, String>;
    /// Files the evaluator depends on (recorded in the manifest; a resume or merge
    /// whose files hash differently is refused). Default: none.
    fn inputs(&self) -> Vec<InputFile> {
        Vec::new()
    }
    /// Units of parameter and metric columns, by column name (for the manifest and
    /// plot axes). Default: none.
    fn units(&self) -> std::collections::BTreeMap<String, String> {
        std::collections::BTreeMap::new()
    }
}

/// How to run a sweep.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue a sweep already started in the output directory.
    pub resume: bool,
    /// Run only this shard of the design.
    pub shard: Option<Shard>,
    /// Worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// Draw a progress bar with ETA on stderr.
    pub progress: bool,
    /// When raised, workers take no new points; the sweep returns
    /// [`SweepError::Cancelled`] and can be resumed (e.g. from a Ctrl-C handler).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What a finished sweep (or shard) did.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSummary {
    pub runs_csv: PathBuf,
    /// Points in this run's slice (the whole design when unsharded).
    pub points: usize,
    /// Points evaluated by this invocation.
    pub evaluated: usize,
    /// Points already finished by an earlier invocation (resume).
    pub reused: usize,
    pub ok: usize,
    pub failed: usize,
    pub wall_time: Duration,
    /// Column layout of the rows.
    pub header: RunsHeader,
    /// Every row of the slice, by id (what `runs.csv` holds), so a caller in the
    /// same process needs not read the file back.
    pub rows: Vec<RunRow>,
}

/// Seed handed to the evaluator for point `id` of a sweep seeded with `seed`.
pub fn point_seed(seed: u64, id: u64) -> u64 {
    derive_seed(seed, Stream::Run, id)
}

/// Run `spec` with `evaluator`, writing `runs.csv` and `manifest.json` into `out_dir`.
/// All input checks (bounds, design size, shard, names, resume consistency) happen
/// before the first evaluation.
pub fn run_sweep<E: Evaluator + ?Sized>(
    spec: &SweepSpec,
    evaluator: &E,
    out_dir: &Path,
    options: &RunOptions,
) -> Result<SweepSummary, SweepError> {
    let started = Instant::now();
    let design = Design::generate(spec)?;
    let shard = options
        .shard
        .map(|s| Shard::new(s.index, s.count))
        .transpose()?;
    let header = RunsHeader {
        parameters: design.names.clone(),
        metrics: evaluator.metric_names(),
    };
    check_metric_names(&header)?;
    let slice: &[Point] = match shard {
        Some(s) => &design.points[s.range(design.points.len())],
        None => &design.points,
    };
    let mut manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_string(),
        spec: spec.clone(),
        seed: spec.seed,
        design: design.kind.to_string(),
        design_fingerprint: design.fingerprint(),
        point_count: design.points.len(),
        shard,
        slice_point_count: slice.len(),
        parameters: header.parameters.clone(),
        metrics: header.metrics.clone(),
        status: SweepStatus::Running,
        ok: 0,
        failed: 0,
        wall_time_s: 0.0,
        merged_from: Vec::new(),
        inputs: evaluator.inputs(),
        units: evaluator.units(),
    };
    let runs = runs_path(out_dir);
    // Files a killed writer left half-written (`runs.csv` itself is repaired on resume).
    crate::output::atomic::clean_partial_files(out_dir).map_err(|e| SweepError::io(out_dir, e))?;
    let previous = prepare_output(out_dir, &runs, &manifest, &header, slice, options.resume)?;
    manifest.write(out_dir)?;

    let done: HashSet<u64> = previous.iter().map(|r| r.id).collect();
    let todo: Vec<&Point> = slice.iter().filter(|p| !done.contains(&p.id)).collect();
    let fresh = evaluate_all(
        &todo,
        spec.seed,
        evaluator,
        &runs,
        &header,
        slice.len(),
        done.len(),
        options,
    )?;

    let evaluated = fresh.len();
    let mut rows = previous;
    rows.extend(fresh);
    let (ok, failed) = count_outcomes(&rows);
    manifest.ok = ok;
    manifest.failed = failed;
    manifest.wall_time_s = started.elapsed().as_secs_f64();
    if rows.len() < slice.len() {
        manifest.status = SweepStatus::Cancelled;
        manifest.write(out_dir)?;
        return Err(SweepError::Cancelled {
            finished: rows.len(),
            total: slice.len(),
        });
    }
    rows.sort_by_key(|r| r.id);
    write_runs(&runs, &header, &rows)?;
    manifest.status = SweepStatus::Complete;
    manifest.write(out_dir)?;
    Ok(SweepSummary {
        runs_csv: runs,
        points: slice.len(),
        evaluated,
        reused: rows.len() - evaluated,
        ok,
        failed,
        wall_time: started.elapsed(),
        header,
        rows,
    })
}

/// Metric names must be non-empty, unique, and distinct from parameters and the
/// reserved columns.
fn check_metric_names(header: &RunsHeader) -> Result<(), SweepError> {
    let mut seen: HashSet<&str> = header.parameters.iter().map(String::as_str).collect();
    for m in &header.metrics {
        if m.is_empty() || is_reserved(m) || !seen.insert(m) {
            return Err(SweepError::DuplicateName { name: m.clone() });
        }
    }
    Ok(())
}

/// Set up `runs.csv` for this invocation and return the rows already finished.
///
/// Fresh: refuse a directory that already holds runs, write the header. Resume: check
/// the old manifest describes the same sweep, keep every complete row (the torn last
/// line of a killed sweep is dropped), check each kept row belongs to this slice with
/// the same parameter values, and rewrite the file without the torn tail.
fn prepare_output(
    out_dir: &Path,
    runs: &Path,
    manifest: &Manifest,
    header: &RunsHeader,
    slice: &[Point],
    resume: bool,
) -> Result<Vec<RunRow>, SweepError> {
    if !runs.exists() {
        write_runs(runs, header, &[])?;
        return Ok(Vec::new());
    }
    if !resume {
        return Err(SweepError::OutputExists {
            path: out_dir.to_path_buf(),
        });
    }
    let mismatch = |message: String| SweepError::ResumeMismatch {
        path: out_dir.to_path_buf(),
        message,
    };
    let old = Manifest::read(out_dir)?;
    if old.design_fingerprint != manifest.design_fingerprint || old.spec != manifest.spec {
        return Err(mismatch("the sweep spec or its design changed".into()));
    }
    if old.shard != manifest.shard {
        return Err(mismatch(format!(
            "shard was {:?}, now {:?}",
            old.shard, manifest.shard
        )));
    }
    if let Some(why) = inputs_differ(&old.inputs, &manifest.inputs) {
        return Err(mismatch(why));
    }
    if old.metrics != manifest.metrics {
        return Err(mismatch(format!(
            "metrics were {:?}, now {:?}",
            old.metrics, manifest.metrics
        )));
    }
    let rows = read_runs(runs, header, true)?;
    let by_id: HashMap<u64, &Point> = slice.iter().map(|p| (p.id, p)).collect();
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let problem = match by_id.get(&row.id) {
            None => Some(format!("point id {} is not in this sweep slice", row.id)),
            Some(p) if p.values != row.values => {
                Some(format!("point {} has other parameter values", row.id))
            }
            Some(_) if !seen.insert(row.id) => Some(format!("point id {} appears twice", row.id)),
            Some(_) => None,
        };
        if let Some(message) = problem {
            return Err(SweepError::CorruptRuns {
                path: runs.to_path_buf(),
                record: i + 1,
                message,
            });
        }
    }
    write_runs(runs, header, &rows)?;
    Ok(rows)
}

/// Evaluate `todo` on a local thread pool, streaming rows to the writer thread, and
/// return the rows written.
#[allow(clippy::too_many_arguments)]
fn evaluate_all<E: Evaluator + ?Sized>(
    todo: &[&Point],
    seed: u64,
    evaluator: &E,
    runs: &Path,
    header: &RunsHeader,
    total: usize,
    done: usize,
    options: &RunOptions,
) -> Result<Vec<RunRow>, SweepError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.unwrap_or(0))
        .build()
        .map_err(|e| SweepError::ThreadPool(e.to_string()))?;
    let abort = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<RunRow>();
    let bar = writer::progress_bar(options.progress, total, done);
    let handle = writer::spawn(runs.to_path_buf(), header.clone(), rx, bar, abort.clone());
    let stop = || {
        abort.load(Ordering::Relaxed)
            || options
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
    };
    let n_metrics = header.metrics.len();
    pool.install(|| {
        todo.par_iter().for_each_with(tx, |tx, p| {
            if stop() {
                return;
            }
            let outcome = run_one(evaluator, p, point_seed(seed, p.id), n_metrics);
            // A send fails only when the writer has died; its error is reported below.
            let _ = tx.send(RunRow {
                id: p.id,
                values: p.values.clone(),
                outcome,
            });
        });
    });
    handle
        .join()
        .map_err(|_| SweepError::io(runs, std::io::Error::other("writer thread panicked")))?
}

/// Evaluate one point, turning a wrong metric count or a panic into a failed run so
/// that one bad point never takes the sweep down.
fn run_one<E: Evaluator + ?Sized>(
    evaluator: &E,
    p: &Point,
    seed: u64,
    n_metrics: usize,
) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| evaluator.evaluate(&p.values, seed))) {
        Ok(Ok(m)) if m.len() == n_metrics => Outcome::Ok(m),
        Ok(Ok(m)) => Outcome::Failed(format!(
            "evaluator returned {} metrics, expected {n_metrics}",
            m.len()
        )),
        Ok(Err(msg)) => Outcome::Failed(msg),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::Failed(format!("evaluator panicked: {what}"))
        }
    }
}

/// Numbers of ok and failed rows.
pub(super) fn count_outcomes(rows: &[RunRow]) -> (usize, usize) {
    let ok = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Ok(_)))
        .count();
    (ok, rows.len() - ok)
}
