//! Chou-Talalay median-effect equation `fa / fu = (d / Dm)^m`, fitted as the straight
//! line `ln(fa / fu) = m ln d - m ln Dm` by ordinary least squares.
//!
//! `fa` is the fraction affected (1 - viable fraction) and `fu = 1 - fa`. Only points
//! with `d > 0` and `0 < fa < 1` carry information (the log-odds are infinite
//! elsewhere), so the others are skipped and counted.
//!
//! ## References
//! Chou, T.-C. & Talalay, P. (1984). Adv. Enzyme Regul. 22, 27-55.
//! Chou, T.-C. (2006). Pharmacol. Rev. 58, 621-681.

use super::{check_points, FitError};

/// Fitted median-effect line.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MedianEffectFit {
    /// Slope (sigmoidicity; 1 = hyperbolic).
    pub m: f64,
    /// Median-effect dose (fa = 0.5).
    pub dm: f64,
    /// Linear correlation coefficient of the median-effect plot (CompuSyn's `r`).
    pub r: f64,
    /// Points used (d > 0 and 0 < fa < 1).
    pub n_used: usize,
    /// Points skipped because d = 0 or fa was outside (0, 1).
    pub n_skipped: usize,
}

impl MedianEffectFit {
    /// Fit from doses and viable fractions (responses), as on a plate.
    pub fn fit(doses: &[f64], responses: &[f64]) -> Result<MedianEffectFit, FitError> {
        check_points("median-effect fit", doses, responses)?;
        let (mut sx, mut sy, mut sxx, mut sxy, mut syy, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0, 0usize);
        for (&d, &y) in doses.iter().zip(responses) {
            let fa = 1.0 - y;
            if d <= 0.0 || fa <= 0.0 || fa >= 1.0 {
                continue;
            }
            let (x, l) = (d.ln(), (fa / (1.0 - fa)).ln());
            sx += x;
            sy += l;
            sxx += x * x;
            sxy += x * l;
            syy += l * l;
            n += 1;
        }
        if n < 2 {
            return Err(FitError::TooFewPoints {
                what: "median-effect fit (points with d > 0 and 0 < fa < 1)",
                found: n,
                needed: 2,
            });
        }
        let nf = n as f64;
        let vxx = sxx - sx * sx / nf;
        let vxy = sxy - sx * sy / nf;
        let vyy = syy - sy * sy / nf;
        if vxx <= 1e-12 * sxx.abs().max(1.0) {
            return Err(FitError::NoDoseSpread {
                what: "median-effect fit",
            });
        }
        let m = vxy / vxx;
        let intercept = (sy - m * sx) / nf;
        let r = if vyy > 0.0 {
            vxy / (vxx * vyy).sqrt()
        } else {
            1.0
        };
        Ok(MedianEffectFit {
            m,
            dm: (-intercept / m).exp(),
            r,
            n_used: n,
            n_skipped: doses.len() - n,
        })
    }

    /// Dose producing fraction affected `fa`: `Dm (fa / (1 - fa))^(1/m)`; `None` outside
    /// (0, 1) or for a flat line.
    pub fn dose_for_fa(&self, fa: f64) -> Option<f64> {
        let d = self.dm * (fa / (1.0 - fa)).powf(1.0 / self.m);
        (fa > 0.0 && fa < 1.0 && d.is_finite() && d > 0.0).then_some(d)
    }

    /// Fraction affected at dose `d`.
    pub fn fa_at(&self, d: f64) -> f64 {
        if d <= 0.0 {
            return 0.0;
        }
        1.0 / (1.0 + (self.m * (self.dm.ln() - d.ln())).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_is_recovered() {
        // fa = d^2 / (1.5^2 + d^2): m = 2, Dm = 1.5.
        let d = [0.0, 0.3, 1.0, 2.0, 5.0];
        let y: Vec<f64> = d.iter().map(|&x| 1.0 - x * x / (2.25 + x * x)).collect();
        let f = MedianEffectFit::fit(&d, &y).unwrap();
        assert!(
            (f.m - 2.0).abs() < 1e-10 && (f.dm - 1.5).abs() < 1e-10,
            "{f:?}"
        );
        assert!((f.r - 1.0).abs() < 1e-12);
        assert_eq!((f.n_used, f.n_skipped), (4, 1));
        assert!((f.dose_for_fa(0.5).unwrap() - 1.5).abs() < 1e-10);
        assert!((f.fa_at(2.0) - 4.0 / 6.25).abs() < 1e-12);
    }

    #[test]
    fn needs_two_informative_points() {
        let e = MedianEffectFit::fit(&[0.0, 1.0, 2.0], &[1.0, 0.5, 0.0]).unwrap_err();
        assert!(matches!(e, FitError::TooFewPoints { found: 1, .. }));
    }
}
