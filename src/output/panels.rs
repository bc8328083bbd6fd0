//! Stacked time panels, the one way resloop draws curves over time (simulate's
//! timeline, therapy, compare, the teaching story): each panel has its own y axis
//! (log or linear), shaded bands (doses in force), vertical marks (events),
//! horizontal reference lines (a detection limit, an IC50 threshold) and a legend
//! beside the plot, so labels never cover the curves.
//!
//! Readability rules live here once: tick labels go through
//! [`crate::output::number::sig`] (no `1.00000000002`), log axes are labelled in
//! powers of ten, series colours come from plotters' `Palette99` (the legible ones),
//! and time is in days for runs of days ([`TimeAxis`]).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::Palette;

use super::number::sig;
use super::plot::{draw_png_and_svg, Figure, PlotError};

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// Colour of the `k`-th series of a panel: plotters' `Palette99` (distinct colours
/// chosen for accessibility) without its pale members, which vanish on white.
pub fn series_colour(k: usize) -> RGBAColor {
    let legible: Vec<(u8, u8, u8)> = Palette99::COLORS
        .iter()
        .copied()
        .filter(|&(r, g, b)| {
            // Relative luminance (ITU-R BT.709); pale colours are above ~0.7.
            0.2126 * r as f64 + 0.7152 * g as f64 + 0.0722 * b as f64 <= 0.7 * 255.0
        })
        .collect();
    let (r, g, b) = legible[k % legible.len()];
    RGBAColor(r, g, b, 1.0)
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stroke {
    Solid,
    Dashed,
    /// Markers only (sparse readouts).
    Markers,
}

/// A line of a panel: label, points (x already in the figure's time unit), colour.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBAColor,
    pub stroke: Stroke,
}

impl Line {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBAColor) -> Line {
        Line {
            label: label.into(),
            points,
            color,
            stroke: Stroke::Solid,
        }
    }

    pub fn stroke(mut self, s: Stroke) -> Line {
        self.stroke = s;
        self
    }
}

/// A shaded x-band: from, to, colour, and a legend label (bands with the same label
/// share one legend entry).
#[derive(Debug, Clone)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub color: RGBAColor,
    pub label: Option<String>,
}

/// A filled area between two curves, e.g. one genotype's share in a stacked
/// composition plot: points (x, lower, upper).
#[derive(Debug, Clone)]
pub struct Area {
    pub label: String,
    pub points: Vec<(f64, f64, f64)>,
    pub color: RGBAColor,
}

/// Stacked areas of `parts` (label, points (x, value)) on the x grid of the first
/// part, as fractions of their sum at each x (a Muller-style composition).
pub fn stacked_fractions(parts: &[(String, Vec<(f64, f64)>)]) -> Vec<Area> {
    let n = parts.first().map_or(0, |p| p.1.len());
    let mut lower = vec![0.0; n];
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            parts
                .iter()
                .map(|p| p.1.get(i).map_or(0.0, |v| v.1.max(0.0)))
                .sum()
        })
        .collect();
    parts
        .iter()
        .enumerate()
        .map(|(k, (label, pts))| {
            let points = (0..n)
                .map(|i| {
                    let x = parts[0].1[i].0;
                    let v = pts.get(i).map_or(0.0, |p| p.1.max(0.0));
                    let f = if totals[i] > 0.0 { v / totals[i] } else { 0.0 };
                    let lo = lower[i];
                    lower[i] += f;
                    (x, lo, lo + f)
                })
                .collect();
            Area {
                label: label.clone(),
                points,
                color: series_colour(k),
            }
        })
        .collect()
}

/// One panel: lines, shaded x-bands, vertical event marks, horizontal references.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub log: bool,
    pub lines: Vec<Line>,
    pub bands: Vec<Band>,
    /// (x, label) vertical dashed marks.
    pub marks: Vec<(f64, String)>,
    /// (y, label) horizontal dotted references.
    pub hlines: Vec<(f64, String)>,
    /// Filled areas (linear panels), drawn under the lines.
    pub areas: Vec<Area>,
    /// Lowest y shown on a log axis (e.g. below a detection line); default: nine
    /// decades below the top.
    pub log_floor: Option<f64>,
}

