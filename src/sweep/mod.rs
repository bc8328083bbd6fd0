//! Parameter sweeps: designs, a parallel resumable runner, sharding and merging.
//!
//! The runner is generic over an [`Evaluator`]: anything that turns a point (and a
//! seed) into named metrics. The model evaluator that simulates a model under a
//! schedule plugs in here; this layer knows nothing about models.

pub mod design;
pub mod error;
pub mod seed;
pub mod spec;

pub use design::{Design, Layout, Point};
pub use error::SweepError;
pub use spec::{DesignSpec, ParameterSpec, Scale, SweepSpec};
