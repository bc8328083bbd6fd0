//! Zero interaction potency (ZIP) delta score.
//!
//! Following Yadav et al. (2015) as the Python `synergy` package (1.0.0) and
//! SynergyFinder implement it:
//! 1. each drug alone is fitted with a 4-parameter Hill curve (`E0`, `Emax`, `C`, `h`);
//!    the reference curves `f_A`, `f_B` use these with `E0` replaced by the mean of the
//!    two fitted `E0`s;
//! 2. the reference is Bliss independence of those curves, `f_A(a) f_B(b)`;
//! 3. each row (drug B fixed at `b_j > 0`) is refitted as a Hill curve in `a` whose
//!    zero-dose level is fixed at drug B's own fitted response at `b_j`, with `Emax`
//!    (bounded to `[0, 1.5]`), `C` and `h` free; likewise each column. The slice curves
//!    are evaluated from the averaged-`E0` single-agent level, and the "observed"
//!    combination surface is the mean of the row and column curves;
//! 4. `delta = reference - observed` on the viability scale (= SynergyFinder's
//!    `fitted - zip` on the inhibition scale), > 0 = synergy.
//!
//! [`ZipEmax::Fixed`] is the variant of SynergyFinder 1-2 (`Emin = 0`, `Emax = 100` on the
//! inhibition scale): every curve, single-agent and slice, has `Emax = 0` fixed and the
//! single agents `E0 = 1`. It assumes both drugs can kill every cell, so a drug with
//! partial efficacy distorts it.
//!
//! The score rests on the single-agent fits, so it is undefined when either fails its
//! quality gate ([`crate::fit::FitGate`]); a slice with too few cells leaves its cells
//! to the other direction's fit alone, and a cell with neither is undefined.
//!
//! ## References
//! Yadav, B., Wennerberg, K., Aittokallio, T. & Tang, J. (2015). Searching for drug
//! synergy in complex dose-response landscapes using an interaction potency model.
//! Comput. Struct. Biotechnol. J. 13, 504-513.
//! Wooten, D. J. & Albert, R. (2021). synergy: a Python library for calculating,
//! analyzing and visualizing drug combination synergy. Bioinformatics 37, 1473-1474.

use std::str::FromStr;

use super::{Context, Method, MethodDetail, Reference, SynergyModel};
use crate::fit::{HillBounds, HillFit, HillOptions};

/// Whether ZIP fits each curve's `Emax` or fixes it at 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZipEmax {
    /// Fitted (the `synergy` package; Yadav et al. 2015).
    #[default]
    Fitted,
    /// Fixed at 0, with single-agent `E0 = 1` (SynergyFinder 1-2 defaults).
    Fixed,
}

impl FromStr for ZipEmax {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fitted" => Ok(ZipEmax::Fitted),
            "fixed" => Ok(ZipEmax::Fixed),
            _ => Err(format!(
                "unknown ZIP Emax mode {s:?} (known: fitted, fixed)"
            )),
        }
    }
}

/// ZIP-specific output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZipDetail {
    pub emax: ZipEmax,
    /// Single-agent fits used by ZIP.
    pub single_a: Option<HillFit>,
    pub single_b: Option<HillFit>,
    /// Row/column slice fits that failed (too few measured cells).
    pub failed_slices: usize,
}

/// ZIP with its single-agent and slice fits done at construction.
pub struct Zip {
    emax: ZipEmax,
    single: Result<(HillFit, HillFit), String>,
    /// Reference single-agent curves (averaged `E0`).
    curves: Option<(HillFit, HillFit)>,
    /// Slice-fitted combination surface, `None` where a cell has no fitted value.
    fitted: Vec<Option<f64>>,
    failed_slices: usize,
    nb: usize,
}

/// Slice bounds: `Emax` in `[0, 1.5]` as in the reference.
const SLICE: HillBounds = HillBounds {
    emax: (0.0, 1.5),
    ..HillBounds::VIABILITY
};

