//! The validated schedule: every time in the model's time unit, every concentration
//! in its drug's declared unit, every drug an index into the model.

use serde::Serialize;

pub use super::raw::Setting;
pub use crate::pkpd::escalation::{Escalation, Step};

/// A checked therapy schedule for one model (see `docs/schedule-format.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub name: String,
    pub title: String,
    pub description: String,
    pub source: String,
    /// The file it came from and the SHA-256 of its bytes (for manifests).
    pub path: String,
    pub sha256: String,
    pub setting: Setting,
    /// Symbol of the model's time unit, in which every time below is given.
    pub time_unit: String,
    /// Hours per model time unit.
    pub hours_per_unit: f64,
    pub duration: f64,
    pub readout_every: f64,
    pub ic50_every: Option<f64>,
    /// Drug of the IC50 readouts (model drug index); `None` without drugs.
    pub ic50_drug: Option<usize>,
    /// Tested concentration range of IC50 readouts (the IC50 drug's unit); `None` =
    /// three decades either side of the IC50s the model declares for the drug.
    pub ic50_range: Option<(f64, f64)>,
    /// Log-spaced points over that range; `None` = 3 per decade (at least 7).
    pub ic50_points: Option<usize>,
    pub equilibrate: Option<f64>,
    pub initial_cells: Option<f64>,
    /// A drug-free growth phase before t = 0 from this many cells of the base
    /// genotype up to the initial cells: mutants present at t = 0 arise during it (at
    /// random on a stochastic engine, so each replicate has its own).
    pub grow_from: Option<f64>,
    pub culture: Culture,
    pub arms: Vec<DrugArm>,
    /// The first escalating arm, else the first arm: its drug is the default drug of
    /// IC50 readouts and its final dose is where steady growth is judged.
    pub primary_arm: Option<usize>,
    pub resistance: ResistanceRules,
    pub stop: StopRules,
    /// Volume of one cell (mm^3), for the simulated tumour volume.
    pub cell_volume: f64,
    /// How the host changes growth (in vivo; neutral in culture).
    pub host: Host,
    /// Smallest tumour volume the measurement resolves (mm^3; 0 = any): the regrowth
    /// rule reads a smaller tumour as this size, so a tumour shrunk out of sight
    /// progresses only when it grows back to a measurable size.
    pub detection_limit: f64,
    /// Non-fatal findings (e.g. ladder steps that start after the arm stops).
    pub warnings: Vec<String>,
}

/// How a host changes the model's growth, so one model runs in culture and as a
/// xenograft at the right speeds: `[tumour]` of an in vivo schedule. In culture every
/// factor is neutral.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Host {
    /// Fraction of the injected cells (`initial_cells`) that form the tumour, times
    /// the model's own `[fate] take` of each genotype's cells (see
    /// `crate::therapy::injection`).
    pub take: f64,
    /// Division hazards times this (a xenograft grows slower than its cells in a dish).
    pub division_factor: f64,
    /// Time after injection (model time unit) before the cells that took divide: no
    /// division before it, death and the loop as usual (0: they divide at once).
    pub lag: f64,
    /// Largest tumour the host supports, in cells (logistic crowding); `None`: the
    /// model's carrying capacity.
    pub carrying_capacity: Option<f64>,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            take: 1.0,
            division_factor: 1.0,
            lag: 0.0,
            carrying_capacity: None,
        }
    }
}

/// How an in vitro culture is kept.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Culture {
    /// Medium refresh interval; `None` = the medium is changed only at the schedule's
    /// own edges (drug start/stop, ladder steps, holidays, dose raises).
    pub refresh_every: Option<f64>,
    /// Passage 1:`split` when the dish holds at least `cap` cells.
    pub passage: Option<Passage>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Passage {
    pub cap: f64,
    pub split: f64,
}

/// When an arm begins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmStart {
    At(f64),
    /// At the first resistance event of the run ("add the second drug on relapse").
    OnResistance,
    /// When the cells of `genotype` (all cells when `None`) reach `cells`, checked at
    /// the event that crosses it ("start treatment at a detectable size").
    OnSize {
        genotype: Option<usize>,
        cells: f64,
    },
}

