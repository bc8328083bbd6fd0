//! The model file's shape, as serde reads it. Every table denies unknown keys.
//! Named tables (`[species.AXL]`) keep document order and their key's location.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// A name with its location in the file.
pub type Name = Spanned<String>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub model: ModelMeta,
    #[serde(default)]
    pub species: IndexMap<Name, SpeciesDef>,
    #[serde(default)]
    pub parameters: IndexMap<Name, ParamDef>,
    #[serde(default)]
    pub drugs: IndexMap<Name, DrugDef>,
    #[serde(default)]
    pub observables: IndexMap<Name, ObservableDef>,
    /// How the loop sets division and death; absent: a plain ODE model (no cells).
    #[serde(default)]
    pub fate: Option<FateDef>,
    #[serde(default)]
    pub genotypes: IndexMap<Name, GenotypeDef>,
    /// Discontinuities in the state: when a condition becomes true, set species.
    #[serde(default)]
    pub events: IndexMap<Name, EventDef>,
    #[serde(default)]
    pub heterogeneity: Option<HeterogeneityDef>,
    #[serde(default)]
    pub scenario: Option<ScenarioDef>,
}

/// The model's default scenario, which `resloop demo` runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDef {
    /// Run length in days.
    pub days: Spanned<f64>,
    /// Dose specs in the command line's `DRUG=AMOUNT@EVERY[xCOUNT]` form.
    #[serde(default)]
    pub doses: Vec<Spanned<String>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Seconds: SBML's default time unit (imported models).
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    /// Length of one unit in hours.
    pub fn hours(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0 / 3600.0,
            TimeUnit::Minutes => 1.0 / 60.0,
            TimeUnit::Hours => 1.0,
            TimeUnit::Days => 24.0,
        }
    }
    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "min",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    pub name: Spanned<String>,
    pub title: String,
    pub time_unit: TimeUnit,
    pub description: String,
    #[serde(default)]
    pub source: String,
    /// Name of the founding genotype (default `parental`).
    #[serde(default)]
    pub base_genotype: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeciesDef {
    pub initial: Spanned<f64>,
    pub unit: String,
    pub description: String,
    /// The rate expression d/dt, per model time unit.
    pub rate: Spanned<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// The number comes from the study the model reproduces.
    Seed,
    /// The number comes from another publication (give the reference in `note`).
    Literature,
    /// Chosen or calibrated by us (say to what in `note`).
    Assumed,
}

