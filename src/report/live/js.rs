//! Lower bound expression trees ([`Expr`], the reference every backend is tested
//! against) to the body of a JavaScript function, for the teaching page.
//!
//! The code is straight-line: one `const` per distinct node (value numbering, so a
//! Hill term that inlining copied into several rates is computed once), then one
//! assignment per output. Every node is evaluated, as the tree walker evaluates both
//! branches of `if` and `select` chooses; JavaScript arithmetic has no traps, so
//! evaluating the unused branch is harmless here too.
//!
//! Where JavaScript's built-ins differ from Rust's, the page carries small helpers
//! with Rust's semantics (see `assets/live_solver.js`): `fmin`/`fmax` ignore a NaN
//! argument as `f64::min`/`f64::max` do (`Math.min` propagates it), and `rpow` takes
//! integer powers up to 64 by repeated squaring as [`crate::expr::tree::pow`] does
//! through `powi` (`Math.pow` may differ in the last bit).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::expr::{Expr, Func, Var};

/// An expression that reads a variable the page does not provide (an effect or an
/// observable left un-inlined, or a parameter not declared free).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot lower to JavaScript: the expression reads {0:?}, which the page does not provide")]
pub struct LowerError(pub Var);

/// How the generated function reads its inputs: a JavaScript expression per variable
/// (`None`: the variable is not available, an error).
pub type VarName<'a> = &'a dyn Fn(Var) -> Option<String>;

/// A JavaScript number literal that parses to exactly `v` (Rust prints the shortest
/// representation that round-trips; JavaScript reads it back to the same double).
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "(-Infinity)" }.into()
    } else if v.is_sign_negative() {
        format!("({v:?})")
    } else {
        format!("{v:?}")
    }
}

/// The JavaScript of one function application, on operand names.
fn apply(f: Func, a: &str, b: Option<&str>) -> String {
    let b = b.unwrap_or("");
    let cond = |c: String| format!("({c} ? 1 : 0)");
    match f {
        Func::Exp => format!("Math.exp({a})"),
        Func::Ln => format!("Math.log({a})"),
        Func::Log10 => format!("Math.log10({a})"),
        Func::Sqrt => format!("Math.sqrt({a})"),
        Func::Abs => format!("Math.abs({a})"),
        Func::Floor => format!("Math.floor({a})"),
        Func::Ceil => format!("Math.ceil({a})"),
        Func::Sin => format!("Math.sin({a})"),
        Func::Cos => format!("Math.cos({a})"),
        Func::Tan => format!("Math.tan({a})"),
        Func::Asin => format!("Math.asin({a})"),
        Func::Acos => format!("Math.acos({a})"),
        Func::Atan => format!("Math.atan({a})"),
        Func::Sinh => format!("Math.sinh({a})"),
        Func::Cosh => format!("Math.cosh({a})"),
        Func::Tanh => format!("Math.tanh({a})"),
        Func::Asinh => format!("Math.asinh({a})"),
        Func::Acosh => format!("Math.acosh({a})"),
        Func::Atanh => format!("Math.atanh({a})"),
        Func::Min => format!("fmin({a}, {b})"),
        Func::Max => format!("fmax({a}, {b})"),
        Func::Step => cond(format!("{a} >= 0")),
        Func::Not => cond(format!("{a} === 0")),
        Func::Lt => cond(format!("{a} < {b}")),
        Func::Le => cond(format!("{a} <= {b}")),
        Func::Gt => cond(format!("{a} > {b}")),
        Func::Ge => cond(format!("{a} >= {b}")),
        Func::Eq => cond(format!("{a} === {b}")),
        Func::Ne => cond(format!("{a} !== {b}")),
        Func::And => cond(format!("{a} !== 0 && {b} !== 0")),
        Func::Or => cond(format!("{a} !== 0 || {b} !== 0")),
        Func::Xor => cond(format!("({a} !== 0) !== ({b} !== 0)")),
        // JavaScript's `%` is C's fmod, as Rust's `%` on f64.
        Func::Rem => format!("({a} % {b})"),
    }
}

