//! From a read SBML model to a resloop model file (TOML text).
//!
//! How SBML's meaning maps onto resloop's (each choice keeps the trajectory):
//!
//! - Every quantity keeps its SBML id as its resloop name (ids that are resloop
//!   reserved words, `t` or a function name, get a trailing `_`, and the description
//!   says so). A species' value is what its id means in SBML math: a concentration,
//!   or an amount when `hasOnlySubstanceUnits` is set or its compartment has zero
//!   dimensions.
//! - A quantity that changes (a rate rule, a reaction that is not at the boundary,
//!   an event that sets it) is a resloop **species** (a state variable); one an
//!   assignment rule sets is an **observable**; any other is a **parameter**.
//!   Compartments, parameters and species references with an id (their
//!   stoichiometry) follow the same rule.
//! - Each reaction is an observable named by its id, its rate (substance per time);
//!   local parameters become parameters named `REACTION_PARAM`. A species changed by
//!   reactions has `d S / dt = sum(stoichiometry x rate x conversion factor) / V`
//!   for a concentration in compartment V (minus `S / V x dV/dt` when a rate rule
//!   moves V), without `/ V` for an amount.
//! - Observables may not read other observables in resloop, so an assignment rule
//!   that reads another one (or a reaction's rate) has that expression inlined.
//! - Initial values (declared values, initial assignments, and assignment rules,
//!   which hold at the start too) are evaluated here, in dependency order, with
//!   resloop's own expression evaluator; the model file holds the numbers.
//! - Events become resloop events; an event that changes a compartment's size also
//!   rescales the concentrations of the species in it (SBML keeps their amounts).

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use toml::{Table, Value};

use super::error::{At, SbmlError};
use super::math::{Math, Op};
use super::read::{RuleKind, Sbml};
use crate::expr::{parse, resolve, tree::Env, Scope, Var};

/// What an SBML id became in the resloop model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A resloop species (state variable).
    State,
    Parameter,
    Observable,
}

/// An SBML id in the resloop model.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    /// Its resloop name.
    pub name: String,
    pub role: Role,
    /// Its value at the start.
    pub initial: f64,
    /// For an SBML species: its compartment's SBML id and whether its value is an
    /// amount (else a concentration).
    pub species: Option<(String, bool)>,
}

/// A translated model: the resloop model text and where every SBML id went.
#[derive(Debug, Clone)]
pub struct Imported {
    pub toml: String,
    pub symbols: IndexMap<String, Symbol>,
}

/// Names resloop reserves: time and the built-in functions.
fn reserved(name: &str) -> bool {
    name == "t"
        || crate::expr::resolve::FUNCTIONS
            .iter()
            .any(|(f, _)| *f == name)
}

/// What kind of thing an id is, and where it was declared.
#[derive(Debug, Clone)]
struct Decl {
    kind: &'static str,
    line: u32,
}

struct Tx<'a> {
    m: &'a Sbml,
    decls: IndexMap<String, Decl>,
    /// SBML id -> resloop name.
    names: HashMap<String, String>,
}

impl Tx<'_> {
    fn at(&self, element: &str, id: Option<&str>, line: u32) -> At {
        At::new(&self.m.file, line, element, id)
    }

    fn name(&self, id: &str) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn expr(&self, m: &Math, at: impl Fn() -> At) -> Result<String, SbmlError> {
        m.to_expr(&|n| self.name(n))
            .map_err(|e| SbmlError::Invalid {
                at: at(),
                message: e,
            })
    }

    /// Inline function calls and check every name is declared (`extra`: names
    /// visible here only, e.g. a kinetic law's local parameters).
    fn prepare(&self, m: &Math, extra: &[String], at: impl Fn() -> At) -> Result<Math, SbmlError> {
        let m = m
            .inline(&self.m.functions)
            .map_err(|e| SbmlError::Invalid {
                at: at(),
                message: e,
            })?;
        let mut names = Vec::new();
        m.names(&mut names);
        for n in names {
            if !self.decls.contains_key(&n) && !extra.contains(&n) {
                let hint = crate::expr::resolve::did_you_mean_among(
                    &n,
                    self.decls.keys().map(String::as_str),
                );
                return Err(SbmlError::UnknownId {
                    at: at(),
                    name: n,
                    hint,
                });
            }
        }
        Ok(m)
    }
}

