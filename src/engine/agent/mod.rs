//! The agent-based engine: every cell carries its own loop state, divides, dies and
//! mutates; generic over the cell model.
//!
//! - [`model`]: the [`CellModel`] trait a loop implements, the [`Exposure`] trait a
//!   schedule implements, and [`ConstantRates`], the linear birth-death(-mutation) model.
//! - [`simulation`]: one replicate ([`Simulation`]): cells in struct-of-arrays,
//!   exact-in-step birth-death sampling, mutation at division, noise, lumping of large
//!   clones into counts (clone-level tau-leaping), passaging and carrying capacity.
//! - `fates`: Kendall's step law and the vectorised fate draw of a block of cells.
//! - [`compiled`]: [`CompiledCells`], the cell model of any compiled model file.
//! - [`rng`]: the counter-derived random streams every stochastic engine uses.
//! - [`as_engine`]: a replicate behind the [`crate::engine::Engine`] trait, so the one
//!   therapy driver (`crate::therapy`) runs schedules on it like on the mean-field and
//!   hybrid engines.
//!
//! Replicates, ensembles, the `abm` command's runner and its outputs are in
//! [`crate::abm`]. See `docs/abm.md` for the method, its error terms and measured
//! performance.

pub mod as_engine;
pub mod compiled;
pub mod error;
mod fates;
pub mod model;
pub mod rng;
pub mod simulation;

pub use as_engine::AgentEngine;
pub use compiled::{CompiledCells, Integrator, LoopIntegration};
pub use error::AbmError;
pub use model::{
    CellModel, ConstantExposure, ConstantRates, Exposure, FnExposure, NoiseSpec, StateError,
    States, StatesMut, StepContext,
};
pub use simulation::{
    bytes_per_cell, AbmOptions, CellSnapshot, CloneInfo, CloneSizes, Founders, NoProgress, Passage,
    PassageEvent, Progress, Record, ReplicateEvent, ReplicateResult, Simulation, StopReason,
};
