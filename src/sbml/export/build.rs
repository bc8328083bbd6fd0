//! A compiled model and a run (parameter values, cells, doses) as a [`Document`]:
//! the population ODE of resloop's mean-field engine written out as SBML rules.
//!
//! - **Loop.** Per genotype, every species of the loop is an SBML species with the
//!   model's rate as a rate rule. The base genotype keeps the model's ids; another
//!   genotype's copies get the suffix `_GENOTYPE`.
//! - **Parameters.** Constant parameters with the run's values. A genotype that
//!   overrides a parameter has its own `PARAM_GENOTYPE` (its descendants read it
//!   unless they override it again); an effect, effective parameter or observable
//!   whose math differs from the parent genotype's is copied for the genotype,
//!   one that does not is shared.
//! - **Drugs.** Each drug is a parameter (its concentration, in its unit) with the
//!   rate rule `d C/dt = -DRUG_elimination C`: the one-compartment kinetics that
//!   `pkpd::Exposure` evaluates in closed form. `DRUG_elimination` is set by every
//!   dose: `ln 2 / DRUG_medium_half_life` (or 0) for an in vitro medium change,
//!   `ln 2 / DRUG_half_life` for an in vivo bolus.
//! - **Effects** (`Emax hill(C, IC50, h)`) are assignment rules, as are the
//!   parameters they scale (`PARAM_effective = PARAM (1 - E)`, or `(1 + E)` for an
//!   activating effect; the rates read the effective value) and the observables.
//! - **Cells** (models with a fate map). Per genotype g, `cells_g` with
//!
//!   ```text
//!   d cells_g/dt = division_rate_g crowding cells_g (1 - sum of u over g's children)
//!                - death_rate_g cells_g
//!                + u_g division_rate_p crowding cells_p     (p: g's parent)
//!   crowding     = max(0, 1 - cells_total / carrying_capacity)   (1 without one)
//!   ```
//!
//!   with `division_rate_g`, `death_rate_g` the fate map's rates as assignment
//!   rules and `u_g = mutation_probability_g`: the equations of
//!   `engine::ode::PopulationSystem` (division factor 1, as `resloop simulate`).
//! - **Doses** are events at their times (`time >= t`, fired at the start for a
//!   dose at 0); the doses of one instant are one event.
//! - **Model events** (models with one genotype) are events as they are.

use std::collections::HashSet;

use super::document::{Document, Event, Kind, Symbol};
use super::units::{self, SbmlUnit};
use super::{ColumnId, ExportError, Run};
use crate::compile::CompiledModel;
use crate::expr::{Expr, Func, Var};
use crate::model::EffectMode;
use crate::pkpd::DoseKind;
use crate::units::ConcUnit;

/// The document of `m` under `run`, and where each timeline column is in it.
pub fn build(m: &CompiledModel, run: &Run) -> Result<(Document, Vec<ColumnId>), ExportError> {
    if run.params.len() != m.params.len() {
        return Err(ExportError::Params {
            expected: m.params.len(),
            found: run.params.len(),
        });
    }
    for d in &run.doses {
        let ok = d.drug < m.drugs.len()
            && d.time.is_finite()
            && d.time >= 0.0
            && match d.kind {
                DoseKind::SetConcentration { value } => value.is_finite() && value >= 0.0,
                DoseKind::Bolus { mg_per_kg } => {
                    mg_per_kg.is_finite() && mg_per_kg >= 0.0 && m.drugs[d.drug].in_vivo.is_some()
                }
            };
        if !ok {
            return Err(ExportError::Dose {
                dose: format!("{d:?}"),
            });
        }
    }
    let mut b = Builder {
        m,
        doc: Document::default(),
        taken: HashSet::new(),
        per_time: None,
        drugs: Vec::new(),
        total: None,
    };
    b.reserve_model_names();
    b.doc.id = b.fresh(&m.meta.name);
    b.doc.name = m.meta.title.clone();
    b.doc.time_unit = b
        .unit_of(m.meta.time_unit.symbol())
        .unwrap_or_else(|| "second".into());
    b.doc.compartment = b.fresh("default_compartment");
    let g = b.genotypes(run);
    b.drugs(run);
    let cols = b.columns(&g);
    b.notes(run);
    Ok((b.doc, cols))
}

