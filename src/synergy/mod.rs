//! Synergy scoring of two-drug dose-response plates.
//!
//! Sign convention, the same for every method and every output:
//! - excess scores (`bliss`, `bliss_hill`, `hsa`, `loewe`, `zip`, `musyc`) are
//!   `reference - observed` on the viability scale, so **> 0 means synergy** (the
//!   combination left fewer cells alive than the no-interaction reference predicts);
//! - the combination index (`ci`) is an index, **< 1 means synergy**.
//!
//! Single-agent and control cells get the neutral value (0, or 1 for `ci`). Summaries
//! (mean, median, min, max, count of undefined cells) cover combination cells only.
//! A cell that cannot be scored is never a silent NaN: it is marked undefined with its
//! reason and counted.
//!
//! Fitting the single agents ([`Context`]) is separate from scoring; every method
//! implements [`SynergyModel`] (reference surface + score) on top of that.

pub mod bliss;
pub mod bootstrap;
pub mod ci;
pub mod hsa;
pub mod loewe;
pub mod musyc;
pub mod plot;
pub mod report;
pub mod zip;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::fit::{FitError, FitGate, HillFit};
use crate::plate::{Block, CsvOptions, Grid, Plate, PlateError};

pub use bootstrap::{BootstrapMode, BootstrapSummary, Interval};
pub use loewe::LoeweFallback;
pub use musyc::{MusycFit, MusycParams, MusycScore};
pub use zip::ZipEmax;

/// The sign convention, written into `summary.json` and the docs.
pub const CONVENTION: &str = "excess scores (bliss, bliss_hill, hsa, loewe, zip, musyc) = reference - observed on the viability scale, > 0 = synergy; ci is an index, < 1 = synergy; single-agent and control cells get the neutral value (0; 1 for ci); summaries cover combination cells only";

/// Every error of the synergy layer.
#[derive(Debug, thiserror::Error)]
pub enum SynergyError {
    #[error(transparent)]
    Plate(#[from] PlateError),
    #[error("cannot fit single-agent curve of {drug}: {source}")]
    Fit {
        drug: String,
        #[source]
        source: FitError,
    },
    #[error("unknown synergy method {name:?} (known: all, {known})")]
    UnknownMethod { name: String, known: String },
    #[error("unknown Loewe fallback {name:?} (known: hsa, weakest, nan)")]
    UnknownFallback { name: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Plot(#[from] crate::output::plot::PlotError),
}

/// A scoring method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Bliss,
    BlissHill,
    Hsa,
    Loewe,
    Zip,
    Ci,
    Musyc,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Bliss,
        Method::BlissHill,
        Method::Hsa,
        Method::Loewe,
        Method::Zip,
        Method::Ci,
        Method::Musyc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Bliss => "bliss",
            Method::BlissHill => "bliss_hill",
            Method::Hsa => "hsa",
            Method::Loewe => "loewe",
            Method::Zip => "zip",
            Method::Ci => "ci",
            Method::Musyc => "musyc",
        }
    }

    /// Score of a single-agent or control cell, and of "no interaction".
    pub fn neutral(self) -> f64 {
        if self == Method::Ci {
            1.0
        } else {
            0.0
        }
    }

    /// Parse `all` or a comma-separated list (`bliss,hsa`); order is kept, repeats dropped.
    pub fn parse_list(s: &str) -> Result<Vec<Method>, SynergyError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.eq_ignore_ascii_case("all") {
                out.extend(Method::ALL);
            } else {
                out.push(part.parse()?);
            }
        }
        let mut seen = Vec::new();
        out.retain(|m| {
            let new = !seen.contains(m);
            seen.push(*m);
            new
        });
        Ok(out)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = SynergyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| SynergyError::UnknownMethod {
                name: s.to_string(),
                known: Method::ALL.map(Method::name).join(", "),
            })
    }
}

/// What a cell is, and for combination cells whether it could be scored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Control or single-agent cell: score is the neutral value.
    Neutral,
    /// Combination cell scored normally.
    Scored,
    /// Combination cell scored through a documented fallback (e.g. Loewe -> HSA).
    Fallback(String),
    /// Combination cell that cannot be scored, with the reason.
    Undefined(String),
}

