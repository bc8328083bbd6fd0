//! Sensitivity plots: a tornado of indices per metric (Sobol S1 and ST with bootstrap
//! interval bars, or Morris mu* and sigma), a scatter of each parameter against each
//! metric, and a heatmap of each metric over a two-parameter grid. Every figure is
//! written as PNG and SVG through [`draw_png_and_svg`].

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{IndexRow, SensitivityError, SweepData};
use crate::output::plot::{draw_png_and_svg, Figure};
use crate::sweep::{Layout, Scale};

const SERIES_COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

/// Map a drawing error to the `Figure` error type.
fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `[min, max]` of the finite values, padded by 5% (or by 1 around a constant).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.05 * hi.abs() + 1.0
    };
    (lo - pad, hi + pad)
}

/// Compact tick text for parameter values spanning many decades.
fn short(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e4).contains(&a) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The label of integer position `y` among `labels` (positions between get none).
fn label_at(labels: &[String], y: f64) -> String {
    let k = y.round();
    if (y - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < labels.len() {
        labels[k as usize].clone()
    } else {
        String::new()
    }
}

/// One bar series of a tornado: a value and an optional interval per parameter.
pub struct BarSeries {
    pub name: String,
    pub values: Vec<(f64, Option<(f64, f64)>)>,
}

/// Horizontal bars per parameter, most important at the top.
pub struct Tornado {
    pub title: String,
    pub x_desc: String,
    /// Parameter names, bottom to top.
    pub labels: Vec<String>,
    pub series: Vec<BarSeries>,
}

impl Figure for Tornado {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(err)?;
        let n = self.labels.len();
        let all = self.series.iter().flat_map(|s| {
            s.values.iter().flat_map(|(v, ci)| {
                [Some(*v), ci.map(|c| c.0), ci.map(|c| c.1)]
                    .into_iter()
                    .flatten()
            })
        });
        let (lo, hi) = padded_range(all.chain([0.0]));
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(140)
            .build_cartesian_2d(lo..hi, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let labels = &self.labels;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 1)
            .y_label_formatter(&|y| label_at(labels, *y))
            .x_desc(self.x_desc.as_str())
            .y_desc("parameter")
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        let h = 0.8 / self.series.len().max(1) as f64;
        for (si, s) in self.series.iter().enumerate() {
            let color = SERIES_COLORS[si % SERIES_COLORS.len()];
            let top = |k: usize| k as f64 + 0.4 - si as f64 * h;
            chart
                .draw_series(s.values.iter().enumerate().map(|(k, (v, _))| {
                    Rectangle::new([(0.0, top(k)), (*v, top(k) - 0.9 * h)], color.filled())
                }))
                .map_err(err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            chart
                .draw_series(s.values.iter().enumerate().filter_map(|(k, (_, ci))| {
                    let y = top(k) - 0.45 * h;
                    ci.map(|(a, b)| PathElement::new(vec![(a, y), (b, y)], BLACK.stroke_width(2)))
                }))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(err)
    }
}

/// One panel of a scatter figure.
pub struct ScatterPanel {
    pub x_desc: String,
    pub points: Vec<(f64, f64)>,
}

/// A metric against each parameter, one panel per parameter.
pub struct Scatter {
    pub title: String,
    pub y_desc: String,
    pub panels: Vec<ScatterPanel>,
}

impl Figure for Scatter {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(err)?;
        let area = area.titled(&self.title, ("sans-serif", 22)).map_err(err)?;
        let cols = (self.panels.len() as f64).sqrt().ceil().max(1.0) as usize;
        let rows = self.panels.len().div_ceil(cols).max(1);
        for (cell, p) in area.split_evenly((rows, cols)).iter().zip(&self.panels) {
            let (x0, x1) = padded_range(p.points.iter().map(|q| q.0));
            let (y0, y1) = padded_range(p.points.iter().map(|q| q.1));
            let mut chart = ChartBuilder::on(cell)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(5)
                .y_label_formatter(&|y| short(*y))
                .x_desc(p.x_desc.as_str())
                .y_desc(self.y_desc.as_str())
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(err)?;
            let color = SERIES_COLORS[0].mix(0.55).filled();
            chart
                .draw_series(p.points.iter().map(|&(x, y)| Circle::new((x, y), 2, color)))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// A metric over a two-parameter grid.
pub struct Heatmap {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub z_desc: String,
    pub x_levels: Vec<f64>,
    pub y_levels: Vec<f64>,
    /// `z[ix][iy]`; NaN cells (failed runs) are drawn grey.
    pub z: Vec<Vec<f64>>,
}

/// Viridis, linearly interpolated between five anchors; `t` in [0, 1].
fn viridis(t: f64) -> RGBColor {
    const A: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(
        mix(A[i].0, A[i + 1].0),
        mix(A[i].1, A[i + 1].1),
        mix(A[i].2, A[i + 1].2),
    )
}

impl Figure for Heatmap {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(err)?;
        let (w, _) = area.dim_in_pixel();
        let (main, bar) = area.split_horizontally(w.saturating_sub(130));
        let (zlo, zhi) = padded_range(self.z.iter().flatten().copied());
        let (nx, ny) = (self.x_levels.len(), self.y_levels.len());
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5f64..(nx as f64 - 0.5), -0.5f64..(ny as f64 - 0.5))
            .map_err(err)?;
        let xl: Vec<String> = self.x_levels.iter().map(|&v| short(v)).collect();
        let yl: Vec<String> = self.y_levels.iter().map(|&v| short(v)).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nx.min(12) + 1)
            .y_labels(ny.min(12) + 1)
            .x_label_formatter(&|x| label_at(&xl, *x))
            .y_label_formatter(&|y| label_at(&yl, *y))
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        let color = |z: f64| {
            if z.is_finite() {
                viridis((z - zlo) / (zhi - zlo)).filled()
            } else {
                RGBColor(200, 200, 200).filled()
            }
        };
        chart
            .draw_series(self.z.iter().enumerate().flat_map(|(i, col)| {
                col.iter().enumerate().map(move |(j, &z)| {
                    let (x, y) = (i as f64, j as f64);
                    Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], color(z))
                })
            }))
            .map_err(err)?;
        let mut scale = ChartBuilder::on(&bar)
            .margin_top(50)
            .margin_bottom(62)
            .margin_right(10)
            .set_label_area_size(LabelAreaPosition::Right, 80)
            .build_cartesian_2d(0.0f64..1.0, zlo..zhi)
            .map_err(err)?;
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(6)
            .y_label_formatter(&|z| short(*z))
            .y_desc(self.z_desc.as_str())
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let steps = 100;
        scale
            .draw_series((0..steps).map(|k| {
                let a = zlo + (zhi - zlo) * k as f64 / steps as f64;
                let b = zlo + (zhi - zlo) * (k + 1) as f64 / steps as f64;
                Rectangle::new(
                    [(0.0, a), (1.0, b)],
                    viridis(k as f64 / (steps - 1) as f64).filled(),
                )
            }))
            .map_err(err)?;
        Ok(())
    }
}

