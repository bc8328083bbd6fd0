//! The timeline figure: stacked panels (cells on a log axis, loop species,
//! observables, drug exposure), each with labelled axes and units.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::plot::{draw_png_and_svg, Figure, PlotError};
use crate::engine::ode::Timeline;

/// Colour-blind-safe qualitative palette (Okabe and Ito 2008).
pub const PALETTE: [RGBAColor; 8] = [
    RGBAColor(0, 114, 178, 1.0),
    RGBAColor(213, 94, 0, 1.0),
    RGBAColor(0, 158, 115, 1.0),
    RGBAColor(204, 121, 167, 1.0),
    RGBAColor(86, 180, 233, 1.0),
    RGBAColor(230, 159, 0, 1.0),
    RGBAColor(0, 0, 0, 1.0),
    RGBAColor(240, 228, 66, 1.0),
];

/// One panel: a title, a y label, log or linear, and the columns it draws.
struct Panel {
    title: String,
    y_label: String,
    log: bool,
    cols: Vec<usize>,
}

pub struct TimelineFigure<'a> {
    tl: &'a Timeline,
    panels: Vec<Panel>,
}

fn unit_label(units: &[&str]) -> String {
    let mut u: Vec<&str> = units.iter().copied().filter(|s| !s.is_empty()).collect();
    u.sort();
    u.dedup();
    if u.is_empty() {
        "a.u.".into()
    } else {
        u.join(", ")
    }
}

impl<'a> TimelineFigure<'a> {
    /// Panels for a run: `base` is the genotype whose loop species are drawn.
    pub fn new(tl: &'a Timeline, base: &str, species: &[String], observables: &[String]) -> Self {
        let mut panels = Vec::new();
        let cells: Vec<usize> = (0..tl.columns.len())
            .filter(|&c| tl.columns[c].variable == "cells")
            .collect();
        // A plain ODE model has no cells: no population panel (unless nothing else
        // would be drawn).
        let plain = cells.is_empty() && !(species.is_empty() && observables.is_empty());
        if !plain {
            panels.push(Panel {
                title: "Population".into(),
                y_label: "cells".into(),
                log: true,
                cols: cells,
            });
        }
        let pick = |names: &[String]| -> Vec<usize> {
            names.iter().filter_map(|n| tl.column(base, n)).collect()
        };
        for (title, names) in [("Loop species", species), ("Observables", observables)] {
            let cols = pick(names);
            if !cols.is_empty() {
                let units: Vec<&str> = cols.iter().map(|&c| tl.columns[c].unit.as_str()).collect();
                panels.push(Panel {
                    title: format!("{title} ({base})"),
                    y_label: unit_label(&units),
                    log: false,
                    cols,
                });
            }
        }
        let drugs: Vec<usize> = (0..tl.columns.len())
            .filter(|&c| tl.columns[c].population == "exposure")
            .collect();
        if !drugs.is_empty() {
            let units: Vec<&str> = drugs.iter().map(|&c| tl.columns[c].unit.as_str()).collect();
            panels.push(Panel {
                title: "Drug exposure".into(),
                y_label: format!("concentration ({})", unit_label(&units)),
                log: false,
                cols: drugs,
            });
        }
        TimelineFigure { tl, panels }
    }

    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        let h = 260 * self.panels.len() as u32 + 20;
        draw_png_and_svg(stem, (1000, h), self)
    }
}

impl Figure for TimelineFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(|e| e.to_string())?;
        let parts = area.split_evenly((self.panels.len(), 1));
        let tl = self.tl;
        let t_max = tl.times.last().copied().unwrap_or(1.0).max(1e-12);
        for (panel, part) in self.panels.iter().zip(parts.iter()) {
            let series: Vec<Vec<f64>> = panel.cols.iter().map(|&c| tl.series(c)).collect();
            let finite = series.iter().flatten().copied().filter(|v| v.is_finite());
            let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                if panel.log && v <= 0.0 {
                    (a, b)
                } else {
                    (a.min(v), b.max(v))
                }
            });
            if !lo.is_finite() || !hi.is_finite() {
                (lo, hi) = if panel.log { (1.0, 10.0) } else { (0.0, 1.0) };
            }
            if panel.log {
                lo = lo.max(hi * 1e-12).max(1e-3) / 1.5;
                hi *= 1.5;
            } else {
                let pad = ((hi - lo) * 0.05).max(1e-9);
                lo = if lo >= 0.0 {
                    0.0f64.max(lo - pad)
                } else {
                    lo - pad
                };
                hi += pad;
            }
            let x_label = format!("time ({})", tl.time_unit);
            let mut b = ChartBuilder::on(part);
            b.caption(&panel.title, ("sans-serif", 18))
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(80);
            macro_rules! draw_lines {
                ($chart:expr) => {{
                    let mut chart = $chart;
                    chart
                        .configure_mesh()
                        .y_label_formatter(&|v: &f64| {
                            if panel.log || v.abs() >= 1e4 || (v.abs() < 1e-2 && *v != 0.0) {
                                format!("{v:.0e}")
                            } else {
                                format!("{v}")
                            }
                        })
                        .x_desc(x_label.as_str())
                        .y_desc(panel.y_label.as_str())
                        .label_style(("sans-serif", 13))
                        .draw()
                        .map_err(|e| e.to_string())?;
                    for (k, (&c, ys)) in panel.cols.iter().zip(&series).enumerate() {
                        let color = PALETTE[k % PALETTE.len()];
                        let col = &tl.columns[c];
                        let label = if col.population == "exposure" || panel.title.contains('(') {
                            col.variable.clone()
                        } else {
                            format!("{} {}", col.population, col.variable)
                        };
                        let pts = tl
                            .times
                            .iter()
                            .zip(ys)
                            .filter(|(_, v)| v.is_finite() && (!panel.log || **v > 0.0))
                            .map(|(t, v)| (*t, *v));
                        chart
                            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                            .map_err(|e| e.to_string())?
                            .label(label)
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                            });
                    }
                    chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::UpperRight)
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK)
                        .label_font(("sans-serif", 12))
                        .draw()
                        .map_err(|e| e.to_string())?;
                }};
            }
            if panel.log {
                draw_lines!(b
                    .build_cartesian_2d(0.0..t_max, (lo..hi).log_scale())
                    .map_err(|e| e.to_string())?);
            } else {
                draw_lines!(b
                    .build_cartesian_2d(0.0..t_max, lo..hi)
                    .map_err(|e| e.to_string())?);
            }
        }
        Ok(())
    }
}
