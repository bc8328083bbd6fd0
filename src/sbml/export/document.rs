//! The SBML document being written, as plain data: every quantity one [`Symbol`]
//! (an SBML species or parameter), rules, initial assignments and events over
//! those symbols.
//!
//! Math in the document is an [`Expr`] whose only variables are time and symbols:
//! `Var::Param(k)` reads symbol `k` of [`Document::symbols`]. Building the document
//! translates every model expression into this form once (see `build`), so one
//! MathML writer serves the loop, the population, the drugs and the doses.

use crate::expr::{Expr, Var};

/// An SBML quantity.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// SBML id (an SId, unique in the document).
    pub id: String,
    /// SBML `name`: what it is, in words.
    pub name: String,
    pub kind: Kind,
    /// Id of its unit (a unit definition of the document or an SBML base unit).
    pub units: Option<String>,
    /// Paragraphs of its `<notes>`.
    pub notes: Vec<String>,
    /// Attributes of its `<resloop:quantity>` annotation (what it is in resloop).
    pub info: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A species in the document's one compartment (size 1) with
    /// `hasOnlySubstanceUnits`, so its id means its value.
    Species { initial: f64 },
    /// A parameter; `value` is `None` where a rule sets it.
    Parameter { value: Option<f64>, constant: bool },
}

/// One unit definition: the product of `(kind, exponent, scale, multiplier)`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitDef {
    pub id: String,
    pub units: Vec<(&'static str, f64, i32, f64)>,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub name: String,
    pub trigger: Expr,
    pub delay: Option<Expr>,
    pub priority: Option<Expr>,
    pub initial_value: bool,
    pub persistent: bool,
    pub use_values_from_trigger_time: bool,
    /// (symbol, new value)
    pub assignments: Vec<(usize, Expr)>,
    pub notes: Vec<String>,
    pub info: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Document {
    pub id: String,
    pub name: String,
    /// Id of the time unit (`second` or a unit definition of the document).
    pub time_unit: String,
    pub compartment: String,
    pub notes: Vec<String>,
    pub info: Vec<(&'static str, String)>,
    pub unit_defs: Vec<UnitDef>,
    pub symbols: Vec<Symbol>,
    pub initial_assignments: Vec<(usize, Expr)>,
    pub assignment_rules: Vec<(usize, Expr)>,
    pub rate_rules: Vec<(usize, Expr)>,
    pub events: Vec<Event>,
}

impl Document {
    /// The math reading symbol `k`.
    pub fn read(k: usize) -> Expr {
        Expr::var(Var::Param(k))
    }

    /// Add a symbol; returns its index.
    pub fn add(&mut self, s: Symbol) -> usize {
        self.symbols.push(s);
        self.symbols.len() - 1
    }

    /// Use unit definition `u` (added once), returning its id.
    pub fn unit(&mut self, u: UnitDef) -> String {
        let id = u.id.clone();
        if !self.unit_defs.iter().any(|d| d.id == id) {
            self.unit_defs.push(u);
        }
        id
    }
}
