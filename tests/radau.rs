//! `--method radau5` (Radau IIA, order 5): it reaches the Bari test set's published
//! solutions with an error that follows the tolerance, and it reproduces a dosed
//! run (a restart after every dose) of the stiff benchmark loop as the Rosenbrock
//! methods do, while reusing its Jacobian over many steps.

mod common;

use common::{il6_dosed, test_set_runs, worst_rel};
use resloop::engine::ode::Method;

/// Largest relative error against the published reference allowed at each rtol:
/// the same bounds `engine::ode::testset`'s test holds the Rosenbrock methods to.
const SET_BOUNDS: [(f64, f64); 2] = [(1e-6, 1e-5), (1e-9, 2e-8)];

#[test]
fn radau5_reaches_the_published_solutions_of_the_test_set() {
    for (p, runs) in test_set_runs(Method::Radau5, &SET_BOUNDS) {
        let steps: Vec<u64> = runs.iter().map(|s| s.accepted).collect();
        assert!(steps[1] > steps[0], "{}: {steps:?}", p.name());
    }
}

/// Allowed worst relative error of the dosed run at rtol 1e-6 and 1e-9 against
/// Rodas5P at rtol 1e-11 (every output time, every column): ten times the
/// tolerance radau5 meets internally, `0.1 rtol^(2/3)` (2.2e-6 and 1e-7), as
/// Hairer's RADAU5 does.
const DOSED_BOUNDS: [(f64, f64); 2] = [(1e-6, 2.2e-5), (1e-9, 1e-6)];

#[test]
fn radau5_reproduces_a_dosed_run_with_restarts() {
    let reference = il6_dosed(Method::Rodas5p, 1e-11);
    for (rtol, bound) in DOSED_BOUNDS {
        let r = il6_dosed(Method::Radau5, rtol);
        assert_eq!(r.timeline.values.len(), reference.timeline.values.len());
        let e = worst_rel(&r.timeline.values, &reference.timeline.values);
        assert!(e < bound, "rtol {rtol:e}: error {e:e} >= {bound:e}");
        // The existing methods' run at the same rtol agrees with it as well.
        let rodas = il6_dosed(Method::Rodas5p, rtol);
        let apart = worst_rel(&r.timeline.values, &rodas.timeline.values);
        assert!(
            apart < bound,
            "rtol {rtol:e}: radau5 and rodas5p {apart:e} apart"
        );
        // One restart per dose, and the Jacobian kept over several steps.
        assert_eq!(r.stats.restarts, rodas.stats.restarts);
        assert!(
            2 * r.stats.jacobian_evals < r.stats.accepted,
            "{:?}",
            r.stats
        );
    }
}
