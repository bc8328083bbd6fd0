//! The fact file's shape, as serde reads it (see docs/facts-format.md). Every table
//! denies unknown keys; values keep their location for error messages.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFactFile {
    pub facts: RawHeader,
    #[serde(default)]
    pub states: IndexMap<S<String>, S<RawState>>,
    #[serde(default)]
    pub fact: Vec<S<RawFact>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    pub model: S<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    #[serde(default)]
    pub description: String,
    pub from: Option<S<String>>,
    pub equilibrate: Option<S<String>>,
    pub schedule: Option<S<String>>,
    #[serde(default)]
    pub set: IndexMap<S<String>, S<f64>>,
    pub washout: Option<S<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub state: S<String>,
    #[serde(default)]
    pub drugs: IndexMap<S<String>, S<String>>,
    #[serde(default)]
    pub set: IndexMap<S<String>, S<f64>>,
    pub duration: Option<S<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrugDose {
    pub drug: S<String>,
    pub dose: Option<S<String>>,
    pub doses: Option<S<Vec<S<String>>>>,
    /// Concentration range of this drug's single-agent curve.
    pub range: Option<S<Vec<S<Amount>>>>,
}

/// A concentration: text with a unit (`"10 nM"`) or a bare number in the drug's unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFact {
    pub id: S<String>,
    /// `calibration` or `prediction` (required).
    pub role: Option<S<String>>,
    pub claim: String,
    pub study: String,
    pub kind: S<String>,
    pub expect: S<RawExpect>,
    pub known_failure: Option<String>,
    // Fields used by some kinds (which ones is checked per kind).
    pub quantity: Option<S<String>>,
    pub test: Option<S<RawCondition>>,
    pub control: Option<S<RawCondition>>,
    pub drug: Option<S<String>>,
    pub drugs: Option<S<IndexMap<S<String>, S<String>>>>,
    pub range: Option<S<Vec<S<Amount>>>>,
    pub a: Option<S<RawDrugDose>>,
    pub b: Option<S<RawDrugDose>>,
    pub score: Option<S<String>>,
    pub state: Option<S<StateField>>,
    pub at: Option<S<String>>,
    pub reference_at: Option<S<String>>,
    pub threshold: Option<S<f64>>,
    pub direction: Option<S<String>>,
    pub from: Option<S<String>>,
    pub to: Option<S<String>>,
    pub event: Option<S<String>>,
}

/// `state` names a state (timeline kinds) or, for `combination`, may be the
/// condition itself (the same as `test`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StateField {
    Name(String),
    /// Without per-value locations: serde's untagged enums cannot carry spans.
    Condition(PlainCondition),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainCondition {
    pub state: String,
    #[serde(default)]
    pub drugs: IndexMap<String, String>,
    #[serde(default)]
    pub set: IndexMap<String, f64>,
    pub duration: Option<String>,
}

impl PlainCondition {
    /// The condition with every value located at `span` (the whole table).
    pub fn located(&self, span: std::ops::Range<usize>) -> RawCondition {
        let at = |v: String| S::new(span.clone(), v);
        RawCondition {
            state: at(self.state.clone()),
            drugs: self
                .drugs
                .iter()
                .map(|(k, v)| (at(k.clone()), at(v.clone())))
                .collect(),
            set: self
                .set
                .iter()
                .map(|(k, v)| (at(k.clone()), S::new(span.clone(), *v)))
                .collect(),
            duration: self.duration.clone().map(at),
        }
    }
}