/// Translate a read SBML model.
pub fn translate(m: &Sbml) -> Result<Imported, SbmlError> {
    let mut tx = Tx {
        m,
        decls: IndexMap::new(),
        names: HashMap::new(),
    };
    // 1. Every id, once.
    let declare = |tx: &mut Tx, id: &str, kind: &'static str, element: &str, line: u32| {
        if let Some(old) = tx.decls.get(id) {
            return Err(SbmlError::Invalid {
                at: tx.at(element, Some(id), line),
                message: format!(
                    "duplicate id `{id}` (already a {} on line {})",
                    old.kind, old.line
                ),
            });
        }
        tx.decls.insert(id.to_string(), Decl { kind, line });
        Ok(())
    };
    for c in &m.compartments {
        declare(&mut tx, &c.id, "compartment", "compartment", c.line)?;
    }
    for s in &m.species {
        declare(&mut tx, &s.id, "species", "species", s.line)?;
    }
    for p in &m.parameters {
        declare(&mut tx, &p.id, "parameter", "parameter", p.line)?;
    }
    for r in &m.reactions {
        declare(&mut tx, &r.id, "reaction", "reaction", r.line)?;
        for sr in r.reactants.iter().chain(&r.products) {
            if let Some(id) = &sr.id {
                declare(
                    &mut tx,
                    id,
                    "species reference",
                    "speciesReference",
                    sr.line,
                )?;
            }
        }
    }
    // Resloop names: the ids, reserved words moved aside, local parameters prefixed.
    let mut taken: HashSet<String> = tx.decls.keys().cloned().collect();
    let fresh = |base: String, taken: &mut HashSet<String>| {
        let mut n = base;
        while reserved(&n) || taken.contains(&n) {
            n.push('_');
        }
        taken.insert(n.clone());
        n
    };
    let ids: Vec<String> = tx.decls.keys().cloned().collect();
    for id in ids {
        if reserved(&id) {
            taken.remove(&id);
            let n = fresh(id.clone(), &mut taken);
            tx.names.insert(id, n);
        }
    }
    let mut locals: HashMap<(String, String), String> = HashMap::new();
    for r in &m.reactions {
        for (p, _) in &r.locals {
            let n = fresh(format!("{}_{p}", r.id), &mut taken);
            locals.insert((r.id.clone(), p.clone()), n);
        }
    }
    // Species' compartments exist.
    for s in &m.species {
        if m.compartments.iter().all(|c| c.id != s.compartment) {
            return Err(SbmlError::UnknownId {
                at: tx.at("species", Some(&s.id), s.line),
                name: s.compartment.clone(),
                hint: crate::expr::resolve::did_you_mean_among(
                    &s.compartment,
                    m.compartments.iter().map(|c| c.id.as_str()),
                ),
            });
        }
    }
    for r in &m.reactions {
        for sr in r.reactants.iter().chain(&r.products) {
            if m.species.iter().all(|s| s.id != sr.species) {
                return Err(SbmlError::UnknownId {
                    at: tx.at("speciesReference", sr.id.as_deref(), sr.line),
                    name: sr.species.clone(),
                    hint: crate::expr::resolve::did_you_mean_among(
                        &sr.species,
                        m.species.iter().map(|s| s.id.as_str()),
                    ),
                });
            }
        }
    }

    // 2. Math: functions inlined, names checked, local parameters renamed.
    let mut rate_rules: IndexMap<String, (Math, u32)> = IndexMap::new();
    let mut assign_rules: IndexMap<String, (Math, u32)> = IndexMap::new();
    for r in &m.rules {
        let at = || tx.at(rule_tag(r.kind), Some(&r.variable), r.line);
        let Some(decl) = tx.decls.get(&r.variable) else {
            return Err(SbmlError::UnknownId {
                at: at(),
                name: r.variable.clone(),
                hint: crate::expr::resolve::did_you_mean_among(
                    &r.variable,
                    tx.decls.keys().map(String::as_str),
                ),
            });
        };
        if decl.kind == "reaction" {
            return Err(SbmlError::Invalid {
                at: at(),
                message: format!("a rule cannot set reaction `{}`", r.variable),
            });
        }
        let math = tx.prepare(&r.math, &[], at)?;
        let dup = match r.kind {
            RuleKind::Rate => rate_rules.insert(r.variable.clone(), (math, r.line)),
            RuleKind::Assignment => assign_rules.insert(r.variable.clone(), (math, r.line)),
        };
        if dup.is_some()
            || (rate_rules.contains_key(&r.variable) && assign_rules.contains_key(&r.variable))
        {
            return Err(SbmlError::Invalid {
                at: at(),
                message: format!("`{}` is the variable of more than one rule", r.variable),
            });
        }
    }
    let mut laws: IndexMap<String, Math> = IndexMap::new();
    for r in &m.reactions {
        let at = || tx.at("reaction", Some(&r.id), r.line);
        let Some(law) = &r.law else {
            return Err(SbmlError::Invalid {
                at: at(),
                message: "a reaction without a kinetic law has no rate to simulate".into(),
            });
        };
        let local_ids: Vec<String> = r.locals.iter().map(|(p, _)| p.clone()).collect();
        let law = tx.prepare(law, &local_ids, at)?;
        let law = law.substitute(&|n| {
            locals
                .get(&(r.id.clone(), n.to_string()))
                .map(|g| Math::Name(g.clone()))
        });
        laws.insert(r.id.clone(), law);
    }
    // Local parameters are visible to expressions by their new names.
    for r in &m.reactions {
        for (p, _) in &r.locals {
            let g = &locals[&(r.id.clone(), p.clone())];
            tx.decls.insert(
                g.clone(),
                Decl {
                    kind: "local parameter",
                    line: r.line,
                },
            );
        }
    }
    let mut initial_assignments: IndexMap<String, Math> = IndexMap::new();
    for (sym, math, line) in &m.initial_assignments {
        let at = || tx.at("initialAssignment", Some(sym), *line);
        if !tx.decls.contains_key(sym) {
            return Err(SbmlError::UnknownId {
                at: at(),
                name: sym.clone(),
                hint: crate::expr::resolve::did_you_mean_among(
                    sym,
                    tx.decls.keys().map(String::as_str),
                ),
            });
        }
        if assign_rules.contains_key(sym) {
            return Err(SbmlError::Invalid {
                at: at(),
                message: format!("`{sym}` has both an initial assignment and an assignment rule"),
            });
        }
        initial_assignments.insert(sym.clone(), tx.prepare(math, &[], at)?);
    }
    struct Ev {
        name: String,
        trigger: Math,
        priority: Option<Math>,
        assignments: Vec<(String, Math)>,
        initial_value: bool,
        persistent: bool,
        use_values_from_trigger_time: bool,
        line: u32,
        id: Option<String>,
    }
    let mut events = Vec::new();
    let mut event_targets: HashSet<String> = HashSet::new();
    for (k, e) in m.events.iter().enumerate() {
        let at = || tx.at("event", e.id.as_deref(), e.line);
        let trigger = tx.prepare(&e.trigger, &[], at)?;
        let priority = match &e.priority {
            Some(p) => Some(tx.prepare(p, &[], at)?),
            None => None,
        };
        let mut assignments = Vec::new();
        for (var, math, line) in &e.assignments {
            let at = || tx.at("eventAssignment", Some(var), *line);
            match tx.decls.get(var) {
                None => {
                    return Err(SbmlError::UnknownId {
                        at: at(),
                        name: var.clone(),
                        hint: crate::expr::resolve::did_you_mean_among(
                            var,
                            tx.decls.keys().map(String::as_str),
                        ),
                    })
                }
                Some(d) if d.kind == "reaction" => {
                    return Err(SbmlError::Invalid {
                        at: at(),
                        message: format!("an event cannot set reaction `{var}`"),
                    })
                }
                _ => {}
            }
            if assign_rules.contains_key(var) {
                return Err(SbmlError::Invalid {
                    at: at(),
                    message: format!(
                        "`{var}` is set by an assignment rule, so an event cannot set it"
                    ),
                });
            }
            event_targets.insert(var.clone());
            assignments.push((var.clone(), tx.prepare(math, &[], at)?));
        }
        let name = match &e.id {
            Some(id) => id.clone(),
            None => format!("event_{}", k + 1),
        };
        events.push(Ev {
            name,
            trigger,
            priority,
            assignments,
            initial_value: e.initial_value,
            persistent: e.persistent,
            use_values_from_trigger_time: e.use_values_from_trigger_time,
            line: e.line,
            id: e.id.clone(),
        });
    }

    // 3. Roles.
    let mut reaction_changed: HashSet<String> = HashSet::new();
    for r in &m.reactions {
        for sr in r.reactants.iter().chain(&r.products) {
            let s = m
                .species
                .iter()
                .find(|s| s.id == sr.species)
                .expect("checked above");
            if !s.boundary {
                if s.constant {
                    return Err(SbmlError::Invalid {
                        at: tx.at("speciesReference", sr.id.as_deref(), sr.line),
                        message: format!(
                            "species `{}` is constant and not at the boundary, so reaction `{}` cannot change it",
                            s.id, r.id
                        ),
                    });
                }
                reaction_changed.insert(s.id.clone());
            }
        }
    }
    let amount = |s: &super::read::Species| {
        s.only_substance
            || m.compartments
                .iter()
                .any(|c| c.id == s.compartment && c.dims == 0.0)
    };
    // A concentration in a compartment that a rate rule resizes changes with it:
    // its amount is what reactions change and what stays put otherwise (also for
    // a `constant` species, whose amount SBML keeps constant).
    let diluted: HashSet<String> = m
        .species
        .iter()
        .filter(|s| !amount(s) && rate_rules.contains_key(&s.compartment))
        .filter(|s| !rate_rules.contains_key(&s.id) && !assign_rules.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    // A concentration in a compartment whose size an assignment rule sets: its
    // amount is the state (`ID_amount`), and the id an observable, amount / size.
    let mut amount_state: IndexMap<String, String> = IndexMap::new();
    for s in &m.species {
        if !amount(s)
            && assign_rules.contains_key(&s.compartment)
            && !rate_rules.contains_key(&s.id)
            && !assign_rules.contains_key(&s.id)
        {
            let n = fresh(format!("{}_amount", tx.name(&s.id)), &mut taken);
            amount_state.insert(s.id.clone(), n);
        }
    }
    let role = |id: &str| -> Role {
        if tx.decls.get(id).is_some_and(|d| d.kind == "reaction")
            || assign_rules.contains_key(id)
            || amount_state.contains_key(id)
        {
            Role::Observable
        } else if rate_rules.contains_key(id)
            || event_targets.contains(id)
            || reaction_changed.contains(id)
            || diluted.contains(id)
        {
            Role::State
        } else {
            Role::Parameter
        }
    };
    for (v, (_, line)) in rate_rules.iter() {
        if reaction_changed.contains(v) {
            return Err(SbmlError::Invalid {
                at: tx.at("rateRule", Some(v), *line),
                message: format!("species `{v}` is changed by reactions and by a rate rule"),
            });
        }
    }

    // 4. Initial values, in dependency order.
    let mut defs: IndexMap<String, (Math, At)> = IndexMap::new();
    for c in &m.compartments {
        defs.insert(
            c.id.clone(),
            (
                Math::Num(c.size.unwrap_or(f64::NAN)),
                tx.at("compartment", Some(&c.id), c.line),
            ),
        );
    }
    for s in &m.species {
        let v = match (s.initial_amount, s.initial_concentration, amount(s)) {
            (Some(a), _, true) => Math::Num(a),
            (Some(a), _, false) => Math::Apply(
                Op::Divide,
                vec![Math::Num(a), Math::Name(s.compartment.clone())],
            ),
            (None, Some(c), false) => Math::Num(c),
            (None, Some(c), true) => Math::Apply(
                Op::Times,
                vec![Math::Num(c), Math::Name(s.compartment.clone())],
            ),
            (None, None, _) => Math::Num(f64::NAN),
        };
        defs.insert(s.id.clone(), (v, tx.at("species", Some(&s.id), s.line)));
    }
    for p in &m.parameters {
        defs.insert(
            p.id.clone(),
            (
                Math::Num(p.value.unwrap_or(f64::NAN)),
                tx.at("parameter", Some(&p.id), p.line),
            ),
        );
    }
    for r in &m.reactions {
        for sr in r.reactants.iter().chain(&r.products) {
            if let Some(id) = &sr.id {
                defs.insert(
                    id.clone(),
                    (
                        Math::Num(sr.stoichiometry),
                        tx.at("speciesReference", Some(id), sr.line),
                    ),
                );
            }
        }
        for (p, v) in &r.locals {
            let g = locals[&(r.id.clone(), p.clone())].clone();
            defs.insert(g, (Math::Num(*v), tx.at("localParameter", Some(p), r.line)));
        }
        defs.insert(
            r.id.clone(),
            (laws[&r.id].clone(), tx.at("reaction", Some(&r.id), r.line)),
        );
    }
    for (sym, math) in &initial_assignments {
        let at = defs[sym].1.clone();
        defs.insert(
            sym.clone(),
            (
                math.clone(),
                At {
                    element: "initialAssignment".into(),
                    ..at
                },
            ),
        );
    }
    for (v, (math, line)) in &assign_rules {
        defs.insert(
            v.clone(),
            (math.clone(), tx.at("assignmentRule", Some(v), *line)),
        );
    }
    let initial = evaluate_all(&tx, &defs)?;

    // 5. The model file.
    let mut symbols: IndexMap<String, Symbol> = IndexMap::new();
    for (id, d) in &tx.decls {
        let species = m
            .species
            .iter()
            .find(|s| &s.id == id)
            .map(|s| (s.compartment.clone(), amount(s)));
        let _ = d;
        symbols.insert(
            id.clone(),
            Symbol {
                name: tx.name(id),
                role: role(id),
                initial: initial[id],
                species,
            },
        );
    }
    // Every id some expression reads, or whose size a concentration needs.
    let mut used: HashSet<String> = HashSet::new();
    {
        let mut names = Vec::new();
        for (math, _) in defs.values() {
            math.names(&mut names);
        }
        for (math, _) in rate_rules.values() {
            math.names(&mut names);
        }
        for e in &events {
            e.trigger.names(&mut names);
            if let Some(p) = &e.priority {
                p.names(&mut names);
            }
            for (v, a) in &e.assignments {
                names.push(v.clone());
                a.names(&mut names);
            }
        }
        used.extend(names);
        for s in &m.species {
            if !amount(s) {
                used.insert(s.compartment.clone());
            }
            if let Some(cf) = &s.conversion_factor {
                used.insert(cf.clone());
            }
        }
        used.extend(m.conversion_factor.clone());
    }
    let mut species_t = Table::new();
    let mut params_t = Table::new();
    let mut obs_t = Table::new();
    let describe = |id: &str, name: Option<&String>, kind: &str| {
        let mut d = match name {
            Some(n) if n != id => format!("{n} (SBML {kind} `{id}`)"),
            _ => format!("SBML {kind} `{id}`"),
        };
        if tx.name(id) != id {
            d += &format!("; renamed from `{id}`, a name resloop reserves");
        }
        d
    };
    // Observables, inlined so that none reads another.
    let mut inlined: HashMap<String, Math> = HashMap::new();
    let obs_ids: Vec<String> = symbols
        .iter()
        .filter(|(_, s)| s.role == Role::Observable)
        .map(|(k, _)| k.clone())
        .collect();
    let mut obs_defs = defs.clone();
    for (id, amt) in &amount_state {
        let c = &m
            .species
            .iter()
            .find(|s| &s.id == id)
            .expect("a species")
            .compartment;
        let at = defs[id].1.clone();
        obs_defs.insert(
            id.clone(),
            (
                Math::Apply(
                    Op::Divide,
                    vec![Math::Name(amt.clone()), Math::Name(c.clone())],
                ),
                at,
            ),
        );
    }
    for id in &obs_ids {
        let mut stack = Vec::new();
        inline_observable(id, &obs_defs, &symbols, &mut inlined, &mut stack)?;
    }
    let unit_of_species = |s: &super::read::Species| -> String {
        let c = m.compartments.iter().find(|c| c.id == s.compartment);
        let sub = s
            .substance_units
            .clone()
            .unwrap_or_else(|| "substance".into());
        if amount(s) {
            sub
        } else {
            format!(
                "{sub}/{}",
                c.and_then(|c| c.units.clone())
                    .unwrap_or_else(|| "size".into())
            )
        }
    };
    for (id, sym) in &symbols {
        let decl = &tx.decls[id];
        let at = defs
            .get(id)
            .map(|d| d.1.clone())
            .unwrap_or_else(|| tx.at(decl.kind, Some(id), decl.line));
        let sbml_species = m.species.iter().find(|s| &s.id == id);
        let (desc, unit) = match decl.kind {
            "compartment" => {
                let c = m
                    .compartments
                    .iter()
                    .find(|c| &c.id == id)
                    .expect("declared");
                (
                    describe(id, c.name.as_ref(), "compartment"),
                    c.units.clone(),
                )
            }
            "species" => {
                let s = sbml_species.expect("declared");
                (
                    describe(id, s.name.as_ref(), "species"),
                    Some(unit_of_species(s)),
                )
            }
            "parameter" => {
                let p = m.parameters.iter().find(|p| &p.id == id).expect("declared");
                (describe(id, p.name.as_ref(), "parameter"), p.units.clone())
            }
            "reaction" => {
                let r = m.reactions.iter().find(|r| &r.id == id).expect("declared");
                (
                    describe(id, r.name.as_ref(), "reaction") + ": its rate",
                    Some("substance/time".into()),
                )
            }
            kind => (format!("SBML {kind} `{id}`"), None),
        };
        let finite = |v: f64, what: &str| {
            if v.is_nan() {
                Err(SbmlError::Invalid {
                    at: at.clone(),
                    message: format!("{what} of `{id}` is not set (or not a number)"),
                })
            } else if v.is_infinite() {
                Err(SbmlError::Unsupported {
                    at: at.clone(),
                    what: format!("{what} of `{id}` is {v} (resloop values are finite)"),
                })
            } else {
                Ok(v)
            }
        };
        match sym.role {
            // A quantity without a value that nothing reads changes nothing.
            Role::Parameter if sym.initial.is_nan() && !used.contains(id) => {}
            Role::Parameter => {
                let mut t = Table::new();
                t.insert(
                    "value".into(),
                    Value::Float(finite(sym.initial, "the value")?),
                );
                if let Some(u) = unit {
                    t.insert("unit".into(), Value::String(u));
                }
                t.insert("note".into(), Value::String(desc));
                params_t.insert(sym.name.clone(), Value::Table(t));
            }
            Role::Observable => {
                let mut t = Table::new();
                t.insert(
                    "expr".into(),
                    Value::String(tx.expr(&inlined[id], || at.clone())?),
                );
                if let Some(u) = unit {
                    t.insert("unit".into(), Value::String(u));
                }
                t.insert("description".into(), Value::String(desc));
                obs_t.insert(sym.name.clone(), Value::Table(t));
            }
            Role::State => {
                let rate = match rate_rules.get(id) {
                    Some((r, _)) => tx.expr(r, || at.clone())?,
                    None if reaction_changed.contains(id) || diluted.contains(id) => species_rate(
                        &tx,
                        sbml_species.expect("reaction-changed species"),
                        &symbols,
                        &rate_rules,
                        false,
                        &at,
                    )?,
                    None => "0".to_string(),
                };
                let mut t = Table::new();
                t.insert(
                    "initial".into(),
                    Value::Float(finite(sym.initial, "the initial value")?),
                );
                t.insert(
                    "unit".into(),
                    Value::String(unit.unwrap_or_else(|| "dimensionless".into())),
                );
                t.insert("description".into(), Value::String(desc));
                t.insert("rate".into(), Value::String(rate));
                species_t.insert(sym.name.clone(), Value::Table(t));
            }
        }
    }
    for (id, amt) in &amount_state {
        let sp = m.species.iter().find(|s| &s.id == id).expect("a species");
        let at = defs[id].1.clone();
        let n0 = symbols[id].initial * symbols[&sp.compartment].initial;
        if !n0.is_finite() {
            return Err(SbmlError::Invalid {
                at,
                message: format!("the initial amount of `{id}` is {n0}"),
            });
        }
        let rate = if reaction_changed.contains(id) {
            species_rate(&tx, sp, &symbols, &rate_rules, true, &at)?
        } else {
            "0".to_string()
        };
        let mut t = Table::new();
        t.insert("initial".into(), Value::Float(n0));
        t.insert(
            "unit".into(),
            Value::String(
                sp.substance_units
                    .clone()
                    .unwrap_or_else(|| "substance".into()),
            ),
        );
        t.insert(
            "description".into(),
            Value::String(format!(
                "amount of SBML species `{id}`, whose compartment `{}` an assignment rule sizes (`{id}` is this over the size)",
                sp.compartment
            )),
        );
        t.insert("rate".into(), Value::String(rate));
        species_t.insert(amt.clone(), Value::Table(t));
    }
    let mut events_t = Table::new();
    for e in &events {
        let at = || tx.at("event", e.id.as_deref(), e.line);
        let mut assign = Table::new();
        for (var, math) in &e.assignments {
            match amount_state.get(var) {
                // A concentration set at the current size: the amount follows.
                Some(amt) => {
                    let c = &m
                        .species
                        .iter()
                        .find(|s| &s.id == var)
                        .expect("a species")
                        .compartment;
                    let v = format!("({}) * {}", tx.expr(math, at)?, tx.name(c));
                    assign.insert(amt.clone(), Value::String(v))
                }
                None => assign.insert(tx.name(var), Value::String(tx.expr(math, at)?)),
            };
        }
        // A compartment's new size keeps the amounts of the species inside: each
        // concentration (the one assigned in this event, else the current one,
        // both meant at the old size) is scaled by old size / new size.
        for (var, math) in &e.assignments {
            if tx.decls[var].kind != "compartment" {
                continue;
            }
            for s in m
                .species
                .iter()
                .filter(|s| &s.compartment == var && !amount(s))
            {
                if symbols[&s.id].role != Role::State {
                    return Err(SbmlError::Unsupported {
                        at: at(),
                        what: format!(
                            "event resizing compartment `{var}` holding species `{}`, whose concentration does not otherwise change",
                            s.id
                        ),
                    });
                }
                let value = match e.assignments.iter().find(|(v, _)| v == &s.id) {
                    Some((_, m)) => format!("({})", tx.expr(m, at)?),
                    None => tx.name(&s.id),
                };
                let scaled = format!("{value} * {} / ({})", tx.name(var), tx.expr(math, at)?);
                assign.insert(tx.name(&s.id), Value::String(scaled));
            }
        }
        let mut t = Table::new();
        t.insert("trigger".into(), Value::String(tx.expr(&e.trigger, at)?));
        t.insert("assign".into(), Value::Table(assign));
        t.insert("initial_value".into(), Value::Boolean(e.initial_value));
        t.insert("persistent".into(), Value::Boolean(e.persistent));
        t.insert(
            "use_values_from_trigger_time".into(),
            Value::Boolean(e.use_values_from_trigger_time),
        );
        if let Some(p) = &e.priority {
            t.insert("priority".into(), Value::String(tx.expr(p, at)?));
        }
        events_t.insert(e.name.clone(), Value::Table(t));
    }

    let mut model_t = Table::new();
    let model_name =
        m.id.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "sbml_model".to_string());
    model_t.insert("name".into(), Value::String(model_name.clone()));
    model_t.insert(
        "title".into(),
        Value::String(
            m.name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or(model_name),
        ),
    );
    model_t.insert(
        "time_unit".into(),
        Value::String(time_unit_key(m.time_unit).into()),
    );
    model_t.insert(
        "description".into(),
        Value::String(format!(
            "Imported from SBML Level {} Version {} by `resloop import`: a plain ODE model (no cells).",
            m.level, m.version
        )),
    );
    model_t.insert("source".into(), Value::String(m.file.clone()));
    let mut doc = Table::new();
    doc.insert("model".into(), Value::Table(model_t));
    for (k, t) in [
        ("species", species_t),
        ("parameters", params_t),
        ("observables", obs_t),
        ("events", events_t),
    ] {
        if !t.is_empty() {
            doc.insert(k.into(), Value::Table(t));
        }
    }
    let toml = toml::to_string(&doc).map_err(|e| SbmlError::Translation {
        file: m.file.clone(),
        message: e.to_string(),
    })?;
    Ok(Imported { toml, symbols })
}

