//! The what-if view: several schedules on one model, one table row each (time to
//! resistance, final burden, exposure, passages), written as `compare.csv`, printed,
//! and overlaid in `compare.png`. Every number comes from the run's [`Summary`],
//! which the driver computes from the same readouts and events it writes, so the
//! table and the per-schedule timelines agree.

use std::path::Path;

use serde::Serialize;

use super::ensemble::{quantile, EnsembleSummary};
use super::output::{write_run, OutputError};
use super::plot::CompareFigure;
use super::types::{Summary, TherapyOptions, TherapyResult};
use crate::compile::CompiledModel;
use crate::output::atomic::write_atomic;
use crate::output::manifest::{model_ref, schedule_ref, Manifest};
use crate::output::timeline::csv_number as num;
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

/// Build the comparison table: one row per schedule from its replicates (one run
/// for the mean-field engine). Drug columns cover every drug scheduled in any run
/// (AUC in unit·day; total mg/kg in vivo); a drug a schedule does not give is 0.
///
/// Endpoints are censored values: `resistant` and `extinct` say whether the event
/// happened (`k/R` replicates for several), and `time_to_resistance_day` is the event
/// time (the Kaplan-Meier median for several), empty when not reached: never the
/// run's end. For several replicates the numeric columns are medians.
pub fn table(runs: &[&[TherapyResult]]) -> CompareTable {
    let mut drugs: Vec<(String, String)> = Vec::new();
    for set in runs {
        for d in &set[0].summary.drugs {
            if !drugs.iter().any(|x| x.0 == d.drug) {
                drugs.push((d.drug.clone(), d.unit.clone()));
            }
        }
    }
    let mut header: Vec<String> = [
        "schedule",
        "setting",
        "engine",
        "replicates",
        "end_day",
        "stop_reason",
        "resistant",
        "time_to_resistance_day",
        "resistance_rule",
        "extinct",
        "time_to_extinction_day",
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
    header.push("story".into());
    let rows = runs
        .iter()
        .map(|set| {
            let s = &set[0].summary;
            let many = set.len() > 1;
            let med = |f: &dyn Fn(&Summary) -> Option<f64>| -> String {
                let mut v: Vec<f64> = set.iter().filter_map(|r| f(&r.summary)).collect();
                if v.is_empty() {
                    return String::new();
                }
                v.sort_by(f64::total_cmp);
                num(quantile(&v, 0.5))
            };
            let ens = many.then(|| EnsembleSummary::of(set));
            let flag = |reached: bool, k: usize| {
                if many {
                    format!("{k}/{}", set.len())
                } else if reached {
                    "yes".into()
                } else {
                    "no".into()
                }
            };
            let (res_flag, res_time, ext_flag, ext_time, story) = match &ens {
                Some(e) => (
                    flag(false, e.resistance.reached),
                    opt(e.resistance.median_days),
                    flag(false, e.extinction.reached),
                    opt(e.extinction.median_days),
                    e.story(),
                ),
                None => (
                    flag(s.resistance.reached, 0),
                    opt(s.resistance.reached.then_some(s.resistance.days)),
                    flag(s.extinction.reached, 0),
                    opt(s.extinction.reached.then_some(s.extinction.days)),
                    s.story.clone(),
                ),
            };
            let mut row = vec![
                s.schedule.clone(),
                s.setting.label().to_string(),
                s.engine.label().to_string(),
                set.len().to_string(),
                med(&|s| Some(s.end_days)),
                if many {
                    String::new()
                } else {
                    serde_json::to_value(s.stop_reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                },
                res_flag,
                res_time,
                if many {
                    String::new()
                } else {
                    s.resistance_rule
                        .map_or(String::new(), |r| r.label().into())
                },
                ext_flag,
                ext_time,
                med(&|s| Some(s.final_cells)),
                med(&|s| Some(s.final_expanded_cells)),
                med(&|s| Some(s.min_cells)),
                med(&|s| s.final_volume),
                if many {
                    med(&|s| Some(s.passages as f64))
                } else {
                    s.passages.to_string()
                },
                med(&|s| s.ic50_fold_final),
            ];
            for (d, _) in &drugs {
                let pick = |s: &Summary, f: fn(&super::types::DrugSummary) -> f64| {
                    Some(s.drugs.iter().find(|x| &x.drug == d).map_or(0.0, f))
                };
                row.push(med(&|s| pick(s, |x| x.auc_unit_days)));
                row.push(med(&|s| pick(s, |x| x.total_mg_per_kg)));
            }
            row.push(story);
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
                Ok(v) if c.contains('.') || c.contains('e') => crate::output::number::sig(v, 4),
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

/// What `manifest.json` holds for a comparison, inside the common envelope (the
/// model and every schedule are its inputs).
#[derive(Serialize)]
struct CompareRun<'a> {
    options: &'a TherapyOptions,
    table: &'a CompareTable,
}

/// Write each run into `out/<schedule name>/`, then `compare.csv`, the overlaid
/// plot and `manifest.json` (last). Names must be unique (they name the folders).
pub fn write_compare(
    out: &Path,
    model: &CompiledModel,
    options: &TherapyOptions,
    runs: &[(&Schedule, &[TherapyResult])],
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
    let sets: Vec<&[TherapyResult]> = runs.iter().map(|(_, r)| *r).collect();
    let t = table(&sets);
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
        let first: Vec<(&Schedule, &TherapyResult)> =
            runs.iter().map(|(s, r)| (*s, &r[0])).collect();
        CompareFigure::new(model, &first).save(&out.join("compare"))?;
        outputs.extend(["compare.png".into(), "compare.svg".into()]);
    }
    let mut inputs = vec![model_ref(model)];
    inputs.extend(runs.iter().map(|(s, _)| schedule_ref(s)));
    let run = CompareRun { options, table: &t };
    let m = Manifest::new(inputs, run, None, outputs);
    let p = out.join("manifest.json");
    m.write(&p).map_err(io(&p))?;
    Ok(t)
}
