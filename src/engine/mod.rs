//! Engines: run a bound model through time under dose events, behind one trait.
//!
//! Engines know nothing about any particular loop: they see species, drugs,
//! genotypes and the compiled programs. Every engine implements [`Engine`], so the
//! one therapy driver (`crate::therapy`) runs every schedule on any of them:
//!
//! - [`EngineKind::MeanField`]: the population ODE ([`ode`]); cell counts are expected
//!   values, right for large clones and wrong for small ones.
//! - [`EngineKind::Hybrid`]: the same ODE for large clones, exact random births,
//!   deaths and mutant arrivals for small ones ([`population`]); a clone below one cell
//!   does not exist, so nothing regrows from a fraction of a cell.
//! - [`EngineKind::AgentBased`]: every cell followed ([`agent`], behind the trait as
//!   [`agent::AgentEngine`]); its ensembles and the `abm` command are in `crate::abm`.

pub mod agent;
pub mod ode;
pub mod population;

use serde::Serialize;

use crate::pkpd::{DoseKind, Exposure};
use ode::{SimError, SolverStats};

/// Which engine runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    MeanField,
    Hybrid,
    AgentBased,
}

impl EngineKind {
    pub const NAMES: &'static str = "mean-field, hybrid, agent-based";

    pub fn parse(s: &str) -> Option<EngineKind> {
        match s {
            "mean-field" | "deterministic" | "ode" => Some(EngineKind::MeanField),
            "hybrid" => Some(EngineKind::Hybrid),
            "agent-based" | "abm" => Some(EngineKind::AgentBased),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EngineKind::MeanField => "mean-field",
            EngineKind::Hybrid => "hybrid",
            EngineKind::AgentBased => "agent-based",
        }
    }

    /// Whether runs are random (replicates and a seed matter).
    pub fn is_stochastic(self) -> bool {
        self != EngineKind::MeanField
    }

    /// The default engine of a model: hybrid for a model with genotypes (mutants
    /// arise and die out as whole cells), mean-field otherwise.
    pub fn default_for(model: &crate::compile::CompiledModel) -> EngineKind {
        if model.genotypes.len() > 1 {
            EngineKind::Hybrid
        } else {
            EngineKind::MeanField
        }
    }

    /// The engine a user named (`--engine`), or the model's default when none.
    pub fn chosen(
        name: Option<&str>,
        model: &crate::compile::CompiledModel,
    ) -> Result<EngineKind, String> {
        match name {
            None => Ok(EngineKind::default_for(model)),
            Some(n) => EngineKind::named(n),
        }
    }

    /// The engine called `name` (`--engine`), or a message listing the names.
    pub fn named(name: &str) -> Result<EngineKind, String> {
        EngineKind::parse(name)
            .ok_or_else(|| format!("--engine `{name}`: expected one of {}", EngineKind::NAMES))
    }
}

/// What a watch looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchTarget {
    /// All cells.
    Total,
    /// The cells of one genotype (model order).
    Genotype(usize),
}

/// Stop an advance as soon as `target` holds at least `cells` cells: checked at the
/// event that crosses it (a birth or an arrival in the stochastic part), or at the
/// crossing of the deterministic trajectory, not at readouts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Watch {
    pub target: WatchTarget,
    pub cells: f64,
}

/// Why [`Engine::advance_to`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    /// The requested time was reached.
    Reached,
    /// Watch `i` of the list fired at the engine's current time.
    Watch(usize),
    /// The last cell died, at the engine's current time (stochastic engines only: a
    /// mean-field population never reaches zero). Advancing an extinct population
    /// moves only time and the loop states, and returns `Reached`.
    Extinct,
}

/// Births, deaths and mutant arrivals per genotype since the start of the run: exact
/// counts of random events, expected numbers where the engine does not draw each
/// event (the mean field, the hybrid engine's large clones, the agent-based engine's
/// clones kept as counts).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    pub divisions: Vec<f64>,
    pub deaths: Vec<f64>,
    /// Mutant cells arriving into each genotype from its parent.
    pub arrivals: Vec<f64>,
}

impl Counters {
    pub fn new(n_genotypes: usize) -> Self {
        Counters {
            divisions: vec![0.0; n_genotypes],
            deaths: vec![0.0; n_genotypes],
            arrivals: vec![0.0; n_genotypes],
        }
    }
}

/// A population of cells of a compiled model under drug exposure.
///
/// The state every engine reports is the *population block*: per genotype, the loop
/// state of its cells (the representative cell's for the ODE engines, the mean over
/// the cells for the agent-based one), then its number of cells. Doses and passages
/// are discontinuities applied between advances.
pub trait Engine {
    fn kind(&self) -> EngineKind;
    /// Current time (model time unit).
    fn time(&self) -> f64;
    /// The population block (see the trait docs).
    fn population(&self) -> &[f64];
    /// Entries per genotype in [`Engine::population`]: species then cells.
    fn stride(&self) -> usize;
    /// Cells of every genotype together.
    fn total_cells(&self) -> f64 {
        let s = self.stride();
        self.population().chunks_exact(s).map(|g| g[s - 1]).sum()
    }
    /// The drug exposure in force (closed form between doses).
    fn exposure(&self) -> &Exposure;
    /// Concentrations of every drug now.
    fn concentrations(&self) -> Vec<f64> {
        let mut c = vec![0.0; self.exposure().n_drugs()];
        self.exposure().concentrations(self.time(), &mut c);
        c
    }
    /// Apply a dose now.
    fn apply_dose(&mut self, drug: usize, kind: DoseKind) -> Result<(), SimError>;
    /// Keep each cell with probability `1 / split` (a dish split 1:`split`); the
    /// mean-field engine scales its counts.
    fn passage(&mut self, split: f64) -> Result<(), SimError>;
    /// Advance to `t_end` with no discontinuity in between, or until a watch fires
    /// or no cell is left.
    fn advance_to(&mut self, t_end: f64, watches: &[Watch]) -> Result<Advanced, SimError>;
    /// Births, deaths and arrivals so far (`None` where an engine does not count
    /// them; every engine here does).
    fn counters(&self) -> Option<&Counters>;
    /// Solver work so far.
    fn stats(&self) -> SolverStats;
}
