//! CSV writers and plots for agent-based results. Files are written atomically
//! (`crate::output::atomic::write_atomic`), plots as PNG and SVG.
//!
//! Files:
//! - `clones.csv`: one row per clone per replicate (lineage, origin, sizes).
//! - replicate summary CSV: one row per replicate.
//! - timeline CSV, long format `replicate,time,population,variable,value` (the ODE
//!   timeline's columns plus `replicate`): `replicate` is the replicate index, or
//!   `median`, `q25`, `q75` for the bands across replicates (or `all` for exposure);
//!   `population` is `total`, a genotype or `exposure`; `variable` is `cells`, a
//!   species (mean over the population's cells) or a drug.
//! - Muller CSV: `replicate,time,clone,parent,genotype,size`.

use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ensemble::{Ensemble, Origin, Variable};
use crate::engine::agent::error::AbmError;
use crate::engine::agent::simulation::{CellSnapshot, ReplicateResult};
use crate::output::atomic::write_atomic;
use crate::output::number::sig;
use crate::output::panels::{series_colour, Line, Panel, TimeAxis};
use crate::output::plot::{draw_png_and_svg, Figure};
use crate::output::timeline::LongCsv;
use crate::pkpd::{DoseEvent, DoseKind};

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AbmError + '_ {
    move |source| AbmError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, |v| v.to_string())
}

/// `clones.csv`: `replicate,clone,parent,genotype,born,origin,final_size,max_size`.
pub fn write_clones_csv(path: &Path, ens: &Ensemble) -> Result<(), AbmError> {
    write_atomic(path, |w| {
        writeln!(
            w,
            "replicate,clone,parent,genotype,born,origin,final_size,max_size"
        )?;
        for r in &ens.replicates {
            for c in &r.clones {
                writeln!(
                    w,
                    "{},{},{},{},{},{},{},{}",
                    r.replicate,
                    c.id,
                    c.parent.map_or_else(String::new, |p| p.to_string()),
                    c.genotype,
                    c.born,
                    Origin::of(c, r.treatment_start).name(),
                    c.size,
                    c.max_size
                )?;
            }
        }
        Ok(())
    })
    .map_err(io_err(path))
}

/// Per-replicate summary CSV; last, each genotype's divisions, deaths and mutant
/// arrivals over the replicate ([`crate::engine::agent::Simulation::counters`]).
pub fn write_summary_csv(path: &Path, ens: &Ensemble) -> Result<(), AbmError> {
    write_atomic(path, |w| {
        write!(w, "replicate,final_time,final_population")?;
        for g in &ens.genotype_names {
            write!(w, ",final_{g}")?;
        }
        write!(
            w,
            ",extinction_time,resistance_time,dominant_clone,dominant_genotype,dominant_origin,\
             relapse_clone,relapse_genotype,relapse_origin,clamps"
        )?;
        for what in ["divisions", "deaths", "arrivals"] {
            for g in &ens.genotype_names {
                write!(w, ",{what}_{g}")?;
            }
        }
        writeln!(w)?;
        let clone_cols = |c: Option<(u32, usize, Origin)>| match c {
            Some((id, g, o)) => format!("{id},{},{}", ens.genotype_names[g], o.name()),
            None => ",,".to_string(),
        };
        for (s, r) in ens.summaries.iter().zip(&ens.replicates) {
            write!(w, "{},{},{}", s.replicate, s.final_time, s.final_total)?;
            for g in 0..ens.n_genotypes {
                write!(w, ",{}", s.final_by_genotype.get(g).copied().unwrap_or(0))?;
            }
            write!(
                w,
                ",{},{},{},{},{}",
                opt(s.extinction_time),
                opt(s.resistance_time),
                clone_cols(s.dominant_clone),
                clone_cols(s.relapse_clone),
                s.clamps
            )?;
            let c = &r.counters;
            for v in [&c.divisions, &c.deaths, &c.arrivals] {
                for g in 0..ens.n_genotypes {
                    write!(w, ",{}", v.get(g).copied().unwrap_or(0.0))?;
                }
            }
            writeln!(w)?;
        }
        Ok(())
    })
    .map_err(io_err(path))
}