impl fmt::Display for CellStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellStatus::Neutral => f.write_str("neutral"),
            CellStatus::Scored => f.write_str("scored"),
            CellStatus::Fallback(r) => write!(f, "fallback: {r}"),
            CellStatus::Undefined(r) => write!(f, "undefined: {r}"),
        }
    }
}

/// One cell of a scored plate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellScore {
    pub i: usize,
    pub j: usize,
    pub dose_a: f64,
    pub dose_b: f64,
    /// The response the reference is compared with: the cell mean (ZIP: the
    /// slice-fitted response), `None` when the cell was not measured.
    pub observed: Option<f64>,
    /// The no-interaction reference (viability); `None` for `ci` and undefined cells.
    pub reference: Option<f64>,
    /// `reference - observed` (excess methods) or the CI; `None` only when undefined.
    pub score: Option<f64>,
    pub status: CellStatus,
}

/// Summary over combination cells with a defined score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Combination cells with a score (fallback cells included).
    pub n_scored: usize,
    /// Combination cells scored through a fallback.
    pub n_fallback: usize,
    /// Combination cells without a score.
    pub n_undefined: usize,
    /// Undefined cells by reason.
    pub undefined_reasons: BTreeMap<String, usize>,
}

impl Summary {
    pub fn of(cells: &[CellScore]) -> Summary {
        let mut v: Vec<f64> = Vec::with_capacity(cells.len());
        let (mut n_fallback, mut reasons) = (0, BTreeMap::new());
        for c in cells {
            match &c.status {
                CellStatus::Neutral => continue,
                CellStatus::Undefined(r) => *reasons.entry(r.clone()).or_insert(0) += 1,
                CellStatus::Fallback(_) => n_fallback += 1,
                CellStatus::Scored => {}
            }
            if let Some(s) = c.score {
                v.push(s);
            }
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some(0.5 * (v[n / 2 - 1] + v[n / 2])),
        };
        Summary {
            mean: (n > 0).then(|| v.iter().sum::<f64>() / n as f64),
            median,
            min: v.first().copied(),
            max: v.last().copied(),
            n_scored: n,
            n_fallback,
            n_undefined: reasons.values().sum(),
            undefined_reasons: reasons,
        }
    }
}

/// Method-specific results beyond the per-cell scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MethodDetail {
    None,
    Loewe(loewe::LoeweDetail),
    Zip(zip::ZipDetail),
    Ci(ci::CiDetail),
    Musyc(MusycFit),
}

/// The scores of one method on one plate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MethodResult {
    pub method: Method,
    pub cells: Vec<CellScore>,
    pub summary: Summary,
    pub detail: MethodDetail,
}

/// Per-plate settings that change scores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreSettings {
    pub loewe_fallback: LoeweFallback,
    /// ZIP with fitted (default) or fixed `Emax`.
    pub zip_emax: ZipEmax,
    /// MuSyC per-cell score: null minus fitted model (default) or minus data.
    pub musyc_score: MusycScore,
    /// Quality gates of every fit a score rests on.
    pub gate: FitGate,
}

/// A plate ready for scoring: the grid and the single-agent Hill fits every
/// fitted-curve method shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub grid: Grid,
    pub fit_a: HillFit,
    pub fit_b: HillFit,
    pub settings: ScoreSettings,
    /// Failed single-agent data gate, if any (see [`Context::single_agent_failure`]).
    single_issue: Option<String>,
    /// Failed data or Hill gate, if any (see [`Context::hill_failure`]).
    hill_issue: Option<String>,
}

impl Context {
    pub fn new(grid: Grid, settings: ScoreSettings) -> Result<Context, SynergyError> {
        let fit = |name: &str, (d, y): (Vec<f64>, Vec<f64>)| {
            HillFit::fit(&d, &y).map_err(|source| SynergyError::Fit {
                drug: name.to_string(),
                source,
            })
        };
        let fit_a = fit(&grid.drug_a.name, grid.single_a())?;
        let fit_b = fit(&grid.drug_b.name, grid.single_b())?;
        let gate = &settings.gate;
        let (da, ya) = grid.single_a();
        let (db, yb) = grid.single_b();
        let single_issue = gate
            .single_agent(&grid.drug_a.name, &da, &ya)
            .or_else(|| gate.single_agent(&grid.drug_b.name, &db, &yb));
        let hill_issue = single_issue.clone().or_else(|| {
            gate.hill(&grid.drug_a.name, &fit_a)
                .or_else(|| gate.hill(&grid.drug_b.name, &fit_b))
        });
        Ok(Context {
            grid,
            fit_a,
            fit_b,
            settings,
            single_issue,
            hill_issue,
        })
    }