/// Straight-line code computing `outputs`: `const` lines, then `out[k] = ...;`.
struct Lowering<'a> {
    var: VarName<'a>,
    code: String,
    /// Operand text of every node emitted so far, keyed by its own code.
    seen: HashMap<String, String>,
}

impl Lowering<'_> {
    /// A name for the value of `code`, emitting a `const` the first time.
    fn name(&mut self, code: String) -> String {
        if let Some(n) = self.seen.get(&code) {
            return n.clone();
        }
        let n = format!("v{}", self.seen.len());
        let _ = writeln!(self.code, "  const {n} = {code};");
        self.seen.insert(code, n.clone());
        n
    }

    fn node(&mut self, e: &Expr) -> Result<String, LowerError> {
        Ok(match e {
            Expr::Const(v) => number(*v),
            Expr::Var(v) => {
                let code = (self.var)(*v).ok_or(LowerError(*v))?;
                self.name(code)
            }
            Expr::Neg(a) => {
                let a = self.node(a)?;
                self.name(format!("-{a}"))
            }
            Expr::Add(a, b) => self.binary(a, b, "+")?,
            Expr::Sub(a, b) => self.binary(a, b, "-")?,
            Expr::Mul(a, b) => self.binary(a, b, "*")?,
            Expr::Div(a, b) => self.binary(a, b, "/")?,
            Expr::Pow(a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                self.name(format!("rpow({a}, {b})"))
            }
            Expr::F1(f, a) => {
                let a = self.node(a)?;
                self.name(apply(*f, &a, None))
            }
            Expr::F2(f, a, b) => {
                let (a, b) = (self.node(a)?, self.node(b)?);
                self.name(apply(*f, &a, Some(&b)))
            }
            Expr::If(c, a, b) => {
                let (c, a, b) = (self.node(c)?, self.node(a)?, self.node(b)?);
                self.name(format!("({c} !== 0 ? {a} : {b})"))
            }
        })
    }

    fn binary(&mut self, a: &Expr, b: &Expr, op: &str) -> Result<String, LowerError> {
        let (a, b) = (self.node(a)?, self.node(b)?);
        Ok(self.name(format!("{a} {op} {b}")))
    }
}

/// The body of a JavaScript function that writes `outputs[k]` into `out[k]`, reading
/// variables through `var`. Also returns the number of `const` lines (distinct nodes).
pub fn lower(outputs: &[Expr], var: VarName) -> Result<(String, usize), LowerError> {
    let mut l = Lowering {
        var,
        code: String::new(),
        seen: HashMap::new(),
    };
    let mut assigns = String::new();
    for (k, e) in outputs.iter().enumerate() {
        let v = l.node(e)?;
        let _ = writeln!(assigns, "  out[{k}] = {v};");
    }
    let nodes = l.seen.len();
    Ok((l.code + &assigns, nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_negatives_are_wrapped() {
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(-2.5), "(-2.5)");
        assert_eq!(number(1e-300), "1e-300");
        assert_eq!(number(f64::INFINITY), "Infinity");
        assert_eq!(number(f64::NEG_INFINITY), "(-Infinity)");
        assert_eq!(number(f64::NAN), "NaN");
        let v = 0.1 + 0.2;
        assert_eq!(number(v).parse::<f64>().unwrap(), v);
    }

    #[test]
    fn shared_subtrees_are_computed_once() {
        let x = Expr::var(Var::Species(0));
        let h = Expr::hill(x.clone(), Expr::c(0.3), Expr::c(2.0));
        let outs = [Expr::mul(h.clone(), Expr::c(2.0)), Expr::add(h, x)];
        let name = |v: Var| match v {
            Var::Species(i) => Some(format!("y[o + {i}]")),
            _ => None,
        };
        let (code, _) = lower(&outs, &name).unwrap();
        assert_eq!(code.matches("rpow(").count(), 2, "{code}"); // x^n and K^n, once each
        assert_eq!(code.matches("y[o + 0]").count(), 1, "{code}");
        assert!(code.contains("out[1] = "));
    }

    #[test]
    fn an_unprovided_variable_is_an_error() {
        let e = Expr::var(Var::Effect(3));
        assert_eq!(
            lower(&[e], &|_| None).unwrap_err(),
            LowerError(Var::Effect(3))
        );
    }
}