/// Drug exposure to add to a timeline: every drug's concentration at each readout
/// `(time, concentrations)`, and the drug names.
pub struct ExposureRows<'a> {
    pub readouts: &'a [(f64, Vec<f64>)],
    pub drugs: &'a [String],
}

/// `(population, variable)` labels of a band variable.
pub fn variable_labels(ens: &Ensemble, v: Variable) -> (&str, &str) {
    match v {
        Variable::Total => ("total", "cells"),
        Variable::Genotype(g) => (ens.genotype_names[g].as_str(), "cells"),
        Variable::SpeciesMean(s) => ("total", ens.species_names[s].as_str()),
    }
}

/// Timeline in long format `replicate,time,population,variable,value` (the one
/// long-format writer, [`LongCsv`]): per replicate (cells of the population and of
/// each genotype, mean loop species of the population and of each genotype present;
/// a schedule driver's scheduled doses as population `dose` and IC50 readouts as
/// `total,ic50`), the bands (replicate `median`, `q25`, `q75`), and the exposure at
/// the readouts if given (replicate `all`). `scheduled_drugs` names the drugs of
/// the driver's dose records. Undefined values (means over no cell) are left out.
pub fn write_timeline_csv(
    path: &Path,
    ens: &Ensemble,
    exposure: Option<&ExposureRows<'_>>,
    scheduled_drugs: &[String],
) -> Result<(), AbmError> {
    let ns = ens.species_names.len();
    write_atomic(path, |w| {
        let mut csv = LongCsv::new(w, true)?;
        for r in &ens.replicates {
            let k = r.replicate.to_string();
            for rec in &r.timeline {
                let t = rec.t;
                csv.row(&k, t, "total", "cells", rec.total as f64)?;
                for (g, &n) in rec.by_genotype.iter().enumerate() {
                    csv.row(&k, t, &ens.genotype_names[g], "cells", n as f64)?;
                }
                if rec.total > 0 {
                    for (s, name) in ens.species_names.iter().enumerate() {
                        csv.row(&k, t, "total", name, rec.species_mean_all(s))?;
                    }
                }
                for (g, &n) in rec.by_genotype.iter().enumerate() {
                    if n == 0 {
                        continue;
                    }
                    for (s, name) in ens.species_names.iter().enumerate() {
                        let v = rec.species_mean[g * ns + s];
                        csv.row(&k, t, &ens.genotype_names[g], name, v)?;
                    }
                }
            }
            for (t, doses) in &r.doses {
                for (name, &v) in scheduled_drugs.iter().zip(doses) {
                    csv.row(&k, *t, "dose", name, v)?;
                }
            }
            for &(t, ic50) in &r.ic50 {
                if let Some(v) = ic50 {
                    csv.row(&k, t, "total", "ic50", v)?;
                }
            }
        }
        for b in &ens.bands {
            let (pop, var) = variable_labels(ens, b.variable);
            for (name, v) in [("median", b.median), ("q25", b.q25), ("q75", b.q75)] {
                if !v.is_nan() {
                    csv.row(name, b.t, pop, var, v)?;
                }
            }
        }
        if let Some(x) = exposure {
            for (t, c) in x.readouts {
                for (d, &v) in x.drugs.iter().zip(c) {
                    csv.row("all", *t, "exposure", d, v)?;
                }
            }
        }
        csv.finish()
    })
    .map_err(io_err(path))
}

