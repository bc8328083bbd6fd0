//! The data of a report's timeline explorer: a run's long-format `timeline.csv`
//! (`[replicate,]time,population,variable,value`) as one JSON object of series on a
//! common time grid, which the page's script draws with hover values and series
//! toggles. Only the first replicate is shown; long runs are thinned to at most
//! [`MAX_TIMES`] times so the page stays small.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::output::panels::TimeAxis;

/// Most time points kept per series.
pub const MAX_TIMES: usize = 1200;

#[derive(Debug, Serialize)]
pub struct Series {
    pub name: String,
    pub unit: String,
    /// Shown when the page opens: the cell counts of every population.
    pub on: bool,
    /// One value per time; `null` where the series has no value.
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Serialize)]
pub struct Explorer {
    pub time_label: String,
    pub times: Vec<f64>,
    pub series: Vec<Series>,
}

/// Read `timeline.csv`; `hours_per_unit` converts its time column (the model's unit)
/// to hours, so runs of days are shown in days (when unknown, times are shown as
/// written). `units` gives each variable's unit
/// where known. `None` when the file has no usable rows.
pub fn read(
    path: &Path,
    hours_per_unit: Option<f64>,
    units: &BTreeMap<String, String>,
) -> std::io::Result<Option<Explorer>> {
    let mut r = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
    let h = r.headers().map_err(std::io::Error::other)?.clone();
    let col = |name: &str| h.iter().position(|x| x == name);
    let (Some(ct), Some(cp), Some(cv), Some(cx)) = (
        col("time"),
        col("population"),
        col("variable"),
        col("value"),
    ) else {
        return Ok(None);
    };
    let crep = col("replicate");
    let mut first_rep: Option<String> = None;
    // (population, variable) -> time bits -> value, in first-seen order of series.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut points: Vec<BTreeMap<u64, f64>> = Vec::new();
    let mut times: Vec<f64> = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(std::io::Error::other)?;
        if let Some(c) = crep {
            let rep = rec.get(c).unwrap_or("").to_string();
            match &first_rep {
                None => first_rep = Some(rep),
                Some(f) if *f != rep => continue,
                _ => {}
            }
        }
        let (Some(t), Some(v)) = (
            rec.get(ct).and_then(|s| s.parse::<f64>().ok()),
            rec.get(cx).and_then(|s| s.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let key = (
            rec.get(cp).unwrap_or("").to_string(),
            rec.get(cv).unwrap_or("").to_string(),
        );
        let k = *index.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            points.push(BTreeMap::new());
            points.len() - 1
        });
        points[k].insert(t.to_bits(), v);
        if times.last().is_none_or(|&l| l != t) {
            times.push(t);
        }
    }
    times.sort_by(f64::total_cmp);
    times.dedup();
    if times.is_empty() {
        return Ok(None);
    }
    let stride = times.len().div_ceil(MAX_TIMES).max(1);
    let last = *times.last().expect("not empty");
    let kept: Vec<f64> = times
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, t)| i % stride == 0 || *t == last)
        .map(|(_, t)| t)
        .collect();
    let axis = match hours_per_unit {
        Some(h) => TimeAxis::for_run(last, h),
        None => TimeAxis {
            scale: 1.0,
            label: "time (model unit)",
        },
    };
    let series = order
        .into_iter()
        .zip(points)
        .map(|((pop, var), p)| Series {
            on: var == "cells",
            unit: units.get(&var).cloned().unwrap_or_default(),
            name: format!("{pop} {var}"),
            values: kept.iter().map(|t| p.get(&t.to_bits()).copied()).collect(),
        })
        .collect();
    Ok(Some(Explorer {
        time_label: axis.label.to_string(),
        times: kept.iter().map(|t| t * axis.scale).collect(),
        series,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_on_a_common_grid_first_replicate_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("timeline.csv");
        std::fs::write(
            &p,
            "replicate,time,population,variable,value\n\
             0,0,g,cells,10\n0,0,g,x,1\n0,48,g,cells,20\n0,96,g,cells,40\n0,96,g,x,2\n\
             1,0,g,cells,99\n",
        )
        .unwrap();
        let e = read(&p, Some(1.0), &BTreeMap::new()).unwrap().unwrap();
        assert_eq!(e.time_label, "time (days)");
        assert_eq!(e.times, vec![0.0, 2.0, 4.0]);
        assert_eq!(e.series[0].name, "g cells");
        assert!(e.series[0].on && !e.series[1].on);
        assert_eq!(e.series[0].values, vec![Some(10.0), Some(20.0), Some(40.0)]);
        assert_eq!(e.series[1].values, vec![Some(1.0), None, Some(2.0)]);
    }
}
