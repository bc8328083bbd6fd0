//! Model files: the serde data a `models/*.toml` file holds, and where each piece of
//! it sits in the file (so every later error can cite file, line and column).
//!
//! This layer only reads and checks the shape of the file; names inside expressions
//! are resolved by [`crate::compile`]. Unknown keys are errors.

mod load;
mod raw;
mod source;

pub use load::{load_file, load_str, parse_toml, ModelError, ModelErrorKind};
pub use raw::*;
pub use source::{Located, SourceText};

/// Is this path a model file? Models are `*.toml`; the fact files beside them
/// (`*.facts.toml`) and the folders of schedules and sweeps are not models.
pub fn is_model_file(path: &std::path::Path) -> bool {
    path.is_file()
        && path.extension().is_some_and(|x| x == "toml")
        && !path.to_string_lossy().ends_with(".facts.toml")
}
