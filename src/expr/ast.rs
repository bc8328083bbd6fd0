//! The parsed, unresolved expression: names are still strings, each with its byte
//! offset in the expression text so errors can point at it.

/// Binary operators, in the usual precedence classes (`||` < `&&` < comparisons <
/// `+ -` < `* /` < `^`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Num(f64),
    /// A name: species, parameter, drug, effect, observable or `t`.
    Name {
        name: String,
        pos: usize,
    },
    Neg(Box<Ast>),
    Bin(BinOp, Box<Ast>, Box<Ast>),
    Call {
        name: String,
        pos: usize,
        args: Vec<Ast>,
    },
}

impl Ast {
    /// Every name (with its position) the expression refers to, in order of appearance.
    pub fn names(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names<'a>(&'a self, out: &mut Vec<(&'a str, usize)>) {
        match self {
            Ast::Num(_) => {}
            Ast::Name { name, pos } => out.push((name, *pos)),
            Ast::Neg(a) => a.collect_names(out),
            Ast::Bin(_, a, b) => {
                a.collect_names(out);
                b.collect_names(out);
            }
            Ast::Call { args, .. } => args.iter().for_each(|a| a.collect_names(out)),
        }
    }
}
