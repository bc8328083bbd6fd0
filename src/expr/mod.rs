//! Expressions: parse -> resolve names to indices -> bind parameter values and fold
//! constants -> build one IR -> lower it to the backend an engine runs.
//!
//! - [`tree`]: the resolved tree (`Expr`), the reference. It has a straightforward
//!   evaluator, a symbolic derivative ([`deriv`], exact Jacobians for stiff solvers)
//!   and a simplifier.
//! - [`ir`]: the one intermediate representation, a flat list of instructions over
//!   numbered slots built by one fusing builder ([`ir::Ir::build`]: common
//!   subexpressions, folded constants, Hill terms, `a*b + c`, constant powers). The
//!   meaning of every instruction is written once ([`ir::Op::eval`], over the
//!   floating-point types of [`real`]); a new backend walks [`ir::Ir::insts`].
//! - Backends: [`program::Program`], the scalar `f64` register program (ODE
//!   right-hand sides, Jacobian blocks, events, observables); [`native`], the same
//!   program as machine code (Cranelift), which the ODE engine runs for right-hand
//!   sides and Jacobians (measured: 2-3x faster per run, 23 % less CPU for a Rodas5P
//!   solve of the stiff loop benchmark, 44 % for Dopri5; compiled once per program
//!   shape per process, so sweeps do not pay it per parameter set; behind the
//!   default `native` cargo feature, without which programs are interpreted); and
//!   [`batch::BatchProgram`], uniform `f64` plus per-cell `f32` lanes (agent-based
//!   engine). Property tests (`tests/expr_backends.rs`) compare them all, and the IR
//!   interpreter, with the tree walker on random expressions.

pub mod ast;
pub mod batch;
pub mod deriv;
pub mod ir;
#[cfg(feature = "native")]
pub mod native;
#[cfg(not(feature = "native"))]
#[path = "native_off.rs"]
pub mod native;
pub mod parse;
pub mod program;
pub mod real;
pub mod resolve;
pub mod tree;

pub use ast::Ast;
pub use ir::{Inst, Ir, Op};
pub use parse::{parse, ParseError};
pub use program::Program;
pub use resolve::{resolve, resolve_forbidding, NameKind, ResolveError, Scope};
pub use tree::{Expr, Func, Var};