impl ArmStart {
    /// The arm's start is known before the run.
    pub fn is_fixed(&self) -> bool {
        matches!(self, ArmStart::At(_))
    }
}

/// One drug given over a window with one regimen.
#[derive(Debug, Clone, Serialize)]
pub struct DrugArm {
    /// Model drug index and name.
    pub drug: usize,
    pub drug_name: String,
    /// Line of the arm in the schedule file (for messages).
    pub line: usize,
    pub start: ArmStart,
    /// End of the window (exclusive); at most the run's duration.
    pub stop: f64,
    /// The arm also ends at the first resistance event of the run.
    pub stop_on_resistance: bool,
    /// `[from, to)` windows without drug.
    pub holidays: Vec<(f64, f64)>,
    pub regimen: Regimen,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Regimen {
    /// In vitro: this concentration from start to stop.
    Constant { concentration: f64 },
    /// In vitro: fixed escalation; the last step is held until stop.
    Ladder { steps: Vec<LadderStep> },
    /// In vitro: "raise the dose when growth resumes".
    Adaptive(AdaptiveRule),
    /// In vivo: mg/kg boluses, one or more series (e.g. a loading dose, then
    /// maintenance). Weekday patterns (`days = "5/7"`) are one series per weekday,
    /// every 7 days.
    Bolus { series: Vec<BolusSeries> },
}

/// A series of in vivo boluses of one arm: the k-th (from 0) at
/// `arm start + after + k every`, while `k < times`, skipped in holidays and from the
/// arm's stop on, of `escalation.dose(mg_per_kg, k)` mg/kg (or `mg_per_kg`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BolusSeries {
    /// First dose, in time since the arm's start.
    pub after: f64,
    /// Interval between doses (> 0; any fraction of a day).
    pub every: f64,
    /// Number of doses (scheduled slots, a slot in a holiday counts); `None`: until
    /// the arm stops.
    pub times: Option<u64>,
    /// The first dose.
    pub mg_per_kg: f64,
    pub escalation: Option<Escalation>,
    /// Line of the series in the schedule file.
    pub line: usize,
}

impl BolusSeries {
    /// Dose `k` (from 0) of the series.
    pub fn dose(&self, k: u64) -> f64 {
        self.escalation
            .map_or(self.mg_per_kg, |e| e.dose(self.mg_per_kg, k))
    }
}

impl Regimen {
    /// Escalating regimens (ladder, adaptive) define the "final dose" of the
    /// steady-growth rule and the default drug of IC50 readouts.
    pub fn escalates(&self) -> bool {
        matches!(self, Regimen::Ladder { .. } | Regimen::Adaptive(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LadderStep {
    /// Start of the step, in time since the arm's start.
    pub offset: f64,
    pub duration: f64,
    pub concentration: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AdaptiveStart {
    /// ICxx measured by a simulated 72 h assay on the population at the arm's start.
    Icxx(f64),
    Concentration(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdaptiveRule {
    pub start: AdaptiveStart,
    pub factor: f64,
    pub recovery: f64,
    pub window: f64,
    pub min_hold: f64,
    pub cap: f64,
    /// Interval of the growth checks (default: the refresh interval, else the readout
    /// interval): a lab looks at the dish when it changes the medium.
    pub check_every: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SteadyGrowth {
    pub window: f64,
    pub fraction: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResistanceRules {
    /// In vitro: IC50 readout >= fold x the t = 0 readout (needs `ic50_every`).
    pub ic50_fold: Option<f64>,
    /// In vitro: growth at the final dose.
    pub steady_growth: Option<SteadyGrowth>,
    /// In vivo: tumour volume > (1 + regrowth) x nadir.
    pub regrowth: Option<f64>,
    /// Progression at an absolute size: the cells rise to this after the first dose
    /// (from below; a tumour already above it must first fall below).
    pub above: Option<SizeThreshold>,
}

/// An absolute size, as the schedule gave it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizeThreshold {
    pub cells: f64,
    /// The tumour volume (mm^3) it was given as, in vivo.
    pub volume: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StopRules {
    pub on_resistance: bool,
    pub max_cells: Option<f64>,
    pub extinct_below: f64,
    /// Stop when genotype `.0` (model index) reaches `.1` cells.
    pub genotype_cells: Vec<(usize, f64)>,
}
