//! Files written by `resloop synergy`: `scores.csv` (one row per method x cell) and
//! `summary.json` (fits, summaries, method details, bootstrap intervals, conventions),
//! both atomically.
//!
//! `scores.csv` columns: `method,dose_a,dose_b,observed,reference,score,ci_lo,ci_hi,status`
//! (`ci_lo`, `ci_hi`: the cell's 95 % bootstrap interval, empty without `--bootstrap`).
//! Empty fields mean "none" (e.g. `reference` for `ci`, `score` of an undefined cell);
//! `status` is `neutral`, `scored`, `fallback: ...` or `undefined: reason`. For excess
//! methods `score = reference - observed` holds on every scored row.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{
    BootstrapSummary, CellScore, Context, Interval, MethodResult, SynergyError, SynergyOptions,
    CONVENTION,
};
use crate::output::atomic::write_atomic;

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// One row of `scores.csv`: a method's cell and its bootstrap interval (if any).
pub struct ScoreRow<'a> {
    pub method: super::Method,
    pub cell: &'a CellScore,
    pub interval: Option<&'a Interval>,
}

impl ScoreRow<'_> {
    /// The numbers of the row, in file order: `dose_a`, `dose_b`, `observed`,
    /// `reference`, `score`, `ci_lo`, `ci_hi` (`None`: an empty field).
    pub fn numbers(&self) -> [Option<f64>; 7] {
        let (c, iv) = (self.cell, self.interval);
        [
            Some(c.dose_a),
            Some(c.dose_b),
            c.observed,
            c.reference,
            c.score,
            iv.and_then(|i| i.lo),
            iv.and_then(|i| i.hi),
        ]
    }
}

/// The columns of `scores.csv`: `method`, the [`ScoreRow::numbers`], `status`.
pub const SCORE_COLUMNS: [&str; 9] = [
    "method",
    "dose_a",
    "dose_b",
    "observed",
    "reference",
    "score",
    "ci_lo",
    "ci_hi",
    "status",
];

/// The rows of `scores.csv`, in file order (also what the Python package's
/// `synergy` returns).
pub fn score_rows<'a>(
    results: &'a [MethodResult],
    bootstrap: Option<&'a BootstrapSummary>,
) -> impl Iterator<Item = ScoreRow<'a>> {
    results.iter().flat_map(move |r| {
        let cis = bootstrap
            .and_then(|b| b.methods.iter().find(|m| m.method == r.method))
            .map(|m| &m.cells);
        r.cells.iter().enumerate().map(move |(k, cell)| ScoreRow {
            method: r.method,
            cell,
            interval: cis.and_then(|v| v.get(k)),
        })
    })
}

/// Write `scores.csv` for all results.
pub fn write_scores(
    w: &mut dyn Write,
    results: &[MethodResult],
    bootstrap: Option<&BootstrapSummary>,
) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(SCORE_COLUMNS)?;
    for row in score_rows(results, bootstrap) {
        let mut fields = vec![row.method.name().to_string()];
        fields.extend(row.numbers().map(opt));
        fields.push(row.cell.status.to_string());
        out.write_record(&fields)?;
    }
    out.flush()
}

/// The `summary.json` document.
pub fn summary_json(
    opts: &SynergyOptions,
    block: Option<&str>,
    ctx: &Context,
    results: &[MethodResult],
    bootstrap: Option<&BootstrapSummary>,
    warnings: &[String],
) -> serde_json::Value {
    let g = &ctx.grid;
    let methods: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|r| {
            let ci = bootstrap.and_then(|b| b.methods.iter().find(|m| m.method == r.method));
            // A method whose every combination cell is undefined says why, once.
            let undefined = (r.summary.n_scored == 0).then(|| {
                r.summary
                    .undefined_reasons
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            });
            (
                r.method.name().to_string(),
                json!({
                    "defined": r.summary.n_scored > 0,
                    "undefined_because": undefined,
                    "summary": r.summary,
                    "detail": r.detail,
                    "bootstrap": ci,
                }),
            )
        })
        .collect();
    json!({
        "resloop_version": env!("CARGO_PKG_VERSION"),
        "conventions": {
            "scale": "viability (viable fraction, 1 = untreated)",
            "sign": CONVENTION,
            "summaries_cover": "combination cells only (dose_a > 0 and dose_b > 0)",
            "loewe_fallback": ctx.settings.loewe_fallback,
            "zip_emax": ctx.settings.zip_emax,
            "musyc_score": ctx.settings.musyc_score,
            "fit_gate": ctx.settings.gate,
        },
        "warnings": warnings,
        "plate": {
            "path": opts.plate.display().to_string(),
            "block": block,
            "drug_a": g.drug_a,
            "drug_b": g.drug_b,
            "doses_a": g.doses_a,
            "doses_b": g.doses_b,
            "max_replicates": g.max_replicates(),
            "percent_inhibition_input": opts.percent_inhibition,
        },
        "fits": {
            "hill_a": ctx.fit_a,
            "hill_b": ctx.fit_b,
            "single_agent_gate": ctx.hill_failure(),
        },
        "methods": methods,
        "bootstrap": bootstrap,
    })
}

/// Write `scores.csv` and `summary.json` into `out_dir`; returns the paths written.
pub fn write_all(
    out_dir: &Path,
    opts: &SynergyOptions,
    block: Option<&str>,
    ctx: &Context,
    results: &[MethodResult],
    bootstrap: Option<&BootstrapSummary>,
    warnings: &[String],
) -> Result<Vec<PathBuf>, SynergyError> {
    let err = |path: &Path| {
        let path = path.display().to_string();
        move |source| SynergyError::Write { path, source }
    };
    let scores = out_dir.join("scores.csv");
    write_atomic(&scores, |w| write_scores(w, results, bootstrap)).map_err(err(&scores))?;
    let summary = out_dir.join("summary.json");
    let doc = summary_json(opts, block, ctx, results, bootstrap, warnings);
    write_atomic(&summary, |w| {
        serde_json::to_writer_pretty(&mut *w, &doc)?;
        w.write_all(b"\n")
    })
    .map_err(err(&summary))?;
    Ok(vec![scores, summary])
}
