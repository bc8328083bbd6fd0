//! Name resolution: turn an [`Ast`] into an index-based [`Expr`] against a [`Scope`].
//!
//! Unknown names and functions are errors with a did-you-mean suggestion; function
//! arity is checked here, once, so evaluation never has to.

use std::collections::HashMap;

use super::ast::{Ast, BinOp};
use super::tree::{Expr, Func, Var};

/// What a name in a scope stands for (for messages and listings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Species,
    Parameter,
    Drug,
    Effect,
    Observable,
    Time,
}

impl NameKind {
    pub fn of(v: Var) -> NameKind {
        match v {
            Var::Species(_) => NameKind::Species,
            Var::Param(_) => NameKind::Parameter,
            Var::Drug(_) => NameKind::Drug,
            Var::Effect(_) => NameKind::Effect,
            Var::Observable(_) => NameKind::Observable,
            Var::Time => NameKind::Time,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            NameKind::Species => "species",
            NameKind::Parameter => "parameter",
            NameKind::Drug => "drug",
            NameKind::Effect => "drug effect",
            NameKind::Observable => "observable",
            NameKind::Time => "time",
        }
    }
}

/// The names visible to an expression.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    names: HashMap<String, Var>,
}

/// The built-in functions and their arities.
pub const FUNCTIONS: &[(&str, usize)] = &[
    ("exp", 1),
    ("ln", 1),
    ("log10", 1),
    ("sqrt", 1),
    ("abs", 1),
    ("min", 2),
    ("max", 2),
    ("pow", 2),
    ("hill", 3),
    ("hill_rep", 3),
    ("floor", 1),
    ("ceil", 1),
    ("sin", 1),
    ("cos", 1),
    ("tan", 1),
    ("asin", 1),
    ("acos", 1),
    ("atan", 1),
    ("sinh", 1),
    ("cosh", 1),
    ("tanh", 1),
    ("asinh", 1),
    ("acosh", 1),
    ("atanh", 1),
    ("not", 1),
    ("xor", 2),
    ("rem", 2),
    ("if", 3),
];

impl Scope {
    pub fn new() -> Scope {
        let mut s = Scope::default();
        s.names.insert("t".to_string(), Var::Time);
        s
    }

    /// Add a name; returns the variable it already had if it was taken.
    pub fn insert(&mut self, name: &str, v: Var) -> Option<Var> {
        if let Some(old) = self.names.get(name) {
            return Some(*old);
        }
        self.names.insert(name.to_string(), v);
        None
    }

    pub fn get(&self, name: &str) -> Option<Var> {
        self.names.get(name).copied()
    }

    /// Closest known name, if any is close enough to be a plausible typo.
    pub fn suggest(&self, name: &str) -> Option<String> {
        closest(name, self.names.keys().map(String::as_str))
    }
}

/// The candidate closest to `name` by edit distance, if within a third of its length.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (name.len() / 3).max(2);
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c.to_string())
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown name `{name}`{}", did_you_mean(.suggestion))]
    UnknownName {
        name: String,
        pos: usize,
        suggestion: Option<String>,
    },
    #[error("unknown function `{name}`{}", did_you_mean(.suggestion))]
    UnknownFunction {
        name: String,
        pos: usize,
        suggestion: Option<String>,
    },
    #[error("function `{name}` takes {expected} argument{} but was given {got}", if *.expected == 1 { "" } else { "s" })]
    Arity {
        name: String,
        pos: usize,
        expected: usize,
        got: usize,
    },
    #[error("`{name}` is {} {kind}, which is not allowed here", if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" })]
    NotAllowed {
        name: String,
        pos: usize,
        kind: &'static str,
    },
    /// The expression expands to more than [`MAX_NODES`] nodes (`hill` and
    /// `hill_rep` copy their arguments, so nesting them multiplies the size).
    #[error("expression expands to {} nodes or more, over the limit of {limit} (`hill(x, K, n)` copies x twice and n three times, so nested Hill terms grow geometrically); this limit cannot be raised: name the inner Hill terms as observables", if *.size == usize::MAX { "an overflowing number of".to_string() } else { .size.to_string() })]
    TooLarge { size: usize, limit: usize },
}

/// Most nodes a resolved expression may have after `hill` and `hill_rep` are expanded.
pub const MAX_NODES: usize = 250_000;

/// The number of nodes `resolve` would build for `ast` (saturating), computed without
/// building it: `hill(x, K, n)` becomes `max(x,0)^n / (K^n + max(x,0)^n)`.
pub fn expanded_size(ast: &Ast) -> usize {
    match ast {
        Ast::Num(_) | Ast::Name { .. } => 1,
        Ast::Neg(a) => expanded_size(a).saturating_add(1),
        Ast::Bin(_, a, b) => expanded_size(a)
            .saturating_add(expanded_size(b))
            .saturating_add(1),
        Ast::Call { name, args, .. } => {
            let sizes: Vec<usize> = args.iter().map(expanded_size).collect();
            let arg = |i: usize| sizes.get(i).copied().unwrap_or(0);
            let weighted = |w: [usize; 3]| {
                w.iter().enumerate().fold(8usize, |acc, (i, &k)| {
                    acc.saturating_add(arg(i).saturating_mul(k))
                })
            };
            match name.as_str() {
                "hill" => weighted([2, 1, 3]),
                "hill_rep" => weighted([1, 2, 3]),
                _ => sizes.iter().fold(1usize, |acc, &s| acc.saturating_add(s)),
            }
        }
    }
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// ` (did you mean `x`?)` for the candidate closest to `name`, or an empty string:
/// the one suffix every "unknown name" message in resloop uses.
pub fn did_you_mean_among<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    did_you_mean(&closest(name, candidates))
}

