//! Model facts: what a shipped model claims about its study, as data.
//!
//! A fact file (`models/<model>.facts.toml`, see docs/facts-format.md) declares
//! population states (parental, resistant after a schedule, ...) and facts: a
//! simulated experiment on those states (a fold change, an IC50 shift, a synergy
//! score, a timing) with the study's value and a tolerance. `resloop validate` and
//! the tests run the same definitions, so the table and the tests cannot drift
//! apart. Nothing here knows any model: names are resolved from the files.

mod load;
mod raw;
mod report;
mod run;
mod types;

pub use load::{fact_files, load, parse, KINDS};
pub use report::{write_csv, Table, Tally};
pub use run::{
    crossing, meets, start_point, timeline_series, Bound, FactError, Outcome, Reading, Runner,
    StartPoint, StateResult, Status,
};
pub use types::*;
