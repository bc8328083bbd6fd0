//! Agent-based ensembles and the `resloop abm` command, on the agent-based engine
//! ([`crate::engine::agent`]).
//!
//! - [`ensemble`]: replicates in parallel with thread-independent output, bands, time to
//!   resistance, lineage attribution.
//! - [`output`]: CSV writers and plots.
//! - [`run`]: the experiment runner behind `resloop abm` (request in, files out; a
//!   schedule runs through the therapy driver on
//!   [`crate::engine::agent::AgentEngine`]).
//!
//! The engine's items are re-exported here, so `resloop::abm::Simulation` and
//! `resloop::engine::agent::Simulation` name the same type. See `docs/abm.md` for the
//! method, its error terms and measured performance.

pub mod ensemble;
pub mod output;
pub mod run;

pub use crate::engine::agent::{
    bytes_per_cell, AbmError, AbmOptions, CellModel, CellSnapshot, CloneInfo, CloneSizes,
    CompiledCells, ConstantExposure, ConstantRates, Exposure, FnExposure, Founders, Integrator,
    LoopIntegration, NoProgress, NoiseSpec, Passage, PassageEvent, Progress, Record,
    ReplicateEvent, ReplicateResult, Simulation, StateError, States, StatesMut, StepContext,
    StopReason,
};
pub use ensemble::{
    run_ensemble, run_replicate, Band, Ensemble, EnsembleConfig, Origin, ReplicateSummary,
    ResistanceCriterion, Variable,
};
