//! Parameter sweeps: designs, a parallel resumable runner, sharding and merging.
//!
//! The runner is generic over an [`Evaluator`]: anything that turns a point (and a
//! seed) into named metrics. The model evaluator that simulates a model under a
//! schedule plugs in here; this layer knows nothing about models.
//!
//! A sweep directory holds `runs.csv` (see [`runs`]) and `manifest.json` (see
//! [`manifest`]); `docs/sweep-format.md` describes both.

pub mod design;
pub mod error;
pub mod manifest;
pub mod merge;
pub mod runner;
pub mod runs;
pub mod seed;
pub mod shard;
pub mod spec;
mod writer;

pub use design::{Design, Layout, Point};
pub use error::SweepError;
pub use manifest::{Manifest, SweepStatus};
pub use merge::{merge, MergeSummary};
pub use runner::{point_seed, run_sweep, Evaluator, RunOptions, SweepSummary};
pub use runs::{Outcome, RunRow, RunsHeader};
pub use shard::Shard;
pub use spec::{DesignSpec, ParameterSpec, Scale, SweepSpec};
