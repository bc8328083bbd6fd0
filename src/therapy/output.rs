//! Writing a therapy run: `timeline.csv`, `events.csv`, `ic50.csv`, `summary.json`,
//! `manifest.json` and the plots, each written atomically (temporary name, then
//! rename), after the run has finished, so a failed run leaves no complete-looking
//! output.

use std::io;
use std::path::Path;

use serde::Serialize;

use super::ensemble::EnsembleSummary;
use super::plot::TherapyFigure;
use super::types::{Summary, TherapyOptions, TherapyResult};
use crate::compile::CompiledModel;
use crate::engine::ode::{Column, SolverStats};
use crate::output::atomic::write_atomic;
use crate::output::manifest::{model_ref, schedule_ref, write_json, Manifest};
use crate::output::plot::PlotError;
use crate::output::timeline::{csv_number as num, LongCsv};
use crate::schedule::Schedule;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Plot(#[from] PlotError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Long-format timeline: the readout rows (`time,population,variable,value`), with
/// the IC50 readouts merged in time order as population `ic50` and `ic50_fold`
/// (variable = drug; NaN when the IC50 is above the tested range or the fold is
/// undefined).
///
/// Replicates of a stochastic engine are stacked with a leading `replicate` column.
pub fn write_timeline(path: &Path, runs: &[TherapyResult]) -> Result<(), OutputError> {
    let with_rep = runs
        .first()
        .is_some_and(|r| r.summary.engine.is_stochastic());
    write_atomic(path, |w| {
        let mut csv = LongCsv::new(w, with_rep)?;
        for r in runs {
            let rep = r.summary.replicate.to_string();
            let mut k = 0;
            let mut ic50_rows = |csv: &mut LongCsv, upto: f64| -> io::Result<()> {
                while k < r.ic50.len() && r.ic50[k].time <= upto {
                    let x = &r.ic50[k];
                    let (v, f) = (x.ic50.unwrap_or(f64::NAN), x.fold.unwrap_or(f64::NAN));
                    csv.row(&rep, x.time, "ic50", &x.drug, v)?;
                    csv.row(&rep, x.time, "ic50_fold", &x.drug, f)?;
                    k += 1;
                }
                Ok(())
            };
            for (row, &t) in r.timeline.times.iter().enumerate() {
                csv.readout(&rep, &r.timeline, row)?;
                ic50_rows(&mut csv, t)?;
            }
            ic50_rows(&mut csv, f64::INFINITY)?;
        }
        csv.finish()
    })
    .map_err(io_err(path))
}

/// `time,day,kind,drug,value,unit,detail` (a leading `replicate` column for the
/// replicates of a stochastic engine).
pub fn write_events(
    path: &Path,
    runs: &[TherapyResult],
    hours_per_unit: f64,
) -> Result<(), OutputError> {
    let with_rep = runs
        .first()
        .is_some_and(|r| r.summary.engine.is_stochastic());
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let head = ["time", "day", "kind", "drug", "value", "unit", "detail"];
        if with_rep {
            let mut h = vec!["replicate"];
            h.extend(head);
            csv.write_record(h)?;
        } else {
            csv.write_record(head)?;
        }
        for r in runs {
            for e in &r.events {
                let mut rec = Vec::with_capacity(8);
                if with_rep {
                    rec.push(r.summary.replicate.to_string());
                }
                rec.extend([
                    num(e.time),
                    num(e.time * hours_per_unit / 24.0),
                    e.kind.label(),
                    e.drug.clone().unwrap_or_default(),
                    num(e.value),
                    e.unit.clone(),
                    e.detail.clone(),
                ]);
                csv.write_record(&rec)?;
            }
        }
        csv.flush()?;
        Ok(())
    })
    .map_err(io_err(path))
}

