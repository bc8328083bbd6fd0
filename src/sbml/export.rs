//! SBML export: a plain ODE model (no `[fate]`, drugs or genotypes) as SBML Level 3
//! Version 2 core, for libRoadRunner, COPASI and tellurium.
//!
//! Each resloop species is an SBML species with `hasOnlySubstanceUnits="true"` in a
//! compartment of size 1 (so its id means its value, as in resloop) and a rate rule;
//! each parameter a constant parameter; each observable a parameter set by an
//! assignment rule; each event an event with the same trigger, assignments,
//! priority, persistence, initial value and choice of values. Expressions are
//! written from the resolved tree (so `hill` appears expanded); `if` becomes
//! `piecewise`. Importing the file gives back the same model and trajectory.

use std::fmt::Write as _;

use crate::compile::CompiledModel;
use crate::expr::{Expr, Func, Var};
use crate::model::TimeUnit;

/// Why a model cannot be exported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error("`{model}` has {what}, which export does not write yet (it writes plain ODE models: species, parameters, observables and events)")]
    NotPlain { model: String, what: &'static str },
    #[error(
        "`{name}` is not a valid SBML id (letters, digits and `_`, not starting with a digit)"
    )]
    BadId { name: String },
}

/// The model as SBML L3V2 text.
pub fn export(m: &CompiledModel) -> Result<String, ExportError> {
    let not_plain = |what| ExportError::NotPlain {
        model: m.meta.name.clone(),
        what,
    };
    if m.has_cells {
        return Err(not_plain("a fate map (cells)"));
    }
    if !m.drugs.is_empty() {
        return Err(not_plain("drugs"));
    }
    if m.genotypes.len() > 1 {
        return Err(not_plain("genotypes"));
    }
    let names = m
        .species
        .iter()
        .map(|s| &s.name)
        .chain(m.params.iter().map(|p| &p.name))
        .chain(m.observables.iter().map(|o| &o.name))
        .chain(m.events.iter().map(|e| &e.name))
        .chain(std::iter::once(&m.meta.name));
    let mut taken = std::collections::HashSet::new();
    for n in names {
        if !is_sid(n) {
            return Err(ExportError::BadId { name: n.clone() });
        }
        taken.insert(n.as_str());
    }
    // The one compartment every species lives in, under a name nothing else has.
    let mut compartment = "default_compartment".to_string();
    while taken.contains(compartment.as_str()) {
        compartment.push('_');
    }
    let compartment = compartment.as_str();
    let w = Writer { m };
    let mut x = String::new();
    let (mult, unit_id) = match m.meta.time_unit {
        TimeUnit::Seconds => (1.0, "second"),
        TimeUnit::Minutes => (60.0, "minute"),
        TimeUnit::Hours => (3600.0, "hour"),
        TimeUnit::Days => (86400.0, "day"),
    };
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<!-- Exported by resloop from {} -->"#,
        escape(&m.meta.path).replace("--", "- -")
    );
    let _ = writeln!(
        x,
        r#"<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">"#
    );
    let _ = writeln!(
        x,
        r#"  <model id="{}" name="{}" timeUnits="{unit_id}">"#,
        m.meta.name,
        escape(&m.meta.title)
    );
    let _ = writeln!(x, "    <listOfUnitDefinitions>");
    let _ = writeln!(
        x,
        r#"      <unitDefinition id="{unit_id}"><listOfUnits><unit kind="second" exponent="1" scale="0" multiplier="{mult}"/></listOfUnits></unitDefinition>"#
    );
    let _ = writeln!(x, "    </listOfUnitDefinitions>");
    let _ = writeln!(x, "    <listOfCompartments>");
    let _ = writeln!(
        x,
        r#"      <compartment id="{compartment}" spatialDimensions="3" size="1" constant="true"/>"#
    );
    let _ = writeln!(x, "    </listOfCompartments>");
    if !m.species.is_empty() {
        let _ = writeln!(x, "    <listOfSpecies>");
        for s in &m.species {
            let _ = writeln!(
                x,
                r#"      <species id="{}" name="{}" compartment="{compartment}" initialAmount="{:?}" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>"#,
                s.name,
                escape(&s.description),
                s.initial
            );
        }
        let _ = writeln!(x, "    </listOfSpecies>");
    }
    if !m.params.is_empty() || !m.observables.is_empty() {
        let _ = writeln!(x, "    <listOfParameters>");
        for p in &m.params {
            let _ = writeln!(
                x,
                r#"      <parameter id="{}" value="{:?}" constant="true"/>"#,
                p.name, p.value
            );
        }
        for o in &m.observables {
            let _ = writeln!(
                x,
                r#"      <parameter id="{}" name="{}" constant="false"/>"#,
                o.name,
                escape(&o.description)
            );
        }
        let _ = writeln!(x, "    </listOfParameters>");
    }
    if !m.species.is_empty() || !m.observables.is_empty() {
        let _ = writeln!(x, "    <listOfRules>");
        for o in &m.observables {
            let _ = writeln!(
                x,
                r#"      <assignmentRule variable="{}">{}</assignmentRule>"#,
                o.name,
                w.math(&o.expr)
            );
        }
        for s in &m.species {
            let _ = writeln!(
                x,
                r#"      <rateRule variable="{}">{}</rateRule>"#,
                s.name,
                w.math(&s.rate)
            );
        }
        let _ = writeln!(x, "    </listOfRules>");
    }
    if !m.events.is_empty() {
        let _ = writeln!(x, "    <listOfEvents>");
        for e in &m.events {
            let _ = writeln!(
                x,
                r#"      <event id="{}" useValuesFromTriggerTime="{}">"#,
                e.name, e.use_values_from_trigger_time
            );
            let _ = writeln!(
                x,
                r#"        <trigger initialValue="{}" persistent="{}">{}</trigger>"#,
                e.initial_value,
                e.persistent,
                w.trigger(&e.trigger)
            );
            if let Some(p) = &e.priority {
                let _ = writeln!(x, "        <priority>{}</priority>", w.math(p));
            }
            let _ = writeln!(x, "        <listOfEventAssignments>");
            for (i, v) in &e.assignments {
                let _ = writeln!(
                    x,
                    r#"          <eventAssignment variable="{}">{}</eventAssignment>"#,
                    m.species[*i].name,
                    w.math(v)
                );
            }
            let _ = writeln!(x, "        </listOfEventAssignments>");
            let _ = writeln!(x, "      </event>");
        }
        let _ = writeln!(x, "    </listOfEvents>");
    }
    let _ = writeln!(x, "  </model>");
    let _ = writeln!(x, "</sbml>");
    Ok(x)
}