fn rule_tag(k: RuleKind) -> &'static str {
    match k {
        RuleKind::Assignment => "assignmentRule",
        RuleKind::Rate => "rateRule",
    }
}

fn time_unit_key(u: crate::model::TimeUnit) -> &'static str {
    use crate::model::TimeUnit::*;
    match u {
        Seconds => "seconds",
        Minutes => "minutes",
        Hours => "hours",
        Days => "days",
    }
}

/// `d S / dt` of a species changed by reactions (of its amount with `as_amount`).
fn species_rate(
    tx: &Tx,
    s: &super::read::Species,
    symbols: &IndexMap<String, Symbol>,
    rate_rules: &IndexMap<String, (Math, u32)>,
    as_amount: bool,
    at: &At,
) -> Result<String, SbmlError> {
    let m = tx.m;
    // sum(+- stoichiometry x rate), a stoichiometry of 1 left out, in file order.
    let mut flux: Option<Math> = None;
    for r in &m.reactions {
        for (refs, produced) in [(&r.reactants, false), (&r.products, true)] {
            for sr in refs.iter().filter(|sr| sr.species == s.id) {
                let rate = Math::Name(r.id.clone());
                let term = match &sr.id {
                    Some(id) => Math::Apply(Op::Times, vec![Math::Name(id.clone()), rate]),
                    None if sr.stoichiometry == 1.0 => rate,
                    None => Math::Apply(Op::Times, vec![Math::Num(sr.stoichiometry), rate]),
                };
                flux = Some(match (flux.take(), produced) {
                    (None, true) => term,
                    (None, false) => Math::Apply(Op::Minus, vec![term]),
                    (Some(acc), true) => Math::Apply(Op::Plus, vec![acc, term]),
                    (Some(acc), false) => Math::Apply(Op::Minus, vec![acc, term]),
                });
            }
        }
    }
    let mut flux = flux.unwrap_or(Math::Num(0.0));
    if let Some(cf) = s
        .conversion_factor
        .as_ref()
        .or(m.conversion_factor.as_ref())
    {
        if !tx.decls.contains_key(cf) {
            return Err(SbmlError::UnknownId {
                at: at.clone(),
                name: cf.clone(),
                hint: String::new(),
            });
        }
        flux = Math::Apply(Op::Times, vec![flux, Math::Name(cf.clone())]);
    }
    let (_, is_amount) = symbols[&s.id].species.clone().expect("a species");
    if is_amount || as_amount {
        return tx.expr(&flux, || at.clone());
    }
    let v = Math::Name(s.compartment.clone());
    let mut rate = Math::Apply(Op::Divide, vec![flux, v.clone()]);
    match symbols[&s.compartment].role {
        Role::Parameter => {}
        Role::State => {
            if let Some((dv, _)) = rate_rules.get(&s.compartment) {
                // d(n/V)/dt = (dn/dt)/V - (n/V) (dV/dt)/V
                rate = Math::Apply(
                    Op::Minus,
                    vec![
                        rate,
                        Math::Apply(
                            Op::Divide,
                            vec![Math::Apply(Op::Times, vec![Math::Name(s.id.clone()), dv.clone()]), v],
                        ),
                    ],
                );
            }
        }
        Role::Observable => {
            return Err(SbmlError::Unsupported {
                at: at.clone(),
                what: format!(
                    "species `{}` (a concentration) changed by reactions in compartment `{}`, whose size an assignment rule sets",
                    s.id, s.compartment
                ),
            })
        }
    }
    tx.expr(&rate, || at.clone())
}

