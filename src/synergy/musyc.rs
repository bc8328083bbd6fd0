//! MuSyC: the two-drug Hill surface of Meyer et al. (2019) / Wooten et al. (2021).
//!
//! Cells move between four states, unaffected (U), affected by drug 1 (A1), by drug 2
//! (A2) or by both (A12). As in the Python `synergy` package (`r1r = r2r = 1`), every
//! reverse rate is 1 and the forward rates are
//!
//! | transition | rate |
//! |---|---|
//! | U -> A1 | `(d1 / C1)^h1` |
//! | U -> A2 | `(d2 / C2)^h2` |
//! | A2 -> A12 | `(alpha21 d1 / C1)^(gamma21 h1)` |
//! | A1 -> A12 | `(alpha12 d2 / C2)^(gamma12 h2)` |
//!
//! and the response is the occupancy-weighted mean `E = U E0 + A1 E1 + A2 E2 + A12 E3`.
//! The steady state of this 4-cycle is computed with the Markov-chain tree theorem
//! (each state's weight is the sum, over the spanning trees directed into it, of the
//! product of their rates): all terms are positive, so there is no cancellation error
//! (unlike solving the 4x4 balance equations).
//!
//! Synergy is in the parameters: `alpha12`, `alpha21` > 1 synergistic potency,
//! `gamma12`, `gamma21` > 1 synergistic cooperativity, and synergistic efficacy
//! `beta = (min(E1, E2) - E3) / (E0 - min(E1, E2))` > 0 on the viability scale.
//!
//! Fitting uses variable projection: `E0..E3` enter linearly and are solved exactly for
//! every trial of the 8 log-transformed nonlinear parameters, which Levenberg-Marquardt
//! searches. It starts from the single-agent Hill fits with a 3 x 3 grid of `alpha`
//! values (all screened by their residual sum of squares, the best few refined), restarts
//! from its own result until the objective stops falling, and then checks the gradient:
//! each free parameter's residual direction must be orthogonal to the residuals (the
//! relative-offset test of Bates & Watts). Parameters that end on a bound are named. A
//! fit that fails either test, sits on a bound or explains too little of the plate
//! (r^2 below the gate) leaves every MuSyC score undefined, with the reason.
//!
//! Per-cell score, two conventions ([`MusycScore`]):
//! - `model` (default, as the `synergy` package): `null(d1, d2) - fitted(d1, d2)`, the
//!   fitted surface with no synergy (`alpha = gamma = 1`, `E3 = min(E1, E2)`) minus the
//!   fitted surface; smooth, and zero wherever the fit says there is no interaction;
//! - `data`: `null(d1, d2) - observed(d1, d2)`, which also carries the residual noise.
//!
//! ## References
//! Meyer, C. T. et al. (2019). Quantifying drug combination synergy along potency and
//! efficacy axes. Cell Syst. 8, 97-108.
//! Wooten, D. J., Meyer, C. T., Lubbock, A. L. R., Quaranta, V. & Lopez, C. F. (2021).
//! MuSyC is a consensus framework that unifies multi-drug synergy metrics for
//! combinatorial drug discovery. Nat. Commun. 12, 4607.
//! Hill, T. L. (1966). Studies in irreversible thermodynamics IV (diagram method).
//! Bates, D. M. & Watts, D. G. (1981). A relative offset orthogonality convergence
//! criterion for nonlinear least squares. Technometrics 23, 179-183.

use nalgebra::{Matrix4, Vector4};

use super::{Context, Method, MethodDetail, Reference, SynergyModel};
use crate::fit::least_squares;
use crate::fit::quality::C_FACTOR;

/// The 12 MuSyC parameters (viability scale for the `E`s).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MusycParams {
    pub e0: f64,
    pub e1: f64,
    pub e2: f64,
    pub e3: f64,
    pub h1: f64,
    pub h2: f64,
    pub c1: f64,
    pub c2: f64,
    pub alpha12: f64,
    pub alpha21: f64,
    pub gamma12: f64,
    pub gamma21: f64,
}

impl MusycParams {
    pub const NAMES: [&'static str; 13] = [
        "e0", "e1", "e2", "e3", "h1", "h2", "c1", "c2", "alpha12", "alpha21", "gamma12", "gamma21",
        "beta",
    ];

