//! Stiff test problems with published reference solutions, for tests and the
//! work-precision benchmark (`benches/stiff.rs`).
//!
//! Four problems of the Bari "Test Set for IVP Solvers", written here from their
//! published equations, with exact Jacobians and the reference values the test set
//! publishes at the final time (computed there with RADAU5 in quadruple-like
//! precision, rtol = atol = 1.1e-18):
//!
//! - **ROBER** (3 species, t in [0, 1e11]): Robertson's autocatalytic reaction.
//! - **HIRES** (8, [0, 321.8122]): Schaefer's high-irradiance plant response.
//! - **OREGO** (3, [0, 360]): Field and Noyes' Oregonator, a stiff relaxation
//!   oscillator.
//! - **POLLU** (20, [0, 60]): Verwer's air-pollution chemistry, 25 reactions.
//!
//! ## References
//! Mazzia F, Magherini C (2008) Test Set for Initial Value Problem Solvers,
//! release 2.4, University of Bari (problems ROBER, HIRES, OREGO, POLLU:
//! equations, initial values, reference solutions). Hairer E, Wanner G (1996)
//! Solving Ordinary Differential Equations II, 2nd ed., IV.10 (the same problems
//! as stiff benchmarks).

use nalgebra::DMatrix;

use super::solver::OdeSystem;

/// One test problem (the system and its data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestProblem {
    Rober,
    Hires,
    Orego,
    Pollu,
}

/// Reference values below this magnitude are left out of the relative error (they
/// are at the level of the absolute tolerance: ROBER y2 ~ 8e-14, POLLU y16 ~ 4e-17).
pub const SIGNIFICANT: f64 = 1e-12;

impl TestProblem {
    pub const ALL: [TestProblem; 4] = [
        TestProblem::Rober,
        TestProblem::Hires,
        TestProblem::Orego,
        TestProblem::Pollu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TestProblem::Rober => "ROBER",
            TestProblem::Hires => "HIRES",
            TestProblem::Orego => "OREGO",
            TestProblem::Pollu => "POLLU",
        }
    }

    pub fn t_end(self) -> f64 {
        match self {
            TestProblem::Rober => 1e11,
            TestProblem::Hires => 321.8122,
            TestProblem::Orego => 360.0,
            TestProblem::Pollu => 60.0,
        }
    }

    pub fn initial(self) -> Vec<f64> {
        match self {
            TestProblem::Rober => vec![1.0, 0.0, 0.0],
            TestProblem::Hires => vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057],
            TestProblem::Orego => vec![1.0, 2.0, 3.0],
            TestProblem::Pollu => {
                let mut y = vec![0.0; 20];
                y[1] = 0.2;
                y[3] = 0.04;
                y[6] = 0.1;
                y[7] = 0.3;
                y[8] = 0.01;
                y[16] = 0.007;
                y
            }
        }
    }

    /// The test set's reference solution at `t_end`.
    #[allow(clippy::excessive_precision)] // the published digits, as printed
    pub fn reference(self) -> Vec<f64> {
        match self {
            TestProblem::Rober => vec![
                0.2083340149701255e-07,
                0.8333360770334713e-13,
                0.9999999791665050e+00,
            ],
            TestProblem::Hires => vec![
                0.7371312573325668e-3,
                0.1442485726316185e-3,
                0.5888729740967575e-4,
                0.1175651343283149e-2,
                0.2386356198831331e-2,
                0.6238968252742796e-2,
                0.2849998395185769e-2,
                0.2850001604814231e-2,
            ],
            TestProblem::Orego => vec![
                0.1000814870318523e+1,
                0.1228178521549917e+4,
                0.1320554942846706e+3,
            ],
            TestProblem::Pollu => vec![
                0.5646255480022769e-01,
                0.1342484130422339e+00,
                0.4139734331099427e-08,
                0.5523140207484359e-02,
                0.2018977262302196e-06,
                0.1464541863493966e-06,
                0.7784249118997964e-01,
                0.3245075353396018e+00,
                0.7494013383880406e-02,
                0.1622293157301561e-07,
                0.1135863833257075e-07,
                0.2230505975721359e-02,
                0.2087162882798630e-03,
                0.1396921016840158e-04,
                0.8964884856898295e-02,
                0.4352846369330103e-17,
                0.6899219696263405e-02,
                0.1007803037365946e-03,
                0.1772146513969984e-05,
                0.5682943292316392e-04,
            ],
        }
    }

    /// Absolute tolerance used with relative tolerance `rtol`: scaled to the
    /// smallest significant component, so the relative error can reach `rtol`.
    pub fn atol(self, rtol: f64) -> f64 {
        rtol * match self {
            TestProblem::Rober => 1e-8,
            TestProblem::Hires => 1e-5,
            TestProblem::Orego => 1e-2,
            TestProblem::Pollu => 1e-8,
        }
    }

    /// Largest relative error against the reference over the components whose
    /// reference is at least [`SIGNIFICANT`].
    pub fn max_relative_error(self, y: &[f64]) -> f64 {
        self.reference()
            .iter()
            .zip(y)
            .filter(|(r, _)| r.abs() >= SIGNIFICANT)
            .map(|(r, v)| ((v - r) / r).abs())
            .fold(0.0, f64::max)
    }
}

