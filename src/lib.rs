//! resloop: simulate how cancer cells become resistant to a targeted drug through a
//! molecular feedback loop, and how a second drug that breaks the loop restores
//! sensitivity.
//!
//! Layers, with one direction of dependency (see `DESIGN.md`):
//! `model` (serde data) -> `expr` (parse, resolve, evaluate) -> `compile` (checked
//! indices) -> `pkpd` (exposure, effect) -> `engine` (ODE; later agent-based) ->
//! `output` (CSV, JSON manifest, plots). The binary's `cli` is a thin layer on top.

pub mod abm;
pub mod assay;
pub mod calibrate;
pub mod compile;
pub mod engine;
pub mod experiment;
pub mod expr;
pub mod facts;
pub mod fit;
pub mod limits;
pub mod model;
pub mod output;
pub mod pkpd;
pub mod plate;
pub mod sbml;
pub mod schedule;
pub mod sensitivity;
pub mod sweep;
pub mod synergy;
pub mod therapy;
pub mod units;
