//! Simulated assays: experiments run on a snapshot of a population.
//!
//! A snapshot is an ODE state (every genotype's loop state and cell count, see
//! [`OdeRun`]). An assay seeds it into wells at a fixed density (the genotype mix is
//! kept), holds each well at fixed drug concentrations for the assay duration with no
//! carrying capacity (a well, not a flask), and reads the cell count. Viability is the
//! count relative to the control well (CellTiter-Glo-like: viable cells, 1 =
//! untreated). A dose-response is fitted with the shared 4-parameter Hill fit
//! ([`HillFit`]); a checkerboard becomes a [`Plate`], the same type measured lab data
//! produce, so the synergy layer scores both alike.
//!
//! Wells are independent, so they run in parallel (rayon); each well is a pure
//! function of its inputs, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::compile::{BoundModel, CompiledModel};
use crate::engine::ode::{total_cells, OdeRun, RunSettings, SimError};
use crate::expr::tree::Env;
use crate::fit::{FitError, HillFit};
use crate::plate::{DrugInfo, Plate, PlateError, Well};

/// How wells are run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AssaySettings {
    /// Assay length in the model's time unit.
    pub duration: f64,
    /// Cells seeded per well (the snapshot is rescaled to this total).
    pub seeding: f64,
    /// Numerical settings; the carrying capacity should stay `None` (a well).
    pub run: RunSettings,
}

impl AssaySettings {
    /// The studies' standard: 72 h, 3000 cells per well (loop B's CellTiter-Glo
    /// protocol), tight tolerances because IC50s are read off ratios of counts.
    pub fn standard(model: &CompiledModel) -> AssaySettings {
        AssaySettings {
            duration: 72.0 / model.meta.time_unit.hours(),
            seeding: 3000.0,
            run: RunSettings {
                rtol: 1e-7,
                atol: 1e-9,
                ..RunSettings::default()
            },
        }
    }
}

/// What can go wrong in an assay.
#[derive(Debug, thiserror::Error)]
pub enum AssayError {
    #[error("assay well at {concentrations}: {source}")]
    Well {
        concentrations: String,
        #[source]
        source: SimError,
    },
    #[error("the population snapshot has no cells")]
    EmptySnapshot,
    #[error("assay settings: {0}")]
    Settings(String),
    #[error("dose-response fit of `{drug}`: {source}")]
    Fit {
        drug: String,
        #[source]
        source: FitError,
    },
    #[error(transparent)]
    Plate(#[from] PlateError),
}

/// The snapshot rescaled to `seeding` cells, genotype fractions kept.
pub fn seed_well(state: &[f64], stride: usize, seeding: f64) -> Result<Vec<f64>, AssayError> {
    let total = total_cells(state, stride);
    if !(total.is_finite() && total > 0.0) {
        return Err(AssayError::EmptySnapshot);
    }
    let mut y = state.to_vec();
    for g in y.chunks_exact_mut(stride) {
        g[stride - 1] *= seeding / total;
    }
    Ok(y)
}

fn describe(model: &CompiledModel, conc: &[f64]) -> String {
    let parts: Vec<String> = model
        .drugs
        .iter()
        .zip(conc)
        .filter(|(_, &c)| c != 0.0)
        .map(|(d, c)| format!("{}={c}{}", d.name, d.unit.symbol()))
        .collect();
    if parts.is_empty() {
        "no drug".into()
    } else {
        parts.join(", ")
    }
}

/// Run one well: the snapshot seeded at assay density, held at `conc` (one entry per
/// model drug, in each drug's unit) for the assay duration. Returns the final state.
pub fn run_well(
    model: &CompiledModel,
    bound: &BoundModel,
    state: &[f64],
    conc: &[f64],
    settings: &AssaySettings,
) -> Result<Vec<f64>, AssayError> {
    let stride = model.species.len() + 1;
    let y0 = seed_well(state, stride, settings.seeding)?;
    let fail = |source| AssayError::Well {
        concentrations: describe(model, conc),
        source,
    };
    let mut run = OdeRun::new(model, bound, &settings.run, &y0, 0.0).map_err(fail)?;
    run.set_concentrations(conc).map_err(fail)?;
    run.advance_to(settings.duration, &[]).map_err(fail)?;
    Ok(run.state().to_vec())
}

/// Cells at the end of each well, one well per concentration vector, in parallel.
pub fn well_counts(
    model: &CompiledModel,
    bound: &BoundModel,
    state: &[f64],
    wells: &[Vec<f64>],
    settings: &AssaySettings,
) -> Result<Vec<f64>, AssayError> {
    if !(settings.duration.is_finite() && settings.duration > 0.0) {
        return Err(AssayError::Settings(format!(
            "the assay duration must be positive, found {}",
            settings.duration
        )));
    }
    if !(settings.seeding.is_finite() && settings.seeding > 0.0) {
        return Err(AssayError::Settings(format!(
            "the seeding density must be positive, found {}",
            settings.seeding
        )));
    }
    let stride = model.species.len() + 1;
    wells
        .par_iter()
        .map(|conc| run_well(model, bound, state, conc, settings).map(|y| total_cells(&y, stride)))
        .collect()
}

/// A single-drug dose-response with its Hill fit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DoseResponse {
    pub drug: String,
    pub unit: String,
    /// Tested concentrations (ascending; the control is not among them).
    pub doses: Vec<f64>,
    /// Viable fraction at each dose relative to the control well.
    pub viability: Vec<f64>,
    /// 4-parameter Hill fit of `viability` (control included as dose 0, viability 1).
    pub fit: HillFit,
}

