//! The compiled model's tables.

use serde::Serialize;

use crate::expr::Expr;
use crate::model::{EffectMode, Provenance, TimeUnit};
use crate::units::ConcUnit;

#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub name: String,
    pub title: String,
    pub time_unit: TimeUnit,
    pub description: String,
    pub source: String,
    /// The file it came from.
    pub path: String,
    /// SHA-256 of the file's bytes (hex), for manifests.
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Species {
    pub name: String,
    pub unit: String,
    pub description: String,
    pub initial: f64,
    pub rate: Expr,
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: String,
    pub value: f64,
    pub unit: Option<String>,
    pub bounds: Option<[f64; 2]>,
    pub provenance: Option<Provenance>,
    pub note: Option<String>,
}

/// One-compartment pharmacokinetics for mg/kg dosing.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Pk {
    /// Elimination half-life (model time unit).
    pub half_life: f64,
    /// Volume of distribution (L/kg).
    pub volume: f64,
    /// Molecular weight (g/mol).
    pub molecular_weight: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Drug {
    pub name: String,
    pub unit: ConcUnit,
    pub description: String,
    pub target: String,
    /// Half-life in culture medium (model time unit); `None` = stable.
    pub medium_half_life: Option<f64>,
    pub in_vivo: Option<Pk>,
}

/// A drug effect: `E = emax * hill(C, ic50, hill)`; `emax`, `ic50` and `hill` are
/// expressions of parameters only (a number or a parameter name in the file).
#[derive(Debug, Clone)]
pub struct Effect {
    pub name: String,
    pub drug: usize,
    pub ic50: Expr,
    pub emax: Expr,
    pub hill: Expr,
    pub mode: EffectMode,
    /// The parameter this effect scales wherever it is used.
    pub scales: Option<usize>,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Observable {
    pub name: String,
    pub unit: Option<String>,
    pub description: String,
    pub expr: Expr,
}

/// An event: when `trigger` goes from 0 to non-zero, set species (see
/// [`crate::model::EventDef`]).
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub trigger: Expr,
    /// (species index, new value), every value computed before any is set.
    pub assignments: Vec<(usize, Expr)>,
    pub initial_value: bool,
    pub persistent: bool,
    pub priority: Option<Expr>,
    /// Time from trigger to execution (`None`: at once).
    pub delay: Option<Expr>,
    pub use_values_from_trigger_time: bool,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Genotype {
    pub name: String,
    /// `None` for the base genotype.
    pub parent: Option<usize>,
    pub mutation_probability: f64,
    pub initial_fraction: f64,
    pub description: String,
    /// (parameter index, value)
    pub overrides: Vec<(usize, f64)>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Heterogeneity {
    pub species_noise: f64,
    pub partition_cv: f64,
}

/// A non-fatal finding of `check` (fatal under `--strict`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub at: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub meta: Meta,
    pub species: Vec<Species>,
    pub params: Vec<Param>,
    pub drugs: Vec<Drug>,
    pub effects: Vec<Effect>,
    pub observables: Vec<Observable>,
    /// False for a plain ODE model (no `[fate]`): no cells, division and death 0,
    /// species may be negative, and timelines carry no cell columns.
    pub has_cells: bool,
    pub division: Expr,
    pub death: Expr,
    pub initial_cells: f64,
    pub carrying_capacity: Option<f64>,
    /// `[fate] take`: the fraction of a genotype's injected cells that form a tumour,
    /// from their loop state at injection (`None`: all of them).
    pub take: Option<Expr>,
    /// Index 0 is the base genotype.
    pub genotypes: Vec<Genotype>,
    pub heterogeneity: Heterogeneity,
    /// Events (only in models with one genotype).
    pub events: Vec<Event>,
    pub scenario: Option<Scenario>,
    pub warnings: Vec<Warning>,
}

/// The model's default scenario, its doses read once when the model is compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub days: f64,
    pub doses: Vec<crate::pkpd::DoseSpec>,
    pub description: String,
}

impl CompiledModel {
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }
    pub fn drug_index(&self, name: &str) -> Option<usize> {
        self.drugs.iter().position(|d| d.name == name)
    }
    pub fn species_index(&self, name: &str) -> Option<usize> {
        self.species.iter().position(|s| s.name == name)
    }
    pub fn genotype_index(&self, name: &str) -> Option<usize> {
        self.genotypes.iter().position(|g| g.name == name)
    }
    /// Base parameter values.
    pub fn param_values(&self) -> Vec<f64> {
        self.params.iter().map(|p| p.value).collect()
    }
    pub fn initial_state(&self) -> Vec<f64> {
        self.species.iter().map(|s| s.initial).collect()
    }
    /// Names of parameters, for suggestions.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }
}