    /// Why a drug alone cannot carry a fitted-curve score (inactive or non-monotone,
    /// see [`FitGate::single_agent`]); drug A is checked first.
    pub fn single_agent_failure(&self) -> Option<String> {
        self.single_issue.clone()
    }

    /// Why the single-agent Hill fits cannot carry a score: a failed data gate, or a
    /// Hill fit with a poor r^2 or a parameter on its bound.
    pub fn hill_failure(&self) -> Option<String> {
        self.hill_issue.clone()
    }

    /// Mean response of drug A alone at `doses_a[i]` (always measured: checked by `Grid`).
    pub fn single_a(&self, i: usize) -> f64 {
        self.grid.mean(i, 0).unwrap_or(f64::NAN)
    }
    /// Mean response of drug B alone at `doses_b[j]`.
    pub fn single_b(&self, j: usize) -> f64 {
        self.grid.mean(0, j).unwrap_or(f64::NAN)
    }
}

/// A reference value for one combination cell, possibly via a fallback.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub value: f64,
    pub fallback: Option<String>,
}

impl From<f64> for Reference {
    fn from(value: f64) -> Self {
        Reference {
            value,
            fallback: None,
        }
    }
}

/// A no-interaction model: a reference surface, compared with the observed surface.
///
/// The provided [`SynergyModel::score`] is the excess score `reference - observed` over
/// combination cells, neutral elsewhere; index-type methods (`ci`) override it.
pub trait SynergyModel {
    fn method(&self) -> Method;

    /// The no-interaction response at combination cell `(i, j)` (`i, j >= 1`), or why
    /// there is none.
    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String>;

    /// The response compared with the reference (the measured mean by default).
    fn observed(&self, ctx: &Context, i: usize, j: usize) -> Option<f64> {
        ctx.grid.mean(i, j)
    }

    fn detail(&self) -> MethodDetail {
        MethodDetail::None
    }

    fn score(&self, ctx: &Context) -> MethodResult {
        let cells = for_each_cell(ctx, self.method(), |i, j| {
            let Some(obs) = self.observed(ctx, i, j) else {
                return undefined(None, "combination cell not measured");
            };
            match self.reference(ctx, i, j) {
                Ok(r) => CellOutcome {
                    observed: Some(obs),
                    reference: Some(r.value),
                    score: Some(r.value - obs),
                    status: r.fallback.map_or(CellStatus::Scored, CellStatus::Fallback),
                },
                Err(reason) => undefined(Some(obs), &reason),
            }
        });
        MethodResult {
            method: self.method(),
            summary: Summary::of(&cells),
            cells,
            detail: self.detail(),
        }
    }
}

/// Scoring outcome of one combination cell.
pub(crate) struct CellOutcome {
    pub observed: Option<f64>,
    pub reference: Option<f64>,
    pub score: Option<f64>,
    pub status: CellStatus,
}

pub(crate) fn undefined(observed: Option<f64>, reason: &str) -> CellOutcome {
    CellOutcome {
        observed,
        reference: None,
        score: None,
        status: CellStatus::Undefined(reason.to_string()),
    }
}

/// Visit every cell: control and single-agent cells get the method's neutral value,
/// combination cells are scored by `combo(i, j)`.
pub(crate) fn for_each_cell(
    ctx: &Context,
    method: Method,
    mut combo: impl FnMut(usize, usize) -> CellOutcome,
) -> Vec<CellScore> {
    let g = &ctx.grid;
    let mut cells = Vec::with_capacity(g.na() * g.nb());
    for i in 0..g.na() {
        for j in 0..g.nb() {
            let (dose_a, dose_b) = (g.doses_a[i], g.doses_b[j]);
            let out = if i == 0 || j == 0 {
                let obs = g.mean(i, j);
                CellOutcome {
                    observed: obs,
                    reference: if method == Method::Ci { None } else { obs },
                    score: Some(method.neutral()),
                    status: CellStatus::Neutral,
                }
            } else {
                combo(i, j)
            };
            cells.push(CellScore {
                i,
                j,
                dose_a,
                dose_b,
                observed: out.observed,
                reference: out.reference,
                score: out.score,
                status: out.status,
            });
        }
    }
    cells
}

