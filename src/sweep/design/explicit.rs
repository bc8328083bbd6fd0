//! Explicit points read from a CSV file, for sweeps over hand-picked or externally
//! generated points.

use std::path::Path;

use crate::sweep::error::SweepError;
use crate::sweep::spec::ParameterSpec;

/// Read rows whose header names every parameter exactly once (any column order, no
/// other columns). Each value must lie within its parameter's bounds. Point ids are
/// the 0-based row numbers.
pub(super) fn read_points(
    path: &Path,
    params: &[ParameterSpec],
) -> Result<Vec<Vec<f64>>, SweepError> {
    let err = |message: String| SweepError::ExplicitPoints {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let header = reader.headers().map_err(|e| err(e.to_string()))?.clone();
    if header.len() != params.len() {
        return Err(err(format!(
            "header has {} columns, the spec has {} parameters",
            header.len(),
            params.len()
        )));
    }
    let column: Vec<usize> = params
        .iter()
        .map(|p| {
            header
                .iter()
                .position(|h| h == p.name)
                .ok_or_else(|| err(format!("no column for parameter `{}`", p.name)))
        })
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| err(e.to_string()))?;
        let row = params
            .iter()
            .zip(&column)
            .map(|(p, &c)| {
                let text = record.get(c).unwrap_or("");
                let v: f64 = text.parse().map_err(|_| {
                    err(format!(
                        "row {}: `{}` = `{text}` is not a number",
                        i + 1,
                        p.name
                    ))
                })?;
                if !(p.lo..=p.hi).contains(&v) {
                    return Err(err(format!(
                        "row {}: `{}` = {v} lies outside [{}, {}]",
                        i + 1,
                        p.name,
                        p.lo,
                        p.hi
                    )));
                }
                Ok(v)
            })
            .collect::<Result<Vec<f64>, _>>()?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(SweepError::SampleTooSmall {
            design: "explicit",
            what: "rows",
            got: 0,
            min: 1,
        });
    }
    Ok(rows)
}
