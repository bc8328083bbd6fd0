//! Reading an SBML Level 2 or 3 document into plain structures (XML by `roxmltree`).
//!
//! Only the core elements that change a simulation are kept; anything that would
//! (algebraic rules, fast reactions, delays, packages) is refused here with its
//! line. Annotations, notes, unit definitions other than time, and constraints
//! (assertions that do not change a trajectory) are skipped.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::error::{At, SbmlError};
use super::math::{elements, line_of, Lambda, Math, Reader};
use crate::model::TimeUnit;

#[derive(Debug, Clone)]
pub struct Compartment {
    pub id: String,
    pub name: Option<String>,
    pub size: Option<f64>,
    pub dims: f64,
    pub constant: bool,
    pub units: Option<String>,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Species {
    pub id: String,
    pub name: Option<String>,
    pub compartment: String,
    pub initial_amount: Option<f64>,
    pub initial_concentration: Option<f64>,
    pub only_substance: bool,
    pub boundary: bool,
    pub constant: bool,
    pub conversion_factor: Option<String>,
    pub substance_units: Option<String>,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub id: String,
    pub name: Option<String>,
    pub value: Option<f64>,
    pub constant: bool,
    pub units: Option<String>,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct SpeciesRef {
    pub species: String,
    /// The id a Level 3 species reference may carry (its stoichiometry, in math).
    pub id: Option<String>,
    pub stoichiometry: f64,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Reaction {
    pub id: String,
    pub name: Option<String>,
    pub reactants: Vec<SpeciesRef>,
    pub products: Vec<SpeciesRef>,
    pub law: Option<Math>,
    /// Local parameters (id, value).
    pub locals: Vec<(String, f64)>,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Assignment,
    Rate,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: RuleKind,
    pub variable: String,
    pub math: Math,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub name: Option<String>,
    pub trigger: Math,
    pub initial_value: bool,
    pub persistent: bool,
    pub use_values_from_trigger_time: bool,
    pub priority: Option<Math>,
    pub assignments: Vec<(String, Math, u32)>,
    pub line: u32,
}

/// An SBML model as read.
#[derive(Debug, Clone)]
pub struct Sbml {
    pub file: String,
    pub level: u32,
    pub version: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub time_unit: TimeUnit,
    pub conversion_factor: Option<String>,
    pub functions: HashMap<String, Lambda>,
    pub compartments: Vec<Compartment>,
    pub species: Vec<Species>,
    pub parameters: Vec<Parameter>,
    /// (symbol, math, line)
    pub initial_assignments: Vec<(String, Math, u32)>,
    pub rules: Vec<Rule>,
    pub reactions: Vec<Reaction>,
    pub events: Vec<Event>,
    pub line: u32,
}

struct Cx<'a> {
    file: &'a str,
    level: u32,
}

impl Cx<'_> {
    fn at(&self, n: Node) -> At {
        At::new(
            self.file,
            line_of(n),
            n.tag_name().name(),
            n.attribute("id"),
        )
    }

    fn unsupported(&self, n: Node, what: impl Into<String>) -> SbmlError {
        SbmlError::Unsupported {
            at: self.at(n),
            what: what.into(),
        }
    }

    fn invalid(&self, n: Node, message: impl Into<String>) -> SbmlError {
        SbmlError::Invalid {
            at: self.at(n),
            message: message.into(),
        }
    }

    fn required<'n>(&self, n: Node<'n, '_>, attr: &str) -> Result<&'n str, SbmlError> {
        n.attribute(attr)
            .ok_or_else(|| self.invalid(n, format!("missing attribute `{attr}`")))
    }

    fn number(&self, n: Node, attr: &str) -> Result<Option<f64>, SbmlError> {
        match n.attribute(attr) {
            None => Ok(None),
            Some(s) => parse_double(s.trim())
                .map(Some)
                .ok_or_else(|| self.invalid(n, format!("`{attr}=\"{s}\"` is not a number"))),
        }
    }

    /// A boolean attribute; `default` where absent (Level 2 defaults; Level 3
    /// requires most of them but we read leniently).
    fn flag(&self, n: Node, attr: &str, default: bool) -> Result<bool, SbmlError> {
        match n.attribute(attr) {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(s) => Err(self.invalid(n, format!("`{attr}=\"{s}\"`: expected true or false"))),
        }
    }

    fn reader(&self, owner: String) -> Reader<'_> {
        Reader {
            file: self.file,
            owner,
        }
    }

