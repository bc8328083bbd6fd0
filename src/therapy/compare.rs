//! The what-if view: several schedules on one model, one table row each (time to
//! resistance, final burden, exposure, passages), written as `compare.csv`, printed,
//! and overlaid in `compare.png`. Every number comes from the run's [`Summary`],
//! which the driver computes from the same readouts and events it writes, so the
//! table and the per-schedule timelines agree.

use std::path::Path;

use serde::Serialize;

use super::output::{num, write_run, OutputError};
use super::plot::CompareFigure;
use super::types::{Summary, TherapyOptions, TherapyResult};
use crate::compile::CompiledModel;
use crate::output::atomic::write_atomic;
use crate::output::manifest::{command_line, write_json, VERSION};
use crate::schedule::Schedule;

/// The table: a header and one row of cells per run, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), num)
}

/// Build the comparison table. Drug columns cover every drug scheduled in any run
/// (AUC in unit·day; total mg/kg in vivo); a drug a schedule does not give is 0.
pub fn table(runs: &[&Summary]) -> CompareTable {
    let mut drugs: Vec<(String, String)> = Vec::new();
    for s in runs {
        for d in &s.drugs {
            if !drugs.iter().any(|x| x.0 == d.drug) {
                drugs.push((d.drug.clone(), d.unit.clone()));
            }
        }
    }
    let mut header: Vec<String> = [
        "schedule",
        "setting",
        "end_day",
        "stop_reason",
        "time_to_resistance_day",
        "resistance_rule",
        "final_cells",
        "final_expanded_cells",
        "min_cells",
        "final_volume_mm3",
        "passages",
        "ic50_fold_final",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (d, u) in &drugs {
        header.push(format!("auc_{d}_{u}_day"));
        header.push(format!("mg_per_kg_{d}"));
    }
    let rows = runs
        .iter()
        .map(|s| {
            let mut row = vec![
                s.schedule.clone(),
                s.setting.label().to_string(),
                num(s.end_days),
                serde_json::to_value(s.stop_reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                opt(s.time_to_resistance_days),
                s.resistance_rule
                    .map_or(String::new(), |r| r.label().into()),
                num(s.final_cells),
                num(s.final_expanded_cells),
                num(s.min_cells),
                opt(s.final_volume),
                s.passages.to_string(),
                opt(s.ic50_fold_final),
            ];
            for (d, _) in &drugs {
                let x = s.drugs.iter().find(|x| &x.drug == d);
                row.push(num(x.map_or(0.0, |x| x.auc_unit_days)));
                row.push(num(x.map_or(0.0, |x| x.total_mg_per_kg)));
            }
            row
        })
        .collect();
    CompareTable { header, rows }
}

impl CompareTable {
    /// A fixed-width text rendering (numbers to 4 significant digits).
    pub fn render(&self) -> String {
        let short = |c: &str| -> String {
            match c.parse::<f64>() {
                Ok(v) if c.contains('.') || c.contains('e') => {
                    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
                        format!("{v:.3e}")
                    } else {
                        format!("{:.4}", v)
                            .trim_end_matches('0')
                            .trim_end_matches('.')
                            .to_string()
                    }
                }
                _ if c.is_empty() => "-".into(),
                _ => c.to_string(),
            }
        };
        let cells: Vec<Vec<String>> = std::iter::once(self.header.clone())
            .chain(
                self.rows
                    .iter()
                    .map(|r| r.iter().map(|c| short(c)).collect()),
            )
            .collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|j| {
                cells
                    .iter()
                    .map(|r| r[j].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for r in &cells {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(j, (c, &w))| {
                    if j == 0 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            out += line.join("  ").trim_end();
            out.push('\n');
        }
        out
    }
}

#[derive(Serialize)]
struct Manifest<'a> {
    resloop_version: &'static str,
    command_line: Vec<String>,
    model: &'a str,
    model_sha256: &'a str,
    schedules: Vec<(&'a str, &'a str, &'a str)>,
    options: &'a TherapyOptions,
    table: &'a CompareTable,
    outputs: Vec<String>,
}

/// Write each run into `out/<schedule name>/`, then `compare.csv`, the overlaid
/// plot and `manifest.json` (last). Names must be unique (they name the folders).
pub fn write_compare(
    out: &Path,
    model: &CompiledModel,
    options: &TherapyOptions,
    runs: &[(&Schedule, &TherapyResult)],
    plots: bool,
) -> Result<CompareTable, OutputError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| OutputError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut outputs = Vec::new();
    for (s, r) in runs {
        write_run(&out.join(&s.name), model, s, options, r, plots)?;
        outputs.push(format!("{}/", s.name));
    }
    let summaries: Vec<&Summary> = runs.iter().map(|(_, r)| &r.summary).collect();
    let t = table(&summaries);
    let p = out.join("compare.csv");
    write_atomic(&p, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(&t.header)?;
        for r in &t.rows {
            csv.write_record(r)?;
        }
        csv.flush()?;
        Ok(())
    })
    .map_err(io(&p))?;
    outputs.push("compare.csv".into());
    if plots {
        CompareFigure::new(runs).save(&out.join("compare"))?;
        outputs.extend(["compare.png".into(), "compare.svg".into()]);
    }
    let m = Manifest {
        resloop_version: VERSION,
        command_line: command_line(),
        model: &model.meta.path,
        model_sha256: &model.meta.sha256,
        schedules: runs
            .iter()
            .map(|(s, _)| (s.name.as_str(), s.path.as_str(), s.sha256.as_str()))
            .collect(),
        options,
        table: &t,
        outputs,
    };
    let p = out.join("manifest.json");
    write_json(&p, &m).map_err(io(&p))?;
    Ok(t)
}