/// Score one method on a prepared plate.
pub fn score_method(ctx: &Context, method: Method) -> MethodResult {
    match method {
        Method::Bliss => bliss::Bliss.score(ctx),
        Method::BlissHill => bliss::BlissHill.score(ctx),
        Method::Hsa => hsa::Hsa.score(ctx),
        Method::Loewe => loewe::Loewe::new(ctx).score(ctx),
        Method::Zip => zip::Zip::new(ctx).score(ctx),
        Method::Ci => ci::CombinationIndex::new(ctx).score(ctx),
        Method::Musyc => musyc::Musyc::new(ctx, None).score(ctx),
    }
}

/// Score a plate in memory with the given methods (no bootstrap, no files). This is the
/// entry point for the simulated-assay layer.
pub fn score_plate(
    plate: &Plate,
    methods: &[Method],
    settings: ScoreSettings,
) -> Result<(Context, Vec<MethodResult>), SynergyError> {
    let ctx = Context::new(plate.grid()?, settings)?;
    let results = methods.iter().map(|&m| score_method(&ctx, m)).collect();
    Ok((ctx, results))
}

/// Options of [`run_synergy`] (the CLI's `resloop synergy` maps onto these).
#[derive(Debug, Clone)]
pub struct SynergyOptions {
    pub plate: PathBuf,
    pub methods: Vec<Method>,
    /// Bootstrap samples; 0 = none.
    pub bootstrap: usize,
    pub seed: u64,
    pub percent_inhibition: bool,
    pub drug_a: Option<String>,
    pub drug_b: Option<String>,
    pub unit_a: Option<String>,
    pub unit_b: Option<String>,
    pub loewe_fallback: LoeweFallback,
    pub zip_emax: ZipEmax,
    pub musyc_score: MusycScore,
    pub gate: FitGate,
    /// Draw heatmaps and curve plots (PNG + SVG).
    pub plots: bool,
}

impl SynergyOptions {
    /// All methods, no bootstrap, seed 0, plots on.
    pub fn new(plate: impl Into<PathBuf>) -> Self {
        SynergyOptions {
            plate: plate.into(),
            methods: Method::ALL.to_vec(),
            bootstrap: 0,
            seed: 0,
            percent_inhibition: false,
            drug_a: None,
            drug_b: None,
            unit_a: None,
            unit_b: None,
            loewe_fallback: LoeweFallback::default(),
            zip_emax: ZipEmax::default(),
            musyc_score: MusycScore::default(),
            gate: FitGate::default(),
            plots: true,
        }
    }
}

impl SynergyOptions {
    /// How the plate CSV is read (response convention, drug names and units).
    pub fn csv_options(&self) -> CsvOptions {
        CsvOptions {
            percent_inhibition: self.percent_inhibition,
            drug_a: self.drug_a.clone(),
            drug_b: self.drug_b.clone(),
            unit_a: self.unit_a.clone(),
            unit_b: self.unit_b.clone(),
        }
    }
}

/// Everything [`run_synergy`] computed for one plate (block), and the files it wrote.
#[derive(Debug, Clone)]
pub struct SynergyReport {
    /// The block id for multi-plate files.
    pub block: Option<String>,
    pub context: Context,
    pub results: Vec<MethodResult>,
    pub bootstrap: Option<BootstrapSummary>,
    /// Things the user should know that did not stop the run (e.g. noisy responses kept).
    pub warnings: Vec<String>,
    pub files: Vec<PathBuf>,
}

/// Read a plate file, score every block in it, optionally bootstrap, and write
/// `scores.csv`, `summary.json` and plots: into `out_dir` for a one-plate file, into
/// `out_dir/block-<id>/` per block otherwise.
pub fn run_synergy(
    opts: &SynergyOptions,
    out_dir: &Path,
) -> Result<Vec<SynergyReport>, SynergyError> {
    let blocks = Plate::blocks_from_csv_path(&opts.plate, &opts.csv_options())?;
    score_blocks(blocks, opts, Some(out_dir))
}