impl ResolveError {
    pub fn pos(&self) -> usize {
        match self {
            ResolveError::UnknownName { pos, .. }
            | ResolveError::UnknownFunction { pos, .. }
            | ResolveError::Arity { pos, .. }
            | ResolveError::NotAllowed { pos, .. } => *pos,
            ResolveError::TooLarge { .. } => 0,
        }
    }
}

/// Resolve every name in `ast` against `scope`.
pub fn resolve(ast: &Ast, scope: &Scope) -> Result<Expr, ResolveError> {
    resolve_forbidding(ast, scope, None)
}

/// Resolve, rejecting names of kind `forbid` with [`ResolveError::NotAllowed`] at
/// their position (observables may not refer to observables, which rules out cycles).
pub fn resolve_forbidding(
    ast: &Ast,
    scope: &Scope,
    forbid: Option<NameKind>,
) -> Result<Expr, ResolveError> {
    let size = expanded_size(ast);
    if size > MAX_NODES {
        return Err(ResolveError::TooLarge {
            size,
            limit: MAX_NODES,
        });
    }
    resolve_checked(ast, scope, forbid)
}

fn resolve_checked(
    ast: &Ast,
    scope: &Scope,
    forbid: Option<NameKind>,
) -> Result<Expr, ResolveError> {
    let resolve = |a: &Ast, s: &Scope| resolve_checked(a, s, forbid);
    Ok(match ast {
        Ast::Num(v) => Expr::Const(*v),
        Ast::Name { name, pos } => match scope.get(name) {
            Some(v) if Some(NameKind::of(v)) == forbid => {
                return Err(ResolveError::NotAllowed {
                    name: name.clone(),
                    pos: *pos,
                    kind: NameKind::of(v).label(),
                })
            }
            Some(v) => Expr::Var(v),
            None => {
                return Err(ResolveError::UnknownName {
                    name: name.clone(),
                    pos: *pos,
                    suggestion: scope.suggest(name),
                })
            }
        },
        Ast::Neg(a) => Expr::neg(resolve(a, scope)?),
        Ast::Bin(op, a, b) => {
            let (a, b) = (resolve(a, scope)?, resolve(b, scope)?);
            match op {
                BinOp::Add => Expr::add(a, b),
                BinOp::Sub => Expr::sub(a, b),
                BinOp::Mul => Expr::mul(a, b),
                BinOp::Div => Expr::div(a, b),
                BinOp::Pow => Expr::pow(a, b),
                BinOp::Lt => Expr::f2(Func::Lt, a, b),
                BinOp::Le => Expr::f2(Func::Le, a, b),
                BinOp::Gt => Expr::f2(Func::Gt, a, b),
                BinOp::Ge => Expr::f2(Func::Ge, a, b),
                BinOp::Eq => Expr::f2(Func::Eq, a, b),
                BinOp::Ne => Expr::f2(Func::Ne, a, b),
                BinOp::And => Expr::f2(Func::And, a, b),
                BinOp::Or => Expr::f2(Func::Or, a, b),
            }
        }
        Ast::Call { name, pos, args } => {
            let Some(&(_, arity)) = FUNCTIONS.iter().find(|(n, _)| n == name) else {
                return Err(ResolveError::UnknownFunction {
                    name: name.clone(),
                    pos: *pos,
                    suggestion: closest(name, FUNCTIONS.iter().map(|(n, _)| *n)),
                });
            };
            if args.len() != arity {
                return Err(ResolveError::Arity {
                    name: name.clone(),
                    pos: *pos,
                    expected: arity,
                    got: args.len(),
                });
            }
            let mut a = args
                .iter()
                .map(|x| resolve(x, scope))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter();
            let mut next = || a.next().expect("arity checked above");
            // A name of FUNCTIONS that is also a `Func`'s name stands for it directly
            // (the table above already checked the arity).
            if let Some(&f) = Func::ALL.iter().find(|f| f.name() == name) {
                return Ok(match f.arity() {
                    1 => Expr::f1(f, next()),
                    _ => Expr::f2(f, next(), next()),
                });
            }
            match name.as_str() {
                "pow" => Expr::pow(next(), next()),
                "if" => Expr::if_(next(), next(), next()),
                "hill" => Expr::hill(next(), next(), next()),
                "hill_rep" => Expr::hill_rep(next(), next(), next()),
                other => unreachable!("function table and match disagree on `{other}`"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::new();
        s.insert("AXL", Var::Species(0));
        s.insert("miR34a", Var::Species(1));
        s.insert("k_deg", Var::Param(0));
        s
    }

    #[test]
    fn unknown_name_suggests() {
        let e = resolve(&parse("k_dge * AXL").unwrap(), &scope()).unwrap_err();
        assert_eq!(
            e,
            ResolveError::UnknownName {
                name: "k_dge".into(),
                pos: 0,
                suggestion: Some("k_deg".into())
            }
        );
        assert!(e.to_string().contains("did you mean `k_deg`"));
    }

    #[test]
    fn arity_checked() {
        let e = resolve(&parse("AXL + hill(AXL, 2)").unwrap(), &scope()).unwrap_err();
        assert!(matches!(
            e,
            ResolveError::Arity {
                expected: 3,
                got: 2,
                pos: 6,
                ..
            }
        ));
        let e = resolve(&parse("hil(AXL, 1, 2)").unwrap(), &scope()).unwrap_err();
        assert!(e.to_string().contains("did you mean `hill`"));
    }
}
