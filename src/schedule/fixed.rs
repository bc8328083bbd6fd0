//! A fixed list of dose events as a schedule, so the command line's `--dose` lists
//! (`simulate`, `abm` without a schedule file) run through the one therapy driver
//! like every schedule file does.

use super::types::*;
use crate::compile::CompiledModel;
use crate::pkpd::DoseEvent;

impl Schedule {
    /// `events` (from `--dose` specs, times in the model's time unit) over
    /// `[0, duration]` with a readout every `readout_every`: one arm per dosed drug
    /// holding its doses as given ([`Regimen::Doses`]), in the dish's setting (no
    /// injection, lag or tumour volume: mg/kg boluses still go through the model's
    /// pharmacokinetics), no resistance rule, no passaging, and a run that goes on to
    /// its end whatever the population does (no stop on extinction, no size below
    /// which it counts as extinct). `name`
    /// labels it (e.g. `--dose`).
    pub fn fixed_doses(
        model: &CompiledModel,
        name: &str,
        duration: f64,
        readout_every: f64,
        events: &[DoseEvent],
    ) -> Schedule {
        let mut drugs: Vec<usize> = events.iter().map(|e| e.drug).collect();
        drugs.sort_unstable();
        drugs.dedup();
        let arms: Vec<DrugArm> = drugs
            .into_iter()
            .map(|drug| {
                let mut doses: Vec<FixedDose> = events
                    .iter()
                    .filter(|e| e.drug == drug)
                    .map(|e| FixedDose {
                        time: e.time,
                        kind: e.kind,
                    })
                    .collect();
                // Stable: doses at one time keep their given order.
                doses.sort_by(|a, b| a.time.total_cmp(&b.time));
                DrugArm {
                    drug,
                    drug_name: model.drugs[drug].name.clone(),
                    line: 0,
                    start: ArmStart::At(0.0),
                    stop: duration,
                    stop_on_resistance: false,
                    holidays: Vec::new(),
                    regimen: Regimen::Doses { doses },
                }
            })
            .collect();
        let tu = model.meta.time_unit;
        Schedule {
            name: name.to_string(),
            title: name.to_string(),
            description: String::new(),
            source: String::new(),
            path: String::new(),
            sha256: String::new(),
            // The setting says what the driver adds to the doses: in vivo an injection
            // (the takes), a lag and a tumour volume. A dose list has none of them: its
            // doses (concentrations and mg/kg boluses alike) are given as they are to
            // every cell present at the start.
            setting: Setting::InVitro,
            time_unit: tu.symbol().to_string(),
            hours_per_unit: tu.hours(),
            duration,
            readout_every,
            ic50_every: None,
            ic50_drug: None,
            ic50_range: None,
            ic50_points: None,
            equilibrate: None,
            initial_cells: None,
            grow_from: None,
            culture: Culture::default(),
            primary_arm: None,
            arms,
            resistance: ResistanceRules {
                ic50_fold: None,
                steady_growth: None,
                regrowth: None,
                above: None,
            },
            stop: StopRules {
                on_resistance: false,
                on_extinction: false,
                max_cells: None,
                extinct_below: 0.0,
                genotype_cells: Vec::new(),
            },
            cell_volume: 1e-6,
            host: Host::default(),
            detection_limit: 0.0,
            warnings: Vec::new(),
        }
    }
}