impl Provenance {
    pub fn label(self) -> &'static str {
        match self {
            Provenance::Seed => "seed",
            Provenance::Literature => "literature",
            Provenance::Assumed => "assumed",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    pub value: Spanned<f64>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub bounds: Option<Spanned<[f64; 2]>>,
    #[serde(default)]
    pub provenance: Option<Provenance>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A number, or the name of a parameter (so genotypes and sweeps can change it).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NumOrParam {
    Num(f64),
    /// (untagged enums cannot carry spans; errors point at the effect's key)
    Param(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrugDef {
    pub unit: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// What the drug targets (documentation).
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub in_vitro: Option<InVitroDef>,
    #[serde(default)]
    pub in_vivo: Option<InVivoDef>,
    #[serde(default)]
    pub effects: IndexMap<Name, EffectDef>,
}

/// In vitro exposure: the medium is set to the dosed concentration at each refresh.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InVitroDef {
    /// Half-life of the drug in culture medium (model time unit); absent = stable.
    #[serde(default)]
    pub medium_half_life: Option<Spanned<f64>>,
}

/// In vivo exposure: one compartment, first-order elimination, bolus doses in mg/kg.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InVivoDef {
    /// Elimination half-life (model time unit).
    pub half_life: Spanned<f64>,
    /// Volume of distribution (L/kg).
    pub volume: Spanned<f64>,
    /// Molecular weight (g/mol); needed when the drug's unit is molar.
    #[serde(default)]
    pub molecular_weight: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectMode {
    /// Effect E = Emax hill(C, IC50, h); a scaled parameter becomes p (1 - E).
    #[default]
    Inhibit,
    /// Effect E = Emax hill(C, EC50, h); a scaled parameter becomes p (1 + E).
    Activate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectDef {
    /// Half-maximal concentration, in the drug's unit (number or parameter name).
    pub ic50: NumOrParam,
    #[serde(default)]
    pub emax: Option<NumOrParam>,
    #[serde(default)]
    pub hill: Option<NumOrParam>,
    #[serde(default)]
    pub mode: EffectMode,
    /// Parameter this effect scales wherever it appears; absent = the effect is used
    /// by name in expressions.
    #[serde(default)]
    pub scales: Option<Spanned<String>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservableDef {
    pub expr: Spanned<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FateDef {
    /// Division rate per cell per model time unit.
    pub division: Spanned<String>,
    /// Death rate per cell per model time unit.
    pub death: Spanned<String>,
    /// Cells at the start of a run (default 1e6).
    #[serde(default)]
    pub initial_cells: Option<Spanned<f64>>,
    /// Optional carrying capacity (cells): division is scaled by (1 - N/K).
    #[serde(default)]
    pub carrying_capacity: Option<Spanned<f64>>,
    /// Fraction of a genotype's injected cells that form a tumour in a host, from
    /// their loop state (in vivo schedules; default: every cell takes).
    #[serde(default)]
    pub take: Option<Spanned<String>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenotypeDef {
    /// Genotype it arises from (default: the base genotype).
    #[serde(default)]
    pub parent: Option<Spanned<String>>,
    /// Probability per division of a parent cell that one daughter is this genotype.
    pub mutation_probability: Spanned<f64>,
    /// Fraction of the initial population already carrying it (default 0).
    #[serde(default)]
    pub initial_fraction: Option<Spanned<f64>>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub overrides: IndexMap<Name, Spanned<f64>>,
}

/// Cell-to-cell variation for the agent-based engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeterogeneityDef {
    /// Multiplicative (chemical-Langevin-style) noise amplitude on species, per
    /// sqrt(model time unit).
    #[serde(default)]
    pub species_noise: Option<Spanned<f64>>,
    /// Coefficient of variation of the split of species between daughters.
    #[serde(default)]
    pub partition_cv: Option<Spanned<f64>>,
}

/// An event: when `trigger` goes from false (0) to true (non-zero), the species in
/// `assign` are set to the values of their expressions (all computed from the state
/// just before the event).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDef {
    /// A condition on species, observables, drugs and `t`, e.g. `"A < 0.1 && t > 5"`.
    pub trigger: Spanned<String>,
    /// `SPECIES = "expression"` pairs.
    pub assign: IndexMap<Name, Spanned<String>>,
    /// The trigger's value just before the start (default true: a trigger already
    /// true at the start does not fire; false: it fires at the start).
    #[serde(default)]
    pub initial_value: Option<bool>,
    /// Whether a trigger that turns false while an event waits behind others of
    /// higher priority at the same instant still fires (default true).
    #[serde(default)]
    pub persistent: Option<bool>,
    /// Among events due at the same instant, higher priorities fire first (an
    /// expression, evaluated again after each event fires; default: after every
    /// event with a priority, in file order). Equal priorities fire in an order
    /// drawn from a fixed-seed random stream (the same in every run).
    #[serde(default)]
    pub priority: Option<Spanned<String>>,
    /// Time from the trigger to the assignments (an expression evaluated when the
    /// trigger fires; default 0).
    #[serde(default)]
    pub delay: Option<Spanned<String>>,
    /// Whether the values are computed when the trigger fires (default true; with
    /// several events at one instant, before any of them fires) or when this one
    /// executes (after its delay, or after the events of higher priority).
    #[serde(default)]
    pub use_values_from_trigger_time: Option<bool>,
    #[serde(default)]
    pub description: String,
}