    /// Parameter values in [`MusycParams::NAMES`] order, `beta` last.
    pub fn values(&self) -> [f64; 13] {
        [
            self.e0,
            self.e1,
            self.e2,
            self.e3,
            self.h1,
            self.h2,
            self.c1,
            self.c2,
            self.alpha12,
            self.alpha21,
            self.gamma12,
            self.gamma21,
            self.beta(),
        ]
    }

    /// Synergistic efficacy, `(min(E1, E2) - E3) / (E0 - min(E1, E2))`.
    pub fn beta(&self) -> f64 {
        let m = self.e1.min(self.e2);
        (m - self.e3) / (self.e0 - m)
    }

    /// The same drugs with no interaction: `alpha = gamma = 1`, `E3 = min(E1, E2)`.
    pub fn null(&self) -> MusycParams {
        MusycParams {
            e3: self.e1.min(self.e2),
            alpha12: 1.0,
            alpha21: 1.0,
            gamma12: 1.0,
            gamma21: 1.0,
            ..*self
        }
    }

    fn nonlinear(&self) -> [f64; 8] {
        [
            self.h1.ln(),
            self.h2.ln(),
            self.c1.ln(),
            self.c2.ln(),
            self.alpha12.ln(),
            self.alpha21.ln(),
            self.gamma12.ln(),
            self.gamma21.ln(),
        ]
    }

    /// Response at doses `(d1, d2)`.
    pub fn eval(&self, d1: f64, d2: f64) -> f64 {
        let w = occupancy(&self.nonlinear(), d1.ln(), d2.ln());
        w[0] * self.e0 + w[1] * self.e1 + w[2] * self.e2 + w[3] * self.e3
    }
}

/// Steady-state occupancy `[U, A1, A2, A12]` for log-parameters
/// `[ln h1, ln h2, ln C1, ln C2, ln a12, ln a21, ln g12, ln g21]` at `ln d1`, `ln d2`
/// (`-inf` for a zero dose).
///
/// Rates follow the `synergy` package with `r1r = r2r = 1`: every reverse rate is 1 and
/// every forward rate is a dose ratio to a power, e.g. `U -> A1` is `(d1 / C1)^h1` and
/// `A2 -> A12` is `(alpha21 d1 / C1)^(gamma21 h1)`. With `gamma != 1` the 4-cycle is not
/// in detailed balance, so the absolute rate scale matters and must be this one to
/// reproduce the reference surface.
fn occupancy(p: &[f64], ld1: f64, ld2: f64) -> [f64; 4] {
    let [la, lb] = [log_rates_a(p, ld1), log_rates_b(p, ld2)];
    steady_state([la[0], lb[0], lb[1], la[1]])
}

/// Log forward rates that depend on drug 1's dose: `[U -> A1, A2 -> A12]`.
fn log_rates_a(p: &[f64], ld1: f64) -> [f64; 2] {
    let h1 = p[0].exp();
    [h1 * (ld1 - p[2]), p[7].exp() * h1 * (p[5] + ld1 - p[2])]
}

/// Log forward rates that depend on drug 2's dose: `[U -> A2, A1 -> A12]`.
fn log_rates_b(p: &[f64], ld2: f64) -> [f64; 2] {
    let h2 = p[1].exp();
    [h2 * (ld2 - p[3]), p[6].exp() * h2 * (p[4] + ld2 - p[3])]
}

/// Steady state of the 4-cycle U - A1 - A12 - A2 - U with unit reverse rates and log
/// forward rates `l = [U->A1, U->A2, A1->A12, A2->A12]`.
///
/// By the Markov-chain tree theorem each state's weight is the sum over the spanning
/// trees directed into it of the product of their rates; with unit reverse rates these
/// sums are short polynomials in the forward rates `x1, x2, y12, y21` with positive
/// terms only (no cancellation). Where the plain rates overflow, the same sums are taken
/// in logs relative to the largest term.
fn steady_state(l: [f64; 4]) -> [f64; 4] {
    let [x1, x2, y12, y21] = l.map(f64::exp);
    let w = [
        2.0 + y12 + y21,
        x2 * y21 + x1 * (2.0 + y21),
        x1 * y12 + x2 * (2.0 + y12),
        x2 * y21 * (1.0 + y12) + x1 * y12 * (1.0 + y21),
    ];
    let total: f64 = w.iter().sum();
    if total.is_finite() && total > 0.0 {
        return w.map(|x| x / total);
    }
    let [lx1, lx2, ly12, ly21] = l;
    let ln2 = std::f64::consts::LN_2;
    let terms: [&[f64]; 4] = [
        &[ln2, ly12, ly21],
        &[lx2 + ly21, lx1 + ln2, lx1 + ly21],
        &[lx1 + ly12, lx2 + ln2, lx2 + ly12],
        &[lx2 + ly21, lx2 + ly21 + ly12, lx1 + ly12, lx1 + ly12 + ly21],
    ];
    let top = terms
        .iter()
        .flat_map(|t| t.iter())
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let w = terms.map(|ts| ts.iter().map(|v| (v - top).exp()).sum::<f64>());
    let total: f64 = w.iter().sum();
    w.map(|x| x / total)
}

