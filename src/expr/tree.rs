//! The resolved expression tree: names replaced by typed indices.
//!
//! This is the reference representation. It evaluates directly (slowly but
//! obviously), differentiates symbolically, and simplifies (constant folding and
//! algebraic identities). The hot path builds the one IR from it
//! ([`super::ir::Ir::build`]) and runs a lowering of that.

pub use super::real::{pow, select, truth, Real};

/// A variable an expression can read, by index into the owning model's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Var {
    /// A species of the loop (ODE state).
    Species(usize),
    /// A model parameter (bound to a constant before compilation).
    Param(usize),
    /// A drug's concentration in its declared unit.
    Drug(usize),
    /// A named drug effect (replaced by its Hill/Emax formula before compilation).
    Effect(usize),
    /// An observable (inlined before compilation).
    Observable(usize),
    /// Time since the start of the run, in the model's time unit.
    Time,
}

/// Functions. `Hill` and `HillRep` are expanded into primitives at resolution time so
/// that the derivative and the compiler only see primitives; `Step` (Heaviside, with
/// step(0) = 1) appears only in derivatives of `max`, `min` and `abs`.
///
/// Comparisons and logical functions return 1 (true) or 0 (false) and read any
/// non-zero number as true, so a condition is an ordinary expression: it can be an
/// event trigger, the first argument of `if(c, a, b)`, or a factor in a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    Exp,
    Ln,
    Log10,
    Sqrt,
    Abs,
    Min,
    Max,
    Step,
    Floor,
    Ceil,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    /// Logical negation: 1 where the argument is 0, else 0.
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    Xor,
    /// Remainder with the sign of the dividend (C `fmod`, SBML `rem`).
    Rem,
}

impl Func {
    /// Every function, in declaration order (`Rem` is last): tests and backends that
    /// must cover each one iterate this.
    pub const ALL: [Func; 33] = [
        Func::Exp,
        Func::Ln,
        Func::Log10,
        Func::Sqrt,
        Func::Abs,
        Func::Min,
        Func::Max,
        Func::Step,
        Func::Floor,
        Func::Ceil,
        Func::Sin,
        Func::Cos,
        Func::Tan,
        Func::Asin,
        Func::Acos,
        Func::Atan,
        Func::Sinh,
        Func::Cosh,
        Func::Tanh,
        Func::Asinh,
        Func::Acosh,
        Func::Atanh,
        Func::Not,
        Func::Lt,
        Func::Le,
        Func::Gt,
        Func::Ge,
        Func::Eq,
        Func::Ne,
        Func::And,
        Func::Or,
        Func::Xor,
        Func::Rem,
    ];

    /// How many arguments the function takes. The match names every variant, so a
    /// new function does not compile until its arity is given here.
    pub fn arity(self) -> usize {
        match self {
            Func::Exp
            | Func::Ln
            | Func::Log10
            | Func::Sqrt
            | Func::Abs
            | Func::Step
            | Func::Floor
            | Func::Ceil
            | Func::Sin
            | Func::Cos
            | Func::Tan
            | Func::Asin
            | Func::Acos
            | Func::Atan
            | Func::Sinh
            | Func::Cosh
            | Func::Tanh
            | Func::Asinh
            | Func::Acosh
            | Func::Atanh
            | Func::Not => 1,
            Func::Min
            | Func::Max
            | Func::Lt
            | Func::Le
            | Func::Gt
            | Func::Ge
            | Func::Eq
            | Func::Ne
            | Func::And
            | Func::Or
            | Func::Xor
            | Func::Rem => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Log10 => "log10",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Min => "min",
            Func::Max => "max",
            Func::Step => "step",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Asin => "asin",
            Func::Acos => "acos",
            Func::Atan => "atan",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Tanh => "tanh",
            Func::Asinh => "asinh",
            Func::Acosh => "acosh",
            Func::Atanh => "atanh",
            Func::Not => "not",
            Func::Lt => "lt",
            Func::Le => "le",
            Func::Gt => "gt",
            Func::Ge => "ge",
            Func::Eq => "eq",
            Func::Ne => "ne",
            Func::And => "and",
            Func::Or => "or",
            Func::Xor => "xor",
            Func::Rem => "rem",
        }
    }

    /// Whether the function is a condition (a comparison or a logical function):
    /// its value is 1 or 0.
    pub fn is_condition(self) -> bool {
        matches!(
            self,
            Func::Not
                | Func::Lt
                | Func::Le
                | Func::Gt
                | Func::Ge
                | Func::Eq
                | Func::Ne
                | Func::And
                | Func::Or
                | Func::Xor
        )
    }

