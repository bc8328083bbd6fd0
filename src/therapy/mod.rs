//! Therapy runs: a compiled model under a [`Schedule`](crate::schedule::Schedule),
//! with media refreshes, fixed and adaptive escalation, in vivo boluses, holidays,
//! passaging, periodic IC50 readouts by simulated 72 h assays, resistance events and
//! stop conditions (see `docs/therapy.md`).
//!
//! Every run goes through one driver over the [`Engine`](crate::engine::Engine)
//! trait, so the mean-field, hybrid and agent-based engines give the same outputs.
//! [`run_replicates`] runs a stochastic engine's replicates in parallel.
//!
//! The entry point is [`run`]; its [`TherapyResult`] holds the timeline, the events,
//! the IC50 readouts, the what-if [`Summary`] and the final state (usable as the
//! initial state of another run). [`output::write_run`] writes one run's folder,
//! [`compare::write_compare`] the what-if view of several.

pub mod compare;
mod driver;
pub mod ensemble;
pub mod injection;
pub mod output;
pub mod plot;
pub mod rules;
mod types;

pub use driver::{bind, drive, run, run_bound, start};
pub use ensemble::{run_replicates, run_replicates_bound, EnsembleSummary, Outcome};
pub use types::*;