/// Muller-plot data: `replicate,time,clone,parent,genotype,size` for living clones.
pub fn write_muller_csv(path: &Path, ens: &Ensemble) -> Result<(), AbmError> {
    write_atomic(path, |w| {
        writeln!(w, "replicate,time,clone,parent,genotype,size")?;
        for r in &ens.replicates {
            for cs in &r.clone_sizes {
                for &(id, size) in &cs.sizes {
                    let c = &r.clones[id as usize];
                    writeln!(
                        w,
                        "{},{},{},{},{},{}",
                        r.replicate,
                        cs.t,
                        id,
                        c.parent.map_or_else(String::new, |p| p.to_string()),
                        c.genotype,
                        size
                    )?;
                }
            }
        }
        Ok(())
    })
    .map_err(io_err(path))
}

/// The shared colour-blind-safe palette of the timeline figures.
/// `events.csv`: `replicate,time,event,clone,parent,genotype,value,detail`, sorted by
/// replicate (doses, common to all, first as `all`) then time. Events: `dose` (value:
/// amount in the drug's unit or mg/kg), `mutation` (a clone founded by a mutation at
/// division; value: its largest size), `passage` (value: cells kept; detail: before),
/// `extinction`, `resistance` (the largest clone at that time and its origin).
pub fn write_events_csv(
    path: &Path,
    ens: &Ensemble,
    doses: &[DoseEvent],
    drug_names: &[String],
) -> Result<(), AbmError> {
    write_atomic(path, |w| {
        writeln!(w, "replicate,time,event,clone,parent,genotype,value,detail")?;
        for d in doses {
            let name = drug_names.get(d.drug).map_or("?", |s| s.as_str());
            let (v, what) = match d.kind {
                DoseKind::SetConcentration { value } => (value, "medium set to"),
                DoseKind::Bolus { mg_per_kg } => (mg_per_kg, "bolus mg/kg"),
            };
            writeln!(w, "all,{},dose,,,,{v},{name} {what}", d.time)?;
        }
        for (r, sum) in ens.replicates.iter().zip(&ens.summaries) {
            let k = r.replicate;
            // (time, order within a time, line)
            let mut rows: Vec<(f64, u8, String)> = Vec::new();
            for c in r.clones.iter().filter(|c| c.parent.is_some()) {
                rows.push((
                    c.born,
                    0,
                    format!(
                        "{k},{},mutation,{},{},{},{},{}",
                        c.born,
                        c.id,
                        c.parent.map_or_else(String::new, |p| p.to_string()),
                        ens.genotype_names[c.genotype],
                        c.max_size,
                        Origin::of(c, r.treatment_start).name()
                    ),
                ));
            }
            for p in &r.passages {
                rows.push((
                    p.t,
                    1,
                    format!("{k},{},passage,,,,{},before={}", p.t, p.after, p.before),
                ));
            }
            if let Some(t) = r.extinction_time {
                rows.push((t, 2, format!("{k},{t},extinction,,,,0,")));
            }
            for e in &r.events {
                // Resistance events of a driver are summarised by the row below.
                if e.kind.starts_with("resistance") && sum.resistance_time == Some(e.t) {
                    continue;
                }
                let order = if e.kind == "stop" { 4 } else { 1 };
                rows.push((
                    e.t,
                    order,
                    format!(
                        "{k},{},{},,,{},{},{}",
                        e.t,
                        e.kind,
                        e.drug.as_deref().unwrap_or(""),
                        e.value,
                        csv_text(&if e.unit.is_empty() {
                            e.detail.clone()
                        } else {
                            format!("[{}] {}", e.unit, e.detail).trim_end().to_string()
                        })
                    ),
                ));
            }
            if let Some(t) = sum.resistance_time {
                let (clone, g, o) = match sum.relapse_clone {
                    Some((id, g, o)) => (id.to_string(), ens.genotype_names[g].as_str(), o.name()),
                    None => (String::new(), "", ""),
                };
                let rule = r
                    .resistance
                    .as_ref()
                    .map_or(String::new(), |x| format!(" ({})", x.1));
                rows.push((t, 3, format!("{k},{t},resistance,{clone},,{g},,{o}{rule}")));
            }
            rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (_, _, line) in rows {
                writeln!(w, "{line}")?;
            }
        }
        Ok(())
    })
    .map_err(io_err(path))
}

