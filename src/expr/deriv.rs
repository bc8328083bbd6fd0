//! Symbolic differentiation of resolved expressions, for exact Jacobians.
//!
//! Rules are the textbook ones; `min`, `max` and `abs` differentiate through the
//! Heaviside `step` (their derivative is undefined only on a set of measure zero,
//! where we take the left branch). Comparisons, logical functions, `floor` and
//! `ceil` are piecewise constant (derivative 0 between their jumps), and
//! `if(c, a, b)` differentiates branch by branch: `if(c, a', b')`. The result is
//! simplified, so terms that do not depend on the variable vanish.

use super::tree::{Expr, Func, Var};

/// The derivative would exceed its node budget (see [`diff_within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the symbolic derivative needs more than {limit} expression nodes")]
pub struct TooLarge {
    pub limit: usize,
}

/// d e / d v.
pub fn diff(e: &Expr, v: Var) -> Expr {
    let mut left = usize::MAX;
    diff_within(e, v, &mut left).expect("an unlimited budget is never exhausted")
}

/// d e / d v, building at most `*budget` nodes (the budget left is written back, so
/// one budget can cover a whole Jacobian).
///
/// Why a budget: the chain and product rules copy sub-expressions, so the derivative
/// of a deeply nested expression is larger than the expression (size times depth at
/// worst). The parser keeps trees shallow, and this bound turns the rest into an
/// error instead of an out-of-memory abort.
pub fn diff_within(e: &Expr, v: Var, budget: &mut usize) -> Result<Expr, TooLarge> {
    let limit = *budget;
    // Simplify first: `y - y` inside a power with exponent < 1 would otherwise give
    // inf * 0 = NaN through the chain rule for an expression that is constant.
    let mut b = Budget {
        left: *budget,
        limit,
    };
    let out = b.d(&e.simplify(), v)?.simplify();
    *budget = b.left;
    Ok(out)
}

struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    /// Charge `n` nodes.
    fn take(&mut self, n: usize) -> Result<(), TooLarge> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or(TooLarge { limit: self.limit })?;
        Ok(())
    }

    /// A charged copy of `e`.
    fn copy(&mut self, e: &Expr) -> Result<Expr, TooLarge> {
        self.take(e.size())?;
        Ok(e.clone())
    }

    fn d(&mut self, e: &Expr, v: Var) -> Result<Expr, TooLarge> {
        use Expr::*;
        if !e.depends_on(v) {
            return Ok(Const(0.0));
        }
        self.take(4)?;
        Ok(match e {
            Const(_) => Const(0.0),
            Var(w) => Const(if *w == v { 1.0 } else { 0.0 }),
            Neg(a) => Expr::neg(self.d(a, v)?),
            Add(a, b) => Expr::add(self.d(a, v)?, self.d(b, v)?),
            Sub(a, b) => Expr::sub(self.d(a, v)?, self.d(b, v)?),
            Mul(a, b) => Expr::add(
                Expr::mul(self.d(a, v)?, self.copy(b)?),
                Expr::mul(self.copy(a)?, self.d(b, v)?),
            ),
            Div(a, b) => {
                // (a' b - a b') / b^2
                Expr::div(
                    Expr::sub(
                        Expr::mul(self.d(a, v)?, self.copy(b)?),
                        Expr::mul(self.copy(a)?, self.d(b, v)?),
                    ),
                    Expr::pow(self.copy(b)?, Expr::c(2.0)),
                )
            }
            Pow(a, b) => {
                if !b.depends_on(v) {
                    // b a^(b-1) a'
                    let da = self.d(a, v)?;
                    let safe = b.as_const().is_some_and(|c| c >= 1.0)
                        || da.simplify().as_const().is_some_and(|c| c != 0.0);
                    let guard = if safe { None } else { Some(self.copy(&da)?) };
                    let chain = Expr::mul(
                        Expr::mul(
                            self.copy(b)?,
                            Expr::pow(self.copy(a)?, Expr::sub(self.copy(b)?, Expr::c(1.0))),
                        ),
                        da,
                    );
                    // With b < 1, a^(b-1) is infinite at a = 0; where a' = 0 there
                    // too (a is constant around the point: a clamp that holds, a
                    // floor), the chain rule's inf * 0 would put a NaN in an exact
                    // Jacobian whose true entry is 0 (`hill(floor(x), K, 0.5)` at
                    // x = 0.2). So the product is taken only where a' != 0.
                    match guard {
                        None => chain,
                        Some(da) => {
                            Expr::if_(Expr::f2(Func::Eq, da, Expr::c(0.0)), Expr::c(0.0), chain)
                        }
                    }
                } else {
                    // a^b (b' ln a + b a'/a)
                    Expr::mul(
                        self.copy(e)?,
                        Expr::add(
                            Expr::mul(self.d(b, v)?, Expr::f1(Func::Ln, self.copy(a)?)),
                            Expr::div(Expr::mul(self.copy(b)?, self.d(a, v)?), self.copy(a)?),
                        ),
                    )
                }
            }
            F1(f, _) | F2(f, _, _) if f.is_piecewise_constant() => Const(0.0),
            If(c, a, b) => {
                let (da, db) = (self.d(a, v)?, self.d(b, v)?);
                Expr::if_(self.copy(c)?, da, db)
            }
            F2(Func::Rem, a, b) => {
                // rem(a, b) = a - b trunc(a / b): d = a' - trunc(a / b) b'
                let q = Expr::div(self.copy(a)?, self.copy(b)?);
                let trunc = Expr::if_(
                    Expr::f2(Func::Ge, q.clone(), Expr::c(0.0)),
                    Expr::f1(Func::Floor, q.clone()),
                    Expr::f1(Func::Ceil, q),
                );
                Expr::sub(self.d(a, v)?, Expr::mul(trunc, self.d(b, v)?))
            }
            F1(f, a) => {
                let da = self.d(a, v)?;
                let a = self.copy(a)?;
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
                    Func::Sin => Expr::f1(Func::Cos, a),
                    Func::Cos => Expr::neg(Expr::f1(Func::Sin, a)),
                    // 1 / cos^2
                    Func::Tan => Expr::div(
                        Expr::c(1.0),
                        Expr::pow(Expr::f1(Func::Cos, a), Expr::c(2.0)),
                    ),
                    // +-1 / sqrt(1 - a^2)
                    Func::Asin | Func::Acos => {
                        let sign = if *f == Func::Asin { 1.0 } else { -1.0 };
                        Expr::div(
                            Expr::c(sign),
                            Expr::f1(
                                Func::Sqrt,
                                Expr::sub(Expr::c(1.0), Expr::pow(a, Expr::c(2.0))),
                            ),
                        )
                    }
                    Func::Atan => Expr::div(
                        Expr::c(1.0),
                        Expr::add(Expr::c(1.0), Expr::pow(a, Expr::c(2.0))),
                    ),
                    Func::Sinh => Expr::f1(Func::Cosh, a),
                    Func::Cosh => Expr::f1(Func::Sinh, a),
                    Func::Tanh => Expr::sub(
                        Expr::c(1.0),
                        Expr::pow(Expr::f1(Func::Tanh, a), Expr::c(2.0)),
                    ),
                    // 1 / sqrt(a^2 +- 1)
                    Func::Asinh | Func::Acosh => {
                        let pm = if *f == Func::Asinh { 1.0 } else { -1.0 };
                        Expr::div(
                            Expr::c(1.0),
                            Expr::f1(
                                Func::Sqrt,
                                Expr::add(Expr::pow(a, Expr::c(2.0)), Expr::c(pm)),
                            ),
                        )
                    }
                    Func::Atanh => Expr::div(
                        Expr::c(1.0),
                        Expr::sub(Expr::c(1.0), Expr::pow(a, Expr::c(2.0))),
                    ),
                    other => unreachable!("`{}` in a unary node", other.name()),
                };
                Expr::mul(outer, da)
            }
            F2(f, a, b) => {
                // max(a, b) takes a where a - b >= 0, min(a, b) where b - a >= 0:
                // d = s a' + (1 - s) b' with s the Heaviside step of that difference.
                let (a, b) = (&**a, &**b);
                let (x, y) = match f {
                    Func::Max => (a, b),
                    Func::Min => (b, a),
                    other => unreachable!("`{}` in a binary node", other.name()),
                };
                let s = Expr::f1(Func::Step, Expr::sub(self.copy(x)?, self.copy(y)?));
                self.take(s.size())?;
                Expr::add(
                    Expr::mul(s.clone(), self.d(a, v)?),
                    Expr::mul(Expr::sub(Expr::c(1.0), s), self.d(b, v)?),
                )
            }
        })
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

    /// A root with exponent below 1 of something constant around the point: the
    /// derivative is 0, not `inf * 0` (the property test's find, `tests/expr_properties.rs`).
    #[test]
    fn a_root_of_a_locally_constant_argument_has_derivative_zero() {
        check(
            "hill_rep(abs(if(0.1 > x && 0.1 < 4, 0.1 * x, floor(x))), 1.3, 0.5)",
            &[0.2, 0.2, 0.2],
        );
        check("max(x - 1, 0)^0.5 + z", &[0.5, 1.0, 2.0]);
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
        check(
            "sin(x) * cos(y) + tan(z) + asin(x / 2) + acos(y / 3) + atan(z)",
            &[0.8, 1.1, 0.3],
        );
        check(
            "sinh(x) + cosh(y) * tanh(z) + asinh(x) + acosh(y + 1) + atanh(z)",
            &[0.8, 1.1, 0.3],
        );
        check(
            "if(x > y, x * z, y^2) + floor(z) * x + rem(x * 5, y) + (x < 2 && y > 1) * z",
            &[0.8, 1.1, 2.3],
        );
    }
}
