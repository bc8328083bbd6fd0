//! Pharmacokinetics and exposure: what concentration of each drug the cells see.
//!
//! Between events every drug's concentration follows a closed form,
//! `C(t) = C_e exp(-k (t - t_e))`: constant in vitro (k = 0, or the medium half-life
//! if the model gives one), first-order elimination in vivo (one compartment,
//! k = ln 2 / half-life). Events (a media refresh that sets the concentration, an
//! mg/kg bolus that adds `dose / V`) are discontinuities that the engines stop at.
//! Because exposure is exact between events, engines never integrate it.
//!
//! ## References
//! Rowland M, Tozer TN. Clinical Pharmacokinetics and Pharmacodynamics, 4th ed.
//! (one-compartment bolus: C(t) = (D/V) exp(-k t), superposed over doses).

mod dose_spec;
pub mod escalation;
mod quantity;

pub use dose_spec::{find_drug, parse_amount, parse_dose_spec, DoseSpec, DoseSpecError};
pub use quantity::{DrugField, DrugQuantity};

use serde::Serialize;

use crate::compile::CompiledModel;

/// What a dose does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DoseKind {
    /// In vitro: fresh medium at this concentration (drug's declared unit).
    SetConcentration { value: f64 },
    /// In vivo: an intravenous-equivalent bolus of this many mg per kg body weight.
    Bolus { mg_per_kg: f64 },
}

/// One dosing event at a time in the model's time unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DoseEvent {
    pub time: f64,
    pub drug: usize,
    pub kind: DoseKind,
}

/// Exposure state of all drugs: each drug's level at its last event and the rate at
/// which it decays since.
#[derive(Debug, Clone)]
pub struct Exposure {
    level: Vec<f64>,
    since: Vec<f64>,
    decay: Vec<f64>,
    /// Conversion from mg/kg to the drug's unit (per drug; None = no in vivo PK).
    bolus_scale: Vec<Option<f64>>,
    in_vivo_decay: Vec<f64>,
    in_vitro_decay: Vec<f64>,
}

/// A dose the model cannot take (e.g. mg/kg for a drug with no in vivo PK).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("drug `{drug}` at t = {time}: {message}")]
pub struct ExposureError {
    pub drug: String,
    pub time: f64,
    pub message: String,
}

impl Exposure {
    /// No drug present.
    pub fn new(model: &CompiledModel) -> Exposure {
        let ln2 = std::f64::consts::LN_2;
        let n = model.drugs.len();
        Exposure {
            level: vec![0.0; n],
            since: vec![0.0; n],
            decay: vec![0.0; n],
            bolus_scale: model
                .drugs
                .iter()
                .map(|d| {
                    d.in_vivo
                        .and_then(|pk| d.unit.from_mg_per_l(1.0 / pk.volume, pk.molecular_weight))
                })
                .collect(),
            in_vivo_decay: model
                .drugs
                .iter()
                .map(|d| d.in_vivo.map_or(0.0, |pk| ln2 / pk.half_life))
                .collect(),
            in_vitro_decay: model
                .drugs
                .iter()
                .map(|d| d.medium_half_life.map_or(0.0, |h| ln2 / h))
                .collect(),
        }
    }

    /// Number of drugs.
    pub fn n_drugs(&self) -> usize {
        self.level.len()
    }

    /// Drug `i`'s exposure constants: the concentration one mg/kg bolus adds (`None`
    /// without in vivo pharmacokinetics), the in vivo elimination rate and the in vitro
    /// medium decay rate (per model time unit). For a front end that replays doses
    /// itself (the teaching page) with the same arithmetic as [`Exposure::apply`].
    pub fn constants(&self, i: usize) -> (Option<f64>, f64, f64) {
        (
            self.bolus_scale[i],
            self.in_vivo_decay[i],
            self.in_vitro_decay[i],
        )
    }

    /// Concentration of drug `i` at time `t` (>= its last event).
    #[inline]
    pub fn concentration(&self, i: usize, t: f64) -> f64 {
        let k = self.decay[i];
        if k == 0.0 {
            self.level[i]
        } else {
            self.level[i] * (-k * (t - self.since[i])).exp()
        }
    }

    /// All concentrations at `t`.
    #[inline]
    pub fn concentrations(&self, t: f64, out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.concentration(i, t);
        }
    }

    /// Apply a dose event.
    pub fn apply(&mut self, ev: &DoseEvent, model: &CompiledModel) -> Result<(), ExposureError> {
        let i = ev.drug;
        let t = ev.time;
        match ev.kind {
            DoseKind::SetConcentration { value } => {
                self.level[i] = value;
                self.decay[i] = self.in_vitro_decay[i];
            }
            DoseKind::Bolus { mg_per_kg } => {
                let Some(scale) = self.bolus_scale[i] else {
                    return Err(ExposureError {
                        drug: model.drugs[i].name.clone(),
                        time: t,
                        message:
                            "an mg/kg dose needs the drug's `in_vivo` pharmacokinetics in the model"
                                .into(),
                    });
                };
                let now = self.concentration(i, t);
                self.level[i] = now + mg_per_kg * scale;
                self.decay[i] = self.in_vivo_decay[i];
            }
        }
        self.since[i] = t;
        Ok(())
    }
}
