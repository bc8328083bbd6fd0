//! Therapy figures, written as PNG and SVG through the shared helpers:
//! - `therapy`: population on a log axis with the dose steps shaded and resistance
//!   events marked, the loop species and observables of the base genotype, the dose
//!   in force, and the IC50 readouts over time;
//! - `compare` (see [`CompareFigure`]): several schedules overlaid.
//!
//! Time is shown in days whatever the model's unit. Log panels draw log10 of the
//! values on a linear axis labelled in powers of ten.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::types::{EventKind, TherapyResult};
use crate::compile::CompiledModel;
use crate::output::plot::{draw_png_and_svg, Figure, PlotError};
use crate::output::timeline_plot::PALETTE;
use crate::schedule::Schedule;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// A line of a panel: label, points (x in days), colour, dashed.
pub(crate) struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBAColor,
    /// Draw markers only (for sparse readouts).
    pub markers: bool,
}

/// A panel: lines, shaded x-bands, vertical event marks.
pub(crate) struct Panel {
    pub title: String,
    pub y_label: String,
    pub log: bool,
    pub lines: Vec<Line>,
    /// (from, to, colour) in days.
    pub bands: Vec<(f64, f64, RGBAColor)>,
    /// (day, label) vertical dashed marks.
    pub marks: Vec<(f64, String)>,
}

impl Panel {
    pub fn new(title: &str, y_label: &str, log: bool) -> Panel {
        Panel {
            title: title.into(),
            y_label: y_label.into(),
            log,
            lines: Vec::new(),
            bands: Vec::new(),
            marks: Vec::new(),
        }
    }

    fn y(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            None
        } else if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_max: f64,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let ys: Vec<f64> = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| self.y(p.1)))
            .collect();
        let (mut lo, mut hi) = ys
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if self.log {
            // Nine decades below the top are enough to see any trend.
            lo = lo.max(hi - 9.0);
        }
        let pad = ((hi - lo) * 0.06).max(if self.log {
            0.2
        } else {
            1e-3 * hi.abs().max(1e-9)
        });
        let lo = if !self.log && lo >= 0.0 {
            (lo - pad).max(0.0)
        } else {
            lo - pad
        };
        let hi = hi + pad;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(38)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..x_max.max(1e-9), lo..hi)
            .map_err(e)?;
        let log = self.log;
        chart
            .configure_mesh()
            .x_desc("time (d)")
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v: &f64| format!("{v:.0}"))
            .y_label_formatter(&|v: &f64| {
                if log {
                    format!("{:.0e}", 10f64.powf(*v))
                } else if v.abs() >= 1e4 || (v.abs() < 1e-2 && *v != 0.0) {
                    format!("{v:.1e}")
                } else {
                    let s = format!("{v:.3}");
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                }
            })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        for &(a, b, c) in &self.bands {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, lo), (b, hi)],
                    c.filled(),
                )))
                .map_err(e)?;
        }
        for (d, label) in &self.marks {
            let style = ShapeStyle::from(&BLACK.mix(0.7)).stroke_width(1);
            let n = 24;
            let seg = (hi - lo) / n as f64;
            // Dashed: every other segment.
            chart
                .draw_series((0..n).step_by(2).map(|k| {
                    let y0 = lo + seg * k as f64;
                    PathElement::new(vec![(*d, y0), (*d, y0 + seg)], style)
                }))
                .map_err(e)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (*d, hi - (hi - lo) * 0.04),
                    ("sans-serif", 12),
                )))
                .map_err(e)?;
        }
        for l in &self.lines {
            let pts: Vec<(f64, f64)> = l
                .points
                .iter()
                .filter_map(|&(x, v)| self.y(v).map(|y| (x, y)))
                .collect();
            let color = l.color;
            if l.markers {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(e)?
                    .label(l.label.clone())
                    .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
            } else {
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(e)?
                    .label(l.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
        }
        if !self.lines.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(e)?;
        }
        Ok(())
    }
}

/// Stacked panels sharing the time axis.
pub(crate) struct Panels {
    pub panels: Vec<Panel>,
    pub x_max: f64,
}

impl Figure for Panels {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(e)?;
        let parts = area.split_evenly((self.panels.len(), 1));
        for (p, part) in self.panels.iter().zip(parts.iter()) {
            p.draw(part, self.x_max)?;
        }
        Ok(())
    }
}

impl Panels {
    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        let h = 260 * self.panels.len() as u32 + 20;
        draw_png_and_svg(stem, (1000, h), self)
    }
}

fn colour(k: usize) -> RGBAColor {
    PALETTE[k % PALETTE.len()]
}

/// `(from, to, dose)` with times in days.
pub(crate) type Step = (f64, f64, f64);

