//! What a therapy run takes and gives back.

use serde::Serialize;

use crate::assay::{AssayError, AssaySettings};
use crate::engine::ode::{Method, SimError, SolverStats, Timeline};
use crate::engine::population::HybridSettings;
use crate::engine::{Counters, EngineKind};
use crate::fit::HillFit;
use crate::schedule::Setting;

/// Settings of a therapy run beyond the schedule.
#[derive(Debug, Clone, Serialize)]
pub struct TherapyOptions {
    /// Parameter values (the model's order); `None` = the model's values.
    pub params: Option<Vec<f64>>,
    /// State at the start (per genotype: species then cells, as
    /// [`TherapyResult::final_state`] gives it); `None` = the model's initial state.
    /// The schedule's `equilibrate` still runs from it.
    pub initial_state: Option<Vec<f64>>,
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// Species or cell counts below minus this are a numerical failure (`None`: the
    /// default for the model and `atol`).
    pub negative_tolerance: Option<f64>,
    /// Numerical settings of the simulated assays (`None`: the 72 h standard of
    /// [`AssaySettings::standard`]).
    pub assay: Option<AssaySettings>,
    /// Concentration range `(lo, hi)` of IC50 readouts, in the drug's unit (`None`:
    /// three decades either side of the IC50s the model declares for the drug).
    pub ic50_range: Option<(f64, f64)>,
    /// Points of that range (`None`: 3 per decade, at least 7).
    pub ic50_points: Option<usize>,
    /// Which engine runs the population.
    pub engine: EngineKind,
    /// Thresholds of the hybrid engine.
    pub hybrid: HybridSettings,
    /// Time step of the agent-based engine, in hours.
    pub agent_dt_hours: f64,
    /// Seed and replicate number of a stochastic engine's random stream.
    pub seed: u64,
    pub replicate: u64,
}

impl Default for TherapyOptions {
    fn default() -> Self {
        TherapyOptions {
            params: None,
            initial_state: None,
            method: Method::default(),
            rtol: 1e-6,
            atol: 1e-9,
            negative_tolerance: None,
            assay: None,
            ic50_range: None,
            ic50_points: None,
            engine: EngineKind::MeanField,
            hybrid: HybridSettings::default(),
            agent_dt_hours: 1.0,
            seed: 1,
            replicate: 0,
        }
    }
}

/// Which rule declared resistance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResistanceRule {
    /// IC50 readout >= fold x the t = 0 readout.
    Ic50Fold,
    /// Net growth at the final dose >= fraction x untreated over the window.
    SteadyGrowth,
    /// Tumour volume > (1 + fraction) x nadir.
    Regrowth,
    /// The cells (or tumour volume) rose to an absolute size after the first dose.
    Threshold,
}

impl ResistanceRule {
    pub fn label(self) -> &'static str {
        match self {
            ResistanceRule::Ic50Fold => "ic50_fold",
            ResistanceRule::SteadyGrowth => "steady_growth",
            ResistanceRule::Regrowth => "regrowth",
            ResistanceRule::Threshold => "threshold",
        }
    }
}

/// What happened at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The scheduled dose of a drug changed (start, ladder step, raise, holiday, stop).
    DoseChange,
    /// An in vivo bolus (value in mg/kg).
    Bolus,
    /// A passage at the confluence cap (value: cells before the split).
    Passage,
    /// An IC50 readout (value: IC50 in the drug's unit; NaN above the tested range).
    Ic50,
    /// A resistance rule fired (value: the measured quantity).
    Resistance(ResistanceRule),
    /// An arm waiting for resistance started.
    ArmStart,
    /// The run stopped before its duration (value: total cells).
    Stop,
}

impl EventKind {
    /// The label written in `events.csv`.
    pub fn label(self) -> String {
        match self {
            EventKind::DoseChange => "dose_change".into(),
            EventKind::Bolus => "bolus".into(),
            EventKind::Passage => "passage".into(),
            EventKind::Ic50 => "ic50".into(),
            EventKind::Resistance(r) => format!("resistance:{}", r.label()),
            EventKind::ArmStart => "arm_start".into(),
            EventKind::Stop => "stop".into(),
        }
    }
}

/// One row of `events.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Model time unit.
    pub time: f64,
    pub kind: EventKind,
    /// Drug name, if the event is about one.
    pub drug: Option<String>,
    pub value: f64,
    pub unit: String,
    pub detail: String,
}

/// A periodic IC50 readout: a simulated 72 h dose-response on the population.
#[derive(Debug, Clone, Serialize)]
pub struct Ic50Readout {
    pub time: f64,
    pub drug: String,
    pub unit: String,
    /// `None` when viability does not fall to half within the tested range.
    pub ic50: Option<f64>,
    /// Highest tested concentration (the IC50 is above it when `ic50` is `None`).
    pub top_dose: f64,
    /// IC50 relative to the t = 0 readout (a lower bound, top dose / initial, when
    /// the IC50 is above the range).
    pub fold: Option<f64>,
    pub fit: HillFit,
    /// IC50 of each genotype alone (its own loop state), model genotype order;
    /// `None` where undetermined or the genotype has no cells to assay.
    pub genotype_ic50: Vec<Option<f64>>,
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Ran its full duration.
    End,
    OnResistance,
    MaxCells,
    /// A genotype reached its `stop.genotype_cells` size.
    GenotypeCells,
    Extinct,
}

