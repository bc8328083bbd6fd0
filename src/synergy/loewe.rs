//! Loewe additivity: a drug combined with itself is never synergistic. The reference
//! response `E` at `(a, b)` solves the isobole equation
//! `a / D_A(E) + b / D_B(E) = 1`, where `D_X(E)` is the dose of X alone that gives `E`
//! (inverse of its fitted Hill curve).
//!
//! On the viability scale `D_X(E)` is 0 for `E` at or above `E0_X` and infinite at or
//! below `Emax_X`, so `g(E) = a/D_A(E) + b/D_B(E) - 1` increases with `E` from -1 to
//! +infinity and is solved with a bracketed root finder (Brent). When the root lies at or
//! below the weaker drug's `Emax`, the weaker drug no longer has an equivalent dose and
//! Loewe additivity is undefined there; the cell then gets an explicit
//! [`LoeweFallback`], and the number of such cells is reported.
//!
//! ## References
//! Loewe, S. & Muischnek, H. (1926). Arch. Exp. Pathol. Pharmakol. 114, 313-326.
//! Greco, W. R., Bravo, G. & Parsons, J. C. (1995). Pharmacol. Rev. 47, 331-385.

use std::str::FromStr;

use super::{Context, Method, MethodDetail, Reference, SynergyError, SynergyModel};
use crate::fit::{brent_root, HillFit};

/// What a Loewe cell gets when its isobole needs more effect than the weaker drug can give.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoeweFallback {
    /// Highest single agent on the fitted curves, `min(f_A(a), f_B(b))` (default).
    #[default]
    Hsa,
    /// The weaker drug's `Emax` (the higher of the two on the viability scale).
    Weakest,
    /// Leave the cell undefined (counted, with its reason).
    Nan,
}

impl FromStr for LoeweFallback {
    type Err = SynergyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hsa" => Ok(LoeweFallback::Hsa),
            "weakest" => Ok(LoeweFallback::Weakest),
            "nan" => Ok(LoeweFallback::Nan),
            _ => Err(SynergyError::UnknownFallback {
                name: s.to_string(),
            }),
        }
    }
}

/// Loewe-specific output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoeweDetail {
    pub fallback: LoeweFallback,
    /// Combination cells whose isobole lies beyond the weaker drug's Emax.
    pub fallback_cells: usize,
}

/// Reason recorded for cells beyond the weaker drug's Emax.
pub const BEYOND_EMAX: &str = "Loewe isobole needs an effect beyond the weaker drug's Emax";

/// Loewe additivity on the fitted Hill curves.
pub struct Loewe {
    fallback: LoeweFallback,
    fallback_cells: std::cell::Cell<usize>,
}

impl Loewe {
    pub fn new(ctx: &Context) -> Self {
        Loewe {
            fallback: ctx.settings.loewe_fallback,
            fallback_cells: std::cell::Cell::new(0),
        }
    }
}

/// `d / D(E)` for a decreasing Hill curve: 0 when `E` is at or below `Emax` (no finite
/// equivalent dose), infinite at or above `E0` (any dose gives more effect).
fn dose_ratio(f: &HillFit, d: f64, e: f64) -> f64 {
    if f.emax >= f.e0 || e <= f.emax {
        return 0.0;
    }
    if e >= f.e0 {
        return f64::INFINITY;
    }
    let frac = (e - f.e0) / (f.emax - f.e0);
    // D(E) = C (frac / (1 - frac))^(1/h); return d / D(E) in logs to avoid overflow.
    (d.ln() - f.c.ln() - ((frac / (1.0 - frac)).ln()) / f.h).exp()
}

/// Loewe-additive response at doses `(a, b)` (both > 0), or `None` when the isobole lies
/// at or beyond the weaker drug's Emax.
pub fn loewe_response(fa: &HillFit, fb: &HillFit, a: f64, b: f64) -> Option<f64> {
    // An increasing or flat curve never has an equivalent dose: its "Emax" is its E0.
    let floor = |f: &HillFit| if f.emax < f.e0 { f.emax } else { f.e0 };
    let weak = floor(fa).max(floor(fb));
    let top = fa.e0.min(fb.e0);
    let g = |e: f64| dose_ratio(fa, a, e) + dose_ratio(fb, b, e) - 1.0;
    if weak >= top || g(weak) >= 0.0 {
        return None;
    }
    // g -> +inf at `top`; step down from it until g is finite and positive.
    let mut delta = (top - weak) * 1e-3;
    let mut upper = top - delta;
    for _ in 0..60 {
        let v = g(upper);
        if v.is_finite() && v > 0.0 {
            break;
        }
        delta *= 0.5;
        upper = top - delta;
    }
    brent_root(g, weak, upper, 1e-14)
}

impl SynergyModel for Loewe {
    fn method(&self) -> Method {
        Method::Loewe
    }

    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        if let Some(reason) = ctx.hill_failure() {
            return Err(reason);
        }
        let (a, b) = (ctx.grid.doses_a[i], ctx.grid.doses_b[j]);
        let (fa, fb) = (&ctx.fit_a, &ctx.fit_b);
        if let Some(e) = loewe_response(fa, fb, a, b) {
            return Ok(e.into());
        }
        self.fallback_cells.set(self.fallback_cells.get() + 1);
        let value = match self.fallback {
            LoeweFallback::Hsa => fa.eval(a).min(fb.eval(b)),
            LoeweFallback::Weakest => fa.emax.max(fb.emax),
            LoeweFallback::Nan => return Err(BEYOND_EMAX.to_string()),
        };
        let name = match self.fallback {
            LoeweFallback::Hsa => "hsa",
            _ => "weakest",
        };
        Ok(Reference {
            value,
            fallback: Some(format!("{BEYOND_EMAX}; used {name}")),
        })
    }

    fn detail(&self) -> MethodDetail {
        MethodDetail::Loewe(LoeweDetail {
            fallback: self.fallback,
            fallback_cells: self.fallback_cells.get(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sham_combination_is_the_dose_sum() {
        let f = HillFit::from_params(1.0, 0.1, 2.0, 1.3);
        let e = loewe_response(&f, &f, 0.7, 1.9).unwrap();
        assert!((e - f.eval(2.6)).abs() < 1e-12, "{e} vs {}", f.eval(2.6));
    }

    #[test]
    fn isobole_satisfied_for_different_drugs() {
        let fa = HillFit::from_params(1.0, 0.0, 1.0, 1.0);
        let fb = HillFit::from_params(1.0, 0.2, 5.0, 2.0);
        let (a, b) = (0.5, 2.0);
        let e = loewe_response(&fa, &fb, a, b).unwrap();
        let sum = a / fa.inverse(e).unwrap() + b / fb.inverse(e).unwrap();
        assert!((sum - 1.0).abs() < 1e-10, "{sum}");
    }

    #[test]
    fn beyond_weaker_emax_has_no_solution() {
        // Drug A alone at a = 10 reaches 1/11 < 0.5 = Emax of B: the isobole is gone.
        let fa = HillFit::from_params(1.0, 0.0, 1.0, 1.0);
        let fb = HillFit::from_params(1.0, 0.5, 1.0, 1.0);
        assert!(loewe_response(&fa, &fb, 10.0, 1.0).is_none());
        assert!(loewe_response(&fa, &fb, 0.1, 0.1).is_some());
    }
}
