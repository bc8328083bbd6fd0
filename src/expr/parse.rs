//! Recursive-descent parser for rate expressions.
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr   := term (('+' | '-') term)*
//! term   := unary (('*' | '/') unary)*
//! unary  := '-' unary | '+' unary | power
//! power  := atom ('^' unary)?          (right-associative; -x^2 = -(x^2))
//! atom   := number | name | name '(' args ')' | '(' expr ')'
//! ```
//! Numbers accept exponents (`1.5e-3`). Names are `[A-Za-z_][A-Za-z0-9_.]*`.

use super::ast::{Ast, BinOp};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Byte offset in the expression text.
    pub pos: usize,
    pub message: String,
}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
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

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
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

    fn expr(&mut self) -> Result<Ast, ParseError> {
        let mut lhs = self.term()?;
        while let Tok::Op(c @ ('+' | '-')) = *self.peek() {
            self.bump();
            let rhs = self.term()?;
            let op = if c == '+' { BinOp::Add } else { BinOp::Sub };
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Ast, ParseError> {
        let mut lhs = self.unary()?;
        while let Tok::Op(c @ ('*' | '/')) = *self.peek() {
            self.bump();
            let rhs = self.unary()?;
            let op = if c == '*' { BinOp::Mul } else { BinOp::Div };
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Ast, ParseError> {
        match self.peek() {
            Tok::Op('-') => {
                self.bump();
                Ok(Ast::Neg(Box::new(self.unary()?)))
            }
            Tok::Op('+') => {
                self.bump();
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Ast, ParseError> {
        let base = self.atom()?;
        if let Tok::Op('^') = self.peek() {
            self.bump();
            let exp = self.unary()?;
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
                    Ok(Ast::Call { name, pos, args })
                } else {
                    Ok(Ast::Name { name, pos })
                }
            }
            Tok::LParen => {
                let e = self.expr()?;
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
        }
    }
}

/// Parse an expression. Errors carry the byte offset of the offending token.
pub fn parse(src: &str) -> Result<Ast, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser { toks, i: 0 };
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
}