/// Per-drug exposure totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrugSummary {
    pub drug: String,
    /// The drug's concentration unit.
    pub unit: String,
    /// Area under the exposure curve (concentration x time), in `unit`·day.
    pub auc_unit_days: f64,
    /// Sum of the mg/kg boluses given (in vivo).
    pub total_mg_per_kg: f64,
    pub boluses: usize,
    /// Highest scheduled dose reached (concentration in vitro, mg/kg in vivo).
    pub max_dose: f64,
    /// Scheduled dose at the end of the run.
    pub final_dose: f64,
}

/// A time-to-event endpoint: the event's time when it was reached, otherwise the
/// time at which observation stopped (a right-censored value, never to be read as
/// an event time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Endpoint {
    pub reached: bool,
    /// Event time, or censoring time when `reached` is false (model time unit).
    pub time: f64,
    pub days: f64,
}

/// The what-if numbers of one run (one row of `compare`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub schedule: String,
    pub setting: Setting,
    /// The engine, and whether cell counts are expected values (mean-field) rather
    /// than one random realisation.
    pub engine: EngineKind,
    pub expected_values: bool,
    pub replicate: u64,
    pub time_unit: String,
    /// When the run ended (model time unit) and why.
    pub end_time: f64,
    pub end_days: f64,
    pub stop_reason: StopReason,
    /// First resistance event: time (model unit and days) and rule.
    pub time_to_resistance: Option<f64>,
    pub time_to_resistance_days: Option<f64>,
    pub resistance_rule: Option<ResistanceRule>,
    /// Time to the first resistance event, censored at the run's end if none.
    pub resistance: Endpoint,
    /// Time to extinction (no cell left; below `stop.extinct_below` for the
    /// mean-field engine), censored at the run's end if none.
    pub extinction: Endpoint,
    /// The run in one sentence, e.g. "resistant at day 41 (steady_growth); extinct
    /// at day 63".
    pub story: String,
    /// Cells at the end (in the dish or the tumour).
    pub final_cells: f64,
    /// Cells at the end as if no passage had discarded any (the in vitro burden).
    pub final_expanded_cells: f64,
    /// Smallest total cell count at a readout.
    pub min_cells: f64,
    /// Tumour volume at the end and at its nadir (in vivo), mm^3.
    pub final_volume: Option<f64>,
    pub nadir_volume: Option<f64>,
    pub passages: usize,
    /// Drug-free net growth rate of the population at t = 0 (per model time unit).
    pub untreated_growth_rate: f64,
    pub ic50_initial: Option<f64>,
    pub ic50_final: Option<f64>,
    pub ic50_fold_final: Option<f64>,
    pub resistant_fraction_final: f64,
    pub drugs: Vec<DrugSummary>,
    /// Divisions, deaths and mutant arrivals per genotype (expected numbers for the
    /// mean-field engine; `None` for the agent-based engine, which does not count
    /// them).
    pub counters: Option<Counters>,
}

/// Everything a therapy run produced.
#[derive(Debug, Clone, Serialize)]
pub struct TherapyResult {
    /// Readouts every `readout_every` (and at the end): per genotype species,
    /// observables, cells, division and death rates; totals (cells, expanded cells,
    /// resistant fractions, tumour volume in vivo); exposure and scheduled dose per
    /// drug.
    pub timeline: Timeline,
    pub ic50: Vec<Ic50Readout>,
    pub events: Vec<Event>,
    /// State at the end (per genotype: species then cells), usable as an `OdeRun`
    /// initial state or as [`TherapyOptions::initial_state`].
    pub final_state: Vec<f64>,
    pub final_time: f64,
    pub summary: Summary,
    pub stats: SolverStats,
    /// Assay wells simulated (IC50 readouts and ICxx starts).
    pub assay_wells: usize,
    pub wall_seconds: f64,
    pub warnings: Vec<String>,
}

impl TherapyResult {
    /// Time of the first event of a resistance rule.
    pub fn resistance_time(&self, rule: ResistanceRule) -> Option<f64> {
        self.events
            .iter()
            .find(|e| e.kind == EventKind::Resistance(rule))
            .map(|e| e.time)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TherapyError {
    #[error("schedule `{schedule}`: {message}")]
    Settings { schedule: String, message: String },
    #[error("schedule `{schedule}`, {phase}: {source}")]
    Sim {
        schedule: String,
        phase: &'static str,
        #[source]
        source: Box<SimError>,
    },
    #[error("schedule `{schedule}`, assay at t = {time}: {source}")]
    Assay {
        schedule: String,
        time: f64,
        #[source]
        source: Box<AssayError>,
    },
}
