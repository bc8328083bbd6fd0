//! Explicit points read from a CSV file, for sweeps over hand-picked or externally
//! generated points.

use std::path::Path;

use crate::sweep::error::SweepError;
use crate::sweep::spec::ParameterSpec;

/// Read rows whose header names every parameter exactly once (any column order).
/// Other columns (a label, a measured value, parameters not swept this time) are
/// ignored; [`ignored_columns`] names them. Each value must lie within its
/// parameter's bounds. Point ids are the 0-based row numbers.
pub(super) fn read_points(
    path: &Path,
    params: &[ParameterSpec],
) -> Result<Vec<Vec<f64>>, SweepError> {
    let err = |message: String| SweepError::ExplicitPoints {
        path: path.to_path_buf(),
        message,
    };
    let (mut reader, header) = open(path)?;
    let column: Vec<usize> = params
        .iter()
        .map(|p| {
            let mut at = header.iter().enumerate().filter(|(_, h)| *h == p.name);
            match (at.next(), at.next()) {
                (Some((c, _)), None) => Ok(c),
                (Some(_), Some(_)) => Err(err(format!(
                    "two columns are named `{}`; each parameter has one column",
                    p.name
                ))),
                (None, _) => Err(err(format!(
                    "no column for parameter `{}` (the header has: {})",
                    p.name,
                    header.iter().collect::<Vec<_>>().join(", ")
                ))),
            }
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

/// The points file and its header.
fn open(path: &Path) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), SweepError> {
    let err = |e: csv::Error| SweepError::ExplicitPoints {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(err)?;
    let header = reader.headers().map_err(err)?.clone();
    Ok((reader, header))
}

/// Columns of the points file that name no parameter (ignored by [`read_points`]).
pub(super) fn ignored_columns(
    path: &Path,
    params: &[ParameterSpec],
) -> Result<Vec<String>, SweepError> {
    let (_, header) = open(path)?;
    Ok(header
        .iter()
        .filter(|h| !params.iter().any(|p| p.name == *h))
        .map(str::to_string)
        .collect())
}
