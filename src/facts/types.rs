//! A checked fact file: names resolved to indices, amounts in the drugs' units,
//! durations in the model's time unit.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::compile::CompiledModel;

#[derive(Debug, Clone)]
pub struct FactFile {
    pub path: PathBuf,
    pub model_path: PathBuf,
    pub description: String,
    pub model: CompiledModel,
    pub states: IndexMap<String, StateSpec>,
    pub facts: Vec<Fact>,
    /// Quantities written as expressions, indexed by [`Quantity::Expression`].
    pub expressions: Vec<QuantityExpr>,
}

/// A quantity written as an expression of species, observables and parameters
/// (`HEY2 / HEY1`, `1 - CDH1`): the library's expression language, resolved once.
#[derive(Debug, Clone)]
pub struct QuantityExpr {
    pub text: String,
    pub expr: crate::expr::Expr,
}

/// How a named population snapshot is made.
#[derive(Debug, Clone)]
pub struct StateSpec {
    pub name: String,
    pub description: String,
    pub from: Option<String>,
    pub equilibrate: f64,
    pub schedule: Option<PathBuf>,
    /// Parameter overrides (index, value), kept by everything measured on the state.
    pub set: Vec<(usize, f64)>,
    pub washout: f64,
}

/// How a state is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub state: String,
    /// Concentration of every model drug (its unit), held constant.
    pub drugs: Vec<f64>,
    pub set: Vec<(usize, f64)>,
    /// `None`: the kind's default.
    pub duration: Option<f64>,
}

/// What a fact reads from a population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantity {
    /// Species `i` (i < n_species) or observable `i - n_species`, cell-weighted.
    Variable(usize),
    /// Cells at the end relative to the start.
    Cells,
    /// Net growth rate over the duration, per day.
    GrowthRate,
    /// Cell-weighted division rate, per day.
    DivisionRate,
    /// Cell-weighted death rate, per day.
    DeathRate,
    /// Tumour volume (mm^3) along an in vivo schedule's timeline.
    TumourVolume,
    /// Expression `k` of the file ([`FactFile::expressions`]), evaluated on the
    /// cell-weighted species and observables (and the state's parameters).
    Expression(usize),
}

impl Quantity {
    /// Needs a condition that runs for a while (not a snapshot reading).
    pub fn needs_time(self) -> bool {
        matches!(self, Quantity::Cells | Quantity::GrowthRate)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Bliss,
    Hsa,
    Ci,
}

#[derive(Debug, Clone)]
pub enum Measure {
    Ratio {
        quantity: Quantity,
        test: Condition,
        control: Condition,
    },
    Value {
        quantity: Quantity,
        test: Condition,
    },
    Ic50 {
        drug: usize,
        test: Condition,
        range: Option<(f64, f64)>,
    },
    Ic50Ratio {
        drug: usize,
        test: Condition,
        control: Condition,
        range: Option<(f64, f64)>,
    },
    InhibitionRatio {
        drugs: Vec<f64>,
        test: Condition,
        control: Condition,
    },
    Combination {
        test: Condition,
        a: (usize, f64),
        b: (usize, Vec<f64>),
        score: Score,
        range_a: Option<(f64, f64)>,
        range_b: Option<(f64, f64)>,
    },
    TimelineRatio {
        state: String,
        quantity: Quantity,
        at: f64,
        reference_at: f64,
    },
    CrossingTime {
        state: String,
        quantity: Quantity,
        threshold: f64,
        up: bool,
    },
    Window {
        state: String,
        quantity: Quantity,
        from: f64,
        to: f64,
        max: bool,
    },
    EventTime {
        state: String,
        event: String,
    },
    /// A fact the model cannot express yet (a drug or species it lacks); allowed only
    /// for a fact marked `known_failure`, and reported as failing with this reason.
    Inexpressible {
        reason: String,
    },
}

/// Was the fact a target the model was built or calibrated to reach, or a finding
/// written down before the model was fitted to it? `calibrate` uses only the first;
/// the second is what tells whether the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Calibration,
    Prediction,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Calibration => "calibration",
            Role::Prediction => "prediction",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fact {
    pub id: String,
    pub role: Role,
    pub claim: String,
    pub study: String,
    pub measure: Measure,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub known_failure: Option<String>,
}

impl FactFile {
    /// The same file with its prediction facts left out: what `calibrate` may use.
    pub fn calibration_targets(&self) -> FactFile {
        let mut f = self.clone();
        f.facts.retain(|x| x.role == Role::Calibration);
        f
    }
}

impl Fact {
    /// The tolerance as text: `>= 2`, `<= 0.5`, `15 .. 45`.
    pub fn tolerance(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            (Some(a), None) => format!(">= {a}"),
            (None, Some(b)) => format!("<= {b}"),
            (None, None) => "any".into(),
        }
    }
}