impl Zip {
    pub fn new(ctx: &Context) -> Zip {
        let g = &ctx.grid;
        let (na, nb) = (g.na(), g.nb());
        let emax = ctx.settings.zip_emax;
        let single = match emax {
            ZipEmax::Fitted => Ok((ctx.fit_a, ctx.fit_b)),
            ZipEmax::Fixed => {
                let opts = HillOptions {
                    bounds: HillBounds::VIABILITY,
                    fix_e0: Some(1.0),
                    fix_emax: Some(0.0),
                };
                let fit = |name: &str, (d, y): (Vec<f64>, Vec<f64>)| {
                    HillFit::fit_with(&d, &y, &opts).map_err(|e| format!("ZIP fit of {name}: {e}"))
                };
                fit(&g.drug_a.name, g.single_a())
                    .and_then(|a| fit(&g.drug_b.name, g.single_b()).map(|b| (a, b)))
            }
        };
        let gate = &ctx.settings.gate;
        let single = single.and_then(|(a, b)| {
            let failure = ctx.single_agent_failure().or_else(|| {
                gate.hill(&g.drug_a.name, &a)
                    .or_else(|| gate.hill(&g.drug_b.name, &b))
            });
            failure.map_or(Ok((a, b)), Err)
        });
        let mut zip = Zip {
            emax,
            curves: None,
            single,
            fitted: vec![None; na * nb],
            failed_slices: 0,
            nb,
        };
        let Ok((fa, fb)) = zip.single else {
            return zip;
        };
        let e0 = 0.5 * (fa.e0 + fb.e0);
        let (ca, cb) = (HillFit { e0, ..fa }, HillFit { e0, ..fb });
        zip.curves = Some((ca, cb));
        // Row and column predictions summed per cell, with counts.
        let mut sum = vec![0.0; na * nb];
        let mut count = vec![0u8; na * nb];
        let mut doses = Vec::with_capacity(na.max(nb));
        let mut ys = Vec::with_capacity(na.max(nb));
        let mut idx = Vec::with_capacity(na.max(nb));
        // Slices along drug A (fixed b_j), then along drug B (fixed a_i).
        for along_a in [true, false] {
            let (outer, inner) = if along_a { (nb, na) } else { (na, nb) };
            for o in 1..outer {
                doses.clear();
                ys.clear();
                idx.clear();
                for k in 1..inner {
                    let (i, j) = if along_a { (k, o) } else { (o, k) };
                    for &y in g.replicates(i, j) {
                        doses.push(if along_a { g.doses_a[i] } else { g.doses_b[j] });
                        ys.push(y);
                        idx.push(i * nb + j);
                    }
                }
                // The slice starts where the other drug alone is: its own fit for the
                // fixed level, the averaged-E0 curve for evaluation (as the reference).
                let (own, level) = if along_a {
                    (fb.eval(g.doses_b[o]), cb.eval(g.doses_b[o]))
                } else {
                    (fa.eval(g.doses_a[o]), ca.eval(g.doses_a[o]))
                };
                let opts = HillOptions {
                    bounds: SLICE,
                    fix_e0: Some(own),
                    fix_emax: (emax == ZipEmax::Fixed).then_some(0.0),
                };
                match HillFit::fit_with(&doses, &ys, &opts) {
                    Ok(f) => {
                        let f = HillFit { e0: level, ..f };
                        let mut last = usize::MAX;
                        for (&d, &c) in doses.iter().zip(&idx) {
                            if c != last {
                                sum[c] += f.eval(d);
                                count[c] += 1;
                                last = c;
                            }
                        }
                    }
                    Err(_) => zip.failed_slices += 1,
                }
            }
        }
        for (k, f) in zip.fitted.iter_mut().enumerate() {
            if count[k] > 0 {
                *f = Some(sum[k] / f64::from(count[k]));
            }
        }
        zip
    }
}

impl SynergyModel for Zip {
    fn method(&self) -> Method {
        Method::Zip
    }

    fn observed(&self, ctx: &Context, i: usize, j: usize) -> Option<f64> {
        if self.single.is_err() {
            // Let `reference` report why the single agents cannot carry a score.
            return ctx.grid.mean(i, j);
        }
        self.fitted[i * self.nb + j]
    }

    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        if let Err(reason) = &self.single {
            return Err(reason.clone());
        }
        let (fa, fb) = self.curves.ok_or("ZIP single-agent fit failed")?;
        Ok((fa.eval(ctx.grid.doses_a[i]) * fb.eval(ctx.grid.doses_b[j])).into())
    }

    fn detail(&self) -> MethodDetail {
        let single = self.single.as_ref().ok();
        MethodDetail::Zip(ZipDetail {
            emax: self.emax,
            single_a: single.map(|s| s.0),
            single_b: single.map(|s| s.1),
            failed_slices: self.failed_slices,
        })
    }
}
