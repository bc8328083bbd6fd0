//! Compile a model file into a checked, index-based [`CompiledModel`].
//!
//! Every name is resolved once here; every value is checked (finite, non-negative
//! initial values, bounds that contain the value, probabilities in [0, 1]); each
//! error cites the file, line, column and field. After this layer nothing looks a
//! name up again.

mod bind;
mod build;
mod summary;
mod types;

pub use bind::{
    lineage_params, BindError, BoundGenotype, BoundModel, Evaluation, Inliner, MAX_JACOBIAN_NODES,
};
pub use build::{compile, compile_file, compile_str};
pub use types::*;
