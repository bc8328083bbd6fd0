//! Designs: which points of parameter space a sweep evaluates.
//!
//! Every generator works in the unit cube and the points are then mapped to each
//! parameter's `[lo, hi]` on its scale (see [`ParameterSpec::from_unit`]). A design is
//! a pure function of the spec and its seed: generating it twice gives the same points
//! with the same ids, which is what lets a killed sweep resume and shards agree.
//!
//! Point ids are `0..n` in generation order; the structured designs document how an id
//! maps to its role (Saltelli block, Morris trajectory step), and the sensitivity
//! estimators rely on that layout.

mod explicit;
mod grid;
mod lhs;
mod morris;
mod saltelli;
mod sobol;

use sha2::{Digest, Sha256};

pub use morris::MorrisStep;

use super::error::SweepError;
use super::spec::{DesignSpec, ParameterSpec, SweepSpec};

/// Largest number of points any design may produce; larger grids are refused before
/// anything runs rather than exhausting memory.
pub const MAX_POINTS: usize = 50_000_000;

/// One point of a design: a stable id and the parameter values in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: u64,
    pub values: Vec<f64>,
}

/// The structure a sensitivity method needs to read a design's results back.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// No structure beyond the points themselves (Latin hypercube, Sobol, explicit).
    Plain,
    /// Full grid with `levels` values per parameter; the first parameter varies
    /// slowest.
    Grid { levels: usize },
    /// Saltelli design: base sample `j` occupies ids `j (d + 2) + k` with `k = 0` the
    /// row of A, `k = 1..=d` the rows of `A_B^i` (column `i = k - 1` taken from B),
    /// and `k = d + 1` the row of B.
    Saltelli { base: usize },
    /// Morris design: trajectory `t` occupies ids `t (d + 1) + k`, `k = 0..=d`; step
    /// `k` (from point `k` to `k + 1`) is described by `steps[t][k]`.
    Morris {
        levels: usize,
        steps: Vec<Vec<MorrisStep>>,
    },
}

/// A generated design.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Design kind, as in the spec (`grid`, `saltelli`, ...).
    pub kind: &'static str,
    /// Parameter names, the order of every point's values.
    pub names: Vec<String>,
    pub points: Vec<Point>,
    pub layout: Layout,
}

impl Design {
    /// Generate the design of `spec` (validating the spec first). Pure apart from
    /// reading the points file of an explicit design.
    pub fn generate(spec: &SweepSpec) -> Result<Design, SweepError> {
        spec.validate()?;
        let params = &spec.parameters;
        let d = params.len();
        let (unit_rows, layout) = match &spec.design {
            DesignSpec::Grid { levels } => (
                grid::unit_grid(d, *levels)?,
                Layout::Grid { levels: *levels },
            ),
            DesignSpec::LatinHypercube { samples } => {
                (lhs::unit_lhs(d, *samples, spec.seed)?, Layout::Plain)
            }
            DesignSpec::Sobol { samples } => {
                (sobol::unit_sobol(d, *samples, spec.seed)?, Layout::Plain)
            }
            DesignSpec::Saltelli { samples } => (
                saltelli::unit_saltelli(d, *samples, spec.seed)?,
                Layout::Saltelli { base: *samples },
            ),
            DesignSpec::Morris {
                trajectories,
                levels,
            } => {
                let (rows, steps) = morris::unit_morris(d, *trajectories, *levels, spec.seed)?;
                (
                    rows,
                    Layout::Morris {
                        levels: *levels,
                        steps,
                    },
                )
            }
            DesignSpec::Explicit { file } => {
                let rows = explicit::read_points(file, params)?;
                return Ok(Design {
                    kind: spec.design.name(),
                    names: spec.parameter_names(),
                    points: number(rows),
                    layout: Layout::Plain,
                });
            }
        };
        Ok(Design {
            kind: spec.design.name(),
            names: spec.parameter_names(),
            points: number(map_to_bounds(params, unit_rows)),
            layout,
        })
    }

    /// Columns of an explicit design's points file that are not swept parameters
    /// (they are ignored; a front end says so). Empty for other designs.
    pub fn ignored_columns(spec: &SweepSpec) -> Result<Vec<String>, SweepError> {
        match &spec.design {
            DesignSpec::Explicit { file } => explicit::ignored_columns(file, &spec.parameters),
            _ => Ok(Vec::new()),
        }
    }

    /// SHA-256 over every point's id and value bits: two designs with equal
    /// fingerprints evaluate exactly the same points. Recorded in the manifest so a
    /// resume or merge against a changed spec is refused.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for name in &self.names {
            h.update(name.as_bytes());
            h.update([0u8]);
        }
        for p in &self.points {
            h.update(p.id.to_le_bytes());
            for v in &p.values {
                h.update(v.to_bits().to_le_bytes());
            }
        }
        format!("{:x}", h.finalize())
    }
}

/// Map unit-cube rows to parameter values.
fn map_to_bounds(params: &[ParameterSpec], rows: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    rows.into_iter()
        .map(|row| {
            row.iter()
                .zip(params)
                .map(|(&u, p)| p.from_unit(u))
                .collect()
        })
        .collect()
}

/// Give rows their ids, in order.
fn number(rows: Vec<Vec<f64>>) -> Vec<Point> {
    rows.into_iter()
        .enumerate()
        .map(|(i, values)| Point {
            id: i as u64,
            values,
        })
        .collect()
}

/// Refuse a size below `min`.
fn at_least(
    design: &'static str,
    what: &'static str,
    got: usize,
    min: usize,
) -> Result<(), SweepError> {
    if got < min {
        return Err(SweepError::SampleTooSmall {
            design,
            what,
            got,
            min,
        });
    }
    Ok(())
}

/// Refuse a size above `max`.
fn at_most(
    design: &'static str,
    what: &'static str,
    got: usize,
    max: usize,
) -> Result<(), SweepError> {
    if got > max {
        return Err(SweepError::SampleTooLarge {
            design,
            what,
            got,
            max,
        });
    }
    Ok(())
}