/// SBML SId: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_sid(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Writer<'a> {
    m: &'a CompiledModel,
}

impl Writer<'_> {
    fn math(&self, e: &Expr) -> String {
        let mut s = String::from(r#"<math xmlns="http://www.w3.org/1998/Math/MathML">"#);
        self.node(e, &mut s);
        s.push_str("</math>");
        s
    }

    /// The math of a trigger: a boolean.
    fn trigger(&self, e: &Expr) -> String {
        let mut s = String::from(r#"<math xmlns="http://www.w3.org/1998/Math/MathML">"#);
        self.cond(e, &mut s);
        s.push_str("</math>");
        s
    }

    /// `e` where MathML wants a boolean: comparisons and logical functions as they
    /// are (their operands in the matching context), any other expression `e != 0`.
    fn cond(&self, e: &Expr, s: &mut String) {
        match e {
            Expr::F1(Func::Not, a) => {
                s.push_str("<apply><not/>");
                self.cond(a, s);
                s.push_str("</apply>");
            }
            Expr::F2(f @ (Func::And | Func::Or | Func::Xor), a, b) => {
                let _ = write!(s, "<apply><{}/>", mathml_name(*f));
                self.cond(a, s);
                self.cond(b, s);
                s.push_str("</apply>");
            }
            Expr::F2(f, a, b) if f.is_condition() => {
                let _ = write!(s, "<apply><{}/>", mathml_name(*f));
                self.node(a, s);
                self.node(b, s);
                s.push_str("</apply>");
            }
            _ => {
                s.push_str("<apply><neq/>");
                self.node(e, s);
                s.push_str("<cn>0</cn></apply>");
            }
        }
    }

    fn node(&self, e: &Expr, s: &mut String) {
        let apply = |op: &str, args: &[&Expr], s: &mut String| {
            let _ = write!(s, "<apply><{op}/>");
            for a in args {
                self.node(a, s);
            }
            s.push_str("</apply>");
        };
        match e {
            Expr::Const(v) if v.is_nan() => s.push_str("<notanumber/>"),
            Expr::Const(v) if v.is_infinite() && *v > 0.0 => s.push_str("<infinity/>"),
            Expr::Const(v) if v.is_infinite() => s.push_str("<apply><minus/><infinity/></apply>"),
            Expr::Const(v) => {
                let _ = write!(s, "<cn>{v:?}</cn>");
            }
            Expr::Var(v) => match v {
                Var::Time => s.push_str(
                    r#"<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">time</csymbol>"#,
                ),
                Var::Species(i) => {
                    let _ = write!(s, "<ci>{}</ci>", self.m.species[*i].name);
                }
                Var::Param(i) => {
                    let _ = write!(s, "<ci>{}</ci>", self.m.params[*i].name);
                }
                Var::Observable(i) => {
                    let _ = write!(s, "<ci>{}</ci>", self.m.observables[*i].name);
                }
                // Refused before writing (no drugs).
                Var::Drug(_) | Var::Effect(_) => s.push_str("<notanumber/>"),
            },
            Expr::Neg(a) => apply("minus", &[a], s),
            Expr::Add(a, b) => apply("plus", &[a, b], s),
            Expr::Sub(a, b) => apply("minus", &[a, b], s),
            Expr::Mul(a, b) => apply("times", &[a, b], s),
            Expr::Div(a, b) => apply("divide", &[a, b], s),
            Expr::Pow(a, b) => apply("power", &[a, b], s),
            Expr::If(c, a, b) => {
                s.push_str("<piecewise><piece>");
                self.node(a, s);
                self.cond(c, s);
                s.push_str("</piece><otherwise>");
                self.node(b, s);
                s.push_str("</otherwise></piecewise>");
            }
            Expr::F1(Func::Log10, a) => {
                s.push_str("<apply><log/><logbase><cn>10</cn></logbase>");
                self.node(a, s);
                s.push_str("</apply>");
            }
            // step(a) = 1 where a >= 0.
            Expr::F1(Func::Step, a) => {
                let c = Expr::f2(Func::Ge, (**a).clone(), Expr::c(0.0));
                self.node(&Expr::if_(c, Expr::c(1.0), Expr::c(0.0)), s);
            }
            // A truth value as a number, as resloop means it.
            Expr::F1(f, _) | Expr::F2(f, _, _) if f.is_condition() => {
                s.push_str("<piecewise><piece><cn>1</cn>");
                self.cond(e, s);
                s.push_str("</piece><otherwise><cn>0</cn></otherwise></piecewise>");
            }
            Expr::F1(f, a) => apply(mathml_name(*f), &[a], s),
            Expr::F2(f, a, b) => apply(mathml_name(*f), &[a, b], s),
        }
    }
}

/// The MathML element of a resloop function.
fn mathml_name(f: Func) -> &'static str {
    match f {
        Func::Exp => "exp",
        Func::Ln => "ln",
        Func::Log10 => "log",
        Func::Sqrt => "root",
        Func::Abs => "abs",
        Func::Min => "min",
        Func::Max => "max",
        Func::Floor => "floor",
        Func::Ceil => "ceiling",
        Func::Sin => "sin",
        Func::Cos => "cos",
        Func::Tan => "tan",
        Func::Asin => "arcsin",
        Func::Acos => "arccos",
        Func::Atan => "arctan",
        Func::Sinh => "sinh",
        Func::Cosh => "cosh",
        Func::Tanh => "tanh",
        Func::Asinh => "arcsinh",
        Func::Acosh => "arccosh",
        Func::Atanh => "arctanh",
        Func::Not => "not",
        Func::Lt => "lt",
        Func::Le => "leq",
        Func::Gt => "gt",
        Func::Ge => "geq",
        Func::Eq => "eq",
        Func::Ne => "neq",
        Func::And => "and",
        Func::Or => "or",
        Func::Xor => "xor",
        Func::Rem => "rem",
        Func::Step => "piecewise",
    }
}