/// Piecewise-constant dose of each drug from the run's dose-change events:
/// (drug, steps).
pub(crate) fn dose_steps(r: &TherapyResult, day: f64) -> Vec<(String, Vec<Step>)> {
    let mut out: Vec<(String, Vec<Step>)> = Vec::new();
    let end = r.final_time * day;
    for ev in r.events.iter().filter(|e| e.kind == EventKind::DoseChange) {
        let Some(drug) = &ev.drug else { continue };
        let t = ev.time * day;
        let k = match out.iter().position(|(d, _)| d == drug) {
            Some(k) => k,
            None => {
                out.push((drug.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let steps = &mut out[k].1;
        if let Some(last) = steps.last_mut() {
            last.1 = t;
        }
        steps.push((t, end, ev.value));
    }
    for (_, steps) in &mut out {
        steps.retain(|s| s.1 > s.0);
    }
    out
}

/// The figure of one therapy run.
pub struct TherapyFigure {
    panels: Panels,
}

impl TherapyFigure {
    pub fn new(model: &CompiledModel, s: &Schedule, r: &TherapyResult) -> TherapyFigure {
        let day = s.hours_per_unit / 24.0;
        let tl = &r.timeline;
        let days: Vec<f64> = tl.times.iter().map(|t| t * day).collect();
        let series = |pop: &str, var: &str| -> Option<Vec<(f64, f64)>> {
            let c = tl.column(pop, var)?;
            Some(days.iter().copied().zip(tl.series(c)).collect())
        };
        let steps = dose_steps(r, day);

        // Population, with dose steps shaded (darker = higher dose, per drug).
        let mut pop = Panel::new(
            "Population (shaded: dose in force, darker = higher)",
            "cells",
            true,
        );
        let mut k = 0;
        for g in &model.genotypes {
            if let Some(p) = series(&g.name, "cells") {
                pop.lines.push(Line {
                    label: format!("{} cells", g.name),
                    points: p,
                    color: colour(k),
                    markers: false,
                });
                k += 1;
            }
        }
        if model.genotypes.len() > 1 {
            if let Some(p) = series("total", "cells") {
                pop.lines.push(Line {
                    label: "total cells".into(),
                    points: p,
                    color: colour(6),
                    markers: false,
                });
            }
        }
        for (j, (_, st)) in steps.iter().enumerate() {
            let mut levels: Vec<f64> = st.iter().map(|s| s.2).filter(|&v| v > 0.0).collect();
            levels.sort_by(f64::total_cmp);
            levels.dedup();
            let base = colour(j + 2);
            for &(a, b, v) in st {
                if v <= 0.0 {
                    continue;
                }
                let rank = levels.iter().position(|&x| x == v).unwrap_or(0) + 1;
                let alpha = 0.04 + 0.22 * rank as f64 / levels.len() as f64;
                pop.bands
                    .push((a, b, RGBAColor(base.0, base.1, base.2, alpha)));
            }
        }
        for ev in &r.events {
            if let EventKind::Resistance(rule) = ev.kind {
                pop.marks.push((ev.time * day, rule.label().to_string()));
            }
        }
        let mut panels = vec![pop];

        // Loop species and observables of the base genotype.
        let base = &model.genotypes[0].name;
        for (title, names) in [
            (
                "Loop species",
                model
                    .species
                    .iter()
                    .map(|s| (&s.name, s.unit.as_str()))
                    .collect::<Vec<_>>(),
            ),
            (
                "Observables",
                model
                    .observables
                    .iter()
                    .map(|o| (&o.name, o.unit.as_deref().unwrap_or("")))
                    .collect(),
            ),
        ] {
            if names.is_empty() {
                continue;
            }
            let mut units: Vec<&str> = names
                .iter()
                .map(|n| n.1)
                .filter(|u| !u.is_empty())
                .collect();
            units.sort_unstable();
            units.dedup();
            let mut p = Panel::new(
                &format!("{title} ({base})"),
                &if units.is_empty() {
                    "a.u.".to_string()
                } else {
                    units.join(", ")
                },
                false,
            );
            for (i, (n, _)) in names.iter().enumerate() {
                if let Some(pts) = series(base, n) {
                    p.lines.push(Line {
                        label: n.to_string(),
                        points: pts,
                        color: colour(i),
                        markers: false,
                    });
                }
            }
            panels.push(p);
        }

        // Dose in force (log axis when it spans decades).
        if !steps.is_empty() {
            let pos: Vec<f64> = steps
                .iter()
                .flat_map(|s| s.1.iter().map(|x| x.2))
                .filter(|&v| v > 0.0)
                .collect();
            let span = pos.iter().copied().fold(0.0, f64::max)
                / pos.iter().copied().fold(f64::INFINITY, f64::min);
            let log = span.is_finite() && span > 50.0;
            let mut units: Vec<String> = s
                .arms
                .iter()
                .map(|a| match s.setting {
                    crate::schedule::Setting::InVitro => {
                        model.drugs[a.drug].unit.symbol().to_string()
                    }
                    crate::schedule::Setting::InVivo => "mg/kg".to_string(),
                })
                .collect();
            units.sort();
            units.dedup();
            let mut p = Panel::new(
                "Scheduled dose",
                &format!("dose ({})", units.join(", ")),
                log,
            );
            for (j, (drug, st)) in steps.iter().enumerate() {
                let mut pts = Vec::new();
                for &(a, b, v) in st {
                    pts.push((a, v));
                    pts.push((b, v));
                }
                p.lines.push(Line {
                    label: drug.clone(),
                    points: pts,
                    color: colour(j + 2),
                    markers: false,
                });
            }
            panels.push(p);
        }

        // IC50 readouts.
        if !r.ic50.is_empty() {
            let unit = &r.ic50[0].unit;
            let mut p = Panel::new(
                &format!("IC50 of {} (72 h assay)", r.ic50[0].drug),
                &format!("IC50 ({unit})"),
                true,
            );
            p.lines.push(Line {
                label: "IC50".into(),
                points: r
                    .ic50
                    .iter()
                    .filter_map(|x| x.ic50.map(|v| (x.time * day, v)))
                    .collect(),
                color: colour(0),
                markers: true,
            });
            let above: Vec<(f64, f64)> = r
                .ic50
                .iter()
                .filter(|x| x.ic50.is_none())
                .map(|x| (x.time * day, x.top_dose))
                .collect();
            if !above.is_empty() {
                p.lines.push(Line {
                    label: "above tested range (shown at top dose)".into(),
                    points: above,
                    color: colour(1),
                    markers: true,
                });
            }
            if let (Some(i0), Some(f)) = (r.summary.ic50_initial, s.resistance.ic50_fold) {
                let x1 = r.final_time * day;
                p.lines.push(Line {
                    label: format!("{f} x IC50 at t = 0"),
                    points: vec![(0.0, f * i0), (x1, f * i0)],
                    color: RGBAColor(120, 120, 120, 1.0),
                    markers: false,
                });
            }
            panels.push(p);
        }
        TherapyFigure {
            panels: Panels {
                panels,
                x_max: r.final_time * day,
            },
        }
    }

    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        self.panels.save(stem)
    }
}

/// Several runs overlaid: burden (expanded cells), IC50 fold, scheduled dose.
pub struct CompareFigure {
    panels: Panels,
}

impl CompareFigure {
    /// `runs`: (schedule, result) pairs, in table order.
    pub fn new(runs: &[(&Schedule, &TherapyResult)]) -> CompareFigure {
        let mut burden = Panel::new(
            "Burden: expanded cells (as if no passage had discarded any)",
            "cells",
            true,
        );
        let mut fold = Panel::new("IC50 relative to t = 0", "fold", true);
        let mut dose = Panel::new("Scheduled dose", "dose (drug unit or mg/kg)", false);
        let mut x_max: f64 = 0.0;
        let mut dose_max: f64 = 0.0;
        let mut dose_min = f64::INFINITY;
        for (k, (s, r)) in runs.iter().enumerate() {
            let day = s.hours_per_unit / 24.0;
            x_max = x_max.max(r.final_time * day);
            let tl = &r.timeline;
            let days: Vec<f64> = tl.times.iter().map(|t| t * day).collect();
            if let Some(c) = tl.column("total", "expanded_cells") {
                burden.lines.push(Line {
                    label: s.name.clone(),
                    points: days.iter().copied().zip(tl.series(c)).collect(),
                    color: colour(k),
                    markers: false,
                });
            }
            if let Some(t) = r.summary.time_to_resistance_days {
                burden.marks.push((t, format!("{}", k + 1)));
            }
            let pts: Vec<(f64, f64)> = r
                .ic50
                .iter()
                .filter_map(|x| x.fold.map(|f| (x.time * day, f)))
                .collect();
            if !pts.is_empty() {
                fold.lines.push(Line {
                    label: s.name.clone(),
                    points: pts,
                    color: colour(k),
                    markers: true,
                });
            }
            for (drug, st) in dose_steps(r, 1.0) {
                let mut pts = Vec::new();
                for &(a, b, v) in &st {
                    pts.push((a * day, v));
                    pts.push((b * day, v));
                    if v > 0.0 {
                        dose_max = dose_max.max(v);
                        dose_min = dose_min.min(v);
                    }
                }
                dose.lines.push(Line {
                    label: format!("{} {drug}", s.name),
                    points: pts,
                    color: colour(k),
                    markers: false,
                });
            }
        }
        dose.log = dose_min.is_finite() && dose_max / dose_min > 50.0;
        let mut panels = vec![burden];
        if !fold.lines.is_empty() {
            panels.push(fold);
        }
        if !dose.lines.is_empty() {
            panels.push(dose);
        }
        CompareFigure {
            panels: Panels { panels, x_max },
        }
    }

    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        self.panels.save(stem)
    }
}
