//! The schedule file's shape, as serde reads it. Every table denies unknown keys and
//! every value keeps its location, so validation can cite file, line and column.
//!
//! Values with units (durations, concentrations, mg/kg doses) are kept as text here
//! and read by [`super::values`] during validation, where the model is known.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub schedule: Spanned<MetaDef>,
    #[serde(default)]
    pub culture: Option<Spanned<CultureDef>>,
    #[serde(default)]
    pub drug: Vec<Spanned<DrugArmDef>>,
    #[serde(default)]
    pub resistance: Option<Spanned<ResistanceDef>>,
    #[serde(default)]
    pub stop: Option<Spanned<StopDef>>,
    #[serde(default)]
    pub tumour: Option<Spanned<TumourDef>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Cells in a dish: drug concentrations in the medium, refreshes, passaging.
    InVitro,
    /// A tumour in a mouse: mg/kg doses through the model's one-compartment PK.
    InVivo,
}

impl Setting {
    pub fn label(self) -> &'static str {
        match self {
            Setting::InVitro => "in_vitro",
            Setting::InVivo => "in_vivo",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub source: String,
    pub setting: Spanned<Setting>,
    pub duration: Spanned<String>,
    #[serde(default)]
    pub readout_every: Option<Spanned<String>>,
    /// Number of readout intervals over `duration` (instead of `readout_every`).
    #[serde(default)]
    pub points: Option<Spanned<i64>>,
    #[serde(default)]
    pub ic50_every: Option<Spanned<String>>,
    #[serde(default)]
    pub ic50_drug: Option<Spanned<String>>,
    /// `["0.1 nM", "10 uM"]`: tested range of IC50 readouts.
    #[serde(default)]
    pub ic50_range: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub ic50_points: Option<Spanned<i64>>,
    #[serde(default)]
    pub equilibrate: Option<Spanned<String>>,
    #[serde(default)]
    pub initial_cells: Option<Spanned<f64>>,
    /// Cells of the base genotype that grow drug-free to `initial_cells` before t = 0.
    #[serde(default)]
    pub grow_from: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CultureDef {
    #[serde(default)]
    pub refresh_every: Option<Spanned<String>>,
    #[serde(default)]
    pub confluence_cap: Option<Spanned<f64>>,
    #[serde(default)]
    pub split: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrugArmDef {
    pub name: Spanned<String>,
    /// A duration, `"on_resistance"` or `"on_size"` (with `start_cells`).
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    /// With `start = "on_size"`: the cells at which the arm starts.
    #[serde(default)]
    pub start_cells: Option<Spanned<f64>>,
    /// With `start = "on_size"`: the genotype whose cells are counted (default: all).
    #[serde(default)]
    pub start_genotype: Option<Spanned<String>>,
    /// A duration, or `"on_resistance"`.
    #[serde(default)]
    pub stop: Option<Spanned<String>>,
    #[serde(default)]
    pub holidays: Vec<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub concentration: Option<Spanned<String>>,
    #[serde(default)]
    pub ladder: Option<Spanned<Vec<Spanned<LadderStepDef>>>>,
    #[serde(default)]
    pub adaptive: Option<Spanned<AdaptiveDef>>,
    /// In vivo: one bolus series written on the arm itself (the keys of
    /// [`BolusDef`]; see [`DrugArmDef::own_series`]; repeated here because
    /// `#[serde(flatten)]` would lose the spans and `deny_unknown_fields`) ...
    #[serde(default)]
    pub dose: Option<Spanned<String>>,
    #[serde(default)]
    pub days: Option<Spanned<DaysDef>>,
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    #[serde(default)]
    pub times: Option<Spanned<i64>>,
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    #[serde(default)]
    pub escalate: Option<Spanned<String>>,
    #[serde(default)]
    pub escalate_every: Option<Spanned<i64>>,
    #[serde(default)]
    pub cap: Option<Spanned<String>>,
    /// ... or several (`[[drug.bolus]]`), e.g. a loading dose then maintenance.
    #[serde(default)]
    pub bolus: Option<Spanned<Vec<Spanned<BolusDef>>>>,
}

impl DrugArmDef {
    /// The bolus series written on the arm itself (all `None` when it has none).
    pub fn own_series(&self) -> BolusDef {
        BolusDef {
            dose: self.dose.clone(),
            days: self.days.clone(),
            every: self.every.clone(),
            times: self.times.clone(),
            after: self.after.clone(),
            escalate: self.escalate.clone(),
            escalate_every: self.escalate_every.clone(),
            cap: self.cap.clone(),
        }
    }

    /// The first series key written on the arm itself and its offset, if any.
    pub fn own_series_at(&self) -> Option<(&'static str, usize)> {
        let b = self.own_series();
        [
            ("dose", b.dose.map(|v| v.span().start)),
            ("days", b.days.map(|v| v.span().start)),
            ("every", b.every.map(|v| v.span().start)),
            ("times", b.times.map(|v| v.span().start)),
            ("after", b.after.map(|v| v.span().start)),
            ("escalate", b.escalate.map(|v| v.span().start)),
            ("escalate_every", b.escalate_every.map(|v| v.span().start)),
            ("cap", b.cap.map(|v| v.span().start)),
        ]
        .into_iter()
        .filter_map(|(k, at)| at.map(|at| (k, at)))
        .min_by_key(|&(_, at)| at)
    }
}

/// One in vivo bolus series: `dose` on `days` of each week or `every` interval,
/// `times` doses at most, first `after` the arm's start, escalating by rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BolusDef {
    #[serde(default)]
    pub dose: Option<Spanned<String>>,
    #[serde(default)]
    pub days: Option<Spanned<DaysDef>>,
    /// Interval between doses (any duration: `3.5d`, `84h`), instead of `days`.
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    /// Number of doses (default: until the arm stops).
    #[serde(default)]
    pub times: Option<Spanned<i64>>,
    /// First dose this long after the arm starts (default 0).
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// `+AMOUNT` or `xFACTOR` per step.
    #[serde(default)]
    pub escalate: Option<Spanned<String>>,
    /// Doses per escalation step (default 1).
    #[serde(default)]
    pub escalate_every: Option<Spanned<i64>>,
    /// Highest dose of an escalating series.
    #[serde(default)]
    pub cap: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderStepDef {
    pub concentration: Spanned<String>,
    pub duration: Spanned<String>,
    /// Optional explicit start of the step (time since t = 0); default: the end of
    /// the previous step (the arm's start for the first).
    #[serde(default)]
    pub from: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveDef {
    pub start: Spanned<String>,
    pub factor: Spanned<f64>,
    pub recovery: Spanned<f64>,
    pub window: Spanned<String>,
    #[serde(default)]
    pub min_hold: Option<Spanned<String>>,
    pub cap: Spanned<String>,
    #[serde(default)]
    pub check_every: Option<Spanned<String>>,
}

/// `days = "daily"` or `days = [1, 3, 5]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DaysDef {
    Pattern(String),
    Weekdays(Vec<i64>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResistanceDef {
    #[serde(default)]
    pub ic50_fold: Option<Spanned<f64>>,
    #[serde(default)]
    pub steady_growth: Option<Spanned<SteadyGrowthDef>>,
    #[serde(default)]
    pub regrowth: Option<Spanned<f64>>,
    /// Progression at an absolute size: the cells (in vitro or in vivo) or the tumour
    /// volume in mm^3 (in vivo) rising to this after the first dose.
    #[serde(default)]
    pub cells_above: Option<Spanned<f64>>,
    #[serde(default)]
    pub volume_above: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteadyGrowthDef {
    pub window: Spanned<String>,
    pub fraction: Spanned<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopDef {
    #[serde(default)]
    pub on_resistance: Option<Spanned<bool>>,
    #[serde(default)]
    pub max_cells: Option<Spanned<f64>>,
    #[serde(default)]
    pub extinct_below: Option<Spanned<f64>>,
    /// Stop when a genotype reaches this many cells: `{ NAME = CELLS }`.
    #[serde(default)]
    pub genotype_cells: Option<Spanned<std::collections::BTreeMap<String, Spanned<f64>>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TumourDef {
    #[serde(default)]
    pub cell_volume: Option<Spanned<f64>>,
    /// Fraction of the injected cells that form the tumour.
    #[serde(default)]
    pub take: Option<Spanned<f64>>,
    /// Division hazards in the host relative to culture.
    #[serde(default)]
    pub growth: Option<Spanned<f64>>,
    /// Time after injection before the cells that took start dividing (a duration).
    #[serde(default)]
    pub lag: Option<Spanned<String>>,
    /// Largest tumour the host supports (logistic crowding), mm^3.
    #[serde(default)]
    pub max_volume: Option<Spanned<f64>>,
    /// Smallest tumour the measurement resolves, mm^3 (smaller ones read as this).
    #[serde(default)]
    pub detection_limit: Option<Spanned<f64>>,
}
