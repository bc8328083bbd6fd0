//! Recursive-descent parser for rate expressions, bounded in depth and size.
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr   := conj ('||' conj)*
//! conj   := cmp ('&&' cmp)*
//! cmp    := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?   (not chained)
//! sum    := term (('+' | '-') term)*
//! term   := unary (('*' | '/') unary)*
//! unary  := '-' unary | '+' unary | power
//! power  := atom ('^' unary)?          (right-associative; -x^2 = -(x^2))
//! atom   := number | name | name '(' args ')' | '(' expr ')'
//! ```
//! Numbers accept exponents (`1.5e-3`). Names are `[A-Za-z_][A-Za-z0-9_.]*`.
//! Comparisons and `&&`, `||` give 1 (true) or 0 (false); they exist for conditions
//! (event triggers, `if(c, a, b)`), and a chain of them is parsed like a sum chain
//! (left to right), without the balancing, since conditions are short.
//!
//! Why the limits: every later pass (resolution, simplification, the symbolic
//! derivative, the register compiler, even dropping the tree) walks the tree
//! recursively, so a deep tree overflows the stack and a long left-leaning chain makes
//! the derivative quadratic. The parser therefore
//!
//! - refuses nesting (parentheses, calls, signs, powers) deeper than [`MAX_DEPTH`],
//! - refuses more than [`MAX_TOKENS`] tokens,
//! - folds a run of signs into at most one negation (exact: `-(-x) = x` in floating
//!   point),
//! - and builds a chain of more than [`CHAIN_KEEP`] terms of `+ -` (or factors of
//!   `* /`) as a balanced tree (pairwise summation: the sum of the signed terms; a
//!   product of the numerator factors over a product of the denominator factors),
//!   so its depth is logarithmic. Shorter chains keep the left-to-right order, so
//!   the results of ordinary rate laws do not change by a single bit; a long chain
//!   may round differently in the last place (pairwise sums are the more accurate).
//!
//! The result is a tree whose depth is at most about `MAX_DEPTH * (log2(MAX_TOKENS) + 2)`
//! and whose size is linear in the text.

use super::ast::{Ast, BinOp};

/// Deepest nesting of parentheses, function calls, signs and powers accepted.
pub const MAX_DEPTH: usize = 100;
/// Most tokens (numbers, names, operators, parentheses, commas) in one expression.
pub const MAX_TOKENS: usize = 200_000;
/// Chains of up to this many terms are built left to right, longer ones balanced.
pub const CHAIN_KEEP: usize = 16;

/// What kind of parse error (so callers can tell a typo from a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    Syntax,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than [`MAX_TOKENS`] tokens.
    TooLong,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Byte offset in the expression text.
    pub pos: usize,
    pub kind: ParseErrorKind,
    pub message: String,
}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        kind: ParseErrorKind::Syntax,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    /// A comparison or logical operator (`<`, `<=`, `>`, `>=`, `==`, `!=`, `&&`, `||`).
    Rel(BinOp),
    LParen,
    RParen,
    Comma,
    End,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if toks.len() >= MAX_TOKENS {
            return Err(ParseError {
                pos: start,
                kind: ParseErrorKind::TooLong,
                message: format!(
                    "expression has more than {MAX_TOKENS} tokens (numbers, names, operators);                      this limit cannot be raised: split it into observables"
                ),
            });
        }
        if c.is_ascii_digit() || (c == '.' && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()))
        {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    while j < bytes.len() && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text = &src[start..i];
            match text.parse::<f64>() {
                Ok(v) => toks.push((Tok::Num(v), start)),
                Err(_) => return err(start, format!("malformed number `{text}`")),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            toks.push((Tok::Name(src[start..i].to_string()), start));
        } else if let Some((op, len)) = relation(&bytes[i..]) {
            toks.push((Tok::Rel(op), start));
            i += len;
        } else {
            let t = match c {
                '+' | '-' | '*' | '/' | '^' => Tok::Op(c),
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                ',' => Tok::Comma,
                _ => {
                    let ch = src[start..].chars().next().unwrap_or(c);
                    return err(start, format!("unexpected character `{ch}`"));
                }
            };
            toks.push((t, start));
            i += 1;
        }
    }
    toks.push((Tok::End, src.len()));
    Ok(toks)
}