/// Text safe in one CSV field: quoted when it holds a comma or a quote.
fn csv_text(s: &str) -> String {
    if s.contains(',') || s.contains('"') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn palette(i: usize) -> RGBAColor {
    series_colour(i)
}

fn log10_cells(x: f64) -> f64 {
    x.max(1.0).log10()
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Median and interquartile band of each genotype's population over time.
pub struct PopulationFigure<'a> {
    pub ensemble: &'a Ensemble,
    pub time_unit: &'a str,
}

impl Figure for PopulationFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(s)?;
        let b = &self.ensemble.bands;
        let t_max = b.iter().map(|x| x.t).fold(0.0, f64::max).max(1e-9);
        let y_max = b
            .iter()
            .filter(|x| !matches!(x.variable, Variable::SpeciesMean(_)))
            .map(|x| log10_cells(x.q75))
            .fold(1.0, f64::max)
            + 0.5;
        let mut chart = ChartBuilder::on(area)
            .caption("Population by genotype (median, IQR)", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc(format!("time ({})", self.time_unit))
            .y_desc("cells")
            .x_label_formatter(&|v: &f64| sig(*v, 4))
            .y_label_formatter(&|v: &f64| sig(10f64.powf(*v), 2))
            .draw()
            .map_err(s)?;
        let vars = std::iter::once(Variable::Total)
            .chain((0..self.ensemble.n_genotypes).map(Variable::Genotype));
        for (k, v) in vars.enumerate() {
            let name = match v {
                Variable::Genotype(g) => self.ensemble.genotype_names[g].clone(),
                _ => "all cells".to_string(),
            };
            let rows: Vec<_> = b.iter().filter(|x| x.variable == v).collect();
            let col = palette(k);
            let mut poly: Vec<(f64, f64)> =
                rows.iter().map(|x| (x.t, log10_cells(x.q75))).collect();
            poly.extend(rows.iter().rev().map(|x| (x.t, log10_cells(x.q25))));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, col.mix(0.2).filled())))
                .map_err(s)?;
            chart
                .draw_series(LineSeries::new(
                    rows.iter().map(|x| (x.t, log10_cells(x.median))),
                    col.stroke_width(2),
                ))
                .map_err(s)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(s)?;
        Ok(())
    }
}

/// Histogram of times to resistance across replicates.
pub struct ResistanceTimeFigure<'a> {
    pub times: &'a [f64],
    pub replicates: usize,
    pub time_unit: &'a str,
}

impl Figure for ResistanceTimeFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(s)?;
        let lo = self.times.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let bins = ((self.times.len() as f64).sqrt().ceil() as usize).clamp(1, 40);
        let width = ((hi - lo) / bins as f64).max(1e-9);
        let mut counts = vec![0u64; bins];
        for &t in self.times {
            counts[(((t - lo) / width) as usize).min(bins - 1)] += 1;
        }
        let c_max = counts.iter().copied().max().unwrap_or(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "Time to resistance ({} of {} replicates)",
                    self.times.len(),
                    self.replicates
                ),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..lo + width * bins as f64, 0.0..c_max * 1.1)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc(format!("time to resistance ({})", self.time_unit))
            .y_desc("replicates (count)")
            .draw()
            .map_err(s)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], palette(0).filled())
            }))
            .map_err(s)?;
        Ok(())
    }
}

/// Muller plot of one replicate: clone fractions stacked in lineage (depth-first)
/// order, so a mutant's band sits next to its parent's, coloured by genotype with a
/// legend; below it, the cells of each genotype on a log axis, where a mutant too
/// rare to show as a band is still visible.
pub struct MullerFigure<'a> {
    pub replicate: &'a ReplicateResult,
    pub genotypes: &'a [String],
    pub time_unit: &'a str,
}

