//! Tidy timeline CSV: one row per time x population x variable.

use std::io::{self, Write};
use std::path::Path;

use super::atomic::write_atomic;
use crate::engine::ode::Timeline;

/// A value outside its physical range in a timeline: the run fails with the time,
/// the variable and the value instead of writing it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at t = {time} {time_unit}, `{population}` `{variable}` = {value}, but {expected}; the run is refused and nothing was written (a model that evaluates to this is wrong, or the solver tolerances are too loose)")]
pub struct NonPhysical {
    pub time: f64,
    pub time_unit: String,
    pub population: String,
    pub variable: String,
    pub value: f64,
    pub expected: &'static str,
}

/// Cell counts and drug concentrations may dip this far below zero through the
/// solver's absolute error (atol is 1e-9 by default) before they are refused.
pub const COUNT_SLACK: f64 = 1e-6;
/// Rates may be this far below zero through rounding (`k * (1 - hill)` near 1).
pub const RATE_SLACK: f64 = 1e-12;

/// Check every value of a timeline before it is written: every value finite; cell
/// counts, tumour volumes and drug exposures non-negative (to [`COUNT_SLACK`]);
/// division and death rates non-negative (to [`RATE_SLACK`]). Species and
/// observables only need to be finite (a model may define a signed quantity).
pub fn check_timeline(tl: &Timeline) -> Result<(), NonPhysical> {
    let floors: Vec<Option<(f64, &'static str)>> = tl
        .columns
        .iter()
        .map(|c| match (c.population.as_str(), c.variable.as_str()) {
            ("exposure", _) => Some((-COUNT_SLACK, "a drug concentration cannot be negative")),
            (_, "cells") => Some((-COUNT_SLACK, "a number of cells cannot be negative")),
            (_, "tumour_volume") => Some((-COUNT_SLACK, "a volume cannot be negative")),
            (_, "division_rate" | "death_rate") => {
                Some((-RATE_SLACK, "a division or death rate cannot be negative"))
            }
            _ => None,
        })
        .collect();
    for (row, &t) in tl.times.iter().enumerate() {
        for (col, c) in tl.columns.iter().enumerate() {
            let v = tl.get(row, col);
            let expected = if !v.is_finite() {
                "every value written must be finite"
            } else {
                match floors[col] {
                    Some((floor, why)) if v < floor => why,
                    _ => continue,
                }
            };
            return Err(NonPhysical {
                time: t,
                time_unit: tl.time_unit.clone(),
                population: c.population.clone(),
                variable: c.variable.clone(),
                value: v,
                expected,
            });
        }
    }
    Ok(())
}

/// Write `time,population,variable,value` rows of one run, or of several (the
/// replicates of a stochastic engine, numbered from 0) stacked under a leading
/// `replicate` column (units are listed in the manifest). Refuses (with an
/// [`io::Error`] wrapping [`NonPhysical`]) a timeline that fails [`check_timeline`],
/// so no writer can put out-of-range numbers on disk.
pub fn write_timeline_csv(path: &Path, runs: &[&Timeline]) -> io::Result<()> {
    for tl in runs {
        check_timeline(tl).map_err(io::Error::other)?;
    }
    write_atomic(path, |w| {
        let mut csv = LongCsv::new(w, runs.len() > 1)?;
        for (r, tl) in runs.iter().enumerate() {
            csv.timeline(&r.to_string(), tl)?;
        }
        csv.finish()
    })
}

/// The one writer of long-format timelines, `[replicate,]time,population,variable,
/// value`, used by every command that writes `timeline.csv` (simulate, therapy and
/// compare, abm): one header, one quoting, one number format ([`csv_number`]).
/// With replicates, the first column names the replicate (its number, or the name of
/// an ensemble band such as `median`).
pub struct LongCsv<'w> {
    csv: csv::Writer<&'w mut dyn Write>,
    with_replicate: bool,
}

impl<'w> LongCsv<'w> {
    /// Start a table on `w` (writes the header).
    pub fn new(w: &'w mut dyn Write, with_replicate: bool) -> io::Result<LongCsv<'w>> {
        let mut csv = csv::Writer::from_writer(w);
        if with_replicate {
            csv.write_record(["replicate", "time", "population", "variable", "value"])?;
        } else {
            csv.write_record(["time", "population", "variable", "value"])?;
        }
        Ok(LongCsv {
            csv,
            with_replicate,
        })
    }

    /// One row; `replicate` is ignored by a table without the column.
    pub fn row(
        &mut self,
        replicate: &str,
        time: f64,
        population: &str,
        variable: &str,
        value: f64,
    ) -> io::Result<()> {
        let (t, v) = (csv_number(time), csv_number(value));
        if self.with_replicate {
            self.csv
                .write_record([replicate, &t, population, variable, &v])?;
        } else {
            self.csv.write_record([&t, population, variable, &v])?;
        }
        Ok(())
    }

    /// Every row of one readout of `tl`.
    pub fn readout(&mut self, replicate: &str, tl: &Timeline, row: usize) -> io::Result<()> {
        let t = tl.times[row];
        for (col, c) in tl.columns.iter().enumerate() {
            self.row(replicate, t, &c.population, &c.variable, tl.get(row, col))?;
        }
        Ok(())
    }

    /// Every row of `tl`.
    pub fn timeline(&mut self, replicate: &str, tl: &Timeline) -> io::Result<()> {
        for row in 0..tl.times.len() {
            self.readout(replicate, tl, row)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.csv.flush()
    }
}

/// A number as the CSV files write it: whole numbers below 1e15 as integers (cell
/// counts), anything else as the shortest text that reads back to the same `f64`, in
/// exponent form when very large or small (`1e84` expanded cells, not 85 digits).
pub fn csv_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}