    /// Whether the value is piecewise constant in its arguments (a comparison, a
    /// logical function, floor, ceil, step): its derivative is 0 almost everywhere.
    pub fn is_piecewise_constant(self) -> bool {
        self.is_condition() || matches!(self, Func::Step | Func::Floor | Func::Ceil)
    }

    /// The meaning of a one-argument function, in any [`Real`] type: the one
    /// definition the tree walker, the constant folder and every backend of the IR
    /// call. NaN for a two-argument function.
    #[inline(always)]
    pub fn apply1<T: Real>(self, a: T) -> T {
        match self {
            Func::Exp => a.exp(),
            Func::Ln => a.ln(),
            Func::Log10 => a.log10(),
            Func::Sqrt => a.sqrt(),
            Func::Abs => a.abs(),
            Func::Step => truth(a >= T::ZERO),
            Func::Floor => a.floor(),
            Func::Ceil => a.ceil(),
            Func::Sin => a.sin(),
            Func::Cos => a.cos(),
            Func::Tan => a.tan(),
            Func::Asin => a.asin(),
            Func::Acos => a.acos(),
            Func::Atan => a.atan(),
            Func::Sinh => a.sinh(),
            Func::Cosh => a.cosh(),
            Func::Tanh => a.tanh(),
            Func::Asinh => a.asinh(),
            Func::Acosh => a.acosh(),
            Func::Atanh => a.atanh(),
            Func::Not => truth(a == T::ZERO),
            _ => T::from_f64(f64::NAN),
        }
    }

