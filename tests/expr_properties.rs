//! Property tests of the expression engine: the compiled register program agrees
//! with the reference tree walk, and the symbolic derivative agrees with central
//! finite differences.

use proptest::prelude::*;
use resloop::expr::deriv::diff;
use resloop::expr::tree::Env;
use resloop::expr::{parse, resolve, Expr, Program, Scope, Var};

/// Random expressions over x, y, z that stay smooth on positive inputs (except for
/// kinks and jumps, which the derivative test steps around).
fn expr_src() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("z".to_string()),
        (0.1f64..5.0).prop_map(|v| format!("{v:.3}")),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} - {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} * {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} / (1 + abs({b})))")),
            inner.clone().prop_map(|a| format!("exp(-abs({a}))")),
            inner.clone().prop_map(|a| format!("ln(1 + abs({a}))")),
            inner.clone().prop_map(|a| format!("sqrt(1 + {a}^2)")),
            (inner.clone(), 1u32..4).prop_map(|(a, n)| format!("hill(abs({a}), 0.7, {n})")),
            (inner.clone(), 0.5f64..3.0)
                .prop_map(|(a, n)| format!("hill_rep(abs({a}), 1.3, {n:.2})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("max({a}, {b})")),
            inner.clone().prop_map(|a| format!("sin({a}) + cos({a})")),
            inner.clone().prop_map(|a| format!("atan({a}) * tanh({a})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("if({a} > {b} && {a} < 4, {a} * {b}, floor({b}))")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("min({a}, {b})")),
        ]
    })
}

fn scope() -> Scope {
    let mut s = Scope::new();
    for (i, n) in ["x", "y", "z"].iter().enumerate() {
        s.insert(n, Var::Species(i));
    }
    s
}

fn eval(e: &Expr, p: &[f64]) -> f64 {
    e.eval(&Env {
        species: p,
        params: &[],
        drugs: &[],
        effects: &[],
        observables: &[],
        t: 0.0,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn program_matches_tree(src in expr_src(), x in 0.1f64..3.0, y in 0.1f64..3.0, z in 0.1f64..3.0) {
        let e = resolve(&parse(&src).unwrap(), &scope()).unwrap();
        let p = Program::compile(std::slice::from_ref(&e), 3, &|v| match v { Var::Species(i) => Some(i), _ => None }).unwrap();
        let mut regs = p.workspace();
        regs[..3].copy_from_slice(&[x, y, z]);
        p.run(&mut regs);
        let (got, want) = (p.output(&regs, 0), eval(&e, &[x, y, z]));
        prop_assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{src}: {got} vs {want}");
    }

    #[test]
    fn derivative_matches_finite_differences(src in expr_src(), x in 0.2f64..3.0, y in 0.2f64..3.0, z in 0.2f64..3.0) {
        let e = resolve(&parse(&src).unwrap(), &scope()).unwrap();
        let at = [x, y, z];
        for i in 0..3 {
            let d = diff(&e, Var::Species(i));
            let h = 1e-6;
            let (mut up, mut dn) = (at, at);
            up[i] += h;
            dn[i] -= h;
            let fd = (eval(&e, &up) - eval(&e, &dn)) / (2.0 * h);
            // Kinks of abs/min/max within h of the point make finite differences meaningless.
            let f2 = (eval(&e, &up) + eval(&e, &dn) - 2.0 * eval(&e, &at)) / (h * h);
            prop_assume!(f2.abs() < 1e4);
            let exact = eval(&d, &at);
            prop_assert!((fd - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "{src} d/d{i}: fd {fd} exact {exact}");
        }
    }
}