const POLLU_K: [f64; 25] = [
    0.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9e3, 2.2e-2, 1.2e4, 1.88,
    1.63e4, 4.8e6, 3.5e-4, 1.75e-2, 1e8, 4.44e11, 1.24e3, 2.1, 5.78, 4.74e-2, 1.78e3, 3.12,
];

impl OdeSystem for TestProblem {
    fn rhs(&mut self, _t: f64, y: &[f64], f: &mut [f64]) {
        match self {
            TestProblem::Rober => {
                f[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
                f[2] = 3e7 * y[1] * y[1];
                f[1] = -f[0] - f[2];
            }
            TestProblem::Hires => {
                f[0] = -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007;
                f[1] = 1.71 * y[0] - 8.75 * y[1];
                f[2] = -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4];
                f[3] = 8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3];
                f[4] = -1.745 * y[4] + 0.43 * (y[5] + y[6]);
                f[5] = -280.0 * y[5] * y[7] + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6];
                f[6] = 280.0 * y[5] * y[7] - 1.81 * y[6];
                f[7] = -f[6];
            }
            TestProblem::Orego => {
                f[0] = 77.27 * (y[1] + y[0] * (1.0 - 8.375e-6 * y[0] - y[1]));
                f[1] = (y[2] - (1.0 + y[0]) * y[1]) / 77.27;
                f[2] = 0.161 * (y[0] - y[2]);
            }
            TestProblem::Pollu => pollu_rhs(y, f),
        }
    }

    fn jacobian(&mut self, _t: f64, y: &[f64], j: &mut DMatrix<f64>) {
        j.as_mut_slice().fill(0.0);
        match self {
            TestProblem::Rober => {
                j[(0, 0)] = -0.04;
                j[(0, 1)] = 1e4 * y[2];
                j[(0, 2)] = 1e4 * y[1];
                j[(1, 0)] = 0.04;
                j[(1, 1)] = -1e4 * y[2] - 6e7 * y[1];
                j[(1, 2)] = -1e4 * y[1];
                j[(2, 1)] = 6e7 * y[1];
            }
            TestProblem::Hires => {
                j[(0, 0)] = -1.71;
                j[(0, 1)] = 0.43;
                j[(0, 2)] = 8.32;
                j[(1, 0)] = 1.71;
                j[(1, 1)] = -8.75;
                j[(2, 2)] = -10.03;
                j[(2, 3)] = 0.43;
                j[(2, 4)] = 0.035;
                j[(3, 1)] = 8.32;
                j[(3, 2)] = 1.71;
                j[(3, 3)] = -1.12;
                j[(4, 4)] = -1.745;
                j[(4, 5)] = 0.43;
                j[(4, 6)] = 0.43;
                j[(5, 3)] = 0.69;
                j[(5, 4)] = 1.71;
                j[(5, 5)] = -280.0 * y[7] - 0.43;
                j[(5, 6)] = 0.69;
                j[(5, 7)] = -280.0 * y[5];
                j[(6, 5)] = 280.0 * y[7];
                j[(6, 6)] = -1.81;
                j[(6, 7)] = 280.0 * y[5];
                j[(7, 5)] = -280.0 * y[7];
                j[(7, 6)] = 1.81;
                j[(7, 7)] = -280.0 * y[5];
            }
            TestProblem::Orego => {
                j[(0, 0)] = 77.27 * (1.0 - 2.0 * 8.375e-6 * y[0] - y[1]);
                j[(0, 1)] = 77.27 * (1.0 - y[0]);
                j[(1, 0)] = -y[1] / 77.27;
                j[(1, 1)] = -(1.0 + y[0]) / 77.27;
                j[(1, 2)] = 1.0 / 77.27;
                j[(2, 0)] = 0.161;
                j[(2, 2)] = -0.161;
            }
            TestProblem::Pollu => pollu_jacobian(y, j),
        }
    }
}