/// Score plate blocks already read (e.g. from CSV text in memory), optionally
/// bootstrap, and, when `out_dir` is given, write what [`run_synergy`] writes.
pub fn score_blocks(
    blocks: Vec<Block>,
    opts: &SynergyOptions,
    out_dir: Option<&Path>,
) -> Result<Vec<SynergyReport>, SynergyError> {
    let several = blocks.len() > 1;
    let settings = ScoreSettings {
        loewe_fallback: opts.loewe_fallback,
        zip_emax: opts.zip_emax,
        musyc_score: opts.musyc_score,
        gate: opts.gate,
    };
    let mut reports = Vec::with_capacity(blocks.len());
    for block in blocks {
        let (context, results) = score_plate(&block.plate, &opts.methods, settings)?;
        let bootstrap = (opts.bootstrap > 0)
            .then(|| bootstrap::run(&context, &results, &opts.methods, opts.bootstrap, opts.seed));
        let warnings = plate_warnings(&block.plate);
        let mut files = Vec::new();
        if let Some(out_dir) = out_dir {
            let dir = match (&block.id, several) {
                (Some(id), true) => out_dir.join(format!("block-{}", file_safe(id))),
                _ => out_dir.to_path_buf(),
            };
            std::fs::create_dir_all(&dir).map_err(|source| SynergyError::Write {
                path: dir.display().to_string(),
                source,
            })?;
            files = report::write_all(
                &dir,
                opts,
                block.id.as_deref(),
                &context,
                &results,
                bootstrap.as_ref(),
                &warnings,
            )?;
            if opts.plots {
                files.extend(plot::draw_all(
                    &dir,
                    &context,
                    &results,
                    bootstrap.as_ref(),
                )?);
            }
        }
        reports.push(SynergyReport {
            block: block.id,
            context,
            results,
            bootstrap,
            warnings,
            files,
        });
    }
    Ok(reports)
}

/// Warnings about a plate that is scored as given.
fn plate_warnings(plate: &Plate) -> Vec<String> {
    let (below, above) = plate.out_of_unit_range();
    let mut w = Vec::new();
    if below + above > 0 {
        w.push(format!(
            "{below} well(s) below 0 and {above} above 1 (plate noise) kept as measured; the combination index and median-effect fits skip cells whose mean is outside (0, 1), Hill fits bound E0 and Emax to [0, 1.5]"
        ));
    }
    w
}

/// A block id as a directory name: letters, digits, `-`, `_` and `.` kept, others `_`.
fn file_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_list_parsing() {
        assert_eq!(Method::parse_list("all").unwrap(), Method::ALL.to_vec());
        assert_eq!(
            Method::parse_list("hsa, bliss,hsa").unwrap(),
            vec![Method::Hsa, Method::Bliss]
        );
        let e = Method::parse_list("bliss,lowe").unwrap_err().to_string();
        assert!(e.contains("\"lowe\"") && e.contains("loewe"), "{e}");
    }

    #[test]
    fn summary_ignores_neutral_and_counts_undefined() {
        let cell = |score: Option<f64>, status: CellStatus| CellScore {
            i: 1,
            j: 1,
            dose_a: 1.0,
            dose_b: 1.0,
            observed: None,
            reference: None,
            score,
            status,
        };
        let cells = [
            cell(Some(0.0), CellStatus::Neutral),
            cell(Some(0.3), CellStatus::Scored),
            cell(Some(0.1), CellStatus::Fallback("hsa".into())),
            cell(None, CellStatus::Undefined("x".into())),
            cell(Some(-0.2), CellStatus::Scored),
        ];
        let s = Summary::of(&cells);
        assert_eq!((s.n_scored, s.n_fallback, s.n_undefined), (3, 1, 1));
        assert!((s.mean.unwrap() - 0.2 / 3.0).abs() < 1e-15);
        assert_eq!((s.median, s.min, s.max), (Some(0.1), Some(-0.2), Some(0.3)));
    }
}