    /// The meaning of a two-argument function (see [`Func::apply1`]). NaN for a
    /// one-argument function.
    #[inline(always)]
    pub fn apply2<T: Real>(self, a: T, b: T) -> T {
        let z = T::ZERO;
        match self {
            Func::Min => a.min(b),
            Func::Max => a.max(b),
            Func::Lt => truth(a < b),
            Func::Le => truth(a <= b),
            Func::Gt => truth(a > b),
            Func::Ge => truth(a >= b),
            Func::Eq => truth(a == b),
            Func::Ne => truth(a != b),
            Func::And => truth(a != z && b != z),
            Func::Or => truth(a != z || b != z),
            Func::Xor => truth((a != z) != (b != z)),
            Func::Rem => a % b,
            _ => T::from_f64(f64::NAN),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(f64),
    Var(Var),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    F1(Func, Box<Expr>),
    F2(Func, Box<Expr>, Box<Expr>),
    /// `if(c, a, b)`, see [`select`].
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Values for every kind of variable, for the reference evaluator.
pub struct Env<'a> {
    pub species: &'a [f64],
    pub params: &'a [f64],
    pub drugs: &'a [f64],
    pub effects: &'a [f64],
    pub observables: &'a [f64],
    pub t: f64,
}

impl Expr {
    pub fn c(v: f64) -> Expr {
        Expr::Const(v)
    }
    pub fn var(v: Var) -> Expr {
        Expr::Var(v)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn add(a: Expr, b: Expr) -> Expr {
        Expr::Add(Box::new(a), Box::new(b))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn sub(a: Expr, b: Expr) -> Expr {
        Expr::Sub(Box::new(a), Box::new(b))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn mul(a: Expr, b: Expr) -> Expr {
        Expr::Mul(Box::new(a), Box::new(b))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn div(a: Expr, b: Expr) -> Expr {
        Expr::Div(Box::new(a), Box::new(b))
    }
    pub fn pow(a: Expr, b: Expr) -> Expr {
        Expr::Pow(Box::new(a), Box::new(b))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn neg(a: Expr) -> Expr {
        Expr::Neg(Box::new(a))
    }
    pub fn f1(f: Func, a: Expr) -> Expr {
        Expr::F1(f, Box::new(a))
    }
    pub fn f2(f: Func, a: Expr, b: Expr) -> Expr {
        Expr::F2(f, Box::new(a), Box::new(b))
    }
    pub fn if_(c: Expr, a: Expr, b: Expr) -> Expr {
        Expr::If(Box::new(c), Box::new(a), Box::new(b))
    }

    /// `hill(x, K, n) = x^n / (K^n + x^n)`, with x clamped at 0 so that a species a
    /// solver has pushed a hair below zero gives 0 rather than NaN.
    pub fn hill(x: Expr, k: Expr, n: Expr) -> Expr {
        let xn = Expr::pow(Expr::f2(Func::Max, x, Expr::c(0.0)), n.clone());
        Expr::div(xn.clone(), Expr::add(Expr::pow(k, n), xn))
    }

    /// `hill_rep(x, K, n) = K^n / (K^n + x^n)` (= 1 - hill), x clamped at 0.
    pub fn hill_rep(x: Expr, k: Expr, n: Expr) -> Expr {
        let xn = Expr::pow(Expr::f2(Func::Max, x, Expr::c(0.0)), n.clone());
        let kn = Expr::pow(k, n);
        Expr::div(kn.clone(), Expr::add(kn, xn))
    }

    /// Reference evaluator: walks the tree.
    pub fn eval(&self, env: &Env) -> f64 {
        match self {
            Expr::Const(v) => *v,
            Expr::Var(v) => match *v {
                Var::Species(i) => env.species[i],
                Var::Param(i) => env.params[i],
                Var::Drug(i) => env.drugs[i],
                Var::Effect(i) => env.effects[i],
                Var::Observable(i) => env.observables[i],
                Var::Time => env.t,
            },
            Expr::Neg(a) => -a.eval(env),
            Expr::Add(a, b) => a.eval(env) + b.eval(env),
            Expr::Sub(a, b) => a.eval(env) - b.eval(env),
            Expr::Mul(a, b) => a.eval(env) * b.eval(env),
            Expr::Div(a, b) => a.eval(env) / b.eval(env),
            Expr::Pow(a, b) => pow(a.eval(env), b.eval(env)),
            Expr::F1(f, a) => f.apply1(a.eval(env)),
            Expr::F2(f, a, b) => f.apply2(a.eval(env), b.eval(env)),
            Expr::If(c, a, b) => select(c.eval(env), a.eval(env), b.eval(env)),
        }
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        match self {
            Expr::Const(_) | Expr::Var(_) => 1,
            Expr::Neg(a) | Expr::F1(_, a) => 1 + a.size(),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::F2(_, a, b) => 1 + a.size() + b.size(),
            Expr::If(c, a, b) => 1 + c.size() + a.size() + b.size(),
        }
    }

    /// Number of nodes after every variable `v` is replaced by `weight(v)` nodes
    /// (saturating), computed without building the substituted tree.
    pub fn size_with(&self, weight: &dyn Fn(Var) -> usize) -> usize {
        match self {
            Expr::Const(_) => 1,
            Expr::Var(v) => weight(*v),
            Expr::Neg(a) | Expr::F1(_, a) => a.size_with(weight).saturating_add(1),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::F2(_, a, b) => a
                .size_with(weight)
                .saturating_add(b.size_with(weight))
                .saturating_add(1),
            Expr::If(c, a, b) => c
                .size_with(weight)
                .saturating_add(a.size_with(weight))
                .saturating_add(b.size_with(weight))
                .saturating_add(1),
        }
    }

    /// Does the expression read `v`?
    pub fn depends_on(&self, v: Var) -> bool {
        let mut found = false;
        self.visit_vars(&mut |w| found |= w == v);
        found
    }

    /// Call `f` on every variable the expression reads.
    pub fn visit_vars(&self, f: &mut dyn FnMut(Var)) {
        match self {
            Expr::Const(_) => {}
            Expr::Var(v) => f(*v),
            Expr::Neg(a) | Expr::F1(_, a) => a.visit_vars(f),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::F2(_, a, b) => {
                a.visit_vars(f);
                b.visit_vars(f);
            }
            Expr::If(c, a, b) => {
                c.visit_vars(f);
                a.visit_vars(f);
                b.visit_vars(f);
            }
        }
    }

    /// Replace variables by expressions (`None` keeps the variable), then simplify.
    pub fn substitute(&self, f: &dyn Fn(Var) -> Option<Expr>) -> Expr {
        self.map_vars(f).simplify()
    }

    fn map_vars(&self, f: &dyn Fn(Var) -> Option<Expr>) -> Expr {
        let b = |e: &Expr| Box::new(e.map_vars(f));
        match self {
            Expr::Const(v) => Expr::Const(*v),
            Expr::Var(v) => f(*v).unwrap_or(Expr::Var(*v)),
            Expr::Neg(a) => Expr::Neg(b(a)),
            Expr::Add(x, y) => Expr::Add(b(x), b(y)),
            Expr::Sub(x, y) => Expr::Sub(b(x), b(y)),
            Expr::Mul(x, y) => Expr::Mul(b(x), b(y)),
            Expr::Div(x, y) => Expr::Div(b(x), b(y)),
            Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
            Expr::F1(g, x) => Expr::F1(*g, b(x)),
            Expr::F2(g, x, y) => Expr::F2(*g, b(x), b(y)),
            Expr::If(c, x, y) => Expr::If(b(c), b(x), b(y)),
        }
    }

    pub fn as_const(&self) -> Option<f64> {
        match self {
            Expr::Const(v) => Some(*v),
            _ => None,
        }
    }

    /// Constant folding and the identities `x+0`, `x*1`, `x*0`, `x^1`, `x^0`, `--x`,
    /// `0/x`, `x/1`. Bottom-up, one pass (each node sees simplified children).
    pub fn simplify(&self) -> Expr {
        use Expr::*;
        let is = |e: &Expr, v: f64| e.as_const() == Some(v);
        match self {
            Const(_) | Var(_) => self.clone(),
            Neg(a) => match a.simplify() {
                Const(v) => Const(-v),
                Neg(x) => *x,
                x => Expr::neg(x),
            },
            Add(a, b) => {
                let (a, b) = (a.simplify(), b.simplify());
                match (&a, &b) {
                    (Const(x), Const(y)) => Const(x + y),
                    _ if is(&a, 0.0) => b,
                    _ if is(&b, 0.0) => a,
                    (_, Neg(y)) => Expr::sub(a.clone(), (**y).clone()),
                    _ => Expr::add(a, b),
                }
            }
            Sub(a, b) => {
                let (a, b) = (a.simplify(), b.simplify());
                match (&a, &b) {
                    (Const(x), Const(y)) => Const(x - y),
                    _ if is(&b, 0.0) => a,
                    _ if is(&a, 0.0) => Expr::neg(b).simplify(),
                    _ if a == b => Const(0.0),
                    _ => Expr::sub(a, b),
                }
            }
            Mul(a, b) => {
                let (a, b) = (a.simplify(), b.simplify());
                match (&a, &b) {
                    (Const(x), Const(y)) => Const(x * y),
                    _ if is(&a, 0.0) || is(&b, 0.0) => Const(0.0),
                    _ if is(&a, 1.0) => b,
                    _ if is(&b, 1.0) => a,
                    _ if is(&a, -1.0) => Expr::neg(b).simplify(),
                    _ if is(&b, -1.0) => Expr::neg(a).simplify(),
                    _ => Expr::mul(a, b),
                }
            }
            Div(a, b) => {
                let (a, b) = (a.simplify(), b.simplify());
                match (&a, &b) {
                    (Const(x), Const(y)) => Const(x / y),
                    _ if is(&a, 0.0) => Const(0.0),
                    _ if is(&b, 1.0) => a,
                    _ => Expr::div(a, b),
                }
            }
            Pow(a, b) => {
                let (a, b) = (a.simplify(), b.simplify());
                match (&a, &b) {
                    (Const(x), Const(y)) => Const(pow(*x, *y)),
                    _ if is(&b, 1.0) => a,
                    _ if is(&b, 0.0) => Const(1.0),
                    _ => Expr::pow(a, b),
                }
            }
            F1(f, a) => match a.simplify() {
                Const(v) => Const(f.apply1(v)),
                x => Expr::f1(*f, x),
            },
            F2(f, a, b) => match (a.simplify(), b.simplify()) {
                (Const(x), Const(y)) => Const(f.apply2(x, y)),
                (x, y) => Expr::f2(*f, x, y),
            },
            If(c, a, b) => match c.simplify() {
                Const(v) if v != 0.0 => a.simplify(),
                Const(_) => b.simplify(),
                c => match (a.simplify(), b.simplify()) {
                    (x, y) if x == y => x,
                    (x, y) => Expr::if_(c, x, y),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Func::ALL` holds every variant once, in declaration order.
    #[test]
    fn all_lists_every_function_in_order() {
        assert_eq!(Func::ALL.len(), Func::Rem as usize + 1);
        for (i, f) in Func::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i, "Func::ALL[{i}] is {f:?}");
        }
    }

    fn env<'a>(s: &'a [f64]) -> Env<'a> {
        Env {
            species: s,
            params: &[],
            drugs: &[],
            effects: &[],
            observables: &[],
            t: 0.0,
        }
    }

    #[test]
    fn hill_values() {
        let x = Expr::var(Var::Species(0));
        let h = Expr::hill(x.clone(), Expr::c(2.0), Expr::c(2.0));
        let r = Expr::hill_rep(x, Expr::c(2.0), Expr::c(2.0));
        let e = env(&[2.0]);
        assert!((h.eval(&e) - 0.5).abs() < 1e-15);
        assert!((r.eval(&e) - 0.5).abs() < 1e-15);
        let e = env(&[-1e-12]);
        assert_eq!(h.eval(&e), 0.0);
        assert_eq!(r.eval(&e), 1.0);
    }

    #[test]
    fn simplify_folds() {
        let x = Expr::var(Var::Species(0));
        let e = Expr::add(
            Expr::mul(Expr::c(2.0), Expr::c(3.0)),
            Expr::mul(x.clone(), Expr::c(0.0)),
        );
        assert_eq!(e.simplify(), Expr::c(6.0));
        let e = Expr::pow(x.clone(), Expr::c(1.0));
        assert_eq!(e.simplify(), x);
    }
}
