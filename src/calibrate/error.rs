//! What can stop a calibration before it starts (or its outputs from being written).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("{model}: no parameter `{name}` to calibrate{hint}")]
    UnknownParam {
        model: PathBuf,
        name: String,
        /// ` (did you mean `x`?)` or empty.
        hint: String,
    },
    #[error("{model}: parameter `{name}` is {provenance}, not `assumed`: only assumed parameters are calibrated (a seed or literature value comes from a paper)")]
    NotAssumed {
        model: PathBuf,
        name: String,
        provenance: String,
    },
    #[error("{model}: parameter `{name}` has no `bounds`; give `bounds = [lo, hi]` in [parameters.{name}] to say where the search may look")]
    NoBounds { model: PathBuf, name: String },
    #[error(
        "{model}: parameter `{name}` has bounds [{lo}, {hi}] with nothing between them to search"
    )]
    EmptyBounds {
        model: PathBuf,
        name: String,
        lo: f64,
        hi: f64,
    },
    #[error("parameter `{0}` is named twice in --params")]
    Duplicate(String),
    #[error("no parameters to calibrate: give --params p1,p2,...")]
    NoParams,
    #[error(
        "{facts}: every calibration fact is marked `known_failure`; there is nothing to calibrate against"
    )]
    NoTargets { facts: PathBuf },
    #[error("{facts}: {count} prediction fact(s) ({first}, ...): calibration never uses predictions; run it on FactFile::calibration_targets()")]
    Predictions {
        facts: PathBuf,
        count: usize,
        first: String,
    },
    #[error("--max-evals {given} is too small: {n} parameter(s) need at least {need} evaluations (one simplex and one step)")]
    TooFewEvals { given: usize, n: usize, need: usize },
    #[error("the optimiser failed: {0}")]
    Optimiser(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
