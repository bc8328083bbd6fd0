//! MathML (the subset SBML uses) to a small tree, and that tree to resloop's
//! expression syntax (`crate::expr::parse`).
//!
//! Every MathML element either has a resloop counterpart or is refused with its
//! line: nothing is approximated. Function definitions are inlined (a call becomes
//! the function's body with the arguments substituted), so the translated model
//! needs no functions resloop lacks.

use std::collections::HashMap;

use roxmltree::Node;

use super::error::{At, SbmlError};

/// Avogadro's number as SBML Level 3 defines the `avogadro` csymbol.
pub const AVOGADRO: f64 = 6.02214179e23;

/// Operators of MathML `apply`, by their meaning in resloop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Plus,
    Minus,
    Times,
    Divide,
    Power,
    /// `[degree, x]`
    Root,
    /// `[base, x]`
    Log,
    /// A one-argument resloop function, by name (`exp`, `ln`, `floor`, `sin`, ...).
    F1(&'static str),
    /// A two-argument resloop function, by name (`rem`).
    F2(&'static str),
    /// `quotient(a, b)`: the integer part of a / b.
    Quotient,
    /// A relation (`<`, `<=`, ...) applied to two or more arguments pairwise.
    Rel(&'static str),
    And,
    Or,
    Xor,
    Not,
    Implies,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Math {
    Num(f64),
    Bool(bool),
    Name(String),
    Time,
    Apply(Op, Vec<Math>),
    /// (value, condition) pieces, then the `otherwise` value.
    Piecewise(Vec<(Math, Math)>, Option<Box<Math>>),
    /// A call of a function definition (removed by [`Math::inline`]).
    Call(String, Vec<Math>),
}

/// A function definition: its bound variables and body.
#[derive(Debug, Clone)]
pub struct Lambda {
    pub params: Vec<String>,
    pub body: Math,
}

/// Reading MathML: the file name and the SBML element that owns the math, for
/// errors.
pub struct Reader<'a> {
    pub file: &'a str,
    /// e.g. `reaction `R1``, for messages.
    pub owner: String,
}

impl Reader<'_> {
    fn at(&self, n: Node) -> At {
        At::new(self.file, line_of(n), n.tag_name().name(), None)
    }

    fn unsupported(&self, n: Node, what: impl Into<String>) -> SbmlError {
        SbmlError::Unsupported {
            at: self.at(n),
            what: format!("{} (in {})", what.into(), self.owner),
        }
    }

    fn invalid(&self, n: Node, message: impl Into<String>) -> SbmlError {
        SbmlError::Invalid {
            at: self.at(n),
            message: format!("{} (in {})", message.into(), self.owner),
        }
    }

    /// The expression of a `<math>` element.
    pub fn math(&self, math: Node) -> Result<Math, SbmlError> {
        let mut kids = elements(math);
        match (kids.next(), kids.next()) {
            (Some(e), None) => self.node(e),
            _ => Err(self.invalid(math, "<math> must hold exactly one expression")),
        }
    }

    /// A function definition's `<math><lambda>`.
    pub fn lambda(&self, math: Node) -> Result<Lambda, SbmlError> {
        let mut kids = elements(math);
        let lambda = match (kids.next(), kids.next()) {
            (Some(e), None) => unwrap_semantics(e),
            _ => return Err(self.invalid(math, "<math> must hold exactly one <lambda>")),
        };
        if lambda.tag_name().name() != "lambda" {
            return Err(self.invalid(lambda, "a function definition's math must be a <lambda>"));
        }
        let mut params = Vec::new();
        let mut body = None;
        for k in elements(lambda) {
            if k.tag_name().name() == "bvar" {
                let ci = elements(k)
                    .find(|c| c.tag_name().name() == "ci")
                    .ok_or_else(|| self.invalid(k, "<bvar> without <ci>"))?;
                params.push(text(ci).trim().to_string());
            } else if body.is_none() {
                body = Some(self.node(k)?);
            } else {
                return Err(self.invalid(k, "a <lambda> has one body"));
            }
        }
        let body = body.ok_or_else(|| self.invalid(lambda, "a <lambda> without a body"))?;
        Ok(Lambda { params, body })
    }

    fn node(&self, n: Node) -> Result<Math, SbmlError> {
        let n = unwrap_semantics(n);
        let tag = n.tag_name().name();
        Ok(match tag {
            "cn" => Math::Num(self.number(n)?),
            "ci" => Math::Name(text(n).trim().to_string()),
            "true" => Math::Bool(true),
            "false" => Math::Bool(false),
            "pi" => Math::Num(std::f64::consts::PI),
            "exponentiale" => Math::Num(std::f64::consts::E),
            "infinity" => Math::Num(f64::INFINITY),
            "notanumber" => Math::Num(f64::NAN),
            "csymbol" => self.csymbol(n)?,
            "piecewise" => {
                let mut pieces = Vec::new();
                let mut otherwise = None;
                for k in elements(n) {
                    match k.tag_name().name() {
                        "piece" => {
                            let mut p = elements(k);
                            match (p.next(), p.next(), p.next()) {
                                (Some(v), Some(c), None) => {
                                    pieces.push((self.node(v)?, self.node(c)?))
                                }
                                _ => {
                                    return Err(
                                        self.invalid(k, "a <piece> holds a value and a condition")
                                    )
                                }
                            }
                        }
                        "otherwise" => {
                            let v = elements(k)
                                .next()
                                .ok_or_else(|| self.invalid(k, "an empty <otherwise>"))?;
                            otherwise = Some(Box::new(self.node(v)?));
                        }
                        other => {
                            return Err(
                                self.unsupported(k, format!("MathML <{other}> in <piecewise>"))
                            )
                        }
                    }
                }
                Math::Piecewise(pieces, otherwise)
            }
            "apply" => self.apply(n)?,
            other => return Err(self.unsupported(n, format!("MathML <{other}>"))),
        })
    }

    fn csymbol(&self, n: Node) -> Result<Math, SbmlError> {
        let url = n.attribute("definitionURL").unwrap_or_default();
        match url.rsplit('/').next().unwrap_or_default() {
            "time" => Ok(Math::Time),
            "avogadro" => Ok(Math::Num(AVOGADRO)),
            "delay" => {
                Err(self.unsupported(n, "the `delay` csymbol (delay differential equations)"))
            }
            "rateOf" => Err(self.unsupported(n, "the `rateOf` csymbol")),
            _ => Err(self.unsupported(n, format!("csymbol `{url}`"))),
        }
    }

    fn number(&self, n: Node) -> Result<f64, SbmlError> {
        let parts: Vec<String> = n
            .children()
            .filter(|c| c.is_text())
            .map(|c| c.text().unwrap_or_default().trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| self.invalid(n, format!("malformed number `{s}` in <cn>")))
        };
        match (n.attribute("type").unwrap_or("real"), parts.as_slice()) {
            ("real" | "integer" | "double", [s]) => num(s),
            ("e-notation", [m, e]) => Ok(num(m)? * 10f64.powf(num(e)?)),
            ("rational", [a, b]) => Ok(num(a)? / num(b)?),
            (ty, _) => Err(self.invalid(
                n,
                format!("<cn type=\"{ty}\"> with {} part(s)", parts.len()),
            )),
        }
    }

    fn apply(&self, n: Node) -> Result<Math, SbmlError> {
        let mut kids = elements(n);
        let head = kids
            .next()
            .ok_or_else(|| self.invalid(n, "an empty <apply>"))?;
        let mut args = Vec::new();
        let mut base = None;
        let mut degree = None;
        for k in kids {
            match k.tag_name().name() {
                "logbase" => base = Some(self.qualifier(k)?),
                "degree" => degree = Some(self.qualifier(k)?),
                _ => args.push(self.node(k)?),
            }
        }
        let tag = head.tag_name().name();
        if tag == "ci" {
            return Ok(Math::Call(text(head).trim().to_string(), args));
        }
        if tag == "csymbol" {
            return Err(self
                .csymbol(head)
                .err()
                .unwrap_or_else(|| self.unsupported(head, "a csymbol applied as a function")));
        }
        let op = match tag {
            "plus" => Op::Plus,
            "minus" => Op::Minus,
            "times" => Op::Times,
            "divide" => Op::Divide,
            "power" => Op::Power,
            "root" => {
                args.insert(0, degree.unwrap_or(Math::Num(2.0)));
                Op::Root
            }
            "log" => {
                args.insert(0, base.unwrap_or(Math::Num(10.0)));
                Op::Log
            }
            "abs" => Op::F1("abs"),
            "exp" => Op::F1("exp"),
            "ln" => Op::F1("ln"),
            "floor" => Op::F1("floor"),
            "ceiling" => Op::F1("ceil"),
            "sin" => Op::F1("sin"),
            "cos" => Op::F1("cos"),
            "tan" => Op::F1("tan"),
            "arcsin" => Op::F1("asin"),
            "arccos" => Op::F1("acos"),
            "arctan" => Op::F1("atan"),
            "sinh" => Op::F1("sinh"),
            "cosh" => Op::F1("cosh"),
            "tanh" => Op::F1("tanh"),
            "arcsinh" => Op::F1("asinh"),
            "arccosh" => Op::F1("acosh"),
            "arctanh" => Op::F1("atanh"),
            // Reciprocal functions, written with the basic ones.
            "sec" | "csc" | "cot" | "sech" | "csch" | "coth" | "arcsec" | "arccsc" | "arccot"
            | "arcsech" | "arccsch" | "arccoth" => {
                if args.len() != 1 {
                    return Err(self.invalid(head, format!("<{tag}> takes one argument")));
                }
                return Ok(reciprocal(tag, args.remove(0)));
            }
            "rem" => Op::F2("rem"),
            "quotient" => Op::Quotient,
            "eq" => Op::Rel("=="),
            "neq" => Op::Rel("!="),
            "gt" => Op::Rel(">"),
            "lt" => Op::Rel("<"),
            "geq" => Op::Rel(">="),
            "leq" => Op::Rel("<="),
            "and" => Op::And,
            "or" => Op::Or,
            "xor" => Op::Xor,
            "not" => Op::Not,
            "implies" => Op::Implies,
            "min" => Op::Min,
            "max" => Op::Max,
            other => return Err(self.unsupported(head, format!("MathML <{other}>"))),
        };
        let arity_ok = match op {
            Op::Plus | Op::Times | Op::And | Op::Or | Op::Xor => true,
            Op::Min | Op::Max => !args.is_empty(),
            Op::Minus => matches!(args.len(), 1 | 2),
            Op::Rel(_) => args.len() >= 2,
            Op::F1(_) | Op::Not => args.len() == 1,
            Op::Divide
            | Op::Power
            | Op::F2(_)
            | Op::Quotient
            | Op::Implies
            | Op::Root
            | Op::Log => args.len() == 2,
        };
        if !arity_ok {
            return Err(self.invalid(
                head,
                format!("<{tag}> applied to {} argument(s)", args.len()),
            ));
        }
        Ok(Math::Apply(op, args))
    }

    fn qualifier(&self, n: Node) -> Result<Math, SbmlError> {
        let v = elements(n)
            .next()
            .ok_or_else(|| self.invalid(n, format!("an empty <{}>", n.tag_name().name())))?;
        self.node(v)
    }
}

