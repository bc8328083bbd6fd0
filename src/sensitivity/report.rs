//! Writing indices: a long-format CSV (one row per metric x parameter x index) and a
//! JSON file with the same rows plus the method and bootstrap settings.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{IndexRow, SensitivityError, SensitivityOptions};
use crate::output::atomic::write_atomic;

#[derive(Serialize)]
struct IndicesJson<'a> {
    method: &'a str,
    bootstrap_resamples: usize,
    confidence: f64,
    indices: &'a [IndexRow],
}

/// Write `indices.csv` and `indices.json` into `out`; returns their paths.
pub(super) fn write_indices(
    out: &Path,
    method: &str,
    rows: &[IndexRow],
    options: &SensitivityOptions,
) -> Result<Vec<PathBuf>, SensitivityError> {
    let io = |path: &Path, source| SensitivityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let csv_path = out.join("indices.csv");
    write_atomic(&csv_path, |w| {
        let mut cw = csv::Writer::from_writer(w);
        cw.write_record([
            "metric",
            "parameter",
            "index",
            "value",
            "ci_low",
            "ci_high",
            "used",
        ])?;
        let num = |v: Option<f64>| v.map(|x| format!("{x:?}")).unwrap_or_default();
        for r in rows {
            cw.write_record([
                r.metric.as_str(),
                &r.parameter,
                r.index,
                &num(Some(r.value)),
                &num(r.ci_low),
                &num(r.ci_high),
                &r.used.to_string(),
            ])?;
        }
        cw.flush()
    })
    .map_err(|e| io(&csv_path, e))?;
    let json_path = out.join("indices.json");
    let doc = IndicesJson {
        method,
        bootstrap_resamples: if method == "sobol" {
            options.resamples
        } else {
            0
        },
        confidence: options.confidence,
        indices: rows,
    };
    write_atomic(&json_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &doc).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(|e| io(&json_path, e))?;
    Ok(vec![csv_path, json_path])
}