impl Panel {
    pub fn new(title: impl Into<String>, y_label: impl Into<String>, log: bool) -> Panel {
        Panel {
            title: title.into(),
            y_label: y_label.into(),
            log,
            lines: Vec::new(),
            bands: Vec::new(),
            marks: Vec::new(),
            hlines: Vec::new(),
            areas: Vec::new(),
            log_floor: None,
        }
    }

    /// Add a line coloured by its position in the panel.
    pub fn push(&mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> &mut Line {
        let k = self.lines.len();
        self.lines.push(Line::new(label, points, series_colour(k)));
        self.lines.last_mut().expect("just pushed")
    }

    /// y as drawn: log10 on log panels (values <= 0 are not drawn).
    fn y(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            None
        } else if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }

    /// The drawn y range, padded.
    fn y_range(&self) -> (f64, f64) {
        let ys = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| self.y(p.1)))
            .chain(self.hlines.iter().filter_map(|h| self.y(h.0)))
            .chain(
                self.areas
                    .iter()
                    .flat_map(|a| a.points.iter().flat_map(|p| [p.1, p.2]))
                    .filter_map(|v| self.y(v)),
            );
        let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if !self.log && lo >= 0.0 && hi - lo <= 0.05 * hi {
            // A flat (or nearly flat) non-negative series: show it against zero
            // rather than magnify rounding into a dozen identical tick labels.
            (lo, hi) = (0.0, if hi > 0.0 { hi * 1.1 } else { 1.0 });
        }
        if self.log {
            let floor = self.log_floor.and_then(|f| self.y(f)).unwrap_or(hi - 9.0);
            lo = lo.max(floor);
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
        (lo, hi + pad)
    }

    /// Draw the panel with its legend onto `area` (a part of a larger figure).
    pub fn draw_on<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_max: f64,
        x_label: &str,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let (w, _) = area.dim_in_pixel();
        let (plot_area, legend_area) = area.split_horizontally(w.saturating_sub(240));
        let (lo, hi) = self.y_range();
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(&self.title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(38)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max.max(1e-9), lo..hi)
            .map_err(e)?;
        let log = self.log;
        // Log panels spanning decades are labelled at whole powers of ten.
        let y_labels = if log && hi - lo >= 3.0 {
            ((hi - lo).floor() as usize + 1).min(10)
        } else {
            8
        };
        chart
            .configure_mesh()
            .y_labels(y_labels)
            .x_desc(x_label)
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v: &f64| sig(*v, 4))
            .y_label_formatter(&|v: &f64| {
                if log {
                    sig(10f64.powf(*v), 2)
                } else {
                    sig(*v, 4)
                }
            })
            .light_line_style(WHITE.mix(0.0))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        for b in &self.bands {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(b.from, lo), (b.to, hi)],
                    b.color.filled(),
                )))
                .map_err(e)?;
        }
        for a in &self.areas {
            let mut poly: Vec<(f64, f64)> = a.points.iter().map(|p| (p.0, p.2)).collect();
            poly.extend(a.points.iter().rev().map(|p| (p.0, p.1)));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    a.color.mix(0.75).filled(),
                )))
                .map_err(e)?;
        }
        for (k, (x, label)) in self.marks.iter().enumerate() {
            let style = ShapeStyle::from(&BLACK.mix(0.7)).stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new([(*x, lo), (*x, hi)], 4, 4, style))
                .map_err(e)?;
            // Stagger labels of nearby marks so they do not overlap.
            let y = hi - (hi - lo) * (0.05 + 0.09 * (k % 3) as f64);
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {label}"),
                    (*x, y),
                    ("sans-serif", 12),
                )))
                .map_err(e)?;
        }
        for (v, label) in &self.hlines {
            if let Some(y) = self.y(*v) {
                let style = ShapeStyle::from(&RGBColor(90, 90, 90)).stroke_width(1);
                chart
                    .draw_series(DashedLineSeries::new([(0.0, y), (x_max, y)], 8, 6, style))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        label.clone(),
                        (x_max * 0.01, y + (hi - lo) * 0.03),
                        ("sans-serif", 12).into_font().color(&RGBColor(70, 70, 70)),
                    )))
                    .map_err(e)?;
            }
        }
        for l in &self.lines {
            let pts: Vec<(f64, f64)> = l
                .points
                .iter()
                .filter_map(|&(x, v)| self.y(v).map(|y| (x, y)))
                .filter(|&(_, y)| y >= lo)
                .collect();
            let style = l.color.stroke_width(2);
            match l.stroke {
                Stroke::Markers => {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, l.color.filled())))
                        .map_err(e)?;
                }
                Stroke::Solid => {
                    chart.draw_series(LineSeries::new(pts, style)).map_err(e)?;
                }
                Stroke::Dashed => {
                    chart
                        .draw_series(DashedLineSeries::new(pts, 9, 5, style))
                        .map_err(e)?;
                }
            }
        }
        self.draw_legend(&legend_area)
    }

    /// The legend beside the plot: one row per line, then one per labelled band.
    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let mut y = 40;
        let font = ("sans-serif", 12).into_font();
        let mut row = |sample: &dyn Fn(i32) -> Result<(), String>, label: &str| {
            sample(y)?;
            area.draw(&Text::new(label.to_string(), (30, y - 6), font.clone()))
                .map_err(e)?;
            y += 17;
            Ok::<(), String>(())
        };
        for l in &self.lines {
            let c = l.color;
            let stroke = l.stroke;
            row(
                &|y| {
                    match stroke {
                        Stroke::Markers => area.draw(&Circle::new((15, y), 4, c.filled())),
                        Stroke::Dashed => area
                            .draw(&PathElement::new(vec![(4, y), (11, y)], c.stroke_width(2)))
                            .and_then(|_| {
                                area.draw(&PathElement::new(
                                    vec![(16, y), (26, y)],
                                    c.stroke_width(2),
                                ))
                            }),
                        Stroke::Solid => {
                            area.draw(&PathElement::new(vec![(4, y), (26, y)], c.stroke_width(2)))
                        }
                    }
                    .map_err(e)
                },
                &l.label,
            )?;
        }
        for a in &self.areas {
            let c = a.color.mix(0.75);
            row(
                &|y| {
                    area.draw(&Rectangle::new([(4, y - 6), (26, y + 6)], c.filled()))
                        .map_err(e)
                },
                &a.label,
            )?;
        }
        let mut seen: Vec<&str> = Vec::new();
        for b in &self.bands {
            let Some(label) = b.label.as_deref() else {
                continue;
            };
            if seen.contains(&label) {
                continue;
            }
            seen.push(label);
            let c = RGBAColor(b.color.0, b.color.1, b.color.2, b.color.3.max(0.25));
            row(
                &|y| {
                    area.draw(&Rectangle::new([(4, y - 6), (26, y + 6)], c.filled()))
                        .map_err(e)
                },
                label,
            )?;
        }
        Ok(())
    }
}

