//! HTML reports: one self-contained page per run folder (`report.html`), and the
//! demo's index linking every model's pages.
//!
//! A page is built from what the run wrote, so every subcommand gets one without
//! knowing about it: the story and summary (`summary.json`), the tables (compare,
//! facts, synergy scores, IC50 readouts, events; sortable), the figures (every PNG,
//! inlined as base64 so the page works when mailed or opened from disk), a timeline
//! explorer (hover values, series on and off, log axis) from `timeline.csv`, and the
//! manifest in readable form. Styles and the small script are inlined too: nothing
//! is fetched from the network. Sub-runs (a folder holding its own `manifest.json`,
//! e.g. each schedule of `compare`) get their own page, linked from the parent's.
//!
//! Pages are written atomically ([`crate::output::atomic::write_atomic`]).

pub mod explorer;
pub mod html;
pub mod index;
pub mod live;
pub mod story;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use crate::output::atomic::write_atomic;
use html::{csv_table, esc, json};

/// File name of a run's page.
pub const REPORT: &str = "report.html";

const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Figures first in this order (by file stem), then the rest alphabetically.
const FIGURE_ORDER: &[&str] = &[
    "story",
    "timeline",
    "therapy",
    "compare",
    "muller",
    "population",
    "time_to_resistance",
];
/// Tables first in this order (by file stem), then the rest alphabetically.
const TABLE_ORDER: &[&str] = &[
    "compare", "validate", "scores", "summary", "ic50", "events", "plate", "runs",
];
/// Raw data too large and too long-format to read as a table (the explorer or the
/// figures show it); listed under Files.
const NOT_TABLES: &[&str] = &["timeline", "muller", "clones"];
/// Most rows of a CSV shown in a table.
const MAX_ROWS: usize = 400;

#[derive(Debug, thiserror::Error)]
#[error("cannot write the report of {dir}: {source}")]
pub struct ReportError {
    pub dir: String,
    #[source]
    pub source: std::io::Error,
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

fn rank(stem: &str, order: &[&str]) -> (usize, String) {
    (
        order.iter().position(|o| *o == stem).unwrap_or(order.len()),
        stem.to_string(),
    )
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Files of `dir` with extension `ext`, plus those of sub-folders that are not runs
/// of their own (e.g. `plots/`), as (shown name, path), sorted by `order`.
fn files(dir: &Path, ext: &str, order: &[&str]) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && !p.join("manifest.json").is_file() && !is_hidden(&p) {
            for (name, q) in files(&p, ext, order)? {
                out.push((format!("{}/{name}", stem_or_name(&p)), q));
            }
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push((file_name(&p), p));
        }
    }
    out.sort_by_key(|(n, p)| (n.contains('/'), rank(&stem(p), order)));
    Ok(out)
}

