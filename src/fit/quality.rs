//! Quality gates for the fits a synergy score rests on.
//!
//! A score computed from a curve that does not describe the data is a number without
//! meaning: a drug with no effect gets a median-effect fit with `Dm = 1e75`, a U-shaped
//! single agent gets a Hill curve with r^2 = 0.3, and both then produce confident-looking
//! combination indices. The gates here turn such fits into a reason, so the caller can
//! report the score as undefined instead of as a number.
//!
//! Data gates (on the measured single-agent means, independent of any fit):
//! - *inactive*: the drug lowers the response by less than `min_effect` of its
//!   untreated level over the tested doses;
//! - *non-monotone*: after falling, the response rises again by more than `max_rise`
//!   (absolute, viability scale), e.g. a U-shaped curve.
//!
//! Fit gates: r^2 below `min_r2`; a nonlinear parameter (`C`, `h`) on its bound; for the
//! median-effect line, a correlation below `min_r` or a `Dm` outside the bounds a Hill
//! fit would accept.

use super::{HillFit, MedianEffectFit};

/// Thresholds of the gates (see the module docs). The defaults are the CLI defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FitGate {
    /// Smallest acceptable r^2 of a Hill or MuSyC fit.
    pub min_r2: f64,
    /// Smallest acceptable linear correlation of a median-effect line (CompuSyn's `r`).
    /// CompuSyn asks for 0.95 on in vitro data; the default 0.8 only rejects lines that
    /// do not describe the data (a partial-efficacy drug bends the line to about 0.85).
    pub min_r: f64,
    /// Smallest effect (fraction of the untreated response) a single agent must reach.
    pub min_effect: f64,
    /// Largest rise of a single agent's response after it has fallen.
    pub max_rise: f64,
}

impl Default for FitGate {
    fn default() -> Self {
        FitGate {
            min_r2: 0.8,
            min_r: 0.8,
            min_effect: 0.1,
            max_rise: 0.15,
        }
    }
}

impl FitGate {
    /// Data gates of one drug alone: `doses` ascending with the zero dose first, `means`
    /// the mean response at each. `None` when the drug passes.
    pub fn single_agent(&self, drug: &str, doses: &[f64], means: &[f64]) -> Option<String> {
        let y0 = *means.first()?;
        let lowest = means.iter().copied().fold(f64::INFINITY, f64::min);
        let effect = if y0 > 0.0 { (y0 - lowest) / y0 } else { 0.0 };
        if effect < self.min_effect {
            return Some(format!(
                "{drug} alone reaches an effect of {:.1}% of untreated (< {:.0}%): inactive",
                100.0 * effect,
                100.0 * self.min_effect
            ));
        }
        let mut low = y0;
        for (&d, &y) in doses.iter().zip(means) {
            if y - low > self.max_rise {
                return Some(format!(
                    "{drug} alone is non-monotone: response rises by {:.2} (> {:.2}) at dose {d} after falling to {low:.3}",
                    y - low,
                    self.max_rise
                ));
            }
            low = low.min(y);
        }
        None
    }

    /// Fit gates of a Hill curve. `None` when it passes.
    pub fn hill(&self, drug: &str, fit: &HillFit) -> Option<String> {
        if fit.r2 < self.min_r2 {
            return Some(format!(
                "Hill fit of {drug}: r^2 = {:.3} < {:.2}",
                fit.r2, self.min_r2
            ));
        }
        let at: Vec<&str> = [("C", fit.at_bounds.c), ("h", fit.at_bounds.h)]
            .into_iter()
            .filter_map(|(n, b)| b.then_some(n))
            .collect();
        (!at.is_empty()).then(|| format!("Hill fit of {drug}: {} at its bound", at.join(", ")))
    }

    /// Fit gates of a median-effect line; `dmin`, `dmax` are the tested positive doses.
    pub fn median_effect(
        &self,
        drug: &str,
        fit: &MedianEffectFit,
        dmin: f64,
        dmax: f64,
    ) -> Option<String> {
        if fit.m <= 0.0 {
            return Some(format!(
                "median-effect fit of {drug}: slope m = {:.3} <= 0 (effect does not grow with dose)",
                fit.m
            ));
        }
        if fit.r < self.min_r {
            return Some(format!(
                "median-effect fit of {drug}: r = {:.3} < {:.2}",
                fit.r, self.min_r
            ));
        }
        let (lo, hi) = (dmin / C_FACTOR, dmax * C_FACTOR);
        (!(fit.dm >= lo && fit.dm <= hi)).then(|| {
            format!("median-effect fit of {drug}: Dm = {:.3e} outside [{lo:.3e}, {hi:.3e}] (three decades beyond the tested doses)", fit.dm)
        })
    }
}

/// How far beyond the tested dose range a half-effect dose may lie (the Hill `C` bound).
pub const C_FACTOR: f64 = 1000.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_and_u_shaped_drugs_are_named() {
        let g = FitGate::default();
        let d = [0.0, 1.0, 2.0, 4.0, 8.0];
        let flat = [1.0, 1.0 - 4e-8, 1.0, 1.0 + 4e-8, 1.0];
        assert!(g.single_agent("X", &d, &flat).unwrap().contains("inactive"));
        let u = [1.0, 0.6, 0.3, 0.6, 0.95];
        assert!(g
            .single_agent("X", &d, &u)
            .unwrap()
            .contains("non-monotone"));
        let ok = [1.0, 0.9, 0.6, 0.3, 0.31];
        assert_eq!(g.single_agent("X", &d, &ok), None);
    }

    #[test]
    fn poor_hill_fit_is_named() {
        let mut f = HillFit::from_params(1.0, 0.2, 1.0, 1.0);
        assert_eq!(FitGate::default().hill("X", &f), None);
        f.r2 = 0.33;
        assert!(FitGate::default()
            .hill("X", &f)
            .unwrap()
            .contains("r^2 = 0.330"));
        f.r2 = 0.99;
        f.at_bounds.h = true;
        assert!(FitGate::default()
            .hill("X", &f)
            .unwrap()
            .contains("h at its bound"));
    }
}
