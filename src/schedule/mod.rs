//! Therapy schedules: what is done to the cells, separate from the model so one model
//! runs under many schedules (the format is `docs/schedule-format.md`).
//!
//! [`Schedule::load`] reads a schedule file and checks it against the model it will
//! run (drug names, units for the setting, windows, ladders, rules), with every error
//! citing file, line, column and field. [`DosePlan`] expands a checked schedule into
//! dose events as a run goes (media changes, ladder steps, holidays, in vivo dosing
//! days), holding the parts the run decides (adaptive concentrations, arms that start
//! on resistance).

mod error;
mod fixed;
mod load;
mod plan;
pub mod raw;
mod types;
pub mod values;

pub use error::ScheduleError;
pub use plan::{ladder_level, DosePlan};
pub use types::*;
