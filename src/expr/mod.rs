//! Expressions: parse -> resolve names to indices -> bind parameter values and fold
//! constants -> compile to a flat register program evaluated on slices.
//!
//! The tree (`Expr`) is the reference: it has a straightforward evaluator, a symbolic
//! derivative (exact Jacobians for stiff solvers) and a simplifier. The hot path runs
//! the compiled [`program::Program`], which tests compare against the tree.

pub mod ast;
pub mod batch;
pub mod deriv;
pub mod parse;
pub mod program;
pub mod resolve;
pub mod tree;

pub use ast::Ast;
pub use parse::{parse, ParseError};
pub use program::Program;
pub use resolve::{resolve, resolve_forbidding, NameKind, ResolveError, Scope};
pub use tree::{Expr, Func, Var};