    /// The `<math>` child of `n`, read.
    fn math_of(&self, n: Node, owner: String) -> Result<Option<Math>, SbmlError> {
        match child(n, "math") {
            None => Ok(None),
            Some(m) => self.reader(owner).math(m).map(Some),
        }
    }
}

/// XML Schema doubles: also `INF`, `-INF`, `NaN`.
fn parse_double(s: &str) -> Option<f64> {
    match s {
        "INF" | "inf" | "Infinity" => Some(f64::INFINITY),
        "-INF" | "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn child<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    elements(n).find(|c| c.tag_name().name() == tag)
}

fn children<'a, 'i>(n: Node<'a, 'i>, list: &str, item: &'static str) -> Vec<Node<'a, 'i>> {
    child(n, list)
        .map(|l| {
            elements(l)
                .filter(|c| c.tag_name().name() == item)
                .collect()
        })
        .unwrap_or_default()
}

fn name_of(n: Node) -> Option<String> {
    n.attribute("name").map(str::to_string)
}

/// Parse SBML text (`file` labels errors).
pub fn read(file: &str, text: &str) -> Result<Sbml, SbmlError> {
    let doc = Document::parse(text).map_err(|e| {
        // A truncated file ends mid-element: say where it ends.
        let p = match e {
            roxmltree::Error::UnexpectedEndOfStream => roxmltree::TextPos::new(
                text.lines().count().max(1) as u32,
                text.lines().last().map_or(0, |l| l.chars().count()) as u32 + 1,
            ),
            _ => e.pos(),
        };
        SbmlError::Xml {
            file: file.to_string(),
            line: p.row,
            column: p.col,
            message: e.to_string(),
        }
    })?;
    let root = doc.root_element();
    let bad = |n: Node, message: String| SbmlError::NotSbml {
        at: At::new(file, line_of(n), n.tag_name().name(), None),
        message,
    };
    if root.tag_name().name() != "sbml" {
        return Err(bad(root, "the root element is not <sbml>".into()));
    }
    let level: u32 = root
        .attribute("level")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(root, "missing or malformed `level`".into()))?;
    let version: u32 = root
        .attribute("version")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(root, "missing or malformed `version`".into()))?;
    if !(2..=3).contains(&level) {
        return Err(bad(
            root,
            format!("SBML Level {level} is not read (Levels 2 and 3 are)"),
        ));
    }
    let cx = Cx { file, level };
    // Packages that change the meaning of a model cannot be ignored.
    for a in root.attributes() {
        if a.name() == "required" && a.value() == "true" {
            return Err(cx.unsupported(
                root,
                format!(
                    "SBML package `{}` (required=\"true\")",
                    a.namespace().unwrap_or_default()
                ),
            ));
        }
    }
    let model = child(root, "model").ok_or_else(|| bad(root, "no <model>".into()))?;
    read_model(&cx, model, level, version)
}