/// POLLU's right-hand side from its 25 reaction rates (1-based names in the
/// comments follow the test set).
fn pollu_rhs(y: &[f64], f: &mut [f64]) {
    let k = &POLLU_K;
    let r = [
        k[0] * y[0],
        k[1] * y[1] * y[3],
        k[2] * y[4] * y[1],
        k[3] * y[6],
        k[4] * y[6],
        k[5] * y[6] * y[5],
        k[6] * y[8],
        k[7] * y[8] * y[5],
        k[8] * y[10] * y[1],
        k[9] * y[10] * y[0],
        k[10] * y[12],
        k[11] * y[9] * y[1],
        k[12] * y[13],
        k[13] * y[0] * y[5],
        k[14] * y[2],
        k[15] * y[3],
        k[16] * y[3],
        k[17] * y[15],
        k[18] * y[15],
        k[19] * y[16] * y[5],
        k[20] * y[18],
        k[21] * y[18],
        k[22] * y[0] * y[3],
        k[23] * y[18] * y[0],
        k[24] * y[19],
    ];
    f[0] =
        -r[0] - r[9] - r[13] - r[22] - r[23] + r[1] + r[2] + r[8] + r[10] + r[11] + r[21] + r[24];
    f[1] = -r[1] - r[2] - r[8] - r[11] + r[0] + r[20];
    f[2] = -r[14] + r[0] + r[16] + r[18] + r[21];
    f[3] = -r[1] - r[15] - r[16] - r[22] + r[14];
    f[4] = -r[2] + 2.0 * r[3] + r[5] + r[6] + r[12] + r[19];
    f[5] = -r[5] - r[7] - r[13] - r[19] + r[2] + 2.0 * r[17];
    f[6] = -r[3] - r[4] - r[5] + r[12];
    f[7] = r[3] + r[4] + r[5] + r[6];
    f[8] = -r[6] - r[7];
    f[9] = -r[11] + r[6] + r[8];
    f[10] = -r[8] - r[9] + r[7] + r[10];
    f[11] = r[8];
    f[12] = -r[10] + r[9];
    f[13] = -r[12] + r[11];
    f[14] = r[13];
    f[15] = -r[17] - r[18] + r[15];
    f[16] = -r[19];
    f[17] = r[19];
    f[18] = -r[20] - r[21] - r[23] + r[22] + r[24];
    f[19] = -r[24] + r[23];
}