/// One row per IC50 readout with the fitted curve and each genotype's own IC50.
pub fn write_ic50(
    path: &Path,
    r: &TherapyResult,
    model: &CompiledModel,
) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let mut head: Vec<String> = [
            "time", "drug", "unit", "ic50", "top_dose", "fold", "e0", "emax", "hill", "r2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        head.extend(model.genotypes.iter().map(|g| format!("ic50_{}", g.name)));
        csv.write_record(&head)?;
        for x in &r.ic50 {
            let mut rec = vec![
                num(x.time),
                x.drug.clone(),
                x.unit.clone(),
                num(x.ic50.unwrap_or(f64::NAN)),
                num(x.top_dose),
                num(x.fold.unwrap_or(f64::NAN)),
                num(x.fit.e0),
                num(x.fit.emax),
                num(x.fit.h),
                num(x.fit.r2),
            ];
            rec.extend(x.genotype_ic50.iter().map(|v| num(v.unwrap_or(f64::NAN))));
            csv.write_record(&rec)?;
        }
        csv.flush()?;
        Ok(())
    })
    .map_err(io_err(path))
}

/// What `manifest.json` holds for a therapy run, inside the common envelope.
#[derive(Serialize)]
struct TherapyRun<'a> {
    /// The checked schedule as the run used it (times in the model's unit).
    schedule: &'a Schedule,
    parameters: Vec<(&'a str, f64)>,
    options: &'a TherapyOptions,
    stats: SolverStats,
    assay_wells: usize,
    columns: &'a [Column],
    /// The first replicate's summary (the only run of the mean-field engine).
    summary: &'a Summary,
    /// Replicates of a stochastic engine together.
    ensemble: Option<&'a EnsembleSummary>,
    warnings: &'a [String],
}

/// Write every output of a run into `out` (created if needed). Returns the files
/// written (relative names).
///
/// `runs` are the replicates of one schedule (one run for the mean-field engine);
/// `summary.json` holds each replicate's summary and, for several, the ensemble's.
pub fn write_run(
    out: &Path,
    model: &CompiledModel,
    schedule: &Schedule,
    options: &TherapyOptions,
    runs: &[TherapyResult],
    plots: bool,
) -> Result<Vec<String>, OutputError> {
    let r = &runs[0];
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let mut outputs = Vec::new();
    let p = out.join("timeline.csv");
    write_timeline(&p, runs)?;
    outputs.push("timeline.csv".to_string());
    let p = out.join("events.csv");
    write_events(&p, runs, schedule.hours_per_unit)?;
    outputs.push("events.csv".to_string());
    if !r.ic50.is_empty() {
        let p = out.join("ic50.csv");
        write_ic50(&p, r, model)?;
        outputs.push("ic50.csv".to_string());
    }
    let ensemble = (runs.len() > 1).then(|| EnsembleSummary::of(runs));
    let p = out.join("summary.json");
    if let Some(e) = &ensemble {
        #[derive(Serialize)]
        struct Both<'a> {
            ensemble: &'a EnsembleSummary,
            replicates: Vec<&'a Summary>,
        }
        let both = Both {
            ensemble: e,
            replicates: runs.iter().map(|r| &r.summary).collect(),
        };
        write_json(&p, &both).map_err(io_err(&p))?;
    } else {
        write_json(&p, &r.summary).map_err(io_err(&p))?;
    }
    outputs.push("summary.json".to_string());
    if plots {
        TherapyFigure::new(model, schedule, r).save(&out.join("therapy"))?;
        outputs.extend(["therapy.png".to_string(), "therapy.svg".to_string()]);
    }
    let params = options
        .params
        .clone()
        .unwrap_or_else(|| model.param_values());
    let run = TherapyRun {
        schedule,
        parameters: model
            .params
            .iter()
            .zip(&params)
            .map(|(q, v)| (q.name.as_str(), *v))
            .collect(),
        options,
        stats: r.stats,
        assay_wells: r.assay_wells,
        columns: &r.timeline.columns,
        summary: &r.summary,
        ensemble: ensemble.as_ref(),
        warnings: &r.warnings,
    };
    let inputs = vec![model_ref(model), schedule_ref(schedule)];
    let manifest = Manifest::new(inputs, run, Some(r.wall_seconds), outputs.clone());
    // The manifest is written last: its presence marks a complete folder.
    let p = out.join("manifest.json");
    manifest.write(&p).map_err(io_err(&p))?;
    outputs.push("manifest.json".to_string());
    Ok(outputs)
}