impl MullerFigure<'_> {
    fn dfs_order(&self) -> Vec<u32> {
        let clones = &self.replicate.clones;
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); clones.len()];
        let mut roots = Vec::new();
        for c in clones {
            match c.parent {
                Some(p) => children[p as usize].push(c.id),
                None => roots.push(c.id),
            }
        }
        let mut order = Vec::with_capacity(clones.len());
        let mut stack: Vec<u32> = roots.into_iter().rev().collect();
        while let Some(c) = stack.pop() {
            order.push(c);
            stack.extend(children[c as usize].iter().rev());
        }
        order
    }

    /// Cells of each genotype at each record.
    fn genotype_cells(&self) -> Vec<Vec<(f64, f64)>> {
        let r = self.replicate;
        let mut out = vec![Vec::with_capacity(r.clone_sizes.len()); self.genotypes.len()];
        for cs in &r.clone_sizes {
            let mut n = vec![0u64; self.genotypes.len()];
            for &(id, size) in &cs.sizes {
                if let Some(slot) = r
                    .clones
                    .get(id as usize)
                    .and_then(|c| n.get_mut(c.genotype))
                {
                    *slot += size;
                }
            }
            for (g, v) in n.into_iter().enumerate() {
                out[g].push((cs.t, v as f64));
            }
        }
        out
    }
}

/// The replicate whose non-founder genotypes reached the largest fraction (the
/// first on ties): the one a Muller plot has most to show about.
pub fn most_mutant(ens: &Ensemble) -> Option<&ReplicateResult> {
    let mutant_peak = |r: &ReplicateResult| -> f64 {
        r.clone_sizes
            .iter()
            .map(|cs| {
                let total: u64 = cs.sizes.iter().map(|x| x.1).sum();
                let mutant: u64 = cs
                    .sizes
                    .iter()
                    .filter(|(id, _)| r.clones.get(*id as usize).is_some_and(|c| c.genotype != 0))
                    .map(|x| x.1)
                    .sum();
                if total > 0 {
                    mutant as f64 / total as f64
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max)
    };
    let mut best: Option<(&ReplicateResult, f64)> = None;
    for r in &ens.replicates {
        let f = mutant_peak(r);
        if best.is_none_or(|(_, b)| f > b) {
            best = Some((r, f));
        }
    }
    best.map(|b| b.0)
}

impl Figure for MullerFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(s)?;
        let r = self.replicate;
        let axis = TimeAxis::for_run(
            r.clone_sizes.last().map_or(1.0, |c| c.t),
            if self.time_unit == "d" { 24.0 } else { 1.0 },
        );
        let t_max = (r.clone_sizes.last().map_or(1.0, |c| c.t) * axis.scale).max(1e-9);
        let order = self.dfs_order();
        let mut rank = vec![0usize; r.clones.len()];
        for (k, &c) in order.iter().enumerate() {
            rank[c as usize] = k;
        }
        let (top, bottom) = area.split_vertically(area.dim_in_pixel().1 * 55 / 100);
        let (w, _) = top.dim_in_pixel();
        let (plot, legend) = top.split_horizontally(w.saturating_sub(210));
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                format!(
                    "Clone fractions, replicate {} (bands: clones in lineage order)",
                    r.replicate
                ),
                ("sans-serif", 18),
            )
            .margin(8)
            .x_label_area_size(38)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max, 0.0..1.0)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc(axis.label)
            .y_desc("fraction of cells")
            .x_label_formatter(&|v: &f64| sig(*v, 4))
            .y_label_formatter(&|v: &f64| sig(*v, 3))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(s)?;
        let n = r.clones.len();
        let mut lower = vec![vec![0.0; r.clone_sizes.len()]; n];
        let mut upper = vec![vec![0.0; r.clone_sizes.len()]; n];
        for (k, cs) in r.clone_sizes.iter().enumerate() {
            let total: u64 = cs.sizes.iter().map(|x| x.1).sum();
            let mut frac = vec![0.0; n];
            for &(id, size) in &cs.sizes {
                frac[rank[id as usize]] = if total > 0 {
                    size as f64 / total as f64
                } else {
                    0.0
                };
            }
            let mut acc = 0.0;
            for (j, f) in frac.iter().enumerate() {
                lower[order[j] as usize][k] = acc;
                acc += f;
                upper[order[j] as usize][k] = acc;
            }
        }
        for c in &order {
            let ci = *c as usize;
            if r.clones[ci].max_size == 0 {
                continue;
            }
            let mut poly: Vec<(f64, f64)> = r
                .clone_sizes
                .iter()
                .enumerate()
                .map(|(k, cs)| (cs.t * axis.scale, upper[ci][k]))
                .collect();
            poly.extend(
                r.clone_sizes
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(k, cs)| (cs.t * axis.scale, lower[ci][k])),
            );
            // Clones of one genotype share its colour, in shades, so sister clones
            // stay apart.
            let col =
                series_colour(r.clones[ci].genotype).mix(0.45 + 0.55 * ((ci % 4) as f64 / 3.0));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, col.filled())))
                .map_err(s)?;
        }
        let font = ("sans-serif", 12).into_font();
        for (g, name) in self.genotypes.iter().enumerate() {
            let y = 40 + 17 * g as i32;
            legend
                .draw(&Rectangle::new(
                    [(4, y - 6), (26, y + 6)],
                    series_colour(g).filled(),
                ))
                .map_err(s)?;
            legend
                .draw(&Text::new(name.clone(), (30, y - 6), font.clone()))
                .map_err(s)?;
        }
        let mut cells = Panel::new("Cells of each genotype (this replicate)", "cells", true);
        cells.log_floor = Some(0.5);
        for (g, pts) in self.genotype_cells().into_iter().enumerate() {
            let pts = pts.into_iter().map(|(t, v)| (t * axis.scale, v)).collect();
            cells
                .lines
                .push(Line::new(self.genotypes[g].clone(), pts, series_colour(g)));
        }
        cells.draw_on(&bottom, t_max, axis.label)
    }
}

