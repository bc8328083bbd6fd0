//! SBML export: a resloop model under a run (parameter values, cells, doses) as
//! SBML Level 3 Version 2 core, for libRoadRunner, COPASI and tellurium.
//!
//! What is written is the ODE that resloop's deterministic (mean-field) engine
//! integrates: per genotype the loop of a representative cell and its number of
//! cells, the drugs' concentrations with their kinetics, the drug effects, and
//! the doses as events (see [`build`] for the mapping). Every species is an SBML
//! species with `hasOnlySubstanceUnits="true"` in one compartment of size 1, so
//! its id means its value, as in resloop. A plain ODE model (no fate map) has no
//! cells, and a plain model without drugs or doses is exactly its species,
//! parameters, observables and events. Importing the file gives back a plain ODE
//! model with the same trajectory.
//!
//! Ids, names, units (SBML unit definitions where the unit text has an SI meaning,
//! see [`units`]), provenance, bounds and notes are kept in each element's
//! `name`, `units`, `<notes>` and a `<resloop:...>` annotation
//! ([`write::ANNOTATION_NS`]).
//!
//! Beside `model` in the layers: it reads a compiled model and takes doses as
//! `pkpd::DoseEvent` data (expanded by the caller).

mod build;
mod document;
mod units;
pub mod write;

use crate::compile::CompiledModel;
use crate::pkpd::DoseEvent;

/// Why a model cannot be exported under a run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error("the run gives {found} parameter values; the model has {expected} parameters")]
    Params { expected: usize, found: usize },
    #[error("dose {dose}: expected a model drug, a time >= 0 and an amount >= 0 (mg/kg only for a drug with in vivo pharmacokinetics)")]
    Dose { dose: String },
}

/// What to export besides the model: the run whose trajectory the file reproduces.
#[derive(Debug, Clone)]
pub struct Run {
    /// Parameter values (the model's, with any changes), in the model's order.
    pub params: Vec<f64>,
    /// Cells at t = 0 (models with cells), split by the genotypes' initial fractions.
    pub cells: f64,
    /// Doses, times in the model's time unit.
    pub doses: Vec<DoseEvent>,
    /// How the run was asked for (e.g. `("doses", "tki=1uM@72h")`), kept in the
    /// model's notes and annotation; keys are XML names.
    pub given: Vec<(&'static str, String)>,
}

impl Run {
    /// The model as it is: its parameter values and initial cells, no doses.
    pub fn of(m: &CompiledModel) -> Run {
        Run {
            params: m.param_values(),
            cells: m.initial_cells,
            doses: Vec::new(),
            given: Vec::new(),
        }
    }
}

/// Where one column of resloop's timeline is in the SBML file.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnId {
    /// Genotype name, `total` or `exposure`, as in the timeline.
    pub population: String,
    pub variable: String,
    /// The SBML id that holds it.
    pub id: String,
}

/// An exported model.
#[derive(Debug, Clone)]
pub struct Exported {
    pub xml: String,
    /// Every column of the timeline of `resloop simulate` (in its order) and the
    /// SBML id of the same quantity.
    pub columns: Vec<ColumnId>,
}

/// The model under `run` as SBML L3V2.
pub fn export(m: &CompiledModel, run: &Run) -> Result<Exported, ExportError> {
    let (doc, columns) = build::build(m, run)?;
    Ok(Exported {
        xml: write::write(&doc),
        columns,
    })
}