/// `sec(x) = 1 / cos(x)` and the other reciprocal functions.
fn reciprocal(tag: &str, x: Math) -> Math {
    let f1 = |f: &'static str, x: Math| Math::Apply(Op::F1(f), vec![x]);
    let inv = |x: Math| Math::Apply(Op::Divide, vec![Math::Num(1.0), x]);
    match tag {
        "sec" => inv(f1("cos", x)),
        "csc" => inv(f1("sin", x)),
        "cot" => inv(f1("tan", x)),
        "sech" => inv(f1("cosh", x)),
        "csch" => inv(f1("sinh", x)),
        "coth" => inv(f1("tanh", x)),
        "arcsec" => f1("acos", inv(x)),
        "arccsc" => f1("asin", inv(x)),
        "arccot" => f1("atan", inv(x)),
        "arcsech" => f1("acosh", inv(x)),
        "arccsch" => f1("asinh", inv(x)),
        _ => f1("atanh", inv(x)),
    }
}

/// Element children only (MathML and SBML both ignore whitespace and comments).
pub fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// `<semantics>` wraps an expression with annotations: the first child is it.
fn unwrap_semantics<'a, 'i>(n: Node<'a, 'i>) -> Node<'a, 'i> {
    if n.tag_name().name() == "semantics" {
        if let Some(first) = elements(n).next() {
            return first;
        }
    }
    n
}

