//! Chou-Talalay combination index.
//!
//! Each drug alone is fitted with the median-effect equation (`m`, `Dm`, `r`). For a
//! combination cell with fraction affected `fa = 1 - observed`, the doses of each drug
//! alone giving the same `fa` are `Dx_X = Dm_X (fa / (1 - fa))^(1/m_X)` and
//! `CI = a / Dx_A + b / Dx_B` (mutually exclusive drugs). CI < 1 = synergy, 1 = additive,
//! > 1 = antagonism. The dose-reduction index is `DRI_X = Dx_X / x`.
//!
//! CompuSyn-style CI at fixed effect levels (Fa 0.5, 0.75, 0.9) needs a dose-effect
//! curve of the mixture: every constant-ratio ray `a / b` of the checkerboard with at
//! least 3 informative cells is fitted with the median-effect equation in total dose
//! `D = a + b`, and `CI(fx) = p_A Dx / Dx_A + p_B Dx / Dx_B` with `p_X` the fraction of
//! drug X in the mixture.
//!
//! ## References
//! Chou, T.-C. & Talalay, P. (1984). Adv. Enzyme Regul. 22, 27-55.
//! Chou, T.-C. (2010). Cancer Res. 70, 440-446.

use super::{
    for_each_cell, undefined, CellOutcome, CellStatus, Context, Method, MethodDetail, MethodResult,
    Reference, Summary, SynergyModel,
};
use crate::fit::MedianEffectFit;

/// Effect levels at which CI is reported for each constant-ratio ray.
pub const FA_LEVELS: [f64; 3] = [0.5, 0.75, 0.9];

/// CI and dose-reduction indices of one mixture at one effect level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CiAtFa {
    pub fa: f64,
    /// Total mixture dose giving `fa`.
    pub dose: f64,
    pub ci: f64,
    pub dri_a: f64,
    pub dri_b: f64,
}

/// A constant-ratio ray of the checkerboard and its median-effect fit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CiRay {
    /// `a / b` along the ray.
    pub ratio: f64,
    pub fit: MedianEffectFit,
    pub at_fa: Vec<CiAtFa>,
}

/// Per-cell dose-reduction indices.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellDri {
    pub dose_a: f64,
    pub dose_b: f64,
    pub fa: f64,
    pub dri_a: f64,
    pub dri_b: f64,
}

/// CI-specific output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CiDetail {
    pub median_effect_a: Option<MedianEffectFit>,
    pub median_effect_b: Option<MedianEffectFit>,
    /// Why a single-agent median-effect fit failed, if it did.
    pub fit_error: Option<String>,
    pub rays: Vec<CiRay>,
    pub dri: Vec<CellDri>,
}

/// Combination index with single-agent median-effect fits done at construction.
pub struct CombinationIndex {
    fits: Result<(MedianEffectFit, MedianEffectFit), String>,
}

impl CombinationIndex {
    pub fn new(ctx: &Context) -> Self {
        let fit = |name: &str, (d, y): (Vec<f64>, Vec<f64>)| {
            MedianEffectFit::fit(&d, &y)
                .map_err(|e| format!("median-effect fit of {name} failed: {e}"))
        };
        let g = &ctx.grid;
        let gate = &ctx.settings.gate;
        let range = |d: &[f64]| {
            let pos = d.iter().copied().filter(|&x| x > 0.0);
            (
                pos.clone().fold(f64::INFINITY, f64::min),
                pos.fold(0.0, f64::max),
            )
        };
        let checked = |name: &str, (d, y): (Vec<f64>, Vec<f64>)| {
            let f = fit(name, (d.clone(), y))?;
            let (lo, hi) = range(&d);
            gate.median_effect(name, &f, lo, hi).map_or(Ok(f), Err)
        };
        let fits = match ctx.single_agent_failure() {
            Some(reason) => Err(reason),
            None => checked(&g.drug_a.name, g.single_a())
                .and_then(|a| checked(&g.drug_b.name, g.single_b()).map(|b| (a, b))),
        };
        CombinationIndex { fits }
    }

