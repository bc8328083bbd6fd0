//! Calibration of a model's `assumed` parameters against its fact file.
//!
//! Parameters marked `assumed` were chosen by us; issue #3 asks for a record of how,
//! and a command that reproduces the choice beats prose. `resloop calibrate` searches
//! the declared `bounds` of the named parameters for values that bring the fact
//! file's facts inside their tolerances, and writes every evaluation, the best
//! values and a manifest. The facts are the only targets: the search knows nothing
//! about any model beyond what the fact file measures.
//!
//! - [`space`]: the search coordinates (log-scaled where the bounds span > 10x,
//!   folded back into the bounds so every evaluation is a legal parameter set);
//! - [`loss`]: squared distance of each fact's value outside its tolerance;
//! - [`search`]: Nelder-Mead (argmin) with seeded simplices and restarts;
//! - [`output`]: calibration.csv, best.toml, manifest.json.

mod error;
pub mod loss;
pub mod output;
pub mod search;
pub mod space;

pub use error::CalibrateError;
pub use loss::{fact_distance, score, Score, UNEVALUABLE_PENALTY};
pub use output::{
    manifest, write_best, write_evaluations, write_manifest, CalibrationRun, Manifest,
};
pub use search::{calibrate, evaluate, Calibration, Evaluation, Settings, Stop};
pub use space::{Axis, Space};
