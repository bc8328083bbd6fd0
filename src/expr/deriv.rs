//! Symbolic differentiation of resolved expressions, for exact Jacobians.
//!
//! Rules are the textbook ones; `min`, `max` and `abs` differentiate through the
//! Heaviside `step` (their derivative is undefined only on a set of measure zero,
//! where we take the left branch). The result is simplified, so terms that do not
//! depend on the variable vanish.

use super::tree::{Expr, Func, Var};

/// d e / d v.
pub fn diff(e: &Expr, v: Var) -> Expr {
    // Simplify first: `y - y` inside a power with exponent < 1 would otherwise give
    // inf * 0 = NaN through the chain rule for an expression that is constant.
    d(&e.simplify(), v).simplify()
}

fn d(e: &Expr, v: Var) -> Expr {
    use Expr::*;
    if !e.depends_on(v) {
        return Const(0.0);
    }
    match e {
        Const(_) => Const(0.0),
        Var(w) => Const(if *w == v { 1.0 } else { 0.0 }),
        Neg(a) => Expr::neg(d(a, v)),
        Add(a, b) => Expr::add(d(a, v), d(b, v)),
        Sub(a, b) => Expr::sub(d(a, v), d(b, v)),
        Mul(a, b) => Expr::add(
            Expr::mul(d(a, v), (**b).clone()),
            Expr::mul((**a).clone(), d(b, v)),
        ),
        Div(a, b) => {
            // (a' b - a b') / b^2
            Expr::div(
                Expr::sub(
                    Expr::mul(d(a, v), (**b).clone()),
                    Expr::mul((**a).clone(), d(b, v)),
                ),
                Expr::pow((**b).clone(), Expr::c(2.0)),
            )
        }
        Pow(a, b) => {
            if !b.depends_on(v) {
                // b a^(b-1) a'
                Expr::mul(
                    Expr::mul(
                        (**b).clone(),
                        Expr::pow((**a).clone(), Expr::sub((**b).clone(), Expr::c(1.0))),
                    ),
                    d(a, v),
                )
            } else {
                // a^b (b' ln a + b a'/a)
                Expr::mul(
                    e.clone(),
                    Expr::add(
                        Expr::mul(d(b, v), Expr::f1(Func::Ln, (**a).clone())),
                        Expr::div(Expr::mul((**b).clone(), d(a, v)), (**a).clone()),
                    ),
                )
            }
        }
        F1(f, a) => {
            let da = d(a, v);
            let a = (**a).clone();
            let outer = match f {
                Func::Exp => Expr::f1(Func::Exp, a),
                Func::Ln => Expr::div(Expr::c(1.0), a),
                Func::Log10 => {
                    Expr::div(Expr::c(1.0), Expr::mul(a, Expr::c(std::f64::consts::LN_10)))
                }
                Func::Sqrt => Expr::div(Expr::c(0.5), Expr::f1(Func::Sqrt, a)),
                // sign(a) = 2 step(a) - 1
                Func::Abs => Expr::sub(
                    Expr::mul(Expr::c(2.0), Expr::f1(Func::Step, a)),
                    Expr::c(1.0),
                ),
                Func::Step => Expr::c(0.0),
                Func::Min | Func::Max => unreachable!("binary function in unary node"),
            };
            Expr::mul(outer, da)
        }
        F2(f, a, b) => {
            // max(a, b) takes a where a - b >= 0, min(a, b) where b - a >= 0:
            // d = s a' + (1 - s) b' with s the Heaviside step of that difference.
            let (a, b) = (&**a, &**b);
            let s = match f {
                Func::Max => Expr::f1(Func::Step, Expr::sub(a.clone(), b.clone())),
                Func::Min => Expr::f1(Func::Step, Expr::sub(b.clone(), a.clone())),
                _ => unreachable!("unary function in binary node"),
            };
            Expr::add(
                Expr::mul(s.clone(), d(a, v)),
                Expr::mul(Expr::sub(Expr::c(1.0), s), d(b, v)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, resolve, tree::Env, Scope};
    use super::*;

    fn check(src: &str, at: &[f64]) {
        let mut scope = Scope::new();
        for (i, n) in ["x", "y", "z"].iter().enumerate() {
            scope.insert(n, Var::Species(i));
        }
        let e = resolve(&parse(src).unwrap(), &scope).unwrap();
        for i in 0..3 {
            let de = diff(&e, Var::Species(i));
            let env = |s: &[f64]| {
                e.eval(&Env {
                    species: s,
                    params: &[],
                    drugs: &[],
                    effects: &[],
                    observables: &[],
                    t: 0.0,
                })
            };
            let h = 1e-6 * at[i].abs().max(1.0);
            let mut up = at.to_vec();
            let mut dn = at.to_vec();
            up[i] += h;
            dn[i] -= h;
            let fd = (env(&up) - env(&dn)) / (2.0 * h);
            let exact = de.eval(&Env {
                species: at,
                params: &[],
                drugs: &[],
                effects: &[],
                observables: &[],
                t: 0.0,
            });
            assert!(
                (fd - exact).abs() <= 1e-6 * (1.0 + exact.abs()),
                "{src} d/d{i}: fd {fd} exact {exact}"
            );
        }
    }

    #[test]
    fn matches_finite_differences() {
        check("x*y - z/x + x^2.5", &[1.3, 0.7, 2.0]);
        check(
            "hill(x, 0.5, 3) * hill_rep(y, 2, 1.5) + exp(-z) * ln(x)",
            &[0.8, 1.1, 0.3],
        );
        check(
            "max(x, y) + min(y, z) + abs(x - z) + sqrt(y) + log10(z)",
            &[1.0, 2.0, 3.0],
        );
        check("x^y", &[1.7, 2.2, 0.0]);
    }
}
