//! The search space: each calibrated parameter as an axis over its declared bounds.
//!
//! Nelder-Mead is unconstrained, so it moves in free coordinates `u`; each axis maps
//! `u` into its bounds by folding (a triangle wave: 0 and 1 are the bounds, 1.2 is
//! 0.8, -0.1 is 0.1). Folding is continuous, so the simplex never sees a cliff at a
//! bound, and every evaluated point is a legal parameter set (the model's bounds are
//! never left). Bounds that are positive and span more than a decade are searched on
//! a log scale, where a rate constant's uncertainty lives.

use std::path::Path;

use crate::compile::CompiledModel;
use crate::model::Provenance;

use super::CalibrateError;

/// One calibrated parameter.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Axis {
    pub name: String,
    /// Index into the model's parameters.
    pub index: usize,
    pub lo: f64,
    pub hi: f64,
    /// Searched on a log scale (positive bounds spanning > 10x).
    pub log: bool,
    /// The model's current value (the search starts here).
    pub start: f64,
}

impl Axis {
    /// The parameter value at unit coordinate `t` in [0, 1].
    fn at(&self, t: f64) -> f64 {
        let v = if self.log {
            (self.lo.ln() + t * (self.hi.ln() - self.lo.ln())).exp()
        } else {
            self.lo + t * (self.hi - self.lo)
        };
        v.clamp(self.lo, self.hi)
    }

    /// The unit coordinate in [0, 1] of a value inside the bounds.
    fn unit_of(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        t.clamp(0.0, 1.0)
    }
}

/// Fold a free coordinate into [0, 1] (period 2, mirror at 0 and 1).
pub fn fold(u: f64) -> f64 {
    if !u.is_finite() {
        return 0.5;
    }
    let r = u.rem_euclid(2.0);
    if r > 1.0 {
        2.0 - r
    } else {
        r
    }
}

/// The calibrated parameters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Space {
    pub axes: Vec<Axis>,
}

impl Space {
    /// Check the named parameters: each must exist, be `assumed`, and have bounds
    /// with room between them. `model_path` is for the messages.
    pub fn new(
        model: &CompiledModel,
        model_path: &Path,
        names: &[String],
    ) -> Result<Space, CalibrateError> {
        if names.is_empty() {
            return Err(CalibrateError::NoParams);
        }
        let mut axes: Vec<Axis> = Vec::new();
        for name in names {
            if axes.iter().any(|a| &a.name == name) {
                return Err(CalibrateError::Duplicate(name.clone()));
            }
            let Some(index) = model.param_index(name) else {
                let best = model
                    .param_names()
                    .map(|p| (strsim::jaro_winkler(p, name), p))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                return Err(CalibrateError::UnknownParam {
                    model: model_path.to_path_buf(),
                    name: name.clone(),
                    hint: best.map_or_else(String::new, |(_, p)| format!(" (did you mean `{p}`?)")),
                });
            };
            let p = &model.params[index];
            if p.provenance != Some(Provenance::Assumed) {
                return Err(CalibrateError::NotAssumed {
                    model: model_path.to_path_buf(),
                    name: name.clone(),
                    provenance: p
                        .provenance
                        .map_or("without provenance".into(), |v| format!("`{}`", v.label())),
                });
            }
            let Some([lo, hi]) = p.bounds else {
                return Err(CalibrateError::NoBounds {
                    model: model_path.to_path_buf(),
                    name: name.clone(),
                });
            };
            if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
                return Err(CalibrateError::EmptyBounds {
                    model: model_path.to_path_buf(),
                    name: name.clone(),
                    lo,
                    hi,
                });
            }
            axes.push(Axis {
                name: name.clone(),
                index,
                lo,
                hi,
                log: lo > 0.0 && hi / lo > 10.0,
                start: p.value.clamp(lo, hi),
            });
        }
        Ok(Space { axes })
    }

    pub fn len(&self) -> usize {
        self.axes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.axes.is_empty()
    }

    /// Parameter values at free coordinates `u` (folded into the bounds).
    pub fn values(&self, u: &[f64]) -> Vec<f64> {
        self.axes
            .iter()
            .zip(u)
            .map(|(a, &x)| a.at(fold(x)))
            .collect()
    }

    /// Free coordinates of parameter values (the inverse of [`Space::values`] inside
    /// the bounds).
    pub fn coords(&self, values: &[f64]) -> Vec<f64> {
        self.axes
            .iter()
            .zip(values)
            .map(|(a, &v)| a.unit_of(v))
            .collect()
    }

    /// The starting point: the model's current values.
    pub fn start(&self) -> Vec<f64> {
        self.axes.iter().map(|a| a.start).collect()
    }
}
