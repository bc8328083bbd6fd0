//! Global sensitivity analysis of a finished sweep: Sobol indices for a Saltelli
//! design, Morris measures for a Morris design, and plots (tornado of indices, scatter
//! of each parameter against each metric, heatmap of a two-parameter grid).
//!
//! It reads the sweep's `manifest.json` and `runs.csv`, regenerates the design from
//! the recorded spec (a pure function of spec and seed) to recover its structure, and
//! checks the regenerated design's fingerprint against the manifest before trusting
//! the layout.
//!
//! ## References
//!
//! See [`sobol`] (Saltelli et al. 2010; Jansen 1999) and [`morris`] (Morris 1991;
//! Campolongo et al. 2007).

pub mod morris;
pub mod plot;
mod report;
pub mod sobol;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::output::plot::PlotError;
use crate::sweep::manifest::{runs_path, Manifest, SweepStatus};
use crate::sweep::runs::{read_runs, Outcome, RunRow, RunsHeader};
use crate::sweep::{Design, Layout, SweepError};

pub use morris::{morris_indices, MorrisIndex};
pub use sobol::{sobol_indices, Bootstrap, SaltelliOutputs, SobolIndex};

/// Errors of the sensitivity layer.
#[derive(Debug, thiserror::Error)]
pub enum SensitivityError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(
        "sweep in {dir} is not a complete unsharded sweep ({reason}); finish or merge it first"
    )]
    Incomplete { dir: PathBuf, reason: String },
    #[error("metric `{metric}`: only {usable} usable {unit} (need at least 2) after dropping failed runs")]
    TooFewUsable {
        metric: String,
        usable: usize,
        unit: &'static str,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    RunDir(#[from] crate::output::atomic::RunDirError),
}

/// Settings of an analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensitivityOptions {
    /// Bootstrap resamples for Sobol intervals.
    pub resamples: usize,
    /// Interval coverage.
    pub confidence: f64,
    /// Draw PNG and SVG plots.
    pub plots: bool,
}

impl Default for SensitivityOptions {
    fn default() -> Self {
        SensitivityOptions {
            resamples: 1000,
            confidence: 0.95,
            plots: true,
        }
    }
}

/// One index value in long format (one row of `indices.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexRow {
    pub metric: String,
    pub parameter: String,
    /// `S1`, `ST` (Sobol) or `mu`, `mu_star`, `sigma` (Morris).
    pub index: &'static str,
    pub value: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Base samples (Sobol) or trajectories (Morris) used.
    pub used: usize,
}

/// What an analysis computed and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityReport {
    /// `sobol`, `morris`, or `none` for designs without an index method (plots only).
    pub method: &'static str,
    pub indices: Vec<IndexRow>,
    /// Time-to-event metrics with censored runs, analysed through their `_reached`
    /// indicator instead: (metric, censored runs, runs).
    pub censored: Vec<(String, usize, usize)>,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
}

/// Analyse the finished sweep in `dir` with default options; outputs go to
/// `dir/sensitivity/`.
pub fn sensitivity(dir: &Path) -> Result<SensitivityReport, SensitivityError> {
    sensitivity_with(dir, &SensitivityOptions::default())
}

/// A finished sweep's data, ready for analysis.
pub struct SweepData {
    pub manifest: Manifest,
    pub design: Design,
    pub rows: Vec<RunRow>,
}

impl SweepData {
    /// Read and check a complete, unsharded sweep directory.
    pub fn load(dir: &Path) -> Result<SweepData, SensitivityError> {
        let manifest = Manifest::read(dir)?;
        let incomplete = |reason: String| SensitivityError::Incomplete {
            dir: dir.to_path_buf(),
            reason,
        };
        if manifest.status != SweepStatus::Complete
            || manifest.slice_point_count != manifest.point_count
        {
            return Err(incomplete(format!(
                "status {:?}, {} of {} points",
                manifest.status, manifest.slice_point_count, manifest.point_count
            )));
        }
        let design = Design::generate(&manifest.spec)?;
        if design.fingerprint() != manifest.design_fingerprint {
            return Err(incomplete(
                "the regenerated design differs from the recorded one".into(),
            ));
        }
        let header = RunsHeader {
            parameters: manifest.parameters.clone(),
            metrics: manifest.metrics.clone(),
        };
        let rows = read_runs(&runs_path(dir), &header, false)?;
        if rows.len() != design.points.len()
            || rows.iter().enumerate().any(|(i, r)| r.id != i as u64)
        {
            return Err(incomplete(
                "runs.csv does not hold every point once in id order".into(),
            ));
        }
        Ok(SweepData {
            manifest,
            design,
            rows,
        })
    }

