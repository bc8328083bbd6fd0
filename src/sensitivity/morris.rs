//! Morris elementary effects screening.
//!
//! Along each trajectory every input changes once by `delta` (in unit-cube
//! coordinates, i.e. as a fraction of its range on its scale), giving one elementary
//! effect `EE_i = (f(x + delta e_i) - f(x)) / delta` per input and trajectory. Over the
//! trajectories:
//!
//! * `mu`: mean of `EE_i` (Morris 1991); effects of opposite sign cancel in it;
//! * `mu_star`: mean of `|EE_i|` (Campolongo et al. 2007), the measure used to rank
//!   inputs by importance;
//! * `sigma`: standard deviation of `EE_i` (Morris 1991), large for inputs that act
//!   non-linearly or through interactions.
//!
//! Effects are per unit of *normalised* input, so inputs with different units and
//! ranges (and log-scaled ones) are comparable.
//!
//! ## References
//!
//! * Morris, M. D. (1991). Factorial sampling plans for preliminary computational
//!   experiments. *Technometrics* 33, 161-174.
//! * Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design
//!   for sensitivity analysis of large models. *Environmental Modelling & Software*
//!   22, 1509-1518.

use crate::sweep::design::MorrisStep;

/// Morris measures of one input for one output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MorrisIndex {
    pub mu: f64,
    pub mu_star: f64,
    pub sigma: f64,
    /// Trajectories that contributed (those with every run finite).
    pub trajectories: usize,
}

/// Morris measures of `d` inputs from outputs `y` in design id order and the
/// trajectories' `steps`. Trajectories with a failed (non-finite) run are skipped.
pub fn morris_indices(y: &[f64], steps: &[Vec<MorrisStep>], d: usize) -> Vec<MorrisIndex> {
    let mut effects: Vec<Vec<f64>> = vec![Vec::with_capacity(steps.len()); d];
    for (path, st) in y.chunks_exact(d + 1).zip(steps) {
        if !path.iter().all(|v| v.is_finite()) {
            continue;
        }
        for (k, s) in st.iter().enumerate() {
            effects[s.param].push((path[k + 1] - path[k]) / s.delta);
        }
    }
    effects
        .iter()
        .map(|ee| {
            let r = ee.len() as f64;
            let mu = ee.iter().sum::<f64>() / r;
            let mu_star = ee.iter().map(|e| e.abs()).sum::<f64>() / r;
            let sigma = (ee.iter().map(|e| (e - mu).powi(2)).sum::<f64>() / (r - 1.0)).sqrt();
            MorrisIndex {
                mu,
                mu_star,
                sigma,
                trajectories: ee.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_function_has_exact_effects() {
        // f = 3 x0 - x1; one trajectory up in x0 then down in x1, one the other way.
        let steps = vec![
            vec![
                MorrisStep {
                    param: 0,
                    delta: 0.5,
                },
                MorrisStep {
                    param: 1,
                    delta: -0.5,
                },
            ],
            vec![
                MorrisStep {
                    param: 1,
                    delta: 0.5,
                },
                MorrisStep {
                    param: 0,
                    delta: -0.5,
                },
            ],
        ];
        let f = |x0: f64, x1: f64| 3.0 * x0 - x1;
        let y = vec![
            f(0.0, 0.5),
            f(0.5, 0.5),
            f(0.5, 0.0),
            f(0.5, 0.0),
            f(0.5, 0.5),
            f(0.0, 0.5),
        ];
        let m = morris_indices(&y, &steps, 2);
        assert_eq!((m[0].mu, m[0].mu_star, m[0].sigma), (3.0, 3.0, 0.0));
        assert_eq!((m[1].mu, m[1].mu_star, m[1].sigma), (-1.0, 1.0, 0.0));
    }
}