/// Stacked panels sharing the time axis.
pub struct Panels {
    pub panels: Vec<Panel>,
    pub x_max: f64,
    pub x_label: String,
}

impl Figure for Panels {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(e)?;
        let parts = area.split_evenly((self.panels.len().max(1), 1));
        for (p, part) in self.panels.iter().zip(parts.iter()) {
            p.draw_on(part, self.x_max, &self.x_label)?;
        }
        Ok(())
    }
}

impl Panels {
    pub fn save(&self, stem: &Path) -> Result<(), PlotError> {
        let h = 250 * self.panels.len() as u32 + 20;
        draw_png_and_svg(stem, (1100, h), self)
    }
}

/// The time axis of a figure: runs of two days or more are shown in days, shorter
/// ones in hours, whatever unit the model counts in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    /// Multiply a time in the model's unit by this to get the axis unit.
    pub scale: f64,
    pub label: &'static str,
}

impl TimeAxis {
    /// For a run ending at `t_end` in a unit of `hours_per_unit` hours.
    pub fn for_run(t_end: f64, hours_per_unit: f64) -> TimeAxis {
        if t_end * hours_per_unit >= 48.0 {
            TimeAxis {
                scale: hours_per_unit / 24.0,
                label: "time (days)",
            }
        } else {
            TimeAxis {
                scale: hours_per_unit,
                label: "time (hours)",
            }
        }
    }
}

