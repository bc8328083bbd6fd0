//! The calibration record: every evaluation (CSV), the best values ready to paste
//! (TOML, with the facts table they achieve), and a manifest that says how to
//! reproduce it. All written atomically: a failed write leaves no half file behind.

use std::fmt::Write as _;
use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;

use super::loss::Score;
use super::search::{Calibration, Stop};
use super::space::Axis;
use super::CalibrateError;
use crate::facts::FactFile;
use crate::output::atomic::write_atomic;
use crate::output::manifest::{model_ref, write_json, FileRef};

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> CalibrateError + '_ {
    move |source| CalibrateError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// A number as TOML writes it (always a float, exponent when needed).
fn toml_float(v: f64) -> String {
    toml::Value::Float(v).to_string()
}
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `calibration.csv`: one row per evaluation, in the order the search made them.
pub fn write_evaluations(path: &Path, cal: &Calibration) -> Result<(), CalibrateError> {
    let mut s = String::from("evaluation,restart");
    for a in &cal.space.axes {
        s.push(',');
        s.push_str(&a.name);
    }
    s.push_str(",loss,facts_passing,facts_scored,best_so_far\n");
    let mut best = f64::INFINITY;
    for e in &cal.evaluations {
        let improved = e.score.loss < best;
        best = best.min(e.score.loss);
        let _ = write!(s, "{},{}", e.number, e.restart);
        for v in &e.values {
            let _ = write!(s, ",{v}");
        }
        let _ = writeln!(
            s,
            ",{},{},{},{}",
            e.score.loss, e.score.passing, e.score.scored, improved
        );
    }
    write_atomic(path, |w| w.write_all(s.as_bytes())).map_err(write_err(path))
}

/// `best.toml`: the values to paste into the model, the score they achieve and
/// the facts table at those values.
pub fn write_best(path: &Path, cal: &Calibration, file: &FactFile) -> Result<(), CalibrateError> {
    let best = cal.best();
    let start = cal.start();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# resloop calibrate: the best values found for `{}` against {}.\n\
         # Paste each `value` into the model's [parameters.NAME] table, and say in the\n\
         # parameter's note that it was calibrated (the command is in manifest.json).\n",
        file.model.meta.name,
        file.path.display()
    );
    let _ = writeln!(s, "[calibration]");
    let _ = writeln!(
        s,
        "model = {}",
        toml_str(&file.model_path.to_string_lossy())
    );
    let _ = writeln!(s, "facts = {}", toml_str(&file.path.to_string_lossy()));
    let _ = writeln!(s, "loss = {}", toml_float(best.score.loss));
    let _ = writeln!(s, "facts_passing = {}", best.score.passing);
    let _ = writeln!(s, "facts_scored = {}", best.score.scored);
    let _ = writeln!(s, "start_loss = {}", toml_float(start.score.loss));
    let _ = writeln!(s, "start_facts_passing = {}", start.score.passing);
    let _ = writeln!(s, "evaluation = {}", best.number);
    let _ = writeln!(s, "evaluations = {}", cal.evaluations.len());
    let _ = writeln!(s, "seed = {}", cal.settings.seed);
    let _ = writeln!(s, "stop = {}", toml_str(cal.stop.describe()));
    for (a, v) in cal.space.axes.iter().zip(&best.values) {
        let _ = writeln!(
            s,
            "\n[parameters.{}]\nvalue = {}  # was {}; bounds [{}, {}], searched on a {} scale",
            a.name,
            toml_float(*v),
            toml_float(a.start),
            a.lo,
            a.hi,
            if a.log { "log" } else { "linear" }
        );
    }
    for (f, o) in file.facts.iter().zip(&best.outcomes) {
        let _ = writeln!(s, "\n[[fact]]");
        let _ = writeln!(s, "id = {}", toml_str(&f.id));
        let _ = writeln!(s, "tolerance = {}", toml_str(&o.tolerance));
        let _ = writeln!(s, "value = {}", toml_str(&o.value_shown()));
        let _ = writeln!(s, "status = {}", toml_str(o.status.label()));
        if let Some(k) = &f.known_failure {
            let _ = writeln!(s, "known_failure = {}", toml_str(k));
        }
        if o.reading.is_none() {
            let _ = writeln!(s, "detail = {}", toml_str(&o.detail));
        }
    }
    write_atomic(path, |w| w.write_all(s.as_bytes())).map_err(write_err(path))
}

/// The score of one evaluation, for the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub evaluation: usize,
    pub values: IndexMap<String, f64>,
    #[serde(flatten)]
    pub score: Score,
}

/// `manifest.json`: what ran, on which files (hashes), how, and how long it took.
pub type Manifest = crate::output::manifest::Manifest<CalibrationRun>;

/// A calibration's settings and result, inside the common envelope (the model and
/// the fact file are its inputs).
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationRun {
    pub params: Vec<Axis>,
    pub seed: u64,
    pub max_evals: usize,
    pub evaluations: usize,
    pub restarts: usize,
    pub stop: Stop,
    pub start: Point,
    pub best: Point,
}

/// The manifest of a finished calibration.
pub fn manifest(cal: &Calibration, file: &FactFile) -> Result<Manifest, CalibrateError> {
    let facts = FileRef::read("facts", &file.path).map_err(|source| CalibrateError::Write {
        path: file.path.clone(),
        source,
    })?;
    let point = |i: usize| {
        let e = &cal.evaluations[i];
        Point {
            evaluation: e.number,
            values: cal
                .space
                .axes
                .iter()
                .map(|a| a.name.clone())
                .zip(e.values.iter().copied())
                .collect(),
            score: e.score,
        }
    };
    let mut model = model_ref(&file.model);
    model.path = file.model_path.to_string_lossy().into_owned();
    let run = CalibrationRun {
        params: cal.space.axes.clone(),
        seed: cal.settings.seed,
        max_evals: cal.settings.max_evals,
        evaluations: cal.evaluations.len(),
        restarts: cal.restarts,
        stop: cal.stop,
        start: point(0),
        best: point(cal.best),
    };
    Ok(Manifest::new(
        vec![model, facts],
        run,
        Some(cal.seconds),
        Vec::new(),
    ))
}

pub fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), CalibrateError> {
    write_json(path, manifest).map_err(write_err(path))
}
