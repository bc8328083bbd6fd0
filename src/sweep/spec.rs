//! The sweep spec: which parameters vary over which ranges, which design samples them,
//! and the seed. Read from TOML with unknown fields refused, so a typo is an error
//! rather than a silently ignored setting.
//!
//! This is the resolved, generic form the runner, resume, merge and sensitivity work
//! on: every parameter has its bounds. A model sweep file is read by
//! [`super::file`], which fills bounds in from the model and checks the `model`,
//! `schedule` and `metrics` sections; those sections are kept here as written (raw
//! TOML) so the manifest records them and a resume or merge can compare them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::SweepError;

/// How a unit-interval sample maps to a parameter's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// `lo + u (hi - lo)`.
    #[default]
    Linear,
    /// `lo (hi / lo)^u`: equal steps in orders of magnitude, for rate constants and
    /// concentrations that span decades. Needs `lo > 0`.
    Log,
}

/// One varied parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    pub name: String,
    pub lo: f64,
    pub hi: f64,
    #[serde(default)]
    pub scale: Scale,
}

impl ParameterSpec {
    /// Map `u` in [0, 1] to [lo, hi] on this parameter's scale. The end points map
    /// exactly to `lo` and `hi`.
    pub fn from_unit(&self, u: f64) -> f64 {
        if u <= 0.0 {
            return self.lo;
        }
        if u >= 1.0 {
            return self.hi;
        }
        match self.scale {
            Scale::Linear => self.lo + u * (self.hi - self.lo),
            Scale::Log => (self.lo.ln() + u * (self.hi.ln() - self.lo.ln())).exp(),
        }
    }

    /// Check the bounds before anything runs.
    pub fn validate(&self) -> Result<(), SweepError> {
        if !(self.lo.is_finite() && self.hi.is_finite() && self.lo < self.hi) {
            return Err(SweepError::InvalidBounds {
                name: self.name.clone(),
                lo: self.lo,
                hi: self.hi,
            });
        }
        if self.scale == Scale::Log && self.lo <= 0.0 {
            return Err(SweepError::LogScaleNonPositive {
                name: self.name.clone(),
                lo: self.lo,
            });
        }
        Ok(())
    }
}

/// Which design samples the parameter space, with its size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DesignSpec {
    /// Full factorial grid with `levels` evenly spaced values (on each parameter's
    /// scale) per parameter: `levels^d` points.
    Grid { levels: usize },
    /// Latin hypercube with `samples` points.
    LatinHypercube { samples: usize },
    /// First `samples` points of an Owen-scrambled Sobol sequence.
    Sobol { samples: usize },
    /// Saltelli design for Sobol indices: `samples` base points, `samples (d + 2)`
    /// evaluations.
    Saltelli { samples: usize },
    /// Morris elementary effects: `trajectories` one-at-a-time paths on a grid of
    /// `levels` (even) values, `trajectories (d + 1)` evaluations.
    Morris { trajectories: usize, levels: usize },
    /// Points listed in a CSV file whose header names every parameter. A relative
    /// path is resolved against the spec file's directory by [`SweepSpec::from_file`].
    Explicit { file: PathBuf },
}

impl DesignSpec {
    /// Short name used in errors, manifests and file names.
    pub fn name(&self) -> &'static str {
        match self {
            DesignSpec::Grid { .. } => "grid",
            DesignSpec::LatinHypercube { .. } => "latin_hypercube",
            DesignSpec::Sobol { .. } => "sobol",
            DesignSpec::Saltelli { .. } => "saltelli",
            DesignSpec::Morris { .. } => "morris",
            DesignSpec::Explicit { .. } => "explicit",
        }
    }
}

/// A whole sweep: seed, design, parameters, and the model-side sections as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Sweep seed: the design and every point's run seed derive from it.
    pub seed: u64,
    pub design: DesignSpec,
    pub parameters: Vec<ParameterSpec>,
    /// `[model]` of a model sweep file, as written (see [`super::file`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<toml::Value>,
    /// `[schedule]` of a model sweep file, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<toml::Value>,
    /// `[[metrics]]` of a model sweep file, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<toml::Value>,
}

impl SweepSpec {
    /// Parse a spec from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, SweepError> {
        toml::from_str(text).map_err(|e| SweepError::Spec {
            path: PathBuf::from("<string>"),
            message: e.to_string(),
        })
    }

    /// Read a spec file; an explicit design's relative `file` is resolved against the
    /// spec's directory so the sweep can be run from anywhere.
    pub fn from_file(path: &Path) -> Result<Self, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepError::io(path, e))?;
        let mut spec: SweepSpec = toml::from_str(&text).map_err(|e| SweepError::Spec {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let DesignSpec::Explicit { file } = &mut spec.design {
            if file.is_relative() {
                if let Some(dir) = path.parent() {
                    *file = dir.join(&*file);
                }
            }
        }
        Ok(spec)
    }

    /// Parameter names in design column order.
    pub fn parameter_names(&self) -> Vec<String> {
        self.parameters.iter().map(|p| p.name.clone()).collect()
    }

    /// Check parameters (non-empty, unique names, valid bounds). Design sizes are
    /// checked when the design is generated.
    pub fn validate(&self) -> Result<(), SweepError> {
        if self.parameters.is_empty() {
            return Err(SweepError::NoParameters);
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.parameters {
            if p.name.is_empty() || is_reserved(&p.name) || !seen.insert(p.name.as_str()) {
                return Err(SweepError::DuplicateName {
                    name: p.name.clone(),
                });
            }
            p.validate()?;
        }
        Ok(())
    }
}

/// Column names of `runs.csv` that parameters and metrics may not take.
pub fn is_reserved(name: &str) -> bool {
    matches!(name, "id" | "status" | "error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_maps_end_points_and_midpoint() {
        let p = ParameterSpec {
            name: "k".into(),
            lo: 0.01,
            hi: 100.0,
            scale: Scale::Log,
        };
        assert_eq!(p.from_unit(0.0), 0.01);
        assert_eq!(p.from_unit(1.0), 100.0);
        assert!((p.from_unit(0.5) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"
seed = 1
design = { kind = "sobol", samples = 8, typo = 1 }
parameters = [{ name = "a", lo = 0, hi = 1 }]
"#;
        assert!(SweepSpec::from_toml(text).is_err());
        let ok = text.replace(", typo = 1", "");
        let spec = SweepSpec::from_toml(&ok).unwrap();
        assert_eq!(spec.design, DesignSpec::Sobol { samples: 8 });
        assert_eq!(spec.parameters[0].scale, Scale::Linear);
    }
}