struct Builder<'m> {
    m: &'m CompiledModel,
    doc: Document,
    /// Ids in use (and the model's own names, reserved before anything derived).
    taken: HashSet<String>,
    /// Unit id of rates per model time unit.
    per_time: Option<String>,
    /// Each drug's concentration (shared by the genotypes).
    drugs: Vec<usize>,
    /// All cells (models with cells).
    total: Option<usize>,
}

/// Where each model quantity of one genotype is in the document.
#[derive(Debug, Clone, Default)]
struct Genotype {
    species: Vec<usize>,
    /// Parameter values (constant symbols).
    raw: Vec<usize>,
    /// Parameters as rates read them (the effective value where effects scale one).
    params: Vec<usize>,
    effects: Vec<usize>,
    observables: Vec<usize>,
    /// Cells, division rate, death rate (models with cells).
    cells: Option<(usize, usize, usize)>,
}

/// A quantity an assignment rule sets.
fn ruled(
    id: String,
    name: String,
    units: Option<String>,
    info: Vec<(&'static str, String)>,
) -> Symbol {
    Symbol {
        id,
        name,
        kind: Kind::Parameter {
            value: None,
            constant: false,
        },
        units,
        notes: Vec::new(),
        info,
    }
}

/// What a quantity is in words: its description, else its name.
fn words<'a>(description: &'a str, name: &'a str) -> &'a str {
    if description.is_empty() {
        name
    } else {
        description
    }
}

/// An SBML SId from a resloop name: letters, digits and `_` (others become `_`),
/// not starting with a digit.
fn sid(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

impl Builder<'_> {
    /// An unused id as close to `want` as possible (trailing `_` until unique).
    fn fresh(&mut self, want: &str) -> String {
        let mut id = sid(want);
        while self.taken.contains(&id) {
            id.push('_');
        }
        self.taken.insert(id.clone());
        id
    }

    /// Keep the model's own names for its own quantities: derived ids that would
    /// clash with one of them move aside instead.
    fn reserve_model_names(&mut self) {
        let m = self.m;
        let names = m
            .species
            .iter()
            .map(|s| &s.name)
            .chain(m.params.iter().map(|p| &p.name))
            .chain(m.drugs.iter().map(|d| &d.name))
            .chain(m.effects.iter().map(|e| &e.name))
            .chain(m.observables.iter().map(|o| &o.name))
            .chain(m.events.iter().map(|e| &e.name));
        for n in names {
            self.taken.insert(sid(n));
        }
    }

    /// The id of a model name reserved by [`Builder::reserve_model_names`].
    fn own(&self, name: &str) -> String {
        sid(name)
    }

    /// The id of model quantity `name` in genotype `k`: the model's own in the base
    /// genotype, `NAME_GENOTYPE` in another.
    fn id_in(&mut self, k: usize, name: &str) -> String {
        match k {
            0 => self.own(name),
            _ => self.fresh(&format!("{name}_{}", self.m.genotypes[k].name)),
        }
    }

    fn unit_of(&mut self, text: &str) -> Option<String> {
        match units::sbml_unit(text)? {
            SbmlUnit::Base(b) => Some(b.to_string()),
            SbmlUnit::Defined(d) => Some(self.doc.unit(d)),
        }
    }

    fn per_time(&mut self) -> Option<String> {
        if self.per_time.is_none() {
            let t = format!("1/{}", self.m.meta.time_unit.symbol());
            self.per_time = self.unit_of(&t);
        }
        self.per_time.clone()
    }

    /// Translate model math for genotype `g`: every variable becomes the symbol
    /// that holds it.
    fn translate(&self, g: &Genotype, e: &Expr) -> Expr {
        e.substitute(&|v| match v {
            Var::Time => None,
            Var::Species(i) => Some(Document::read(g.species[i])),
            Var::Param(i) => Some(Document::read(g.params[i])),
            Var::Drug(d) => Some(Document::read(self.drugs[d])),
            Var::Effect(k) => Some(Document::read(g.effects[k])),
            Var::Observable(k) => Some(Document::read(g.observables[k])),
        })
    }

    /// The parameter values of genotype `k`: the run's, then each ancestor's
    /// overrides from the root down (as `compile::BoundModel`).
    fn genotype_params(&self, run: &Run, k: usize) -> Vec<f64> {
        let mut p = run.params.clone();
        let mut chain = Vec::new();
        let mut cur = Some(k);
        while let Some(x) = cur {
            chain.push(x);
            cur = self.m.genotypes[x].parent;
        }
        for &x in chain.iter().rev() {
            for &(i, v) in &self.m.genotypes[x].overrides {
                p[i] = v;
            }
        }
        p
    }

    /// Every genotype's loop, parameters, effects, observables and cells; then the
    /// drugs' concentrations (shared) and the model's events.
    fn genotypes(&mut self, run: &Run) -> Vec<Genotype> {
        let m = self.m;
        self.drugs = m.drugs.iter().map(|d| self.drug_symbol(d)).collect();
        let mut gs: Vec<Genotype> = Vec::new();
        for (k, gt) in m.genotypes.iter().enumerate() {
            let suffix = |name: &str| match k {
                0 => name.to_string(),
                _ => format!("{name}_{}", gt.name),
            };
            let in_genotype = |what: &str| match k {
                0 => what.to_string(),
                _ => format!("{what} (genotype {})", gt.name),
            };
            let mut g = Genotype::default();
            for s in &m.species {
                let id = self.id_in(k, &s.name);
                let units = self.unit_of(&s.unit);
                let mut info = vec![("role", "species".to_string()), ("name", s.name.clone())];
                info.push(("genotype", gt.name.clone()));
                info.push(("unit", s.unit.clone()));
                g.species.push(self.doc.add(Symbol {
                    id,
                    name: in_genotype(words(&s.description, &s.name)),
                    kind: Kind::Species { initial: s.initial },
                    units,
                    notes: Vec::new(),
                    info,
                }));
            }
            // A genotype shares with its parent whatever its own overrides do not
            // change (the parent comes first).
            let parent = gt.parent.map(|p| &gs[p]);
            let values = self.genotype_params(run, k);
            for (i, p) in m.params.iter().enumerate() {
                if let Some(parent) = parent {
                    if !gt.overrides.iter().any(|&(j, _)| j == i) {
                        g.raw.push(parent.raw[i]);
                        continue;
                    }
                }
                let id = self.id_in(k, &p.name);
                let units = p.unit.as_deref().and_then(|u| self.unit_of(u));
                let mut info = vec![("role", "parameter".to_string()), ("name", p.name.clone())];
                if k > 0 {
                    info.push(("genotype", gt.name.clone()));
                }
                if let Some(u) = &p.unit {
                    info.push(("unit", u.clone()));
                }
                if let Some(pr) = p.provenance {
                    info.push(("provenance", pr.label().to_string()));
                }
                if let Some([lo, hi]) = p.bounds {
                    info.push(("bounds", format!("{lo:?} {hi:?}")));
                }
                let mut notes: Vec<String> = p.note.iter().cloned().collect();
                if k > 0 {
                    notes.push(format!(
                        "Genotype {} overrides {} ({}).",
                        gt.name, p.name, gt.description
                    ));
                }
                g.raw.push(self.doc.add(Symbol {
                    id,
                    name: in_genotype(&p.name),
                    kind: Kind::Parameter {
                        value: Some(values[i]),
                        constant: true,
                    },
                    units,
                    notes,
                    info,
                }));
            }
            // Effects read the parameter values; rates read the effective values.
            g.params = g.raw.clone();
            for e in &m.effects {
                let bind = |x: &Expr| {
                    x.substitute(&|v| match v {
                        Var::Param(i) => Some(Document::read(g.raw[i])),
                        _ => None,
                    })
                };
                let c = Document::read(self.drugs[e.drug]);
                let math = Expr::mul(bind(&e.emax), Expr::hill(c, bind(&e.ic50), bind(&e.hill)))
                    .simplify();
                let k_e = g.effects.len();
                let idx = self.rule(parent.map(|b| b.effects[k_e]), math, |b| {
                    let mut info = vec![("role", "effect".to_string()), ("name", e.name.clone())];
                    info.push(("drug", m.drugs[e.drug].name.clone()));
                    info.push(("mode", format!("{:?}", e.mode).to_lowercase()));
                    if k > 0 {
                        info.push(("genotype", gt.name.clone()));
                    }
                    let id = b.id_in(k, &e.name);
                    let units = Some("dimensionless".into());
                    ruled(id, in_genotype(words(&e.description, &e.name)), units, info)
                });
                g.effects.push(idx);
            }
            for (i, p) in m.params.iter().enumerate() {
                let scaling: Vec<_> = (0..m.effects.len())
                    .filter(|&e| m.effects[e].scales == Some(i))
                    .collect();
                if scaling.is_empty() {
                    continue;
                }
                let math = scaling.iter().fold(Document::read(g.raw[i]), |acc, &e| {
                    let ee = Document::read(g.effects[e]);
                    let factor = match m.effects[e].mode {
                        EffectMode::Inhibit => Expr::sub(Expr::c(1.0), ee),
                        EffectMode::Activate => Expr::add(Expr::c(1.0), ee),
                    };
                    Expr::mul(acc, factor)
                });
                let units = p.unit.as_deref().and_then(|u| self.unit_of(u));
                let idx = self.rule(parent.map(|b| b.params[i]), math, |b| {
                    let mut info = vec![
                        ("role", "effective parameter".to_string()),
                        ("name", p.name.clone()),
                    ];
                    if k > 0 {
                        info.push(("genotype", gt.name.clone()));
                    }
                    let id = b.fresh(&suffix(&format!("{}_effective", p.name)));
                    let name = format!("{} under the drug effects that scale it", p.name);
                    ruled(id, in_genotype(&name), units, info)
                });
                g.params[i] = idx;
            }
            for o in &m.observables {
                let math = self.translate(&g, &o.expr);
                let units = o.unit.as_deref().and_then(|u| self.unit_of(u));
                let k_o = g.observables.len();
                let idx = self.rule(parent.map(|b| b.observables[k_o]), math, |b| {
                    let mut info =
                        vec![("role", "observable".to_string()), ("name", o.name.clone())];
                    info.push(("genotype", gt.name.clone()));
                    if let Some(u) = &o.unit {
                        info.push(("unit", u.clone()));
                    }
                    let id = b.id_in(k, &o.name);
                    ruled(id, in_genotype(words(&o.description, &o.name)), units, info)
                });
                g.observables.push(idx);
            }
            for (i, s) in m.species.iter().enumerate() {
                let rate = self.translate(&g, &s.rate);
                self.doc.rate_rules.push((g.species[i], rate));
            }
            gs.push(g);
        }
        if m.has_cells {
            self.cells(run, &mut gs);
        }
        // Events exist only in models with one genotype (see `compile`).
        for e in &m.events {
            let g = &gs[0];
            let ev = Event {
                id: self.own(&e.name),
                name: String::new(),
                trigger: self.translate(g, &e.trigger),
                delay: e.delay.as_ref().map(|d| self.translate(g, d)),
                priority: e.priority.as_ref().map(|p| self.translate(g, p)),
                initial_value: e.initial_value,
                persistent: e.persistent,
                use_values_from_trigger_time: e.use_values_from_trigger_time,
                assignments: e
                    .assignments
                    .iter()
                    .map(|(i, v)| (g.species[*i], self.translate(g, v)))
                    .collect(),
                notes: if e.description.is_empty() {
                    Vec::new()
                } else {
                    vec![e.description.clone()]
                },
                info: vec![("role", "event".to_string()), ("name", e.name.clone())],
            };
            self.doc.events.push(ev);
        }
        gs
    }

    /// An assignment rule `math`, unless the parent genotype's rule `parent` has
    /// the same math (then that symbol is shared); `symbol` makes the new symbol.
    fn rule(
        &mut self,
        parent: Option<usize>,
        math: Expr,
        symbol: impl FnOnce(&mut Self) -> Symbol,
    ) -> usize {
        if let Some(b) = parent {
            if self
                .doc
                .assignment_rules
                .iter()
                .any(|(k, e)| *k == b && *e == math)
            {
                return b;
            }
        }
        let s = symbol(self);
        let k = self.doc.add(s);
        self.doc.assignment_rules.push((k, math));
        k
    }

    /// A drug's concentration: a parameter that its rate rule and doses change.
    fn drug_symbol(&mut self, d: &crate::compile::Drug) -> usize {
        let units = Some(self.doc.unit(units::concentration(&d.unit)));
        let id = self.own(&d.name);
        let mut info = vec![("role", "drug".to_string()), ("name", d.name.clone())];
        info.push(("unit", d.unit.symbol().to_string()));
        if !d.target.is_empty() {
            info.push(("target", d.target.clone()));
        }
        self.doc.add(Symbol {
            id,
            name: format!("{} concentration", d.name),
            kind: Kind::Parameter {
                value: Some(0.0),
                constant: false,
            },
            units,
            notes: if d.description.is_empty() {
                Vec::new()
            } else {
                vec![d.description.clone()]
            },
            info,
        })
    }

    /// A constant parameter of the export's own (pharmacokinetics, the fate map).
    fn constant(&mut self, want: &str, name: String, value: f64, unit: &str) -> usize {
        let id = self.fresh(want);
        let units = self.unit_of(unit);
        self.doc.add(Symbol {
            id,
            name,
            kind: Kind::Parameter {
                value: Some(value),
                constant: true,
            },
            units,
            notes: Vec::new(),
            info: vec![("unit", unit.to_string())],
        })
    }

    /// A quantity set by an assignment rule; `role` says what it is in resloop.
    fn derived(
        &mut self,
        want: &str,
        role: &str,
        name: String,
        units: Option<String>,
        math: Expr,
    ) -> usize {
        let id = self.fresh(want);
        let k = self
            .doc
            .add(ruled(id, name, units, vec![("role", role.to_string())]));
        self.doc.assignment_rules.push((k, math));
        k
    }

    /// The cells of every genotype, their division and death rates, crowding.
    fn cells(&mut self, run: &Run, gs: &mut [Genotype]) {
        let m = self.m;
        let cell_unit = self.unit_of("cells");
        let per = self.per_time();
        let mutant: f64 = m.genotypes.iter().skip(1).map(|g| g.initial_fraction).sum();
        let mut cells = Vec::new();
        let mut rates = Vec::new();
        for (k, gt) in m.genotypes.iter().enumerate() {
            let fraction = if k == 0 {
                1.0 - mutant
            } else {
                gt.initial_fraction
            };
            let id = self.fresh(&format!("cells_{}", gt.name));
            let mut info = vec![("role", "cells".to_string()), ("genotype", gt.name.clone())];
            info.push(("unit", "cells".to_string()));
            cells.push(self.doc.add(Symbol {
                id,
                name: format!("cells of genotype {}", gt.name),
                kind: Kind::Species {
                    initial: run.cells * fraction,
                },
                units: cell_unit.clone(),
                notes: if gt.description.is_empty() {
                    Vec::new()
                } else {
                    vec![gt.description.clone()]
                },
                info,
            }));
            let division = self.translate(&gs[k], &m.division);
            let death = self.translate(&gs[k], &m.death);
            let b = self.derived(
                &format!("division_rate_{}", gt.name),
                "division rate",
                format!("division rate of genotype {} (per cell)", gt.name),
                per.clone(),
                division,
            );
            let d = self.derived(
                &format!("death_rate_{}", gt.name),
                "death rate",
                format!("death rate of genotype {} (per cell)", gt.name),
                per.clone(),
                death,
            );
            rates.push((b, d));
        }
        let total_math = cells
            .iter()
            .map(|&c| Document::read(c))
            .reduce(Expr::add)
            .unwrap_or(Expr::c(0.0));
        let total = self.derived(
            "cells_total",
            "total cells",
            "cells of every genotype".into(),
            cell_unit,
            total_math,
        );
        let crowding = m.carrying_capacity.map(|cap| {
            let k = self.constant(
                "carrying_capacity",
                "carrying capacity (logistic crowding of divisions)".into(),
                cap,
                "cells",
            );
            let math = Expr::f2(
                Func::Max,
                Expr::c(0.0),
                Expr::sub(
                    Expr::c(1.0),
                    Expr::div(Document::read(total), Document::read(k)),
                ),
            );
            self.derived(
                "crowding",
                "crowding",
                "factor on division rates from crowding".into(),
                Some("dimensionless".into()),
                math,
            )
        });
        // Births per time of genotype k's cells.
        let births = |k: usize| {
            let per_cell = match crowding {
                Some(c) => Expr::mul(Document::read(rates[k].0), Document::read(c)),
                None => Document::read(rates[k].0),
            };
            Expr::mul(per_cell, Document::read(cells[k]))
        };
        let mut u = vec![None; m.genotypes.len()];
        for (k, gt) in m.genotypes.iter().enumerate().skip(1) {
            u[k] = Some(self.constant(
                &format!("mutation_probability_{}", gt.name),
                format!(
                    "probability per division of {} that a daughter is {}",
                    m.genotypes[gt.parent.unwrap_or(0)].name,
                    gt.name
                ),
                gt.mutation_probability,
                "1",
            ));
        }
        for (k, gt) in m.genotypes.iter().enumerate() {
            let children: Vec<usize> = (0..m.genotypes.len())
                .filter(|&c| c > 0 && m.genotypes[c].parent == Some(k))
                .collect();
            let mut rate = births(k);
            if !children.is_empty() {
                let keep = children
                    .iter()
                    .filter_map(|&c| u[c])
                    .fold(Expr::c(1.0), |acc, uc| Expr::sub(acc, Document::read(uc)));
                rate = Expr::mul(rate, keep);
            }
            rate = Expr::sub(
                rate,
                Expr::mul(Document::read(rates[k].1), Document::read(cells[k])),
            );
            if let (Some(p), Some(uk)) = (gt.parent, u[k]) {
                rate = Expr::add(rate, Expr::mul(Document::read(uk), births(p)));
            }
            self.doc.rate_rules.push((cells[k], rate));
            gs[k].cells = Some((cells[k], rates[k].0, rates[k].1));
        }
        self.total = Some(total);
    }

    /// Each drug's pharmacokinetics (rate rule, half-lives, bolus scale) and the
    /// doses as events.
    fn drugs(&mut self, run: &Run) {
        let m = self.m;
        let per = self.per_time();
        let tsym = m.meta.time_unit.symbol();
        let mut elimination = Vec::new();
        // (in vitro rate, in vivo rate, bolus scale): the math each dose kind uses.
        let mut kinds: Vec<(Expr, Option<Expr>, Option<usize>)> = Vec::new();
        for (di, d) in m.drugs.iter().enumerate() {
            let c = self.drugs[di];
            let el = self.fresh(&format!("{}_elimination", d.name));
            let el = self.doc.add(Symbol {
                id: el,
                name: format!(
                    "elimination rate of {} (set by each dose: medium or body)",
                    d.name
                ),
                kind: Kind::Parameter {
                    value: Some(0.0),
                    constant: false,
                },
                units: per.clone(),
                notes: Vec::new(),
                info: vec![
                    ("role", "elimination rate".into()),
                    ("drug", d.name.clone()),
                ],
            });
            self.doc.rate_rules.push((
                c,
                Expr::neg(Expr::mul(Document::read(el), Document::read(c))),
            ));
            elimination.push(el);
            let ln2 = || Expr::c(std::f64::consts::LN_2);
            let vitro = match d.medium_half_life {
                Some(h) => {
                    let k = self.constant(
                        &format!("{}_medium_half_life", d.name),
                        format!("half-life of {} in culture medium", d.name),
                        h,
                        tsym,
                    );
                    Expr::div(ln2(), Document::read(k))
                }
                None => Expr::c(0.0),
            };
            let (vivo, scale) = match d.in_vivo {
                Some(pk) => {
                    let h = self.constant(
                        &format!("{}_half_life", d.name),
                        format!("elimination half-life of {} in vivo", d.name),
                        pk.half_life,
                        tsym,
                    );
                    let v = self.constant(
                        &format!("{}_volume", d.name),
                        format!("volume of distribution of {}", d.name),
                        pk.volume,
                        "L/kg",
                    );
                    let mw = pk.molecular_weight.map(|w| {
                        self.constant(
                            &format!("{}_molecular_weight", d.name),
                            format!("molecular weight of {}", d.name),
                            w,
                            "g/mol",
                        )
                    });
                    // mg/kg over L/kg is mg/L, then into the drug's unit (as
                    // `ConcUnit::from_mg_per_l`).
                    let g_per_l =
                        Expr::mul(Expr::div(Expr::c(1.0), Document::read(v)), Expr::c(1e-3));
                    let math = match (d.unit, mw) {
                        (ConcUnit::Mass { per_g_l, .. }, _) => {
                            Some(Expr::div(g_per_l, Expr::c(per_g_l)))
                        }
                        (ConcUnit::Molar { per_mol_l, .. }, Some(w)) => Some(Expr::div(
                            Expr::div(g_per_l, Document::read(w)),
                            Expr::c(per_mol_l),
                        )),
                        // Refused by `compile` (molar unit without a molecular weight).
                        (ConcUnit::Molar { .. }, None) => None,
                    };
                    let value = d.unit.from_mg_per_l(1.0 / pk.volume, pk.molecular_weight);
                    let scale = match (math, value) {
                        (Some(math), Some(value)) => {
                            let id = self.fresh(&format!("{}_per_mg_per_kg", d.name));
                            let units = Some(self.doc.unit(units::concentration(&d.unit)));
                            let k = self.doc.add(Symbol {
                                id,
                                name: format!(
                                    "{} concentration per mg/kg of bolus ({} per mg/kg)",
                                    d.name,
                                    d.unit.symbol()
                                ),
                                kind: Kind::Parameter {
                                    value: Some(value),
                                    constant: true,
                                },
                                units,
                                notes: Vec::new(),
                                info: vec![("unit", format!("{} per mg/kg", d.unit.symbol()))],
                            });
                            self.doc.initial_assignments.push((k, math));
                            Some(k)
                        }
                        _ => None,
                    };
                    (Some(Expr::div(ln2(), Document::read(h))), scale)
                }
                None => (None, None),
            };
            kinds.push((vitro, vivo, scale));
        }
        let mut doses = run.doses.clone();
        doses.sort_by(|a, b| a.time.total_cmp(&b.time));
        let mut i = 0;
        while i < doses.len() {
            let t = doses[i].time;
            let j = i + doses[i..].iter().take_while(|d| d.time == t).count();
            // Per drug (first dosed first): its concentration after the doses of
            // this instant, applied in order, and the elimination they leave.
            let mut after: Vec<(usize, Expr, Expr)> = Vec::new();
            let mut words = Vec::new();
            for d in &doses[i..j] {
                let di = d.drug;
                let pos = match after.iter().position(|a| a.0 == di) {
                    Some(p) => p,
                    None => {
                        after.push((di, Document::read(self.drugs[di]), Expr::c(0.0)));
                        after.len() - 1
                    }
                };
                let (vitro, vivo, scale) = &kinds[di];
                let name = &m.drugs[di].name;
                match d.kind {
                    DoseKind::SetConcentration { value } => {
                        after[pos].1 = Expr::c(value);
                        after[pos].2 = vitro.clone();
                        words.push(format!(
                            "{name} {value} {} (medium)",
                            m.drugs[di].unit.symbol()
                        ));
                    }
                    DoseKind::Bolus { mg_per_kg } => {
                        // Checked in `build`: a bolus needs in vivo pharmacokinetics.
                        let (Some(vivo), Some(scale)) = (vivo, scale) else {
                            continue;
                        };
                        let prev = std::mem::replace(&mut after[pos].1, Expr::c(0.0));
                        after[pos].1 =
                            Expr::add(prev, Expr::mul(Expr::c(mg_per_kg), Document::read(*scale)));
                        after[pos].2 = vivo.clone();
                        words.push(format!("{name} {mg_per_kg} mg/kg (bolus)"));
                    }
                }
            }
            let n = self.doc.events.len() + 1;
            let id = self.fresh(&format!("dose_{n}"));
            let mut assignments = Vec::new();
            for (di, c, k) in after {
                assignments.push((self.drugs[di], c));
                assignments.push((elimination[di], k));
            }
            self.doc.events.push(Event {
                id,
                name: format!("t = {t} {tsym}: {}", words.join(", ")),
                trigger: Expr::f2(Func::Ge, Expr::var(Var::Time), Expr::c(t)),
                delay: None,
                priority: None,
                // A dose at 0 fires at the start.
                initial_value: false,
                persistent: true,
                use_values_from_trigger_time: true,
                assignments,
                notes: Vec::new(),
                info: vec![("role", "dose".into()), ("time", format!("{t:?}"))],
            });
            i = j;
        }
    }

    /// Where each column of resloop's timeline (`engine::ode::timeline_columns`)
    /// is in the document; each symbol's annotation names its column too.
    fn columns(&mut self, gs: &[Genotype]) -> Vec<ColumnId> {
        let m = self.m;
        let mut cols: Vec<(String, String, usize)> = Vec::new();
        for (g, gt) in gs.iter().zip(&m.genotypes) {
            let mut col =
                |variable: &str, k: usize| cols.push((gt.name.clone(), variable.into(), k));
            for (s, &k) in m.species.iter().zip(&g.species) {
                col(&s.name, k);
            }
            for (o, &k) in m.observables.iter().zip(&g.observables) {
                col(&o.name, k);
            }
            if let Some((c, b, d)) = g.cells {
                col("cells", c);
                col("division_rate", b);
                col("death_rate", d);
            }
        }
        if let Some(t) = self.total {
            cols.push(("total".into(), "cells".into(), t));
        }
        for (d, &k) in m.drugs.iter().zip(&self.drugs) {
            cols.push(("exposure".into(), d.name.clone(), k));
        }
        for (population, variable, k) in &cols {
            let info = &mut self.doc.symbols[*k].info;
            // A symbol the genotypes share (e.g. an observable that reads no
            // species) is the same variable of each: `population` lists them.
            match info.iter_mut().find(|(key, _)| *key == "population") {
                Some((_, p)) => {
                    p.push(' ');
                    p.push_str(population);
                }
                None => {
                    info.push(("population", population.clone()));
                    info.push(("variable", variable.clone()));
                }
            }
        }
        cols.into_iter()
            .map(|(population, variable, k)| ColumnId {
                population,
                variable,
                id: self.doc.symbols[k].id.clone(),
            })
            .collect()
    }

    /// The model's notes and annotation: what it is, where it came from, the run.
    fn notes(&mut self, run: &Run) {
        let m = &self.m.meta;
        let mut notes = Vec::new();
        if !m.description.trim().is_empty() {
            notes.push(m.description.trim().to_string());
        }
        if !m.source.is_empty() {
            notes.push(format!("Source: {}", m.source));
        }
        notes.push(format!(
            "Exported by resloop {} from {} (SHA-256 {}): the population ODE of resloop's \
             mean-field engine{}, with the doses below as events; `resloop simulate \
             --engine mean-field` with the same doses gives the same trajectory.",
            env!("CARGO_PKG_VERSION"),
            m.path,
            m.sha256,
            if self.m.has_cells {
                ""
            } else {
                " (a plain ODE model: no cells)"
            },
        ));
        for (k, v) in &run.given {
            notes.push(format!("{k}: {v}"));
        }
        self.doc.notes = notes;
        let mut info = vec![
            ("name", m.name.clone()),
            ("path", m.path.clone()),
            ("sha256", m.sha256.clone()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ];
        info.extend(run.given.iter().cloned());
        self.doc.info = info;
    }
}