/// Names of the nonlinear parameters, in fitting order.
const NONLINEAR: [&str; 8] = [
    "h1", "h2", "c1", "c2", "alpha12", "alpha21", "gamma12", "gamma21",
];

/// A MuSyC surface fitted to a plate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MusycFit {
    pub params: MusycParams,
    pub beta: f64,
    pub r2: f64,
    pub resid_sd: f64,
    /// Both convergence tests passed: the objective stopped falling across restarts and
    /// the gradient test holds for every free parameter.
    pub converged: bool,
    /// Largest `|J_k . r| / (|J_k| |r|)` over free parameters (0 = exactly stationary);
    /// the gradient test requires it below [`GRADIENT_TOL`].
    pub gradient_cosine: f64,
    /// Nonlinear parameters that ended on a bound.
    pub at_bounds: Vec<&'static str>,
    /// Starting points refined by Levenberg-Marquardt (after screening).
    pub starts: usize,
    /// Residual evaluations over all starts.
    pub iterations: usize,
    pub n: usize,
}

/// Gradient test threshold (Bates & Watts suggest 1e-3 for the relative offset).
pub const GRADIENT_TOL: f64 = 1e-3;

impl MusycFit {
    /// Why scores resting on this fit are not trustworthy, or `None`.
    pub fn failure(&self, min_r2: f64) -> Option<String> {
        if !self.converged {
            return Some(format!(
                "MuSyC fit did not converge (gradient test {:.1e} > {GRADIENT_TOL:.0e} or objective still falling)",
                self.gradient_cosine
            ));
        }
        if !self.at_bounds.is_empty() {
            return Some(format!(
                "MuSyC fit has {} at a bound",
                self.at_bounds.join(", ")
            ));
        }
        (self.r2 < min_r2).then(|| format!("MuSyC fit r^2 = {:.3} < {min_r2:.2}", self.r2))
    }
}

/// Measured points, with the log doses tabulated once per distinct dose: every rate
/// depends on one drug's dose only, so a residual evaluation needs `2 (na + nb)`
/// exponentials instead of four per point.
struct Data {
    ld_a: Vec<f64>,
    ld_b: Vec<f64>,
    ia: Vec<usize>,
    ib: Vec<usize>,
    y: Vec<f64>,
}

impl Data {
    /// Best `E0..E3` for nonlinear parameters `p`, with the occupancies used.
    fn linear(&self, p: &[f64], occ: &mut Vec<[f64; 4]>) -> Vector4<f64> {
        occ.clear();
        let ra: Vec<[f64; 2]> = self.ld_a.iter().map(|&l| log_rates_a(p, l)).collect();
        let rb: Vec<[f64; 2]> = self.ld_b.iter().map(|&l| log_rates_b(p, l)).collect();
        let mut m = Matrix4::zeros();
        let mut v = Vector4::zeros();
        for k in 0..self.y.len() {
            let (a, b) = (ra[self.ia[k]], rb[self.ib[k]]);
            let w = steady_state([a[0], b[0], b[1], a[1]]);
            let w4 = Vector4::from(w);
            m += w4 * w4.transpose();
            v += w4 * self.y[k];
            occ.push(w);
        }
        // A state never occupied on this plate leaves its E undetermined; a tiny ridge
        // pins it to 0 instead of letting it run off.
        let ridge = 1e-12 * m.trace().max(1e-300);
        if let Some(ch) = m.cholesky() {
            let e = ch.solve(&v);
            if e.iter().all(|x| x.is_finite()) {
                return e;
            }
        }
        (m + Matrix4::identity() * ridge)
            .lu()
            .solve(&v)
            .unwrap_or_else(Vector4::zeros)
    }

