//! The document as SBML Level 3 Version 2 core text, math as MathML.
//!
//! Written by hand rather than through an XML crate: the output is a fixed
//! shape of elements whose only free text (names, notes) goes through
//! [`escape`], and the importer (`roxmltree`) reads every file back in the tests.

use std::fmt::Write as _;

use super::document::{Document, Event, Kind, Symbol};
use crate::expr::{Expr, Func, Var};

/// Namespace of the `<resloop:...>` annotations (what each quantity is in resloop).
pub const ANNOTATION_NS: &str = "urn:resloop:sbml-export:1";
const MATHML: &str = r#"<math xmlns="http://www.w3.org/1998/Math/MathML">"#;

pub fn write(d: &Document) -> String {
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">"#
    );
    let _ = writeln!(
        x,
        r#"  <model id="{}" name="{}" timeUnits="{}">"#,
        d.id,
        escape(&d.name),
        d.time_unit
    );
    notes(&mut x, "    ", &d.notes);
    annotation(&mut x, "    ", "model", &d.info);
    let _ = writeln!(x, "    <listOfUnitDefinitions>");
    for u in &d.unit_defs {
        let _ = write!(x, r#"      <unitDefinition id="{}"><listOfUnits>"#, u.id);
        for (kind, exponent, scale, multiplier) in &u.units {
            let _ = write!(
                x,
                r#"<unit kind="{kind}" exponent="{exponent:?}" scale="{scale}" multiplier="{multiplier:?}"/>"#
            );
        }
        let _ = writeln!(x, "</listOfUnits></unitDefinition>");
    }
    let _ = writeln!(x, "    </listOfUnitDefinitions>");
    let _ = writeln!(x, "    <listOfCompartments>");
    let _ = writeln!(
        x,
        r#"      <compartment id="{}" spatialDimensions="3" size="1" constant="true"/>"#,
        d.compartment
    );
    let _ = writeln!(x, "    </listOfCompartments>");
    let species: Vec<&Symbol> = d
        .symbols
        .iter()
        .filter(|s| matches!(s.kind, Kind::Species { .. }))
        .collect();
    if !species.is_empty() {
        let _ = writeln!(x, "    <listOfSpecies>");
        for s in species {
            let Kind::Species { initial } = s.kind else {
                continue;
            };
            let _ = write!(
                x,
                r#"      <species id="{}" name="{}" compartment="{}" initialAmount="{initial:?}"{} hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false""#,
                s.id,
                escape(&s.name),
                d.compartment,
                units_attr("substanceUnits", s)
            );
            element_body(&mut x, "species", s);
        }
        let _ = writeln!(x, "    </listOfSpecies>");
    }
    let params: Vec<&Symbol> = d
        .symbols
        .iter()
        .filter(|s| matches!(s.kind, Kind::Parameter { .. }))
        .collect();
    if !params.is_empty() {
        let _ = writeln!(x, "    <listOfParameters>");
        for s in params {
            let Kind::Parameter { value, constant } = s.kind else {
                continue;
            };
            let value = value.map_or(String::new(), |v| format!(r#" value="{v:?}""#));
            let _ = write!(
                x,
                r#"      <parameter id="{}" name="{}"{value}{} constant="{constant}""#,
                s.id,
                escape(&s.name),
                units_attr("units", s)
            );
            element_body(&mut x, "parameter", s);
        }
        let _ = writeln!(x, "    </listOfParameters>");
    }
    let w = MathWriter { d };
    if !d.initial_assignments.is_empty() {
        let _ = writeln!(x, "    <listOfInitialAssignments>");
        for (k, e) in &d.initial_assignments {
            let _ = writeln!(
                x,
                r#"      <initialAssignment symbol="{}">{}</initialAssignment>"#,
                d.symbols[*k].id,
                w.math(e)
            );
        }
        let _ = writeln!(x, "    </listOfInitialAssignments>");
    }
    if !d.assignment_rules.is_empty() || !d.rate_rules.is_empty() {
        let _ = writeln!(x, "    <listOfRules>");
        for (k, e) in &d.assignment_rules {
            let _ = writeln!(
                x,
                r#"      <assignmentRule variable="{}">{}</assignmentRule>"#,
                d.symbols[*k].id,
                w.math(e)
            );
        }
        for (k, e) in &d.rate_rules {
            let _ = writeln!(
                x,
                r#"      <rateRule variable="{}">{}</rateRule>"#,
                d.symbols[*k].id,
                w.math(e)
            );
        }
        let _ = writeln!(x, "    </listOfRules>");
    }
    if !d.events.is_empty() {
        let _ = writeln!(x, "    <listOfEvents>");
        for e in &d.events {
            event(&mut x, &w, e);
        }
        let _ = writeln!(x, "    </listOfEvents>");
    }
    let _ = writeln!(x, "  </model>");
    let _ = writeln!(x, "</sbml>");
    x
}

fn event(x: &mut String, w: &MathWriter, e: &Event) {
    let name = match e.name.is_empty() {
        true => String::new(),
        false => format!(r#" name="{}""#, escape(&e.name)),
    };
    let _ = writeln!(
        x,
        r#"      <event id="{}"{name} useValuesFromTriggerTime="{}">"#,
        e.id, e.use_values_from_trigger_time
    );
    notes(x, "        ", &e.notes);
    annotation(x, "        ", "event", &e.info);
    let _ = writeln!(
        x,
        r#"        <trigger initialValue="{}" persistent="{}">{}</trigger>"#,
        e.initial_value,
        e.persistent,
        w.trigger(&e.trigger)
    );
    if let Some(d) = &e.delay {
        let _ = writeln!(x, "        <delay>{}</delay>", w.math(d));
    }
    if let Some(p) = &e.priority {
        let _ = writeln!(x, "        <priority>{}</priority>", w.math(p));
    }
    let _ = writeln!(x, "        <listOfEventAssignments>");
    for (k, v) in &e.assignments {
        let _ = writeln!(
            x,
            r#"          <eventAssignment variable="{}">{}</eventAssignment>"#,
            w.d.symbols[*k].id,
            w.math(v)
        );
    }
    let _ = writeln!(x, "        </listOfEventAssignments>");
    let _ = writeln!(x, "      </event>");
}

fn units_attr(attr: &str, s: &Symbol) -> String {
    s.units
        .as_ref()
        .map_or(String::new(), |u| format!(r#" {attr}="{u}""#))
}

/// Close the start tag of a species or parameter and write its notes and
/// annotation (or close it empty).
fn element_body(x: &mut String, tag: &str, s: &Symbol) {
    if s.notes.is_empty() && s.info.is_empty() {
        x.push_str("/>\n");
        return;
    }
    x.push_str(">\n");
    notes(x, "        ", &s.notes);
    annotation(x, "        ", "quantity", &s.info);
    let _ = writeln!(x, "      </{tag}>");
}

fn notes(x: &mut String, indent: &str, paragraphs: &[String]) {
    if paragraphs.is_empty() {
        return;
    }
    let _ = write!(
        x,
        r#"{indent}<notes><body xmlns="http://www.w3.org/1999/xhtml">"#
    );
    for p in paragraphs {
        let _ = write!(x, "<p>{}</p>", escape(p));
    }
    let _ = writeln!(x, "</body></notes>");
}

fn annotation(x: &mut String, indent: &str, tag: &str, info: &[(&'static str, String)]) {
    if info.is_empty() {
        return;
    }
    let _ = write!(
        x,
        r#"{indent}<annotation><resloop:{tag} xmlns:resloop="{ANNOTATION_NS}""#
    );
    for (k, v) in info {
        let _ = write!(x, r#" resloop:{k}="{}""#, escape(v));
    }
    let _ = writeln!(x, "/></annotation>");
}

/// XML text and attribute escaping.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct MathWriter<'a> {
    d: &'a Document,
}

impl MathWriter<'_> {
    fn math(&self, e: &Expr) -> String {
        let mut s = String::from(MATHML);
        self.node(e, &mut s);
        s.push_str("</math>");
        s
    }

    /// The math of a trigger: a boolean.
    fn trigger(&self, e: &Expr) -> String {
        let mut s = String::from(MATHML);
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
            Expr::Var(Var::Time) => s.push_str(
                r#"<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">time</csymbol>"#,
            ),
            // The document's math reads symbols only (see `document`).
            Expr::Var(Var::Param(k)) => {
                let _ = write!(s, "<ci>{}</ci>", self.d.symbols[*k].id);
            }
            Expr::Var(_) => unreachable!("document math reads symbols and time only"),
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
