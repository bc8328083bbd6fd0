//! Zero interaction potency (ZIP) delta score.
//!
//! Following Yadav et al. (2015) as implemented in SynergyFinder:
//! 1. each drug alone is fitted with a Hill curve whose `E0 = 1` and `Emax = 0` are fixed
//!    (ZIP assumes both drugs can kill every cell), giving `f_A`, `f_B`;
//! 2. the reference is Bliss independence of those curves, `f_A(a) f_B(b)`;
//! 3. each row (drug B fixed at `b_j > 0`) is refitted as a Hill curve in `a` over
//!    `a > 0`, with its zero-dose level fixed at `f_B(b_j)` and `Emax = 0`; likewise each
//!    column; the "observed" combination surface is the mean of the row and column fits;
//! 4. `delta = reference - observed` on the viability scale (= SynergyFinder's
//!    `fitted - zip` on the inhibition scale), > 0 = synergy.
//!
//! SynergyFinder (v1-v2 R code) fits the slices with drc's `L.4` (logistic in dose) while
//! the paper specifies log-logistic curves; we use the paper's log-logistic form.
//!
//! ## References
//! Yadav, B., Wennerberg, K., Aittokallio, T. & Tang, J. (2015). Searching for drug
//! synergy in complex dose-response landscapes using an interaction potency model.
//! Comput. Struct. Biotechnol. J. 13, 504-513.

use super::{Context, Method, MethodDetail, Reference, SynergyModel};
use crate::fit::{HillFit, HillOptions};

/// ZIP-specific output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZipDetail {
    /// Single-agent fits with `E0 = 1`, `Emax = 0` fixed.
    pub single_a: Option<HillFit>,
    pub single_b: Option<HillFit>,
    /// Row/column slice fits that failed (too few measured cells).
    pub failed_slices: usize,
}

/// ZIP with its single-agent and slice fits done at construction.
pub struct Zip {
    single: Option<(HillFit, HillFit)>,
    /// Slice-fitted combination surface, `None` where a cell has no fitted value.
    fitted: Vec<Option<f64>>,
    failed_slices: usize,
    nb: usize,
}

const FIXED: HillOptions = HillOptions {
    bounds: crate::fit::HillBounds::VIABILITY,
    fix_e0: Some(1.0),
    fix_emax: Some(0.0),
};

impl Zip {
    pub fn new(ctx: &Context) -> Zip {
        let g = &ctx.grid;
        let (na, nb) = (g.na(), g.nb());
        let fit = |(d, y): (Vec<f64>, Vec<f64>)| HillFit::fit_with(&d, &y, &FIXED).ok();
        let single = fit(g.single_a()).zip(fit(g.single_b()));
        let mut zip = Zip {
            single,
            fitted: vec![None; na * nb],
            failed_slices: 0,
            nb,
        };
        let Some((fa, fb)) = zip.single else {
            return zip;
        };
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
                    if let Some(y) = g.mean(i, j) {
                        doses.push(if along_a { g.doses_a[i] } else { g.doses_b[j] });
                        ys.push(y);
                        idx.push(i * nb + j);
                    }
                }
                let base = if along_a {
                    fb.eval(g.doses_b[o])
                } else {
                    fa.eval(g.doses_a[o])
                };
                let opts = HillOptions {
                    fix_e0: Some(base),
                    ..FIXED
                };
                match HillFit::fit_with(&doses, &ys, &opts) {
                    Ok(f) => {
                        for (&d, &c) in doses.iter().zip(&idx) {
                            sum[c] += f.eval(d);
                            count[c] += 1;
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

    fn observed(&self, _ctx: &Context, i: usize, j: usize) -> Option<f64> {
        self.fitted[i * self.nb + j]
    }

    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        let (fa, fb) = self
            .single
            .ok_or("ZIP single-agent fit failed (needs two positive doses per drug)")?;
        Ok((fa.eval(ctx.grid.doses_a[i]) * fb.eval(ctx.grid.doses_b[j])).into())
    }

    fn detail(&self) -> MethodDetail {
        MethodDetail::Zip(ZipDetail {
            single_a: self.single.map(|s| s.0),
            single_b: self.single.map(|s| s.1),
            failed_slices: self.failed_slices,
        })
    }
}