/// Lines grouped into panels of at most `max_lines` each, one group per unit, so a
/// panel never mixes units (one y axis per unit) or crowds its legend. `items` are
/// (unit, line) in display order; titles read `"{title} ({unit})"`, numbered when a
/// unit needs more than one panel.
pub fn panels_by_unit(
    title: &str,
    log: bool,
    items: Vec<(String, Line)>,
    max_lines: usize,
) -> Vec<Panel> {
    let mut units: Vec<String> = Vec::new();
    for (u, _) in &items {
        if !units.contains(u) {
            units.push(u.clone());
        }
    }
    let mut out = Vec::new();
    for u in &units {
        let lines: Vec<Line> = items
            .iter()
            .filter(|(x, _)| x == u)
            .map(|(_, l)| l.clone())
            .collect();
        let chunks: Vec<&[Line]> = lines.chunks(max_lines.max(1)).collect();
        let n = chunks.len();
        let shown = match u.as_str() {
            "" => "a.u.",
            "1" => "dimensionless",
            other => other,
        };
        for (i, chunk) in chunks.into_iter().enumerate() {
            let t = if n > 1 {
                format!("{title} ({shown}, {}/{n})", i + 1)
            } else {
                format!("{title} ({shown})")
            };
            let mut p = Panel::new(t, shown, log);
            for (k, l) in chunk.iter().enumerate() {
                let mut l = l.clone();
                l.color = series_colour(k);
                p.lines.push(l);
            }
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_distinct_and_legible() {
        let c: Vec<RGBAColor> = (0..8).map(series_colour).collect();
        for i in 0..c.len() {
            for j in 0..i {
                assert_ne!((c[i].0, c[i].1, c[i].2), (c[j].0, c[j].1, c[j].2));
            }
        }
    }

    #[test]
    fn fractions_stack_to_one() {
        let parts = vec![
            ("a".to_string(), vec![(0.0, 3.0), (1.0, 0.0)]),
            ("b".to_string(), vec![(0.0, 1.0), (1.0, 2.0)]),
        ];
        let a = stacked_fractions(&parts);
        assert_eq!(a[0].points, vec![(0.0, 0.0, 0.75), (1.0, 0.0, 0.0)]);
        assert_eq!(a[1].points, vec![(0.0, 0.75, 1.0), (1.0, 0.0, 1.0)]);
    }

    #[test]
    fn days_for_runs_of_days() {
        assert_eq!(TimeAxis::for_run(1440.0, 1.0).label, "time (days)");
        assert_eq!(TimeAxis::for_run(1440.0, 1.0).scale, 1.0 / 24.0);
        assert_eq!(TimeAxis::for_run(72.0, 1.0).label, "time (days)");
        assert_eq!(TimeAxis::for_run(24.0, 1.0).label, "time (hours)");
        assert_eq!(TimeAxis::for_run(60.0, 24.0).scale, 1.0);
    }

    #[test]
    fn one_panel_per_unit_and_no_crowding() {
        let l = |n: &str| Line::new(n, vec![(0.0, 1.0)], series_colour(0));
        let items = vec![
            ("uM".to_string(), l("a")),
            ("nM".to_string(), l("b")),
            ("uM".to_string(), l("c")),
            ("uM".to_string(), l("d")),
        ];
        let p = panels_by_unit("Drug", false, items, 2);
        let titles: Vec<&str> = p.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            vec!["Drug (uM, 1/2)", "Drug (uM, 2/2)", "Drug (nM)"]
        );
        assert_eq!(p[0].lines.len(), 2);
    }
}