/// Distribution of one species across single cells at one or more snapshot times,
/// as overlaid outlines of histograms with common bins (fractions of cells, so each
/// outline sums to 1; lumped clones weigh by their size).
pub struct SpeciesDistributionFigure<'a> {
    pub snapshots: &'a [&'a CellSnapshot],
    pub species: usize,
    pub species_label: &'a str,
    pub unit: &'a str,
    pub time_unit: &'a str,
}

impl SpeciesDistributionFigure<'_> {
    const BINS: usize = 40;

    /// Common bins `(lo, width)` and, per snapshot, the fraction of cells per bin.
    fn histograms(&self) -> (f64, f64, Vec<Vec<f64>>) {
        let s = self.species;
        fn values(snap: &CellSnapshot, s: usize) -> impl Iterator<Item = f64> + '_ {
            let ns = snap.n_species;
            (0..snap.weights.len()).map(move |k| snap.values[k * ns + s] as f64)
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for snap in self.snapshots {
            for v in values(snap, s) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        let width = ((hi - lo) / Self::BINS as f64).max(1e-6 * hi.abs().max(1e-12));
        let hists = self
            .snapshots
            .iter()
            .map(|snap| {
                let total: f64 = snap.weights.iter().map(|&w| w as f64).sum();
                let mut mass = vec![0.0f64; Self::BINS];
                for (v, &w) in values(snap, s).zip(&snap.weights) {
                    mass[(((v - lo) / width) as usize).min(Self::BINS - 1)] +=
                        w as f64 / total.max(1.0);
                }
                mass
            })
            .collect();
        (lo, width, hists)
    }
}