/// The comparison or logical operator at the start of `b`, and its length.
fn relation(b: &[u8]) -> Option<(BinOp, usize)> {
    let two = |op| Some((op, 2));
    match (b.first()?, b.get(1)) {
        (b'<', Some(b'=')) => two(BinOp::Le),
        (b'>', Some(b'=')) => two(BinOp::Ge),
        (b'=', Some(b'=')) => two(BinOp::Eq),
        (b'!', Some(b'=')) => two(BinOp::Ne),
        (b'&', Some(b'&')) => two(BinOp::And),
        (b'|', Some(b'|')) => two(BinOp::Or),
        (b'<', _) => Some((BinOp::Lt, 1)),
        (b'>', _) => Some((BinOp::Gt, 1)),
        _ => None,
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
}

/// Fold `items` pairwise into a balanced tree with `join` (depth `ceil(log2 n)`).
fn balanced(mut items: Vec<Ast>, join: impl Fn(Ast, Ast) -> Ast) -> Ast {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(join(a, b)),
                None => next.push(a),
            }
        }
        items = next;
    }
    items.pop().expect("a chain has at least one term")
}

fn bin(op: BinOp) -> impl Fn(Ast, Ast) -> Ast {
    move |a, b| Ast::Bin(op, Box::new(a), Box::new(b))
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn pos(&self) -> usize {
        self.toks[self.i].1
    }
    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    /// Go one nesting level down (undone by [`Parser::leave`]).
    fn enter(&mut self, pos: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                pos,
                kind: ParseErrorKind::TooDeep,
                message: format!(
                    "expression nests deeper than {MAX_DEPTH} levels (parentheses, function \
                     calls, signs and powers count); this limit protects the stack and cannot \
                     be raised: name an inner part as an observable"
                ),
            });
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn expr(&mut self) -> Result<Ast, ParseError> {
        let mut lhs = self.conj()?;
        while let Tok::Rel(BinOp::Or) = *self.peek() {
            self.bump();
            lhs = Ast::Bin(BinOp::Or, Box::new(lhs), Box::new(self.conj()?));
        }
        Ok(lhs)
    }

    fn conj(&mut self) -> Result<Ast, ParseError> {
        let mut lhs = self.cmp()?;
        while let Tok::Rel(BinOp::And) = *self.peek() {
            self.bump();
            lhs = Ast::Bin(BinOp::And, Box::new(lhs), Box::new(self.cmp()?));
        }
        Ok(lhs)
    }

    fn cmp(&mut self) -> Result<Ast, ParseError> {
        let lhs = self.sum()?;
        match *self.peek() {
            Tok::Rel(op) if !matches!(op, BinOp::And | BinOp::Or) => {
                let (_, pos) = self.bump();
                let rhs = self.sum()?;
                if let Tok::Rel(next) = *self.peek() {
                    if !matches!(next, BinOp::And | BinOp::Or) {
                        return err(
                            pos,
                            "comparisons do not chain (`a < b < c`): write `a < b && b < c`",
                        );
                    }
                }
                Ok(Ast::Bin(op, Box::new(lhs), Box::new(rhs)))
            }
            _ => Ok(lhs),
        }
    }

    fn sum(&mut self) -> Result<Ast, ParseError> {
        let first = self.term()?;
        let mut rest = Vec::new();
        while let Tok::Op(c @ ('+' | '-')) = *self.peek() {
            self.bump();
            rest.push((c == '+', self.term()?));
        }
        if rest.len() < CHAIN_KEEP {
            return Ok(rest.into_iter().fold(first, |lhs, (plus, rhs)| {
                let op = if plus { BinOp::Add } else { BinOp::Sub };
                Ast::Bin(op, Box::new(lhs), Box::new(rhs))
            }));
        }
        let mut terms = vec![first];
        terms.extend(rest.into_iter().map(|(plus, t)| match plus {
            true => t,
            false => negate(t),
        }));
        Ok(balanced(terms, bin(BinOp::Add)))
    }

    fn term(&mut self) -> Result<Ast, ParseError> {
        let first = self.unary()?;
        let mut rest = Vec::new();
        while let Tok::Op(c @ ('*' | '/')) = *self.peek() {
            self.bump();
            rest.push((c == '*', self.unary()?));
        }
        if rest.len() < CHAIN_KEEP {
            return Ok(rest.into_iter().fold(first, |lhs, (times, rhs)| {
                let op = if times { BinOp::Mul } else { BinOp::Div };
                Ast::Bin(op, Box::new(lhs), Box::new(rhs))
            }));
        }
        let (mut num, mut den) = (vec![first], Vec::new());
        for (times, f) in rest {
            if times {
                num.push(f)
            } else {
                den.push(f)
            }
        }
        let num = balanced(num, bin(BinOp::Mul));
        Ok(match den.is_empty() {
            true => num,
            false => bin(BinOp::Div)(num, balanced(den, bin(BinOp::Mul))),
        })
    }

    fn unary(&mut self) -> Result<Ast, ParseError> {
        // A run of signs is one negation or none, built without recursion.
        let mut negative = false;
        while let Tok::Op(c @ ('-' | '+')) = *self.peek() {
            self.bump();
            negative ^= c == '-';
        }
        let e = self.power()?;
        Ok(if negative { negate(e) } else { e })
    }

    fn power(&mut self) -> Result<Ast, ParseError> {
        let base = self.atom()?;
        if let Tok::Op('^') = self.peek() {
            let (_, pos) = self.bump();
            self.enter(pos)?;
            let exp = self.unary()?;
            self.leave();
            return Ok(Ast::Bin(BinOp::Pow, Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Ast, ParseError> {
        let (tok, pos) = self.bump();
        match tok {
            Tok::Num(v) => Ok(Ast::Num(v)),
            Tok::Name(name) => {
                if let Tok::LParen = self.peek() {
                    self.bump();
                    self.enter(pos)?;
                    let mut args = Vec::new();
                    if !matches!(self.peek(), Tok::RParen) {
                        loop {
                            args.push(self.expr()?);
                            match self.peek() {
                                Tok::Comma => {
                                    self.bump();
                                }
                                Tok::RParen => break,
                                _ => {
                                    return err(self.pos(), "expected `,` or `)` in argument list")
                                }
                            }
                        }
                    }
                    self.bump();
                    self.leave();
                    Ok(Ast::Call { name, pos, args })
                } else {
                    Ok(Ast::Name { name, pos })
                }
            }
            Tok::LParen => {
                self.enter(pos)?;
                let e = self.expr()?;
                self.leave();
                match self.peek() {
                    Tok::RParen => {
                        self.bump();
                        Ok(e)
                    }
                    _ => err(self.pos(), "expected `)`"),
                }
            }
            Tok::End => err(pos, "unexpected end of expression"),
            Tok::RParen => err(pos, "unexpected `)`"),
            Tok::Comma => err(pos, "unexpected `,`"),
            Tok::Op(c) => err(pos, format!("unexpected operator `{c}`")),
            Tok::Rel(_) => err(pos, "unexpected comparison or logical operator"),
        }
    }
}

/// `-e`, folding a negated negation (exact in floating point).
fn negate(e: Ast) -> Ast {
    match e {
        Ast::Neg(inner) => *inner,
        e => Ast::Neg(Box::new(e)),
    }
}

/// Parse an expression. Errors carry the byte offset of the offending token.
pub fn parse(src: &str) -> Result<Ast, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    if matches!(p.peek(), Tok::End) {
        return err(0, "empty expression");
    }
    let e = p.expr()?;
    match p.peek() {
        Tok::End => Ok(e),
        _ => err(p.pos(), "unexpected token after the end of the expression"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: f64) -> Ast {
        Ast::Num(v)
    }

    #[test]
    fn precedence_and_associativity() {
        // -2^2 = -(2^2); 2^3^2 = 2^(3^2)
        let e = parse("-2^2").unwrap();
        assert_eq!(
            e,
            Ast::Neg(Box::new(Ast::Bin(
                BinOp::Pow,
                Box::new(num(2.0)),
                Box::new(num(2.0))
            )))
        );
        let e = parse("2^3^2").unwrap();
        match e {
            Ast::Bin(BinOp::Pow, _, r) => assert!(matches!(*r, Ast::Bin(BinOp::Pow, _, _))),
            _ => panic!("{e:?}"),
        }
    }

    #[test]
    fn numbers_with_exponents() {
        assert_eq!(parse("1.5e-3").unwrap(), num(1.5e-3));
        assert_eq!(parse("2E2").unwrap(), num(200.0));
        assert_eq!(parse(".5").unwrap(), num(0.5));
    }

    #[test]
    fn errors_point_at_the_token() {
        assert_eq!(parse("a + * b").unwrap_err().pos, 4);
        assert_eq!(parse("f(a b)").unwrap_err().pos, 4);
        assert_eq!(parse("(a").unwrap_err().pos, 2);
        assert_eq!(parse("a $ b").unwrap_err().pos, 2);
        assert!(parse("").is_err());
        assert!(parse("1..2").is_err());
    }

    fn depth(a: &Ast) -> usize {
        match a {
            Ast::Num(_) | Ast::Name { .. } => 1,
            Ast::Neg(x) => 1 + depth(x),
            Ast::Bin(_, x, y) => 1 + depth(x).max(depth(y)),
            Ast::Call { args, .. } => 1 + args.iter().map(depth).max().unwrap_or(0),
        }
    }

    #[test]
    fn short_chains_stay_left_to_right_long_ones_are_balanced() {
        // a - b + c = (a - b) + c, exactly as written.
        match parse("a - b + c").unwrap() {
            Ast::Bin(BinOp::Add, l, _) => assert!(matches!(*l, Ast::Bin(BinOp::Sub, _, _))),
            e => panic!("{e:?}"),
        }
        let short = vec!["x"; CHAIN_KEEP].join(" + ");
        assert_eq!(depth(&parse(&short).unwrap()), CHAIN_KEEP);
        let long = vec!["x"; 30_000].join(" - ");
        assert!(depth(&parse(&long).unwrap()) <= 17);
        let long = vec!["x"; 4_000].join(" * ");
        assert!(depth(&parse(&long).unwrap()) <= 13);
    }

    #[test]
    fn limits_have_their_own_kind() {
        let deep = format!(
            "{}x{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let e = parse(&deep).unwrap_err();
        assert_eq!((e.kind, e.pos), (ParseErrorKind::TooDeep, MAX_DEPTH));
        let ok = format!("{}x{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let long = vec!["x"; MAX_TOKENS / 2 + 1].join("+");
        assert_eq!(parse(&long).unwrap_err().kind, ParseErrorKind::TooLong);
        assert_eq!(parse("a +").unwrap_err().kind, ParseErrorKind::Syntax);
        // Signs fold: --x is x, ---x is -x.
        assert!(matches!(parse("--x").unwrap(), Ast::Name { .. }));
        match parse("- + -  -x").unwrap() {
            Ast::Neg(x) => assert!(matches!(*x, Ast::Name { .. })),
            e => panic!("{e:?}"),
        }
    }
}