fn read_model(cx: &Cx, model: Node, level: u32, version: u32) -> Result<Sbml, SbmlError> {
    const KNOWN: &[&str] = &[
        "notes",
        "annotation",
        "listOfFunctionDefinitions",
        "listOfUnitDefinitions",
        "listOfCompartmentTypes",
        "listOfSpeciesTypes",
        "listOfCompartments",
        "listOfSpecies",
        "listOfParameters",
        "listOfInitialAssignments",
        "listOfRules",
        "listOfConstraints",
        "listOfReactions",
        "listOfEvents",
    ];
    for k in elements(model) {
        if !KNOWN.contains(&k.tag_name().name()) {
            return Err(cx.unsupported(
                k,
                format!(
                    "<{}> (an SBML package or unknown element)",
                    k.tag_name().name()
                ),
            ));
        }
    }
    let mut functions = HashMap::new();
    for f in children(model, "listOfFunctionDefinitions", "functionDefinition") {
        let id = cx.required(f, "id")?.to_string();
        // Level 3 Version 2 allows a definition without math; calling it is an
        // error, defining it is not.
        if let Some(m) = child(f, "math") {
            let lambda = cx.reader(format!("function definition `{id}`")).lambda(m)?;
            functions.insert(id, lambda);
        }
    }
    let time_unit = time_unit(cx, model)?;

    let mut compartments = Vec::new();
    for c in children(model, "listOfCompartments", "compartment") {
        compartments.push(Compartment {
            id: cx.required(c, "id")?.to_string(),
            name: name_of(c),
            size: match cx.number(c, "size")? {
                Some(v) => Some(v),
                None => cx.number(c, "volume")?,
            },
            dims: cx.number(c, "spatialDimensions")?.unwrap_or(3.0),
            constant: cx.flag(c, "constant", true)?,
            units: c.attribute("units").map(str::to_string),
            line: line_of(c),
        });
    }
    let mut species = Vec::new();
    for s in children(model, "listOfSpecies", "species") {
        species.push(Species {
            id: cx.required(s, "id")?.to_string(),
            name: name_of(s),
            compartment: cx.required(s, "compartment")?.to_string(),
            initial_amount: cx.number(s, "initialAmount")?,
            initial_concentration: cx.number(s, "initialConcentration")?,
            only_substance: cx.flag(s, "hasOnlySubstanceUnits", false)?,
            boundary: cx.flag(s, "boundaryCondition", false)?,
            constant: cx.flag(s, "constant", false)?,
            conversion_factor: s.attribute("conversionFactor").map(str::to_string),
            substance_units: s.attribute("substanceUnits").map(str::to_string),
            line: line_of(s),
        });
    }
    let mut parameters = Vec::new();
    for p in children(model, "listOfParameters", "parameter") {
        parameters.push(Parameter {
            id: cx.required(p, "id")?.to_string(),
            name: name_of(p),
            value: cx.number(p, "value")?,
            constant: cx.flag(p, "constant", true)?,
            units: p.attribute("units").map(str::to_string),
            line: line_of(p),
        });
    }
    let mut initial_assignments = Vec::new();
    for ia in children(model, "listOfInitialAssignments", "initialAssignment") {
        let sym = cx.required(ia, "symbol")?.to_string();
        if let Some(m) = cx.math_of(ia, format!("initial assignment to `{sym}`"))? {
            initial_assignments.push((sym, m, line_of(ia)));
        }
    }
    let mut rules = Vec::new();
    if let Some(list) = child(model, "listOfRules") {
        for r in elements(list) {
            let tag = r.tag_name().name();
            let kind = match tag {
                "assignmentRule" => RuleKind::Assignment,
                "rateRule" => RuleKind::Rate,
                "algebraicRule" => {
                    return Err(
                        cx.unsupported(r, "algebraic rules (differential-algebraic equations)")
                    )
                }
                // Level 1 style names some Level 2 files still use.
                other => return Err(cx.unsupported(r, format!("rule <{other}>"))),
            };
            let variable = cx.required(r, "variable")?.to_string();
            if let Some(math) = cx.math_of(r, format!("{tag} for `{variable}`"))? {
                rules.push(Rule {
                    kind,
                    variable,
                    math,
                    line: line_of(r),
                });
            }
        }
    }
    let mut reactions = Vec::new();
    for r in children(model, "listOfReactions", "reaction") {
        let id = cx.required(r, "id")?.to_string();
        if cx.flag(r, "fast", false)? {
            return Err(cx.unsupported(r, "fast reactions (an algebraic quasi-steady state)"));
        }
        let refs = |list: &str| -> Result<Vec<SpeciesRef>, SbmlError> {
            children(r, list, "speciesReference")
                .into_iter()
                .map(|sr| {
                    if let Some(sm) = child(sr, "stoichiometryMath") {
                        return Err(cx.unsupported(
                            sm,
                            "<stoichiometryMath> (stoichiometry that changes in time)",
                        ));
                    }
                    Ok(SpeciesRef {
                        species: cx.required(sr, "species")?.to_string(),
                        id: sr.attribute("id").map(str::to_string),
                        // Level 3 leaves a missing stoichiometry undefined unless an
                        // initial assignment or rule sets it (then the id is used).
                        stoichiometry: cx.number(sr, "stoichiometry")?.unwrap_or(
                            if cx.level >= 3 && sr.attribute("id").is_some() {
                                f64::NAN
                            } else {
                                1.0
                            },
                        ),
                        line: line_of(sr),
                    })
                })
                .collect()
        };
        let reactants = refs("listOfReactants")?;
        let products = refs("listOfProducts")?;
        let (law, locals) = match child(r, "kineticLaw") {
            None => (None, Vec::new()),
            Some(kl) => {
                let law = cx.math_of(kl, format!("kinetic law of reaction `{id}`"))?;
                let mut locals = Vec::new();
                for list in ["listOfLocalParameters", "listOfParameters"] {
                    for item in ["localParameter", "parameter"] {
                        for p in children(kl, list, item) {
                            let pid = cx.required(p, "id")?.to_string();
                            let v = cx.number(p, "value")?.ok_or_else(|| {
                                cx.invalid(p, format!("local parameter `{pid}` has no value"))
                            })?;
                            locals.push((pid, v));
                        }
                    }
                }
                (law, locals)
            }
        };
        reactions.push(Reaction {
            id,
            name: name_of(r),
            reactants,
            products,
            law,
            locals,
            line: line_of(r),
        });
    }
    let mut events = Vec::new();
    for e in children(model, "listOfEvents", "event") {
        let label = match e.attribute("id") {
            Some(id) => format!("event `{id}`"),
            None => format!("the event on line {}", line_of(e)),
        };
        if let Some(d) = child(e, "delay") {
            return Err(cx.unsupported(d, format!("event delays ({label})")));
        }
        // Level 3 Version 2: an event without a trigger (or trigger math) never
        // fires, so it changes nothing.
        let Some(trig) = child(e, "trigger") else {
            continue;
        };
        let Some(trigger) = cx.math_of(trig, format!("trigger of {label}"))? else {
            continue;
        };
        let priority = match child(e, "priority") {
            Some(p) => cx.math_of(p, format!("priority of {label}"))?,
            None => None,
        };
        let mut assignments = Vec::new();
        for a in children(e, "listOfEventAssignments", "eventAssignment") {
            let var = cx.required(a, "variable")?.to_string();
            if let Some(m) = cx.math_of(a, format!("assignment to `{var}` in {label}"))? {
                assignments.push((var, m, line_of(a)));
            }
        }
        events.push(Event {
            id: e.attribute("id").map(str::to_string),
            name: name_of(e),
            trigger,
            initial_value: cx.flag(trig, "initialValue", true)?,
            persistent: cx.flag(trig, "persistent", true)?,
            use_values_from_trigger_time: cx.flag(e, "useValuesFromTriggerTime", true)?,
            priority,
            assignments,
            line: line_of(e),
        });
    }
    Ok(Sbml {
        file: cx.file.to_string(),
        level,
        version,
        id: model.attribute("id").map(str::to_string),
        name: name_of(model),
        time_unit,
        conversion_factor: model.attribute("conversionFactor").map(str::to_string),
        functions,
        compartments,
        species,
        parameters,
        initial_assignments,
        rules,
        reactions,
        events,
        line: line_of(model),
    })
}