impl Figure for SpeciesDistributionFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(s)?;
        let (lo, width, hists) = self.histograms();
        let m_max = hists
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
            .max(1e-12);
        let hi = lo + width * Self::BINS as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} across single cells", self.species_label),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0.0..m_max * 1.1)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc(format!("{} ({})", self.species_label, self.unit))
            .y_desc("fraction of cells")
            .draw()
            .map_err(s)?;
        for (k, (snap, mass)) in self.snapshots.iter().zip(&hists).enumerate() {
            let col = palette(k);
            // Outline of the histogram: a step line through the bin tops.
            let mut pts = vec![(lo, 0.0)];
            for (i, &m) in mass.iter().enumerate() {
                let x0 = lo + i as f64 * width;
                pts.push((x0, m));
                pts.push((x0 + width, m));
            }
            pts.push((hi, 0.0));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    pts.clone(),
                    col.mix(0.15).filled(),
                )))
                .map_err(s)?;
            chart
                .draw_series(LineSeries::new(pts, col.stroke_width(2)))
                .map_err(s)?
                .label(format!("t = {} {}", snap.t, self.time_unit))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(s)?;
        Ok(())
    }
}

const SIZE: (u32, u32) = (900, 600);

/// Population by genotype (median and IQR): `stem.png` and `stem.svg`.
pub fn plot_population(stem: &Path, ens: &Ensemble, time_unit: &str) -> Result<(), AbmError> {
    if ens.bands.is_empty() {
        return Err(AbmError::NothingToPlot("the ensemble has no timeline"));
    }
    let fig = PopulationFigure {
        ensemble: ens,
        time_unit,
    };
    Ok(draw_png_and_svg(stem, SIZE, &fig)?)
}

/// Histogram of time to resistance.
pub fn plot_resistance_times(stem: &Path, ens: &Ensemble, time_unit: &str) -> Result<(), AbmError> {
    let times = ens.resistance_times();
    if times.is_empty() {
        return Err(AbmError::NothingToPlot("no replicate became resistant"));
    }
    let fig = ResistanceTimeFigure {
        times: &times,
        replicates: ens.summaries.len(),
        time_unit,
    };
    Ok(draw_png_and_svg(stem, SIZE, &fig)?)
}

/// Muller plot of one replicate.
pub fn plot_muller(
    stem: &Path,
    rep: &ReplicateResult,
    genotypes: &[String],
    time_unit: &str,
) -> Result<(), AbmError> {
    if rep.clone_sizes.is_empty() {
        return Err(AbmError::NothingToPlot(
            "no clone sizes recorded (record_clones off)",
        ));
    }
    let fig = MullerFigure {
        replicate: rep,
        genotypes,
        time_unit,
    };
    Ok(draw_png_and_svg(stem, (1000, 760), &fig)?)
}

/// Single-cell distribution of one species at one snapshot.
pub fn plot_species_distribution(
    stem: &Path,
    snapshot: &CellSnapshot,
    species: usize,
    species_label: &str,
    unit: &str,
    time_unit: &str,
) -> Result<(), AbmError> {
    let drawn = plot_species_distributions(
        stem,
        std::slice::from_ref(snapshot),
        species,
        species_label,
        unit,
        time_unit,
    )?;
    if !drawn {
        return Err(AbmError::NothingToPlot(
            "the snapshot has no such species or no cells",
        ));
    }
    Ok(())
}

/// Single-cell distributions of one species at several snapshots, overlaid. Returns
/// false (and draws nothing) when no snapshot has a cell or the species is out of
/// range.
pub fn plot_species_distributions(
    stem: &Path,
    snapshots: &[CellSnapshot],
    species: usize,
    species_label: &str,
    unit: &str,
    time_unit: &str,
) -> Result<bool, AbmError> {
    let usable: Vec<&CellSnapshot> = snapshots
        .iter()
        .filter(|x| species < x.n_species && !x.weights.is_empty())
        .collect();
    if usable.is_empty() {
        return Ok(false);
    }
    let fig = SpeciesDistributionFigure {
        snapshots: &usable,
        species,
        species_label,
        unit,
        time_unit,
    };
    draw_png_and_svg(stem, SIZE, &fig)?;
    Ok(true)
}