fn text(n: Node) -> String {
    n.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

/// 1-based line of a node.
pub fn line_of(n: Node) -> u32 {
    n.document().text_pos_at(n.range().start).row
}

impl Math {
    /// Every name the expression reads (function names of calls excluded).
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Math::Name(s) => out.push(s.clone()),
            Math::Apply(_, a) | Math::Call(_, a) => a.iter().for_each(|x| x.names(out)),
            Math::Piecewise(p, o) => {
                for (v, c) in p {
                    v.names(out);
                    c.names(out);
                }
                if let Some(o) = o {
                    o.names(out);
                }
            }
            Math::Num(_) | Math::Bool(_) | Math::Time => {}
        }
    }

    /// Replace names by expressions (`None` keeps the name).
    pub fn substitute(&self, f: &dyn Fn(&str) -> Option<Math>) -> Math {
        match self {
            Math::Name(s) => f(s).unwrap_or_else(|| self.clone()),
            Math::Apply(op, a) => Math::Apply(*op, a.iter().map(|x| x.substitute(f)).collect()),
            Math::Call(g, a) => Math::Call(g.clone(), a.iter().map(|x| x.substitute(f)).collect()),
            Math::Piecewise(p, o) => Math::Piecewise(
                p.iter()
                    .map(|(v, c)| (v.substitute(f), c.substitute(f)))
                    .collect(),
                o.as_ref().map(|o| Box::new(o.substitute(f))),
            ),
            Math::Num(_) | Math::Bool(_) | Math::Time => self.clone(),
        }
    }

    /// Replace every call of a function definition by its body (arguments
    /// substituted for its parameters), recursively. `Err(name)` names a function
    /// that is not defined, is called with the wrong number of arguments, or calls
    /// itself.
    pub fn inline(&self, functions: &HashMap<String, Lambda>) -> Result<Math, String> {
        self.inline_within(functions, &mut Vec::new())
    }

    fn inline_within(
        &self,
        functions: &HashMap<String, Lambda>,
        stack: &mut Vec<String>,
    ) -> Result<Math, String> {
        let each = |a: &[Math], stack: &mut Vec<String>| {
            a.iter()
                .map(|x| x.inline_within(functions, stack))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match self {
            Math::Call(g, a) => {
                let args = each(a, stack)?;
                let Some(l) = functions.get(g) else {
                    return Err(format!("`{g}` is not a function definition"));
                };
                if l.params.len() != args.len() {
                    return Err(format!(
                        "function `{g}` takes {} argument(s), called with {}",
                        l.params.len(),
                        args.len()
                    ));
                }
                if stack.contains(g) {
                    return Err(format!(
                        "function `{g}` calls itself ({})",
                        stack.join(" -> ")
                    ));
                }
                let bind: HashMap<&str, &Math> =
                    l.params.iter().map(String::as_str).zip(&args).collect();
                // Bound variables are the only names a body may read.
                let body = l.body.substitute(&|n| bind.get(n).map(|m| (*m).clone()));
                stack.push(g.clone());
                let out = body.inline_within(functions, stack)?;
                stack.pop();
                out
            }
            Math::Apply(op, a) => Math::Apply(*op, each(a, stack)?),
            Math::Piecewise(p, o) => {
                let mut pieces = Vec::new();
                for (v, c) in p {
                    pieces.push((
                        v.inline_within(functions, stack)?,
                        c.inline_within(functions, stack)?,
                    ));
                }
                let o = match o {
                    Some(o) => Some(Box::new(o.inline_within(functions, stack)?)),
                    None => None,
                };
                Math::Piecewise(pieces, o)
            }
            other => other.clone(),
        })
    }

    /// The expression in resloop syntax, names passed through `name`. Calls must
    /// have been inlined (`Err` names one that was not).
    pub fn to_expr(&self, name: &dyn Fn(&str) -> String) -> Result<String, String> {
        Ok(self.print(name)?.0)
    }

    /// Text and precedence: 1 `||`, 2 `&&`, 3 comparison, 4 `+ -`, 5 `* /`,
    /// 6 sign, 7 `^`, 8 atom.
    fn print(&self, name: &dyn Fn(&str) -> String) -> Result<(String, u8), String> {
        let p = |m: &Math| m.print(name);
        // Child text, parenthesised when its precedence is below `min`.
        let wrap = |m: &Math, min: u8| -> Result<String, String> {
            let (s, q) = m.print(name)?;
            Ok(if q < min { format!("({s})") } else { s })
        };
        Ok(match self {
            Math::Num(v) => number(*v),
            Math::Bool(b) => (if *b { "1" } else { "0" }.to_string(), 8),
            Math::Name(s) => (name(s), 8),
            Math::Time => ("t".to_string(), 8),
            Math::Call(g, _) => return Err(format!("call of `{g}` was not inlined")),
            Math::Piecewise(pieces, otherwise) => {
                let mut out = match otherwise {
                    Some(o) => p(o)?.0,
                    // SBML leaves the value undefined: NaN, which a run reports.
                    None => "(0/0)".to_string(),
                };
                for (v, c) in pieces.iter().rev() {
                    out = format!("if({}, {}, {out})", p(c)?.0, p(v)?.0);
                }
                (out, 8)
            }
            Math::Apply(op, a) => match op {
                Op::Plus => match a.len() {
                    0 => ("0".into(), 8),
                    1 => p(&a[0])?,
                    _ => (
                        a.iter()
                            .map(|x| wrap(x, 4))
                            .collect::<Result<Vec<_>, _>>()?
                            .join(" + "),
                        4,
                    ),
                },
                Op::Times => match a.len() {
                    0 => ("1".into(), 8),
                    1 => p(&a[0])?,
                    _ => (
                        a.iter()
                            .map(|x| wrap(x, 5))
                            .collect::<Result<Vec<_>, _>>()?
                            .join(" * "),
                        5,
                    ),
                },
                Op::Minus if a.len() == 1 => (format!("-{}", wrap(&a[0], 7)?), 6),
                Op::Minus => (format!("{} - {}", wrap(&a[0], 4)?, wrap(&a[1], 5)?), 4),
                Op::Divide => (format!("{} / {}", wrap(&a[0], 5)?, wrap(&a[1], 6)?), 5),
                Op::Power => (format!("{}^{}", wrap(&a[0], 8)?, wrap(&a[1], 8)?), 7),
                Op::Root => (format!("{}^(1 / {})", wrap(&a[1], 8)?, wrap(&a[0], 6)?), 7),
                Op::Log => match a[0] {
                    Math::Num(10.0) => (format!("log10({})", p(&a[1])?.0), 8),
                    _ => (format!("ln({}) / ln({})", p(&a[1])?.0, p(&a[0])?.0), 5),
                },
                Op::F1(f) => (format!("{f}({})", p(&a[0])?.0), 8),
                Op::F2(f) => (format!("{f}({}, {})", p(&a[0])?.0, p(&a[1])?.0), 8),
                Op::Quotient => {
                    let q = format!("{} / {}", wrap(&a[0], 5)?, wrap(&a[1], 6)?);
                    (format!("if({q} >= 0, floor({q}), ceil({q}))"), 8)
                }
                Op::Rel(r) => {
                    let pairs = a
                        .windows(2)
                        .map(|w| Ok(format!("{} {r} {}", wrap(&w[0], 4)?, wrap(&w[1], 4)?)))
                        .collect::<Result<Vec<_>, String>>()?;
                    if pairs.len() == 1 {
                        (pairs.into_iter().next().unwrap_or_default(), 3)
                    } else {
                        (pairs.join(" && "), 2)
                    }
                }
                Op::And | Op::Or => {
                    let (sep, prec, empty) = if *op == Op::And {
                        (" && ", 2, "1")
                    } else {
                        (" || ", 1, "0")
                    };
                    match a.len() {
                        0 => (empty.into(), 8),
                        1 => (format!("(({}) != 0)", p(&a[0])?.0), 8),
                        _ => (
                            a.iter()
                                .map(|x| wrap(x, prec + 1))
                                .collect::<Result<Vec<_>, _>>()?
                                .join(sep),
                            prec,
                        ),
                    }
                }
                Op::Xor => {
                    let mut it = a.iter();
                    match it.next() {
                        None => ("0".into(), 8),
                        Some(first) => {
                            let mut out = format!("(({}) != 0)", p(first)?.0);
                            for x in it {
                                out = format!("xor({out}, {})", p(x)?.0);
                            }
                            (out, 8)
                        }
                    }
                }
                Op::Not => (format!("not({})", p(&a[0])?.0), 8),
                Op::Implies => (format!("not({}) || {}", p(&a[0])?.0, wrap(&a[1], 2)?), 1),
                Op::Min | Op::Max => {
                    let f = if *op == Op::Min { "min" } else { "max" };
                    let mut it = a.iter();
                    let mut out = p(it.next().ok_or("empty min/max")?)?.0;
                    for x in it {
                        out = format!("{f}({out}, {})", p(x)?.0);
                    }
                    (out, 8)
                }
            },
        })
    }
}

/// A number in resloop syntax: the shortest text that reads back to the same
/// double; infinities and NaN as divisions (the grammar has no literal for them).
fn number(v: f64) -> (String, u8) {
    if v.is_nan() {
        ("(0/0)".into(), 8)
    } else if v.is_infinite() {
        (if v > 0.0 { "(1/0)" } else { "(-1/0)" }.into(), 8)
    } else if v < 0.0 {
        (format!("-{:?}", -v), 6)
    } else {
        (format!("{v:?}"), 8)
    }
}