    /// Values of metric `m` in id order; failed runs give NaN.
    pub fn metric(&self, m: usize) -> Vec<f64> {
        self.rows
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Ok(v) => v[m],
                Outcome::Failed(_) => f64::NAN,
            })
            .collect()
    }
}

/// Analyse the finished sweep in `dir`: indices (for Saltelli and Morris designs) to
/// `sensitivity/indices.csv` and `indices.json`, and plots to `sensitivity/plots/`.
///
/// `sensitivity/` is complete or absent: it is written into a temporary sibling and
/// renamed into place last, replacing an earlier analysis of the same sweep.
pub fn sensitivity_with(
    dir: &Path,
    options: &SensitivityOptions,
) -> Result<SensitivityReport, SensitivityError> {
    let data = SweepData::load(dir)?;
    let (method, indices) = compute_indices(&data, options)?;
    let run = crate::output::atomic::RunDir::begin(&dir.join("sensitivity"), true)?;
    let tmp = run.path().to_path_buf();
    let mut files = Vec::new();
    if method != "none" {
        files.extend(report::write_indices(&tmp, method, &indices, options)?);
    }
    if options.plots {
        files.extend(plot::draw_all(&tmp.join("plots"), &data, method, &indices)?);
    }
    let out = run.finish()?;
    let files = files
        .into_iter()
        .map(|f| match f.strip_prefix(&tmp) {
            Ok(rel) => out.join(rel),
            Err(_) => f,
        })
        .collect();
    let censored = data
        .manifest
        .metrics
        .iter()
        .enumerate()
        .map(|(m, name)| {
            (
                name.clone(),
                censored_runs(&data, name),
                data.metric(m).len(),
            )
        })
        .filter(|c| c.1 > 0)
        .collect();
    Ok(SensitivityReport {
        method,
        indices,
        censored,
        files,
    })
}

/// Indices of every metric for the design's method.
pub fn compute_indices(
    data: &SweepData,
    options: &SensitivityOptions,
) -> Result<(&'static str, Vec<IndexRow>), SensitivityError> {
    let names = &data.design.names;
    let d = names.len();
    let mut rows = Vec::new();
    let method = match &data.design.layout {
        Layout::Saltelli { .. } => "sobol",
        Layout::Morris { .. } => "morris",
        Layout::Plain | Layout::Grid { .. } => "none",
    };
    for (m, metric) in data.manifest.metrics.iter().enumerate() {
        let y = data.metric(m);
        if censored_runs(data, metric) > 0 {
            // Its censored values are run lengths, not event times: the companion
            // indicator `<metric>_reached` (P(event by the end)) is analysed instead.
            continue;
        }
        let mut push =
            |i: usize, index: &'static str, value: f64, ci: Option<(f64, f64)>, used: usize| {
                rows.push(IndexRow {
                    metric: metric.clone(),
                    parameter: names[i].clone(),
                    index,
                    value,
                    ci_low: ci.map(|c| c.0),
                    ci_high: ci.map(|c| c.1),
                    used,
                })
            };
        match &data.design.layout {
            Layout::Saltelli { .. } => {
                let o = SaltelliOutputs::from_design_order(&y, d);
                enough(metric, o.len(), "base samples")?;
                let boot = Bootstrap {
                    resamples: options.resamples,
                    confidence: options.confidence,
                    seed: data.manifest.seed,
                };
                for (i, s) in sobol_indices(&o, d, &boot).iter().enumerate() {
                    push(i, "S1", s.s1, s.s1_ci, o.len());
                    push(i, "ST", s.st, s.st_ci, o.len());
                }
            }
            Layout::Morris { steps, .. } => {
                for (i, s) in morris_indices(&y, steps, d).iter().enumerate() {
                    enough(metric, s.trajectories, "trajectories")?;
                    push(i, "mu", s.mu, None, s.trajectories);
                    push(i, "mu_star", s.mu_star, None, s.trajectories);
                    push(i, "sigma", s.sigma, None, s.trajectories);
                }
            }
            Layout::Plain | Layout::Grid { .. } => {}
        }
    }
    Ok((method, rows))
}

/// Runs whose value of time-to-event `metric` is censored (its `_reached` column is
/// 0); 0 for metrics without such a column.
pub fn censored_runs(data: &SweepData, metric: &str) -> usize {
    let flag = format!("{metric}{}", crate::sweep::metrics::REACHED_SUFFIX);
    match data.manifest.metrics.iter().position(|m| *m == flag) {
        Some(k) => data.metric(k).iter().filter(|&&v| v == 0.0).count(),
        None => 0,
    }
}

/// Refuse an estimate from fewer than two usable units.
fn enough(metric: &str, usable: usize, unit: &'static str) -> Result<(), SensitivityError> {
    if usable < 2 {
        return Err(SensitivityError::TooFewUsable {
            metric: metric.to_string(),
            usable,
            unit,
        });
    }
    Ok(())
}