    fn residuals(&self, p: &[f64], out: &mut [f64]) {
        let mut occ = Vec::with_capacity(self.y.len());
        let e = self.linear(p, &mut occ);
        for (k, w) in occ.iter().enumerate() {
            out[k] = self.y[k] - (w[0] * e[0] + w[1] * e[1] + w[2] * e[2] + w[3] * e[3]);
        }
    }

    fn sse(&self, p: &[f64], buf: &mut [f64]) -> f64 {
        self.residuals(p, buf);
        let s: f64 = buf.iter().map(|r| r * r).sum();
        if s.is_finite() {
            s
        } else {
            f64::INFINITY
        }
    }

    /// Largest relative offset `|J_k . r| / (|J_k| |r|)` over the free parameters at `p`
    /// (central differences); 0 when the residuals vanish.
    fn gradient_cosine(&self, p: &[f64], free: &[bool]) -> f64 {
        let n = self.y.len();
        let (mut r, mut rp, mut rm) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        self.residuals(p, &mut r);
        let rnorm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        let ynorm = self.y.iter().map(|v| v * v).sum::<f64>().sqrt();
        if rnorm <= 1e-10 * ynorm.max(1e-300) {
            return 0.0;
        }
        let mut q = p.to_vec();
        let mut worst: f64 = 0.0;
        for k in (0..p.len()).filter(|&k| free[k]) {
            let h = 1e-5 * p[k].abs().max(1.0);
            q[k] = p[k] + h;
            self.residuals(&q, &mut rp);
            q[k] = p[k] - h;
            self.residuals(&q, &mut rm);
            q[k] = p[k];
            let (mut dot, mut jn) = (0.0, 0.0);
            for i in 0..n {
                let j = (rp[i] - rm[i]) / (2.0 * h);
                dot += j * r[i];
                jn += j * j;
            }
            if jn > 0.0 {
                worst = worst.max(dot.abs() / (jn.sqrt() * rnorm));
            }
        }
        worst
    }
}