/// POLLU's Jacobian, entry by entry as the test set's `jeval` (0-based here).
fn pollu_jacobian(y: &[f64], j: &mut DMatrix<f64>) {
    let k = &POLLU_K;
    let (k1, k2, k3, k4, k5, k6, k7, k8, k9) =
        (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]);
    let (k10, k11, k12, k13, k14, k15, k16, k17) =
        (k[9], k[10], k[11], k[12], k[13], k[14], k[15], k[16]);
    let (k18, k19, k20, k21, k22, k23, k24, k25) =
        (k[17], k[18], k[19], k[20], k[21], k[22], k[23], k[24]);
    // 1-based indices, as published.
    let y = |i: usize| y[i - 1];
    let mut set = |i: usize, c: usize, v: f64| j[(i - 1, c - 1)] = v;
    set(
        1,
        1,
        -k1 - k10 * y(11) - k14 * y(6) - k23 * y(4) - k24 * y(19),
    );
    set(1, 11, -k10 * y(1) + k9 * y(2));
    set(1, 6, -k14 * y(1));
    set(1, 4, -k23 * y(1) + k2 * y(2));
    set(1, 19, -k24 * y(1) + k22);
    set(1, 2, k2 * y(4) + k9 * y(11) + k3 * y(5) + k12 * y(10));
    set(1, 13, k11);
    set(1, 20, k25);
    set(1, 5, k3 * y(2));
    set(1, 10, k12 * y(2));
    set(2, 4, -k2 * y(2));
    set(2, 5, -k3 * y(2));
    set(2, 11, -k9 * y(2));
    set(2, 10, -k12 * y(2));
    set(2, 19, k21);
    set(2, 1, k1);
    set(2, 2, -k2 * y(4) - k3 * y(5) - k9 * y(11) - k12 * y(10));
    set(3, 1, k1);
    set(3, 4, k17);
    set(3, 16, k19);
    set(3, 19, k22);
    set(3, 3, -k15);
    set(4, 4, -k2 * y(2) - k16 - k17 - k23 * y(1));
    set(4, 2, -k2 * y(4));
    set(4, 1, -k23 * y(4));
    set(4, 3, k15);
    set(5, 5, -k3 * y(2));
    set(5, 2, -k3 * y(5));
    set(5, 7, 2.0 * k4 + k6 * y(6));
    set(5, 6, k6 * y(7) + k20 * y(17));
    set(5, 9, k7);
    set(5, 14, k13);
    set(5, 17, k20 * y(6));
    set(6, 6, -k6 * y(7) - k8 * y(9) - k14 * y(1) - k20 * y(17));
    set(6, 7, -k6 * y(6));
    set(6, 9, -k8 * y(6));
    set(6, 1, -k14 * y(6));
    set(6, 17, -k20 * y(6));
    set(6, 2, k3 * y(5));
    set(6, 5, k3 * y(2));
    set(6, 16, 2.0 * k18);
    set(7, 7, -k4 - k5 - k6 * y(6));
    set(7, 6, -k6 * y(7));
    set(7, 14, k13);
    set(8, 7, k4 + k5 + k6 * y(6));
    set(8, 6, k6 * y(7));
    set(8, 9, k7);
    set(9, 9, -k7 - k8 * y(6));
    set(9, 6, -k8 * y(9));
    set(10, 10, -k12 * y(2));
    set(10, 2, -k12 * y(10) + k9 * y(11));
    set(10, 9, k7);
    set(10, 11, k9 * y(2));
    set(11, 11, -k9 * y(2) - k10 * y(1));
    set(11, 2, -k9 * y(11));
    set(11, 1, -k10 * y(11));
    set(11, 9, k8 * y(6));
    set(11, 6, k8 * y(9));
    set(11, 13, k11);
    set(12, 11, k9 * y(2));
    set(12, 2, k9 * y(11));
    set(13, 13, -k11);
    set(13, 11, k10 * y(1));
    set(13, 1, k10 * y(11));
    set(14, 14, -k13);
    set(14, 10, k12 * y(2));
    set(14, 2, k12 * y(10));
    set(15, 1, k14 * y(6));
    set(15, 6, k14 * y(1));
    set(16, 16, -k18 - k19);
    set(16, 4, k16);
    set(17, 17, -k20 * y(6));
    set(17, 6, -k20 * y(17));
    set(18, 17, k20 * y(6));
    set(18, 6, k20 * y(17));
    set(19, 19, -k21 - k22 - k24 * y(1));
    set(19, 1, -k24 * y(19) + k23 * y(4));
    set(19, 4, k23 * y(1));
    set(19, 20, k25);
    set(20, 20, -k25);
    set(20, 1, k24 * y(19));
    set(20, 19, k24 * y(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each exact Jacobian agrees with forward differences of its right-hand side.
    #[test]
    fn jacobians_match_finite_differences() {
        for mut p in TestProblem::ALL {
            let n = p.initial().len();
            // A generic state (not the initial one, where many entries vanish).
            let y: Vec<f64> = (0..n).map(|i| 0.01 + 0.003 * (i as f64 + 1.0)).collect();
            let mut exact = DMatrix::zeros(n, n);
            p.jacobian(0.0, &y, &mut exact);
            let (mut fm, mut fp) = (vec![0.0; n], vec![0.0; n]);
            for c in 0..n {
                let h = 1e-6 * y[c];
                let (mut ym, mut yp) = (y.clone(), y.clone());
                ym[c] -= h;
                yp[c] += h;
                p.rhs(0.0, &ym, &mut fm);
                p.rhs(0.0, &yp, &mut fp);
                for r in 0..n {
                    let fd = (fp[r] - fm[r]) / (2.0 * h);
                    let row = (0..n).map(|k| exact[(r, k)].abs()).fold(1.0, f64::max);
                    // Rounding in the difference grows with the row's largest
                    // entry (about 2e-10 of it at this h).
                    let tol = 1e-6 * exact[(r, c)].abs() + 1e-8 * row;
                    assert!(
                        (fd - exact[(r, c)]).abs() < tol,
                        "{} J[{r},{c}] = {} vs {fd}",
                        p.name(),
                        exact[(r, c)]
                    );
                }
            }
        }
    }

    /// Every stiff method reaches the published reference on every problem, with
    /// an error that follows the tolerance (a wrong coefficient shows up here as a
    /// lost order or a stalled error).
    #[test]
    fn stiff_methods_reach_the_published_solutions() {
        use crate::engine::ode::Method;
        for p in TestProblem::ALL {
            for method in [Method::Auto, Method::Rodas5p, Method::Rodas4] {
                for (rtol, bound) in [(1e-6, 1e-5), (1e-9, 2e-8)] {
                    let mut s = method.solver(rtol, p.atol(rtol));
                    let (mut t, mut y, mut sys) = (0.0, p.initial(), p);
                    s.advance(&mut sys, &mut t, &mut y, p.t_end(), &[], &mut |_, _| {})
                        .unwrap();
                    let e = p.max_relative_error(&y);
                    assert!(
                        e < bound,
                        "{} {} rtol {rtol:e}: error {e:e}",
                        p.name(),
                        method.label()
                    );
                }
            }
        }
    }
}