impl DoseResponse {
    /// Absolute IC50 from the fitted curve (viability half of untreated); `None` when
    /// the curve does not get there within the tested range.
    pub fn ic50(&self) -> Option<f64> {
        self.icxx(50.0)
    }
    /// Absolute ICx (x percent inhibition) inside the tested range.
    pub fn icxx(&self, x: f64) -> Option<f64> {
        let hi = *self.doses.last()?;
        self.fit.icxx(x).filter(|&d| d <= hi)
    }
    /// Highest tested dose (an IC50 beyond it is reported as "> this").
    pub fn top_dose(&self) -> f64 {
        self.doses.last().copied().unwrap_or(f64::NAN)
    }
}

/// `points` log-spaced concentrations from `lo` to `hi`.
pub fn log_doses(lo: f64, hi: f64, points: usize) -> Result<Vec<f64>, AssayError> {
    if !(lo > 0.0 && hi > lo && hi.is_finite() && points >= 2) {
        return Err(AssayError::Settings(format!(
            "a dose range needs 0 < lo < hi and at least 2 points (lo {lo}, hi {hi}, points {points})"
        )));
    }
    let (a, b) = (lo.ln(), hi.ln());
    Ok((0..points)
        .map(|k| (a + (b - a) * k as f64 / (points - 1) as f64).exp())
        .collect())
}

/// A default dose range for `drug`: three decades either side of the IC50s its
/// effects declare (over all genotypes), at 3 points per decade. Returns (lo, hi).
pub fn default_range(model: &CompiledModel, bound: &BoundModel, drug: usize) -> (f64, f64) {
    let mut ic50s: Vec<f64> = Vec::new();
    for e in model.effects.iter().filter(|e| e.drug == drug) {
        for g in &bound.genotypes {
            let env = Env {
                species: &[],
                params: &g.params,
                drugs: &[],
                effects: &[],
                observables: &[],
                t: 0.0,
            };
            let v = e.ic50.eval(&env);
            if v.is_finite() && v > 0.0 {
                ic50s.push(v);
            }
        }
    }
    let lo = ic50s.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ic50s.iter().copied().fold(0.0, f64::max);
    if lo.is_finite() && hi > 0.0 {
        (lo * 1e-3, hi * 1e3)
    } else {
        (1e-3, 1e3)
    }
}

/// Points for a log range at 3 per decade (at least 7).
pub fn points_for(lo: f64, hi: f64) -> usize {
    ((3.0 * (hi / lo).log10()).ceil() as usize + 1).max(7)
}

/// A 72 h-style viability dose-response of `drug` on a snapshot, other drugs held at
/// `background` (one entry per model drug; the tested drug's entry is replaced).
pub fn dose_response(
    model: &CompiledModel,
    bound: &BoundModel,
    state: &[f64],
    background: &[f64],
    drug: usize,
    doses: &[f64],
    settings: &AssaySettings,
) -> Result<DoseResponse, AssayError> {
    if background.len() != model.drugs.len() {
        return Err(AssayError::Settings(format!(
            "background concentrations: {} values for {} drugs",
            background.len(),
            model.drugs.len()
        )));
    }
    let mut wells = Vec::with_capacity(doses.len() + 1);
    let mut control = background.to_vec();
    control[drug] = 0.0;
    wells.push(control);
    for &d in doses {
        let mut c = background.to_vec();
        c[drug] = d;
        wells.push(c);
    }
    let counts = well_counts(model, bound, state, &wells, settings)?;
    let viability: Vec<f64> = counts[1..].iter().map(|&n| n / counts[0]).collect();
    let mut x = vec![0.0];
    x.extend_from_slice(doses);
    let mut yv = vec![1.0];
    yv.extend_from_slice(&viability);
    let d = &model.drugs[drug];
    let fit = HillFit::fit(&x, &yv).map_err(|source| AssayError::Fit {
        drug: d.name.clone(),
        source,
    })?;
    Ok(DoseResponse {
        drug: d.name.clone(),
        unit: d.unit.symbol().to_string(),
        doses: doses.to_vec(),
        viability,
        fit,
    })
}

/// A two-drug checkerboard (every dose of `a` against every dose of `b`, zeros
/// included if listed) on a snapshot, as a [`Plate`] of viable fractions.
#[allow(clippy::too_many_arguments)]
pub fn checkerboard(
    model: &CompiledModel,
    bound: &BoundModel,
    state: &[f64],
    background: &[f64],
    drug_a: usize,
    doses_a: &[f64],
    drug_b: usize,
    doses_b: &[f64],
    settings: &AssaySettings,
) -> Result<Plate, AssayError> {
    if drug_a == drug_b {
        return Err(AssayError::Settings(
            "a checkerboard needs two different drugs".into(),
        ));
    }
    let mut wells = Vec::with_capacity(doses_a.len() * doses_b.len() + 1);
    let mut control = background.to_vec();
    control[drug_a] = 0.0;
    control[drug_b] = 0.0;
    wells.push(control);
    for &da in doses_a {
        for &db in doses_b {
            let mut c = background.to_vec();
            c[drug_a] = da;
            c[drug_b] = db;
            wells.push(c);
        }
    }
    let counts = well_counts(model, bound, state, &wells, settings)?;
    let mut out = Vec::with_capacity(wells.len() - 1);
    let mut k = 1;
    for &da in doses_a {
        for &db in doses_b {
            out.push(Well {
                dose_a: da,
                dose_b: db,
                response: counts[k] / counts[0],
                replicate: None,
            });
            k += 1;
        }
    }
    let info = |i: usize| DrugInfo::new(&model.drugs[i].name, model.drugs[i].unit.symbol());
    Ok(Plate::new(info(drug_a), info(drug_b), out)?)
}
