//! Resistance rules and growth measurement on a running timeline. Each is a small
//! state machine fed one readout at a time, so the driver applies them as the run
//! goes and the same code reads a finished (or constructed) timeline.

/// ln N over time, for net growth rates over trailing windows. Values are the
/// *expanded* population (cells times every passage's split factor), so passaging
/// does not look like death.
#[derive(Debug, Clone, Default)]
pub struct GrowthHistory {
    times: Vec<f64>,
    ln_n: Vec<f64>,
}

impl GrowthHistory {
    /// Record N at `t` (times must not decrease; a repeated time replaces the value).
    pub fn push(&mut self, t: f64, n: f64) {
        self.push_ln(t, if n > 0.0 { n.ln() } else { f64::NEG_INFINITY });
    }

    /// Record ln N at `t` (for populations too large for an f64, e.g. a dish
    /// expanded by hundreds of passages).
    pub fn push_ln(&mut self, t: f64, v: f64) {
        if self.times.last() == Some(&t) {
            *self
                .ln_n
                .last_mut()
                .expect("times and ln_n have one length") = v;
        } else {
            self.times.push(t);
            self.ln_n.push(v);
        }
    }

    /// ln N at `t` by linear interpolation of ln N (exact for exponential growth
    /// between records); `None` outside the recorded range.
    pub fn ln_at(&self, t: f64) -> Option<f64> {
        let (first, last) = (*self.times.first()?, *self.times.last()?);
        let tol = 1e-9 * last.abs().max(1.0);
        if t < first - tol || t > last + tol {
            return None;
        }
        let k = self.times.partition_point(|&x| x < t);
        if k < self.times.len() && (self.times[k] - t).abs() <= tol {
            return Some(self.ln_n[k]);
        }
        if k == 0 {
            return Some(self.ln_n[0]);
        }
        if k == self.times.len() {
            return Some(self.ln_n[k - 1]);
        }
        let (t0, t1) = (self.times[k - 1], self.times[k]);
        let w = (t - t0) / (t1 - t0);
        Some(self.ln_n[k - 1] + w * (self.ln_n[k] - self.ln_n[k - 1]))
    }

    /// Net growth rate `ln(N(t) / N(t - window)) / window`, if `t - window` is recorded.
    pub fn rate(&self, t: f64, window: f64) -> Option<f64> {
        let now = self.ln_at(t)?;
        let then = self.ln_at(t - window)?;
        Some((now - then) / window)
    }
}

/// The in vivo rule: resistant when the tumour regrows by more than `fraction`
/// above its smallest volume so far (the loop A study's 25% rule).
///
/// The time reported is the crossing of `(1 + fraction) x nadir`, interpolated in
/// log volume between the last readout below and the first above it (exact for
/// exponential regrowth between readouts), and never before the nadir.
#[derive(Debug, Clone)]
pub struct NadirRule {
    pub fraction: f64,
    nadir: f64,
    nadir_time: f64,
    last: Option<(f64, f64)>,
    fired: bool,
}

/// A regrowth event: when, the nadir it is measured from, and the volume at detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regrowth {
    pub time: f64,
    pub detected_at: f64,
    pub nadir: f64,
    pub nadir_time: f64,
    pub volume: f64,
}

impl NadirRule {
    pub fn new(fraction: f64) -> NadirRule {
        NadirRule {
            fraction,
            nadir: f64::INFINITY,
            nadir_time: 0.0,
            last: None,
            fired: false,
        }
    }

    /// The nadir so far and when it was reached.
    pub fn nadir(&self) -> Option<(f64, f64)> {
        self.nadir
            .is_finite()
            .then_some((self.nadir, self.nadir_time))
    }

    /// Feed the volume at a readout; returns the event the first time the rule fires.
    pub fn push(&mut self, t: f64, v: f64) -> Option<Regrowth> {
        let prev = self.last.replace((t, v));
        if v < self.nadir {
            self.nadir = v;
            self.nadir_time = t;
        }
        if self.fired {
            return None;
        }
        let level = (1.0 + self.fraction) * self.nadir;
        if v <= level {
            return None;
        }
        self.fired = true;
        let time = match prev {
            Some((t0, v0)) if v0 > 0.0 && v0 <= level && v > v0 => {
                let w = (level.ln() - v0.ln()) / (v.ln() - v0.ln());
                (t0 + w * (t - t0)).max(self.nadir_time)
            }
            _ => t,
        };
        Some(Regrowth {
            time,
            detected_at: t,
            nadir: self.nadir,
            nadir_time: self.nadir_time,
            volume: v,
        })
    }
}

/// Run the regrowth rule over a whole timeline.
pub fn first_regrowth(times: &[f64], volumes: &[f64], fraction: f64) -> Option<Regrowth> {
    let mut rule = NadirRule::new(fraction);
    times
        .iter()
        .zip(volumes)
        .find_map(|(&t, &v)| rule.push(t, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_rate_over_a_window_is_exact_for_exponentials() {
        let mut h = GrowthHistory::default();
        for k in 0..=20 {
            let t = k as f64 * 0.5;
            h.push(t, 1e6 * (0.3 * t).exp());
        }
        assert!((h.rate(10.0, 7.0).unwrap() - 0.3).abs() < 1e-12);
        assert!((h.rate(9.3, 2.1).unwrap() - 0.3).abs() < 1e-12);
        assert!(h.rate(5.0, 7.0).is_none());
    }

    #[test]
    fn nadir_rule_interpolates_the_crossing() {
        // Shrinks as e^{-0.2 t} to day 10, then regrows as e^{0.1 (t - 10)}:
        // crosses 1.25 x nadir at 10 + ln(1.25) / 0.1.
        let times: Vec<f64> = (0..=40).map(|k| k as f64).collect();
        let v: Vec<f64> = times
            .iter()
            .map(|&t| {
                if t <= 10.0 {
                    (-0.2 * t).exp()
                } else {
                    (-2.0f64).exp() * (0.1 * (t - 10.0)).exp()
                }
            })
            .collect();
        let r = first_regrowth(&times, &v, 0.25).unwrap();
        assert!((r.time - (10.0 + 1.25f64.ln() / 0.1)).abs() < 1e-9, "{r:?}");
        assert_eq!(r.detected_at, 13.0);
        assert_eq!(r.nadir_time, 10.0);
        assert!(first_regrowth(&times[..12], &v[..12], 0.25).is_none());
    }
}
