//! Parameter sweeps: designs, a parallel resumable runner, sharding and merging.
//!
//! The runner is generic over an [`Evaluator`]: anything that turns a point (and a
//! seed) into named metrics. A model sweep file ([`file`]) names a model, a schedule
//! and metrics; loading it gives a [`ModelEvaluator`] that simulates the model at each
//! point ([`model_evaluator`]) and summarises the run ([`metrics`]).
//!
//! A sweep directory holds `runs.csv` (see [`runs`]) and `manifest.json` (see
//! [`manifest`]); `docs/sweep-format.md` describes both.

pub mod design;
pub mod error;
pub mod file;
pub mod manifest;
pub mod merge;
pub mod metrics;
pub mod model_evaluator;
pub mod runner;
pub mod runs;
pub mod seed;
pub mod shard;
pub mod spec;
pub mod synergy_metric;
mod writer;

pub use design::{Design, Layout, Point};
pub use error::SweepError;
pub use file::{load_model_sweep, load_model_sweep_str, LoadOptions, ModelSweep};
pub use manifest::{InputFile, Manifest, SweepStatus};
pub use merge::{merge, MergeSummary};
pub use metrics::{ColumnRef, Metric};
pub use model_evaluator::{ModelEvaluator, Target};
pub use runner::{point_seed, run_sweep, Evaluator, RunOptions, SweepSummary};
pub use runs::{Outcome, RunRow, RunsHeader};
pub use shard::Shard;
pub use spec::{DesignSpec, ParameterSpec, Scale, SweepSpec};