fn is_hidden(p: &Path) -> bool {
    file_name(p).starts_with('.')
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn stem_or_name(p: &Path) -> String {
    file_name(p)
}

/// Hours per time unit of the run, from its records (`time_unit` = `h` or `d`).
fn hours_per_unit(manifest: Option<&Value>, summary: Option<&Value>) -> Option<f64> {
    let unit = [
        manifest.and_then(|m| m.get("time_unit")),
        manifest
            .and_then(|m| m.get("summary"))
            .and_then(|s| s.get("time_unit")),
        summary.and_then(|s| s.get("time_unit")),
    ]
    .into_iter()
    .flatten()
    .find_map(|v| v.as_str())?;
    match unit {
        "h" | "hours" => Some(1.0),
        "d" | "days" => Some(24.0),
        _ => None,
    }
}

/// Units of the timeline's variables, from the manifest's `columns` when recorded.
fn units(manifest: Option<&Value>) -> BTreeMap<String, String> {
    let mut u = BTreeMap::new();
    if let Some(Value::Array(cols)) = manifest.and_then(|m| m.get("columns")) {
        for c in cols {
            if let (Some(v), Some(unit)) = (
                c.get("variable").and_then(Value::as_str),
                c.get("unit").and_then(Value::as_str),
            ) {
                u.insert(v.to_string(), unit.to_string());
            }
        }
    }
    u
}

/// The one-line story of a run, if it told one.
fn story(manifest: Option<&Value>, summary: Option<&Value>) -> Option<String> {
    [
        summary.and_then(|s| s.get("story")),
        manifest
            .and_then(|m| m.get("summary"))
            .and_then(|s| s.get("story")),
    ]
    .into_iter()
    .flatten()
    .find_map(|v| v.as_str().map(String::from))
}

/// Write `dir/report.html` (and the pages of its sub-runs). `title` heads the page.
pub fn write_report(dir: &Path, title: &str) -> Result<PathBuf, ReportError> {
    let fail = |source| ReportError {
        dir: dir.display().to_string(),
        source,
    };
    let page = build(dir, title).map_err(fail)?;
    let path = dir.join(REPORT);
    write_atomic(&path, |w| w.write_all(page.as_bytes())).map_err(fail)?;
    Ok(path)
}

fn build(dir: &Path, title: &str) -> std::io::Result<String> {
    let manifest = read_json(&dir.join("manifest.json"));
    let summary = read_json(&dir.join("summary.json"));
    let mut nav: Vec<(&str, &str)> = Vec::new();
    let mut body = String::new();

    if let Some(s) = story(manifest.as_ref(), summary.as_ref()) {
        let _ = write!(body, "<p class=\"story\">{}</p>", esc(&s));
    }

    // Sub-runs (compare's schedules, the demo's steps): their own pages, linked.
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.join("manifest.json").is_file() && !is_hidden(p))
        .collect();
    subs.sort();
    if !subs.is_empty() {
        nav.push(("runs", "Runs"));
        body.push_str("<h2 id=\"runs\">Runs</h2><ul>");
        for s in &subs {
            let name = file_name(s);
            write_report(s, &format!("{title} — {name}"))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let _ = write!(
                body,
                "<li><a href=\"{0}/{REPORT}\">{1}</a></li>",
                esc(&name),
                esc(&name)
            );
        }
        body.push_str("</ul>");
    }

    let tables: Vec<(String, PathBuf)> = files(dir, "csv", TABLE_ORDER)?
        .into_iter()
        .filter(|(_, p)| !NOT_TABLES.contains(&stem(p).as_str()))
        .collect();
    if !tables.is_empty() {
        nav.push(("tables", "Tables"));
        body.push_str("<h2 id=\"tables\">Tables</h2>");
        for (name, p) in &tables {
            let (t, n) = csv_table(p, MAX_ROWS)?;
            let note = if n > MAX_ROWS {
                format!(" (first {MAX_ROWS} of {n} rows)")
            } else {
                format!(" ({n} rows)")
            };
            let _ = write!(
                body,
                "<details{}><summary><code>{}</code>{note}</summary>{t}</details>",
                if n <= 40 { " open" } else { "" },
                esc(name)
            );
        }
    }

    let figures = files(dir, "png", FIGURE_ORDER)?;
    if !figures.is_empty() {
        nav.push(("figures", "Figures"));
        body.push_str("<h2 id=\"figures\">Figures</h2>");
        for (name, p) in &figures {
            let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(p)?);
            let _ = write!(
                body,
                "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{data}\"><figcaption>{0}</figcaption></figure>",
                esc(name)
            );
        }
    }

    let timeline = dir.join("timeline.csv");
    if timeline.is_file() {
        if let Some(e) = explorer::read(
            &timeline,
            hours_per_unit(manifest.as_ref(), summary.as_ref()),
            &units(manifest.as_ref()),
        )? {
            nav.push(("explorer", "Timeline explorer"));
            let data = serde_json::to_string(&e)
                .map_err(std::io::Error::other)?
                // A `</script>` inside the data would end the element early.
                .replace("</", "<\\/");
            let _ = write!(
                body,
                "<h2 id=\"explorer-h\">Timeline explorer</h2>\
                 <p>Hover for values; tick series on and off. First replicate, from \
                 <code>timeline.csv</code>.</p>\
                 <label><input type=\"checkbox\" id=\"explorer-log\" checked> log axis</label>\
                 <div id=\"explorer\"><div><svg role=\"img\" aria-label=\"timeline\"></svg>\
                 <div class=\"tip\"></div></div><div class=\"series\"></div></div>\
                 <script type=\"application/json\" id=\"timeline-data\">{data}</script>"
            );
        }
    }

    if let Some(s) = &summary {
        nav.push(("summary", "Summary"));
        let _ = write!(body, "<h2 id=\"summary\">Summary</h2>{}", json(s));
    }
    if let Some(m) = &manifest {
        nav.push(("manifest", "Manifest"));
        let _ = write!(
            body,
            "<h2 id=\"manifest\">Manifest</h2><details><summary>How this run was made \
             (<code>manifest.json</code>)</summary>{}</details>",
            json(m)
        );
    }

    let mut all: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_hidden(p) && file_name(p) != REPORT)
        .map(|p| file_name(&p))
        .collect();
    all.sort();
    nav.push(("files", "Files"));
    body.push_str("<h2 id=\"files\">Files</h2><p>");
    let links: Vec<String> = all
        .iter()
        .map(|f| format!("<a href=\"{0}\">{0}</a>", esc(f)))
        .collect();
    body.push_str(&links.join(" · "));
    body.push_str("</p>");

    let sub = match &manifest {
        Some(m) => {
            let version = m
                .get("resloop_version")
                .and_then(Value::as_str)
                .unwrap_or("");
            let cmd = m
                .get("command_line")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            format!("resloop {} · <code>{}</code>", esc(version), esc(&cmd))
        }
        None => String::new(),
    };
    let nav_html: Vec<String> = nav
        .iter()
        .map(|(id, label)| {
            let id = if *id == "explorer" { "explorer-h" } else { id };
            format!("<a href=\"#{id}\">{label}</a>")
        })
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{CSS}</style></head><body>\
         <h1>{t}</h1><p class=\"sub\">{sub}</p><nav>{nav}</nav>{body}\
         <script>{JS}</script></body></html>\n",
        t = esc(title),
        nav = nav_html.join(""),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_everything_inline() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("manifest.json"),
            r#"{"resloop_version":"1","command_line":["resloop","x"],"time_unit":"h","columns":[{"population":"g","variable":"cells","unit":"cells"}]}"#,
        )
        .unwrap();
        std::fs::write(d.join("summary.json"), r#"{"story":"resistant at day 3"}"#).unwrap();
        std::fs::write(
            d.join("timeline.csv"),
            "time,population,variable,value\n0,g,cells,1\n72,g,cells,8\n",
        )
        .unwrap();
        std::fs::write(d.join("compare.csv"), "schedule,resistant\na,yes\n").unwrap();
        std::fs::write(d.join("fig.png"), [137u8, 80, 78, 71]).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/manifest.json"), "{}").unwrap();
        let p = write_report(d, "Run <1>").unwrap();
        let h = std::fs::read_to_string(p).unwrap();
        assert!(h.contains("<title>Run &lt;1&gt;</title>"));
        assert!(h.contains("resistant at day 3"));
        assert!(
            h.contains("data:image/png;base64,iVBORw=="),
            "the figure is inline"
        );
        assert!(h.contains("\"time_label\":\"time (days)\""));
        assert!(h.contains("<a href=\"sub/report.html\">sub</a>"));
        assert!(d.join("sub/report.html").is_file());
        assert!(
            !h.contains("http://") && !h.contains("https://"),
            "nothing fetched"
        );
    }
}
