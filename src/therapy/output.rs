//! Writing a therapy run: `timeline.csv`, `events.csv`, `ic50.csv`, `summary.json`,
//! `manifest.json` and the plots, each written atomically (temporary name, then
//! rename), after the run has finished, so a failed run leaves no complete-looking
//! output.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::plot::TherapyFigure;
use super::types::{Summary, TherapyOptions, TherapyResult};
use crate::compile::CompiledModel;
use crate::engine::ode::{Column, SolverStats};
use crate::output::atomic::write_atomic;
use crate::output::manifest::{command_line, write_json, VERSION};
use crate::output::plot::PlotError;
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

/// Shortest round-trip text of a number, in exponent form when very large or small
/// (Rust's `Debug` for f64), so huge expanded populations stay readable.
pub fn num(v: f64) -> String {
    format!("{v:?}")
}

/// Long-format timeline: the readout rows (`time,population,variable,value`), with
/// the IC50 readouts merged in time order as population `ic50` and `ic50_fold`
/// (variable = drug; NaN when the IC50 is above the tested range or the fold is
/// undefined).
pub fn write_timeline(path: &Path, r: &TherapyResult) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["time", "population", "variable", "value"])?;
        let tl = &r.timeline;
        let mut k = 0;
        let mut ic50_rows = |csv: &mut csv::Writer<&mut dyn Write>, upto: f64| -> io::Result<()> {
            while k < r.ic50.len() && r.ic50[k].time <= upto {
                let x = &r.ic50[k];
                let t = num(x.time);
                csv.write_record([&t, "ic50", &x.drug, &num(x.ic50.unwrap_or(f64::NAN))])?;
                csv.write_record([&t, "ic50_fold", &x.drug, &num(x.fold.unwrap_or(f64::NAN))])?;
                k += 1;
            }
            Ok(())
        };
        for (row, &t) in tl.times.iter().enumerate() {
            let ts = num(t);
            for (col, c) in tl.columns.iter().enumerate() {
                csv.write_record([
                    ts.as_str(),
                    &c.population,
                    &c.variable,
                    &num(tl.get(row, col)),
                ])?;
            }
            ic50_rows(&mut csv, t)?;
        }
        ic50_rows(&mut csv, f64::INFINITY)?;
        csv.flush()?;
        Ok(())
    })
    .map_err(io_err(path))
}

/// `time,day,kind,drug,value,unit,detail`.
pub fn write_events(
    path: &Path,
    r: &TherapyResult,
    hours_per_unit: f64,
) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["time", "day", "kind", "drug", "value", "unit", "detail"])?;
        for e in &r.events {
            csv.write_record([
                num(e.time),
                num(e.time * hours_per_unit / 24.0),
                e.kind.label(),
                e.drug.clone().unwrap_or_default(),
                num(e.value),
                e.unit.clone(),
                e.detail.clone(),
            ])?;
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

#[derive(Serialize)]
struct FileRef<'a> {
    name: &'a str,
    path: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
struct Manifest<'a> {
    resloop_version: &'static str,
    command_line: Vec<String>,
    model: FileRef<'a>,
    schedule_file: FileRef<'a>,
    /// The checked schedule as the run used it (times in the model's unit).
    schedule: &'a Schedule,
    parameters: Vec<(&'a str, f64)>,
    options: &'a TherapyOptions,
    stats: SolverStats,
    assay_wells: usize,
    columns: &'a [Column],
    summary: &'a Summary,
    warnings: &'a [String],
    wall_seconds: f64,
    outputs: &'a [String],
}

/// Write every output of a run into `out` (created if needed). Returns the files
/// written (relative names).
pub fn write_run(
    out: &Path,
    model: &CompiledModel,
    schedule: &Schedule,
    options: &TherapyOptions,
    r: &TherapyResult,
    plots: bool,
) -> Result<Vec<String>, OutputError> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let mut outputs = Vec::new();
    let p = out.join("timeline.csv");
    write_timeline(&p, r)?;
    outputs.push("timeline.csv".to_string());
    let p = out.join("events.csv");
    write_events(&p, r, schedule.hours_per_unit)?;
    outputs.push("events.csv".to_string());
    if !r.ic50.is_empty() {
        let p = out.join("ic50.csv");
        write_ic50(&p, r, model)?;
        outputs.push("ic50.csv".to_string());
    }
    let p = out.join("summary.json");
    write_json(&p, &r.summary).map_err(io_err(&p))?;
    outputs.push("summary.json".to_string());
    if plots {
        TherapyFigure::new(model, schedule, r).save(&out.join("therapy"))?;
        outputs.extend(["therapy.png".to_string(), "therapy.svg".to_string()]);
    }
    let params = options
        .params
        .clone()
        .unwrap_or_else(|| model.param_values());
    let manifest = Manifest {
        resloop_version: VERSION,
        command_line: command_line(),
        model: FileRef {
            name: &model.meta.name,
            path: &model.meta.path,
            sha256: &model.meta.sha256,
        },
        schedule_file: FileRef {
            name: &schedule.name,
            path: &schedule.path,
            sha256: &schedule.sha256,
        },
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
        warnings: &r.warnings,
        wall_seconds: r.wall_seconds,
        outputs: &outputs,
    };
    // The manifest is written last: its presence marks a complete folder.
    let p = out.join("manifest.json");
    write_json(&p, &manifest).map_err(io_err(&p))?;
    outputs.push("manifest.json".to_string());
    Ok(outputs)
}