/// The expression of observable `id` with every observable it reads inlined.
fn inline_observable(
    id: &str,
    defs: &IndexMap<String, (Math, At)>,
    symbols: &IndexMap<String, Symbol>,
    done: &mut HashMap<String, Math>,
    stack: &mut Vec<String>,
) -> Result<Math, SbmlError> {
    if let Some(m) = done.get(id) {
        return Ok(m.clone());
    }
    let (math, at) = &defs[id];
    if stack.iter().any(|s| s == id) {
        let mut cycle = stack.clone();
        cycle.push(id.to_string());
        return Err(SbmlError::Cycle {
            at: at.clone(),
            cycle: cycle.join(" -> "),
        });
    }
    stack.push(id.to_string());
    let mut names = Vec::new();
    math.names(&mut names);
    let mut sub: HashMap<String, Math> = HashMap::new();
    for n in names {
        if symbols.get(&n).is_some_and(|s| s.role == Role::Observable) && !sub.contains_key(&n) {
            let m = inline_observable(&n, defs, symbols, done, stack)?;
            sub.insert(n, m);
        }
    }
    stack.pop();
    let out = math.substitute(&|n| sub.get(n).cloned());
    done.insert(id.to_string(), out.clone());
    Ok(out)
}

/// Every definition's value at the start, in dependency order (time 0). A
/// definition that reads itself through others is a [`SbmlError::Cycle`].
fn evaluate_all(
    tx: &Tx,
    defs: &IndexMap<String, (Math, At)>,
) -> Result<HashMap<String, f64>, SbmlError> {
    let ids: Vec<&String> = defs.keys().collect();
    let mut scope = Scope::new();
    for (i, id) in ids.iter().enumerate() {
        scope.insert(&tx.name(id), Var::Param(i));
    }
    let mut ev = Evaluation {
        tx,
        defs,
        index: ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect(),
        values: vec![f64::NAN; ids.len()],
        state: vec![Visit::New; ids.len()],
        ids,
        scope,
    };
    for i in 0..ev.ids.len() {
        ev.visit(i, &mut Vec::new())?;
    }
    Ok(ev
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.to_string(), ev.values[i]))
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    InProgress,
    Done,
}