/// Fit the MuSyC surface to the measured cells of a plate, starting from `start` (as
/// the bootstrap does, from the plate's own fit) or from the single-agent Hill fits.
pub fn fit_musyc(ctx: &Context, start: Option<&MusycParams>) -> MusycFit {
    let g = &ctx.grid;
    let mut data = Data {
        ld_a: g.doses_a.iter().map(|d| d.ln()).collect(),
        ld_b: g.doses_b.iter().map(|d| d.ln()).collect(),
        ia: Vec::new(),
        ib: Vec::new(),
        y: Vec::new(),
    };
    for i in 0..g.na() {
        for j in 0..g.nb() {
            for &y in g.replicates(i, j) {
                data.ia.push(i);
                data.ib.push(j);
                data.y.push(y);
            }
        }
    }
    let range = |d: &[f64]| {
        let pos = d.iter().copied().filter(|&x| x > 0.0);
        (
            pos.clone().fold(f64::INFINITY, f64::min),
            pos.fold(0.0, f64::max),
        )
    };
    let (a_lo, a_hi) = range(&g.doses_a);
    let (b_lo, b_hi) = range(&g.doses_b);
    let span = C_FACTOR.ln();
    let (lh, hh) = (0.02f64.ln(), 50f64.ln());
    let (la, lg) = (1e4f64.ln(), 20f64.ln());
    let lo = [
        lh,
        lh,
        a_lo.ln() - span,
        b_lo.ln() - span,
        -la,
        -la,
        -lg,
        -lg,
    ];
    let hi = [hh, hh, a_hi.ln() + span, b_hi.ln() + span, la, la, lg, lg];
    let clamp = |p: [f64; 8]| -> [f64; 8] {
        let mut q = p;
        for k in 0..8 {
            q[k] = q[k].clamp(lo[k], hi[k]);
        }
        q
    };
    // Starting points: the given one, else the single agents with alpha on a 3 x 3
    // grid; all are screened by their objective and the best few refined.
    let (fa, fb) = (&ctx.fit_a, &ctx.fit_b);
    let base = [
        fa.h.ln(),
        fb.h.ln(),
        fa.c.ln(),
        fb.c.ln(),
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    let mut starts: Vec<[f64; 8]> = match start {
        Some(s) => vec![s.nonlinear()],
        None => {
            let steps = [0.0, -(4f64.ln()), 4f64.ln()];
            let mut v = Vec::with_capacity(9);
            for a12 in steps {
                for a21 in steps {
                    let mut p = base;
                    p[4] = a12;
                    p[5] = a21;
                    v.push(p);
                }
            }
            v
        }
    };
    let n = data.y.len();
    let mut buf = vec![0.0; n];
    let mut screened: Vec<(f64, [f64; 8])> = starts
        .drain(..)
        .map(clamp)
        .map(|p| (data.sse(&p, &mut buf), p))
        .collect();
    screened.sort_by(|a, b| a.0.total_cmp(&b.0));
    screened.truncate(if start.is_some() { 1 } else { REFINED_STARTS });

    let resid = |p: &[f64], out: &mut [f64]| data.residuals(p, out);
    // Refine every screened start once, then restart the best from its own result
    // until the objective stops falling: LM may stop on a plateau of its own trust
    // region well before the optimum.
    let mut evaluations = 0;
    let mut best: Option<(f64, Vec<f64>)> = None;
    for (_, p0) in &screened {
        let out = least_squares(p0, &lo, &hi, n, &resid);
        evaluations += out.evaluations;
        if best.as_ref().is_none_or(|b| out.sse < b.0) {
            best = Some((out.sse, out.params));
        }
    }
    let mut settled = false;
    if let Some((sse, p)) = best.as_mut() {
        for _ in 0..MAX_RESTARTS {
            let out = least_squares(p, &lo, &hi, n, &resid);
            evaluations += out.evaluations;
            let fell = *sse - out.sse;
            if out.sse < *sse {
                *sse = out.sse;
                *p = out.params;
            }
            if fell <= 1e-10 * sse.max(1e-30) {
                settled = true;
                break;
            }
        }
    }
    let (sse, p) = best.unwrap_or((f64::INFINITY, base.to_vec()));
    let at_bounds: Vec<&'static str> = (0..8)
        .filter(|&k| {
            let tol = 1e-6 * (hi[k] - lo[k]);
            p[k] <= lo[k] + tol || p[k] >= hi[k] - tol
        })
        .map(|k| NONLINEAR[k])
        .collect();
    let free: Vec<bool> = NONLINEAR
        .iter()
        .map(|name| !at_bounds.contains(name))
        .collect();
    let gradient_cosine = data.gradient_cosine(&p, &free);
    let e = data.linear(&p, &mut Vec::with_capacity(n));
    let params = MusycParams {
        e0: e[0],
        e1: e[1],
        e2: e[2],
        e3: e[3],
        h1: p[0].exp(),
        h2: p[1].exp(),
        c1: p[2].exp(),
        c2: p[3].exp(),
        alpha12: p[4].exp(),
        alpha21: p[5].exp(),
        gamma12: p[6].exp(),
        gamma21: p[7].exp(),
    };
    let mean = data.y.iter().sum::<f64>() / n as f64;
    let sst: f64 = data.y.iter().map(|y| (y - mean).powi(2)).sum();
    let r2 = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
    MusycFit {
        beta: params.beta(),
        params,
        r2,
        resid_sd: (sse / (n.saturating_sub(12).max(1)) as f64).sqrt(),
        converged: settled && sse.is_finite() && gradient_cosine <= GRADIENT_TOL,
        gradient_cosine,
        at_bounds,
        starts: screened.len(),
        iterations: evaluations,
        n,
    }
}

/// Starting points refined after screening.
const REFINED_STARTS: usize = 3;
/// Levenberg-Marquardt restarts of the best refined start.
const MAX_RESTARTS: usize = 4;

/// Which per-cell MuSyC score is reported (module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MusycScore {
    /// Null surface minus fitted surface (the `synergy` package's convention).
    #[default]
    Model,
    /// Null surface minus the measured cell means.
    Data,
}