    /// CI and DRIs for doses `(a, b)` producing fraction affected `fa`.
    fn index(
        fits: &(MedianEffectFit, MedianEffectFit),
        a: f64,
        b: f64,
        fa: f64,
    ) -> Option<(f64, f64, f64)> {
        let dxa = fits.0.dose_for_fa(fa)?;
        let dxb = fits.1.dose_for_fa(fa)?;
        Some((a / dxa + b / dxb, dxa / a, dxb / b))
    }

    fn rays(&self, ctx: &Context, fits: &(MedianEffectFit, MedianEffectFit)) -> Vec<CiRay> {
        let g = &ctx.grid;
        // (ratio, total dose, response) of every measured combination cell, by ratio.
        let mut pts: Vec<(f64, f64, f64)> = Vec::new();
        for i in 1..g.na() {
            for j in 1..g.nb() {
                if let Some(y) = g.mean(i, j) {
                    let (a, b) = (g.doses_a[i], g.doses_b[j]);
                    pts.push((a / b, a + b, y));
                }
            }
        }
        pts.sort_by(|p, q| p.0.total_cmp(&q.0));
        let mut rays = Vec::new();
        for group in pts.chunk_by(|p, q| (p.0 - q.0).abs() <= 1e-6 * p.0.max(q.0)) {
            let d: Vec<f64> = group.iter().map(|p| p.1).collect();
            let y: Vec<f64> = group.iter().map(|p| p.2).collect();
            let Ok(fit) = MedianEffectFit::fit(&d, &y) else {
                continue;
            };
            if fit.n_used < 3 {
                continue;
            }
            let ratio = group[0].0;
            let (pa, pb) = (ratio / (1.0 + ratio), 1.0 / (1.0 + ratio));
            let at_fa = FA_LEVELS
                .iter()
                .filter_map(|&fx| {
                    let dose = fit.dose_for_fa(fx)?;
                    let (ci, dri_a, dri_b) = Self::index(fits, pa * dose, pb * dose, fx)?;
                    Some(CiAtFa {
                        fa: fx,
                        dose,
                        ci,
                        dri_a,
                        dri_b,
                    })
                })
                .collect();
            rays.push(CiRay { ratio, fit, at_fa });
        }
        rays
    }
}

impl SynergyModel for CombinationIndex {
    fn method(&self) -> Method {
        Method::Ci
    }

    /// CI has no reference surface; it is scored by [`SynergyModel::score`] below.
    fn reference(&self, _ctx: &Context, _i: usize, _j: usize) -> Result<Reference, String> {
        Err("the combination index has no reference surface".into())
    }

    fn score(&self, ctx: &Context) -> MethodResult {
        let g = &ctx.grid;
        let mut dri = Vec::new();
        let cells = for_each_cell(ctx, Method::Ci, |i, j| {
            let Some(obs) = g.mean(i, j) else {
                return undefined(None, "combination cell not measured");
            };
            let fits = match &self.fits {
                Ok(f) => f,
                Err(e) => return undefined(Some(obs), e),
            };
            let fa = 1.0 - obs;
            if fa <= 0.0 || fa >= 1.0 {
                return undefined(Some(obs), "fraction affected outside (0, 1)");
            }
            let (a, b) = (g.doses_a[i], g.doses_b[j]);
            match Self::index(fits, a, b, fa) {
                Some((ci, dri_a, dri_b)) => {
                    dri.push(CellDri {
                        dose_a: a,
                        dose_b: b,
                        fa,
                        dri_a,
                        dri_b,
                    });
                    CellOutcome {
                        observed: Some(obs),
                        reference: None,
                        score: Some(ci),
                        status: CellStatus::Scored,
                    }
                }
                None => undefined(
                    Some(obs),
                    "no single-agent dose reaches this effect (flat median-effect line)",
                ),
            }
        });
        let (rays, fit_error) = match &self.fits {
            Ok(f) => (self.rays(ctx, f), None),
            Err(e) => (Vec::new(), Some(e.clone())),
        };
        let fits = self.fits.as_ref().ok();
        MethodResult {
            method: Method::Ci,
            summary: Summary::of(&cells),
            cells,
            detail: MethodDetail::Ci(CiDetail {
                median_effect_a: fits.map(|f| f.0),
                median_effect_b: fits.map(|f| f.1),
                fit_error,
                rays,
                dri,
            }),
        }
    }
}