/// A depth-first evaluation of definitions (see [`evaluate_all`]).
struct Evaluation<'a> {
    tx: &'a Tx<'a>,
    defs: &'a IndexMap<String, (Math, At)>,
    ids: Vec<&'a String>,
    index: HashMap<&'a str, usize>,
    scope: Scope,
    values: Vec<f64>,
    state: Vec<Visit>,
}

impl Evaluation<'_> {
    /// Evaluate definition `i` after everything it reads; `path` is the chain of
    /// definitions being evaluated (to name a cycle).
    fn visit(&mut self, i: usize, path: &mut Vec<usize>) -> Result<(), SbmlError> {
        let (math, at) = &self.defs[self.ids[i]];
        match self.state[i] {
            Visit::Done => return Ok(()),
            Visit::InProgress => {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle: Vec<&str> =
                    path[from..].iter().map(|&p| self.ids[p].as_str()).collect();
                cycle.push(self.ids[i]);
                return Err(SbmlError::Cycle {
                    at: at.clone(),
                    cycle: cycle.join(" -> "),
                });
            }
            Visit::New => {}
        }
        self.state[i] = Visit::InProgress;
        path.push(i);
        let mut names = Vec::new();
        math.names(&mut names);
        for n in &names {
            if let Some(&j) = self.index.get(n.as_str()) {
                self.visit(j, path)?;
            }
        }
        path.pop();
        let text = self.tx.expr(math, || at.clone())?;
        let bad = |message: String| SbmlError::Translation {
            file: self.tx.m.file.clone(),
            message: format!("{at}: expression `{text}`: {message}"),
        };
        let ast = parse(&text).map_err(|e| bad(e.to_string()))?;
        let e = resolve(&ast, &self.scope).map_err(|e| bad(e.to_string()))?;
        self.values[i] = e.eval(&Env {
            species: &[],
            params: &self.values,
            drugs: &[],
            effects: &[],
            observables: &[],
            t: 0.0,
        });
        self.state[i] = Visit::Done;
        Ok(())
    }
}