impl std::str::FromStr for MusycScore {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "model" => Ok(MusycScore::Model),
            "data" => Ok(MusycScore::Data),
            _ => Err(format!("unknown MuSyC score {s:?} (known: model, data)")),
        }
    }
}

/// MuSyC as a scoring method: fitted once at construction.
pub struct Musyc {
    pub fit: MusycFit,
    null: MusycParams,
    mode: MusycScore,
    /// Why every combination score is undefined (failed fit or single agent).
    failure: Option<String>,
}

impl Musyc {
    pub fn new(ctx: &Context, start: Option<&MusycParams>) -> Musyc {
        let fit = fit_musyc(ctx, start);
        let failure = ctx
            .single_agent_failure()
            .or_else(|| fit.failure(ctx.settings.gate.min_r2));
        Musyc {
            null: fit.params.null(),
            mode: ctx.settings.musyc_score,
            failure,
            fit,
        }
    }
}

impl SynergyModel for Musyc {
    fn method(&self) -> Method {
        Method::Musyc
    }
    fn observed(&self, ctx: &Context, i: usize, j: usize) -> Option<f64> {
        let mean = ctx.grid.mean(i, j)?;
        Some(match self.mode {
            MusycScore::Data => mean,
            MusycScore::Model => self
                .fit
                .params
                .eval(ctx.grid.doses_a[i], ctx.grid.doses_b[j]),
        })
    }
    fn reference(&self, ctx: &Context, i: usize, j: usize) -> Result<Reference, String> {
        if let Some(reason) = &self.failure {
            return Err(reason.clone());
        }
        Ok(self
            .null
            .eval(ctx.grid.doses_a[i], ctx.grid.doses_b[j])
            .into())
    }
    fn detail(&self) -> MethodDetail {
        MethodDetail::Musyc(self.fit.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::HillFit;

    fn p() -> MusycParams {
        MusycParams {
            e0: 1.0,
            e1: 0.3,
            e2: 0.4,
            e3: 0.1,
            h1: 1.5,
            h2: 0.8,
            c1: 2.0,
            c2: 0.5,
            alpha12: 3.0,
            alpha21: 0.5,
            gamma12: 1.4,
            gamma21: 0.7,
        }
    }

    #[test]
    fn single_drug_edges_are_hill_curves() {
        let m = p();
        let h1 = HillFit::from_params(m.e0, m.e1, m.c1, m.h1);
        let h2 = HillFit::from_params(m.e0, m.e2, m.c2, m.h2);
        for d in [0.01, 0.7, 2.0, 50.0] {
            assert!((m.eval(d, 0.0) - h1.eval(d)).abs() < 1e-13);
            assert!((m.eval(0.0, d) - h2.eval(d)).abs() < 1e-13);
        }
        assert_eq!(m.eval(0.0, 0.0), 1.0);
    }

    #[test]
    fn occupancy_solves_the_balance_equations() {
        let m = p();
        let (d1, d2): (f64, f64) = (1.3, 0.9);
        let lp = m.nonlinear();
        let w = occupancy(&lp, d1.ln(), d2.ln());
        let k = [
            (d1 / m.c1).powf(m.h1),
            1.0,
            (d2 / m.c2).powf(m.h2),
            1.0,
            (m.alpha12 * d2 / m.c2).powf(m.gamma12 * m.h2),
            1.0,
            (m.alpha21 * d1 / m.c1).powf(m.gamma21 * m.h1),
            1.0,
        ];
        let [u, a1, a2, x] = w;
        // Net flux into each state is zero.
        let flux = [
            k[1] * a1 + k[3] * a2 - (k[0] + k[2]) * u,
            k[0] * u + k[5] * x - (k[1] + k[4]) * a1,
            k[2] * u + k[7] * x - (k[3] + k[6]) * a2,
            k[4] * a1 + k[6] * a2 - (k[5] + k[7]) * x,
        ];
        assert!(flux.iter().all(|f| f.abs() < 1e-14), "{flux:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        let mut m = p();
        m.h1 = 10.0;
        m.c1 = 1e-30;
        let e = m.eval(1e30, 1e-30);
        assert!(e.is_finite() && (e - m.e1).abs() < 1e-9, "{e}");
    }

    #[test]
    fn beta_matches_definition() {
        assert!((p().beta() - (0.3 - 0.1) / (1.0 - 0.3)).abs() < 1e-15);
    }
}