/// The model's time unit: Level 3 `timeUnits`, or a Level 2 redefinition of `time`;
/// seconds otherwise (SBML's default). resloop keeps the numbers as they are; the
/// unit only converts `--days` on the command line.
fn time_unit(cx: &Cx, model: Node) -> Result<TimeUnit, SbmlError> {
    let id = match model.attribute("timeUnits") {
        Some(u) => u.to_string(),
        None => "time".to_string(),
    };
    match id.as_str() {
        "second" => return Ok(TimeUnit::Seconds),
        "dimensionless" => return Ok(TimeUnit::Seconds),
        _ => {}
    }
    let Some(def) = children(model, "listOfUnitDefinitions", "unitDefinition")
        .into_iter()
        .find(|d| d.attribute("id") == Some(id.as_str()))
    else {
        return Ok(TimeUnit::Seconds);
    };
    let units = children(def, "listOfUnits", "unit");
    let [u] = units.as_slice() else {
        return Err(cx.unsupported(
            def,
            format!("time unit `{id}` made of {} units", units.len()),
        ));
    };
    let kind = u.attribute("kind").unwrap_or_default();
    let mult = cx.number(*u, "multiplier")?.unwrap_or(1.0);
    let scale = cx.number(*u, "scale")?.unwrap_or(0.0);
    let exp = cx.number(*u, "exponent")?.unwrap_or(1.0);
    if exp != 1.0 || !matches!(kind, "second" | "dimensionless") {
        return Err(cx.unsupported(*u, format!("time unit `{id}` ({kind}^{exp})")));
    }
    if kind == "dimensionless" {
        return Ok(TimeUnit::Seconds);
    }
    let seconds = mult * 10f64.powf(scale);
    [
        (1.0, TimeUnit::Seconds),
        (60.0, TimeUnit::Minutes),
        (3600.0, TimeUnit::Hours),
        (86400.0, TimeUnit::Days),
    ]
    .into_iter()
    .find(|(s, _)| (seconds - s).abs() <= 1e-9 * s)
    .map(|(_, u)| u)
    .ok_or_else(|| {
        cx.unsupported(
            *u,
            format!(
                "time unit `{id}` of {seconds} s (resloop has seconds, minutes, hours and days)"
            ),
        )
    })
}
