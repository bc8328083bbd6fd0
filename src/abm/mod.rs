//! Agent-based (stochastic cell population) engine, generic over the cell model.
//!
//! - [`model`]: the [`CellModel`] trait a loop implements, the [`Exposure`] trait a
//!   schedule implements, and [`ConstantRates`], the linear birth-death(-mutation) model.
//! - [`engine`]: one replicate ([`Simulation`]): cells in struct-of-arrays, exact-in-step
//!   birth-death sampling, mutation at division, noise, lumping of large clones into
//!   counts (clone-level tau-leaping), passaging and carrying capacity.
//! - [`ensemble`]: replicates in parallel with thread-independent output, bands, time to
//!   resistance, lineage attribution.
//! - `fates`: Kendall's step law and the vectorised fate draw of a block of cells.
//! - [`compiled`]: [`CompiledCells`], the cell model of any compiled model file.
//! - [`dosing`]: [`DoseExposure`], drug exposure from dose events.
//! - [`output`]: CSV writers and plots.
//! - [`as_engine`]: a replicate behind the [`crate::engine::Engine`] trait, so the one
//!   therapy driver (`crate::therapy`) runs schedules on it.
//! - [`run`]: the experiment runner behind `resloop abm` (request in, files out; a
//!   schedule runs through the therapy driver on [`as_engine::AgentEngine`]).
//!
//! See `docs/abm.md` for the method, its error terms and measured performance.

pub mod as_engine;
pub mod compiled;
pub mod dosing;
pub mod engine;
pub mod ensemble;
pub mod error;
mod fates;
pub mod model;
pub mod output;
pub mod rng;
pub mod run;

pub use compiled::{CompiledCells, Integrator, LoopIntegration};
pub use dosing::DoseExposure;
pub use engine::{
    bytes_per_cell, AbmOptions, CellSnapshot, CloneInfo, CloneSizes, Founders, NoProgress, Passage,
    PassageEvent, Progress, Record, ReplicateEvent, ReplicateResult, Simulation, StopReason,
};
pub use ensemble::{
    run_ensemble, run_replicate, Band, Ensemble, EnsembleConfig, Origin, ReplicateSummary,
    ResistanceCriterion, Variable,
};
pub use error::AbmError;
pub use model::{
    CellModel, ConstantExposure, ConstantRates, Exposure, FnExposure, NoiseSpec, StateError,
    States, StatesMut, StepContext,
};