/// Object-safe drawing of any [`Figure`] (whose `draw` is generic over backends), so
/// figures of different types can go through one saving closure.
trait FigureFn {
    fn draw_to(&self, stem: &Path, size: (u32, u32)) -> Result<(), SensitivityError>;
}

impl<F: Figure> FigureFn for F {
    fn draw_to(&self, stem: &Path, size: (u32, u32)) -> Result<(), SensitivityError> {
        Ok(draw_png_and_svg(stem, size, self)?)
    }
}

/// A file-name-safe version of a metric name.
fn stem(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Axis text for a column: its name and, when the manifest records one, its unit.
fn labelled(data: &SweepData, name: &str) -> String {
    match data.manifest.units.get(name) {
        Some(u) if !u.is_empty() => format!("{name} ({u})"),
        _ => name.to_string(),
    }
}

/// Axis text for parameter `i`: log-scaled parameters are plotted as log10.
fn axis_of(data: &SweepData, i: usize) -> (String, bool) {
    let p = &data.manifest.spec.parameters[i];
    match p.scale {
        Scale::Log => (format!("log10 of {}", labelled(data, &p.name)), true),
        Scale::Linear => (labelled(data, &p.name), false),
    }
}

/// The tornado of one metric's indices, sorted so the largest (ST or mu*) is on top.
fn tornado_for(metric: &str, unit: Option<&str>, method: &str, indices: &[IndexRow]) -> Tornado {
    let (key, other, x_desc) = match method {
        "sobol" => (
            "ST",
            "S1",
            "Sobol index (fraction of variance, 1)".to_string(),
        ),
        _ => (
            "mu_star",
            "sigma",
            match unit {
                Some(u) if !u.is_empty() => {
                    format!("elementary effect ({u} per unit of normalised input)")
                }
                _ => "elementary effect (per unit of normalised input)".to_string(),
            },
        ),
    };
    let get = |name: &str| -> Vec<&IndexRow> {
        indices
            .iter()
            .filter(|r| r.metric == metric && r.index == name)
            .collect()
    };
    let (main, second) = (get(key), get(other));
    let mut order: Vec<usize> = (0..main.len()).collect();
    order.sort_by(|&a, &b| main[a].value.total_cmp(&main[b].value));
    let series = |rows: &[&IndexRow], name: &str| BarSeries {
        name: name.to_string(),
        values: order
            .iter()
            .map(|&k| (rows[k].value, rows[k].ci_low.zip(rows[k].ci_high)))
            .collect(),
    };
    let pretty = |n: &str| {
        if n == "mu_star" {
            "mu*".to_string()
        } else {
            n.to_string()
        }
    };
    Tornado {
        title: format!("{metric}: {method} indices"),
        x_desc,
        labels: order.iter().map(|&k| main[k].parameter.clone()).collect(),
        series: vec![series(&main, &pretty(key)), series(&second, &pretty(other))],
    }
}

/// Draw every plot for the sweep into `out`; returns the files written.
pub(super) fn draw_all(
    out: &Path,
    data: &SweepData,
    method: &str,
    indices: &[IndexRow],
) -> Result<Vec<PathBuf>, SensitivityError> {
    std::fs::create_dir_all(out).map_err(|e| SensitivityError::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    let mut files = Vec::new();
    let mut save = |name: String, size: (u32, u32), fig: &dyn FigureFn| {
        let path = out.join(name);
        fig.draw_to(&path, size)?;
        files.push(path.with_extension("png"));
        files.push(path.with_extension("svg"));
        Ok::<_, SensitivityError>(())
    };
    let d = data.design.names.len();
    for (m, metric) in data.manifest.metrics.iter().enumerate() {
        let y = data.metric(m);
        if method != "none" {
            let unit = data.manifest.units.get(metric).map(String::as_str);
            let t = tornado_for(metric, unit, method, indices);
            let size = (900, 160 + 60 * d as u32);
            save(format!("tornado_{}", stem(metric)), size, &t)?;
        }
        let panels = (0..d)
            .map(|i| {
                let (x_desc, log) = axis_of(data, i);
                let points = data
                    .design
                    .points
                    .iter()
                    .zip(&y)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(p, &v)| {
                        (
                            if log {
                                p.values[i].log10()
                            } else {
                                p.values[i]
                            },
                            v,
                        )
                    })
                    .collect();
                ScatterPanel { x_desc, points }
            })
            .collect();
        let sc = Scatter {
            title: format!("{metric} against each parameter"),
            y_desc: labelled(data, metric),
            panels,
        };
        save(format!("scatter_{}", stem(metric)), (1000, 800), &sc)?;
        if let (Layout::Grid { levels }, 2) = (&data.design.layout, d) {
            let l = *levels;
            let hm = Heatmap {
                title: format!(
                    "{metric} over {} x {}",
                    data.design.names[0], data.design.names[1]
                ),
                x_desc: labelled(data, &data.design.names[0]),
                y_desc: labelled(data, &data.design.names[1]),
                z_desc: labelled(data, metric),
                x_levels: (0..l)
                    .map(|i| data.design.points[i * l].values[0])
                    .collect(),
                y_levels: (0..l).map(|j| data.design.points[j].values[1]).collect(),
                z: (0..l).map(|i| y[i * l..(i + 1) * l].to_vec()).collect(),
            };
            save(format!("heatmap_{}", stem(metric)), (900, 700), &hm)?;
        }
    }
    Ok(files)
}
