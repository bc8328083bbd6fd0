//! Reading and checking a fact file: every name (state, species, drug, parameter),
//! amount and duration is resolved here, so running a fact never meets bad input.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::raw::{
    Amount, RawCondition, RawDrugDose, RawFact, RawFactFile, RawState, StateField, S,
};
use super::types::*;
use crate::compile::{compile_file, CompiledModel};
use crate::expr::resolve::did_you_mean_among;
use crate::model::{parse_toml, ModelError, ModelErrorKind, SourceText};
use crate::pkpd::{parse_amount, DoseKind};
use crate::schedule::values::duration;

/// Read a fact file and the model it names.
pub fn load(path: &Path) -> Result<FactFile, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, &e))?;
    parse(path, text)
}

/// Parse fact text (`path` is used for messages and to find the model and schedules).
pub fn parse(path: &Path, text: String) -> Result<FactFile, ModelError> {
    let src = SourceText::new(path, text);
    let raw: RawFactFile = parse_toml(&src)?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let model_path = locate(&dir, raw.facts.model.get_ref()).ok_or_else(|| {
        Checker::new(&src, &dir, None).error(
            &raw.facts.model,
            "facts.model",
            format!(
                "no model file at {} (beside the fact file) or {} (from the working directory)",
                dir.join(raw.facts.model.get_ref()).display(),
                raw.facts.model.get_ref()
            ),
        )
    })?;
    let model = compile_file(&model_path).map_err(|e| {
        let mut err = Checker::new(&src, &dir, None).error(
            &raw.facts.model,
            "facts.model",
            format!("cannot load the model: {e}"),
        );
        err.kind = ModelErrorKind::BadValue;
        err
    })?;
    let ck = Checker::new(&src, &dir, Some(&model));
    let mut states = IndexMap::new();
    for (name, st) in &raw.states {
        let spec = ck.state(name, st, &raw.states)?;
        states.insert(name.get_ref().clone(), spec);
    }
    let mut facts: Vec<Fact> = Vec::new();
    for f in &raw.fact {
        let fact = match ck.fact(f, &states) {
            Ok(fact) => fact,
            // A known failure may name what the model does not have yet (a drug, a
            // species): it stays in the table, failing with the reason.
            Err(e)
                if f.get_ref().known_failure.is_some()
                    && matches!(e.kind, ModelErrorKind::UnknownName) =>
            {
                ck.inexpressible(f, e)?
            }
            Err(e) => return Err(e),
        };
        if facts.iter().any(|g| g.id == fact.id) {
            return Err(ck.error_kind(
                &f.get_ref().id,
                "fact.id",
                ModelErrorKind::DuplicateName,
                format!("fact id `{}` is used twice", fact.id),
            ));
        }
        facts.push(fact);
    }
    let expressions = ck.exprs.take();
    Ok(FactFile {
        path: path.to_path_buf(),
        model_path,
        description: raw.facts.description.clone(),
        model,
        states,
        facts,
        expressions,
    })
}

struct Checker<'a> {
    src: &'a SourceText,
    dir: &'a Path,
    model: Option<&'a CompiledModel>,
    /// Quantity expressions met so far.
    exprs: RefCell<Vec<QuantityExpr>>,
}

/// Quantities with a meaning of their own (besides species and observables).
const QUANTITY_WORDS: &[&str] = &[
    "cells",
    "growth_rate",
    "division_rate",
    "death_rate",
    "tumour_volume",
];

fn is_plain_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn expr_uses_time(e: &crate::expr::Expr) -> bool {
    e.depends_on(crate::expr::Var::Time)
}

/// Where a path named in a fact file is: beside the fact file first, else relative
/// to the working directory. `None` when it is in neither (both were tried).
fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    let beside = dir.join(name);
    if beside.is_file() {
        return Some(beside);
    }
    let cwd = PathBuf::from(name);
    cwd.is_file().then_some(cwd)
}

impl<'a> Checker<'a> {
    fn new(src: &'a SourceText, dir: &'a Path, model: Option<&'a CompiledModel>) -> Self {
        Checker {
            src,
            dir,
            model,
            exprs: RefCell::new(Vec::new()),
        }
    }
    fn model(&self) -> &'a CompiledModel {
        self.model
            .expect("model is loaded before anything refers to it")
    }
    fn error<T>(&self, at: &S<T>, field: &str, msg: impl Into<String>) -> ModelError {
        self.error_kind(at, field, ModelErrorKind::BadValue, msg)
    }
    fn error_kind<T>(
        &self,
        at: &S<T>,
        field: &str,
        kind: ModelErrorKind,
        msg: impl Into<String>,
    ) -> ModelError {
        ModelError::at(self.src, at.span().start, kind, field.to_string(), msg)
    }

    fn duration(&self, s: &S<String>, field: &str) -> Result<f64, ModelError> {
        duration(s.get_ref(), self.model().meta.time_unit).map_err(|m| self.error(s, field, m))
    }

    fn state_name(&self, s: &S<String>, field: &str, known: &[&str]) -> Result<String, ModelError> {
        let name = s.get_ref();
        if known.contains(&name.as_str()) {
            Ok(name.clone())
        } else {
            Err(self.error_kind(
                s,
                field,
                ModelErrorKind::UnknownName,
                format!(
                    "no state `{name}`{}; states are: {}",
                    did_you_mean_among(name, known.iter().copied()),
                    known.join(", ")
                ),
            ))
        }
    }

    fn drug(&self, s: &S<String>, field: &str) -> Result<usize, ModelError> {
        let m = self.model();
        m.drug_index(s.get_ref()).ok_or_else(|| {
            self.error_kind(
                s,
                field,
                ModelErrorKind::UnknownName,
                format!(
                    "the model has no drug `{}`{}",
                    s.get_ref(),
                    did_you_mean_among(s.get_ref(), m.drugs.iter().map(|d| d.name.as_str()))
                ),
            )
        })
    }

    fn concentration(&self, drug: usize, s: &S<String>, field: &str) -> Result<f64, ModelError> {
        match parse_amount(self.model(), drug, s.get_ref()).map_err(|m| self.error(s, field, m))? {
            DoseKind::SetConcentration { value } => Ok(value),
            DoseKind::Bolus { .. } => Err(self.error(
                s,
                field,
                "facts are measured in vitro: give a concentration (e.g. `10 nM`), not mg/kg",
            )),
        }
    }

    fn drugs(
        &self,
        map: &IndexMap<S<String>, S<String>>,
        field: &str,
    ) -> Result<Vec<f64>, ModelError> {
        let mut c = vec![0.0; self.model().drugs.len()];
        for (name, amount) in map {
            let d = self.drug(name, &format!("{field}.{}", name.get_ref()))?;
            c[d] = self.concentration(d, amount, &format!("{field}.{}", name.get_ref()))?;
        }
        Ok(c)
    }

    fn set(
        &self,
        map: &IndexMap<S<String>, S<f64>>,
        field: &str,
    ) -> Result<Vec<(usize, f64)>, ModelError> {
        let m = self.model();
        map.iter()
            .map(|(name, v)| {
                let f = format!("{field}.{}", name.get_ref());
                let i = m.param_index(name.get_ref()).ok_or_else(|| {
                    self.error_kind(
                        name,
                        &f,
                        ModelErrorKind::UnknownName,
                        format!(
                            "the model has no parameter `{}`{}",
                            name.get_ref(),
                            did_you_mean_among(
                                name.get_ref(),
                                m.params.iter().map(|p| p.name.as_str())
                            )
                        ),
                    )
                })?;
                if !v.get_ref().is_finite() {
                    return Err(self.error(v, &f, "expected a finite value"));
                }
                Ok((i, *v.get_ref()))
            })
            .collect()
    }

    fn state(
        &self,
        name: &S<String>,
        st: &S<RawState>,
        all: &IndexMap<S<String>, S<RawState>>,
    ) -> Result<StateSpec, ModelError> {
        let r = st.get_ref();
        let field = format!("states.{}", name.get_ref());
        let known: Vec<&str> = all.keys().map(|k| k.get_ref().as_str()).collect();
        let from = match &r.from {
            Some(f) => {
                let n = self.state_name(f, &format!("{field}.from"), &known)?;
                if n == *name.get_ref() || self.reaches(all, &n, name.get_ref()) {
                    return Err(self.error(
                        f,
                        &format!("{field}.from"),
                        "states must not start from themselves (directly or through others)",
                    ));
                }
                Some(n)
            }
            None => None,
        };
        let opt_dur = |d: &Option<S<String>>, key: &str| -> Result<f64, ModelError> {
            d.as_ref()
                .map_or(Ok(0.0), |d| self.duration(d, &format!("{field}.{key}")))
        };
        let schedule = match &r.schedule {
            Some(s) => Some(locate(self.dir, s.get_ref()).ok_or_else(|| {
                self.error(
                    s,
                    &format!("{field}.schedule"),
                    format!(
                        "no schedule file at {} (beside the fact file) or {} (from the working directory)",
                        self.dir.join(s.get_ref()).display(),
                        s.get_ref()
                    ),
                )
            })?),
            None => None,
        };
        if let (Some(w), None) = (&r.washout, &schedule) {
            return Err(self.error(
                w,
                &format!("{field}.washout"),
                "`washout` follows a schedule; this state has none (use `equilibrate`)",
            ));
        }
        Ok(StateSpec {
            name: name.get_ref().clone(),
            description: r.description.clone(),
            from,
            equilibrate: opt_dur(&r.equilibrate, "equilibrate")?,
            schedule,
            set: self.set(&r.set, &format!("{field}.set"))?,
            washout: opt_dur(&r.washout, "washout")?,
        })
    }

    /// Does state `from` (following `from` links) reach `target`?
    fn reaches(&self, all: &IndexMap<S<String>, S<RawState>>, from: &str, target: &str) -> bool {
        let mut cur = Some(from.to_string());
        let mut steps = 0;
        while let Some(c) = cur {
            if c == target {
                return true;
            }
            steps += 1;
            if steps > all.len() {
                return true;
            }
            cur = all
                .iter()
                .find(|(k, _)| k.get_ref() == &c)
                .and_then(|(_, v)| v.get_ref().from.as_ref().map(|f| f.get_ref().clone()));
        }
        false
    }

    fn condition(
        &self,
        c: &S<RawCondition>,
        field: &str,
        states: &IndexMap<String, StateSpec>,
    ) -> Result<Condition, ModelError> {
        let r = c.get_ref();
        let known: Vec<&str> = states.keys().map(String::as_str).collect();
        Ok(Condition {
            state: self.state_name(&r.state, &format!("{field}.state"), &known)?,
            drugs: self.drugs(&r.drugs, &format!("{field}.drugs"))?,
            set: self.set(&r.set, &format!("{field}.set"))?,
            duration: r
                .duration
                .as_ref()
                .map(|d| self.duration(d, &format!("{field}.duration")))
                .transpose()?,
        })
    }

    fn quantity(&self, q: &S<String>, field: &str) -> Result<Quantity, ModelError> {
        let m = self.model();
        let name = q.get_ref().as_str();
        Ok(match name {
            "cells" => Quantity::Cells,
            "growth_rate" => Quantity::GrowthRate,
            "division_rate" => Quantity::DivisionRate,
            "death_rate" => Quantity::DeathRate,
            "tumour_volume" => Quantity::TumourVolume,
            _ => {
                if let Some(i) = m.species_index(name) {
                    Quantity::Variable(i)
                } else if let Some(k) = m.observables.iter().position(|o| o.name == name) {
                    Quantity::Variable(m.species.len() + k)
                } else if is_plain_name(name) {
                    let names = m
                        .species
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(m.observables.iter().map(|o| o.name.as_str()))
                        .chain(QUANTITY_WORDS.iter().copied());
                    return Err(self.error_kind(
                        q,
                        field,
                        ModelErrorKind::UnknownName,
                        format!(
                            "`{name}` is not a species, observable, or one of {}{}; an expression of species, observables and parameters is also accepted",
                            QUANTITY_WORDS.join(", "),
                            did_you_mean_among(name, names)
                        ),
                    ));
                } else {
                    self.expression(q, field)?
                }
            }
        })
    }

    /// A quantity written as an expression: species, observables and parameters, in
    /// the model's expression language (drugs and effects are not visible: a fact
    /// reads the cells' state, not the dish).
    fn expression(&self, q: &S<String>, field: &str) -> Result<Quantity, ModelError> {
        let m = self.model();
        let text = q.get_ref();
        // Column of the text inside the TOML string (after the opening quote).
        let at = |pos: usize| q.span().start + 1 + pos;
        let ast = crate::expr::parse(text).map_err(|e| {
            ModelError::at(
                self.src,
                at(e.pos),
                ModelErrorKind::Syntax,
                field.to_string(),
                format!("in the quantity expression: {}", e.message),
            )
        })?;
        let mut scope = crate::expr::Scope::new();
        for (i, s) in m.species.iter().enumerate() {
            scope.insert(&s.name, crate::expr::Var::Species(i));
        }
        for (k, o) in m.observables.iter().enumerate() {
            scope.insert(&o.name, crate::expr::Var::Observable(k));
        }
        for (i, p) in m.params.iter().enumerate() {
            scope.insert(&p.name, crate::expr::Var::Param(i));
        }
        let expr = crate::expr::resolve(&ast, &scope).map_err(|e| {
            ModelError::at(
                self.src,
                at(e.pos()),
                ModelErrorKind::UnknownName,
                field.to_string(),
                format!(
                    "in the quantity expression: {e} (an expression may use the model's species, observables and parameters; time `t` is not defined for a fact)"
                ),
            )
        })?;
        if expr_uses_time(&expr) {
            return Err(self.error(q, field, "a quantity expression cannot use time `t`"));
        }
        let mut v = self.exprs.borrow_mut();
        v.push(QuantityExpr {
            text: text.clone(),
            expr,
        });
        Ok(Quantity::Expression(v.len() - 1))
    }

    fn amount(&self, drug: usize, a: &S<Amount>, field: &str) -> Result<f64, ModelError> {
        match a.get_ref() {
            Amount::Number(v) if v.is_finite() && *v >= 0.0 => Ok(*v),
            Amount::Number(v) => Err(self.error(
                a,
                field,
                format!("expected a non-negative finite concentration, found {v}"),
            )),
            Amount::Text(t) => {
                let s = S::new(a.span(), t.clone());
                self.concentration(drug, &s, field)
            }
        }
    }

    fn range(
        &self,
        r: &Option<S<Vec<S<Amount>>>>,
        drug: usize,
        field: &str,
    ) -> Result<Option<(f64, f64)>, ModelError> {
        let Some(r) = r else { return Ok(None) };
        let v = r.get_ref();
        if v.len() != 2 {
            return Err(self.error(r, field, "expected [lowest, highest] concentrations"));
        }
        let lo = self.amount(drug, &v[0], field)?;
        let hi = self.amount(drug, &v[1], field)?;
        if !(lo > 0.0 && hi > lo) {
            return Err(self.error(r, field, "expected 0 < lowest < highest"));
        }
        Ok(Some((lo, hi)))
    }

    fn fact(
        &self,
        f: &S<RawFact>,
        states: &IndexMap<String, StateSpec>,
    ) -> Result<Fact, ModelError> {
        let r = f.get_ref();
        let id = r.id.get_ref().clone();
        let field = |k: &str| format!("fact[{id}].{k}");
        let need = |name: &str, present: bool| -> Result<(), ModelError> {
            if present {
                Ok(())
            } else {
                Err(self.error(
                    &r.kind,
                    &field(name),
                    format!("a `{}` fact needs `{name}`", r.kind.get_ref()),
                ))
            }
        };
        let role = self.role(r)?;
        let e = r.expect.get_ref();
        if e.min.is_none() && e.max.is_none() {
            return Err(self.error(&r.expect, &field("expect"), "give `min`, `max` or both"));
        }
        if let (Some(lo), Some(hi)) = (e.min, e.max) {
            if lo > hi {
                return Err(self.error(&r.expect, &field("expect"), "`min` is above `max`"));
            }
        }
        let cond = |c: &Option<S<RawCondition>>, key: &str| -> Result<Condition, ModelError> {
            need(key, c.is_some())?;
            self.condition(c.as_ref().unwrap(), &field(key), states)
        };
        let qty = || -> Result<Quantity, ModelError> {
            need("quantity", r.quantity.is_some())?;
            self.quantity(r.quantity.as_ref().unwrap(), &field("quantity"))
        };
        let drug = || -> Result<usize, ModelError> {
            need("drug", r.drug.is_some())?;
            self.drug(r.drug.as_ref().unwrap(), &field("drug"))
        };
        let known: Vec<&str> = states.keys().map(String::as_str).collect();
        let sched_state = || -> Result<String, ModelError> {
            need("state", r.state.is_some())?;
            let st = r.state.as_ref().unwrap();
            let StateField::Name(name) = st.get_ref() else {
                return Err(self.error(
                    st,
                    &field("state"),
                    "expected the name of a state with a schedule",
                ));
            };
            let s = &S::new(st.span(), name.clone());
            let n = self.state_name(s, &field("state"), &known)?;
            if states[&n].schedule.is_none() {
                return Err(self.error(
                    s,
                    &field("state"),
                    format!("state `{n}` has no schedule, so it has no timeline"),
                ));
            }
            Ok(n)
        };
        let time = |k: &str, v: &Option<S<String>>| -> Result<f64, ModelError> {
            need(k, v.is_some())?;
            self.duration(v.as_ref().unwrap(), &field(k))
        };
        let measure = match r.kind.get_ref().as_str() {
            "ratio" => Measure::Ratio {
                quantity: qty()?,
                test: cond(&r.test, "test")?,
                control: cond(&r.control, "control")?,
            },
            "value" => Measure::Value {
                quantity: qty()?,
                test: cond(&r.test, "test")?,
            },
            "ic50" => {
                let d = drug()?;
                Measure::Ic50 {
                    drug: d,
                    test: cond(&r.test, "test")?,
                    range: self.range(&r.range, d, &field("range"))?,
                }
            }
            "ic50_ratio" => {
                let d = drug()?;
                Measure::Ic50Ratio {
                    drug: d,
                    test: cond(&r.test, "test")?,
                    control: cond(&r.control, "control")?,
                    range: self.range(&r.range, d, &field("range"))?,
                }
            }
            "inhibition_ratio" => {
                need("drugs", r.drugs.is_some())?;
                Measure::InhibitionRatio {
                    drugs: self.drugs(r.drugs.as_ref().unwrap().get_ref(), &field("drugs"))?,
                    test: cond(&r.test, "test")?,
                    control: cond(&r.control, "control")?,
                }
            }
            "combination" => {
                need("a", r.a.is_some())?;
                need("b", r.b.is_some())?;
                need("score", r.score.is_some())?;
                let (da, a_doses, a_range) = self.drug_doses(r.a.as_ref().unwrap(), &field("a"))?;
                let (db, b_doses, b_range) = self.drug_doses(r.b.as_ref().unwrap(), &field("b"))?;
                if da == db {
                    return Err(self.error(
                        r.b.as_ref().unwrap(),
                        &field("b"),
                        "a combination needs two different drugs",
                    ));
                }
                if a_doses.len() != 1 {
                    return Err(self.error(
                        r.a.as_ref().unwrap(),
                        &field("a"),
                        "drug a takes one `dose`; list several doses on b",
                    ));
                }
                let s = r.score.as_ref().unwrap();
                let score = match s.get_ref().as_str() {
                    "bliss" => Score::Bliss,
                    "hsa" => Score::Hsa,
                    "ci" => Score::Ci,
                    other => {
                        return Err(self.error(
                            s,
                            &field("score"),
                            format!("unknown score `{other}`; expected bliss, hsa or ci"),
                        ))
                    }
                };
                // The condition may be given as `test` or (as a table) `state`.
                let test = match (&r.test, &r.state) {
                    (None, Some(st)) => match st.get_ref() {
                        StateField::Condition(c) => self.condition(
                            &S::new(st.span(), c.located(st.span())),
                            &field("state"),
                            states,
                        )?,
                        StateField::Name(n) => self.condition(
                            &S::new(
                                st.span(),
                                RawCondition {
                                    state: S::new(st.span(), n.clone()),
                                    drugs: IndexMap::new(),
                                    set: IndexMap::new(),
                                    duration: None,
                                },
                            ),
                            &field("state"),
                            states,
                        )?,
                    },
                    _ => cond(&r.test, "test")?,
                };
                Measure::Combination {
                    test,
                    a: (da, a_doses[0]),
                    b: (db, b_doses),
                    score,
                    range_a: match a_range {
                        Some(x) => Some(x),
                        None => self.range(&r.range, da, &field("range"))?,
                    },
                    range_b: b_range,
                }
            }
            "timeline_ratio" => Measure::TimelineRatio {
                state: sched_state()?,
                quantity: qty()?,
                at: time("at", &r.at)?,
                reference_at: time("reference_at", &r.reference_at)?,
            },
            "crossing_time" => {
                need("threshold", r.threshold.is_some())?;
                let up = match r.direction.as_ref().map(|d| d.get_ref().as_str()) {
                    None | Some("up") => true,
                    Some("down") => false,
                    Some(o) => {
                        return Err(self.error(
                            r.direction.as_ref().unwrap(),
                            &field("direction"),
                            format!("expected `up` or `down`, found `{o}`"),
                        ))
                    }
                };
                Measure::CrossingTime {
                    state: sched_state()?,
                    quantity: qty()?,
                    threshold: *r.threshold.as_ref().unwrap().get_ref(),
                    up,
                }
            }
            k @ ("window_min" | "window_max") => {
                let from = time("from", &r.from)?;
                let to = time("to", &r.to)?;
                if to < from {
                    return Err(self.error(
                        r.to.as_ref().unwrap(),
                        &field("to"),
                        "`to` is before `from`",
                    ));
                }
                Measure::Window {
                    state: sched_state()?,
                    quantity: qty()?,
                    from,
                    to,
                    max: k == "window_max",
                }
            }
            "event_time" => {
                need("event", r.event.is_some())?;
                let ev = r.event.as_ref().unwrap();
                let name = ev.get_ref().as_str();
                if !["ic50_fold", "steady_growth", "regrowth"].contains(&name) {
                    return Err(self.error(
                        ev,
                        &field("event"),
                        format!(
                            "unknown event `{name}`; expected ic50_fold, steady_growth or regrowth"
                        ),
                    ));
                }
                Measure::EventTime {
                    state: sched_state()?,
                    event: name.to_string(),
                }
            }
            other => {
                return Err(self.error(
                    &r.kind,
                    &field("kind"),
                    format!(
                        "unknown fact kind `{other}`; expected one of {}",
                        KINDS.join(", ")
                    ),
                ))
            }
        };
        Ok(Fact {
            id,
            role,
            claim: r.claim.clone(),
            study: r.study.clone(),
            measure,
            min: e.min,
            max: e.max,
            known_failure: r.known_failure.clone(),
        })
    }

    fn role(&self, r: &RawFact) -> Result<Role, ModelError> {
        let field = format!("fact[{}].role", r.id.get_ref());
        Ok(match r.role.as_ref().map(|x| (x, x.get_ref().as_str())) {
            Some((_, "calibration")) => Role::Calibration,
            Some((_, "prediction")) => Role::Prediction,
            Some((x, other)) => {
                return Err(self.error(
                    x,
                    &field,
                    format!("unknown role `{other}`; expected `calibration` (a target the model was fitted to) or `prediction` (written down before fitting, never calibrated on)"),
                ))
            }
            None => {
                return Err(self.error_kind(
                    &r.id,
                    &field,
                    ModelErrorKind::BadValue,
                    "every fact says what it is: add `role = \"calibration\"` (a target the model was fitted to) or `role = \"prediction\"` (written down before fitting, never calibrated on)",
                ))
            }
        })
    }

    /// The fact as a known failure the model cannot express (see [`Measure::Inexpressible`]).
    fn inexpressible(&self, f: &S<RawFact>, why: ModelError) -> Result<Fact, ModelError> {
        let r = f.get_ref();
        Ok(Fact {
            id: r.id.get_ref().clone(),
            role: self.role(r)?,
            claim: r.claim.clone(),
            study: r.study.clone(),
            measure: Measure::Inexpressible {
                reason: format!("the model cannot express this fact: {}", why.message),
            },
            min: r.expect.get_ref().min,
            max: r.expect.get_ref().max,
            known_failure: r.known_failure.clone(),
        })
    }

    #[allow(clippy::type_complexity)]
    fn drug_doses(
        &self,
        d: &S<RawDrugDose>,
        field: &str,
    ) -> Result<(usize, Vec<f64>, Option<(f64, f64)>), ModelError> {
        let r = d.get_ref();
        let di = self.drug(&r.drug, &format!("{field}.drug"))?;
        let doses = match (&r.dose, &r.doses) {
            (Some(x), None) => vec![self.concentration(di, x, &format!("{field}.dose"))?],
            (None, Some(list)) if !list.get_ref().is_empty() => list
                .get_ref()
                .iter()
                .map(|x| self.concentration(di, x, &format!("{field}.doses")))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(self.error(
                    d,
                    field,
                    "give exactly one of `dose` or a non-empty `doses` list",
                ))
            }
        };
        if doses.iter().any(|&x| x <= 0.0) {
            return Err(self.error(d, field, "combination doses must be positive"));
        }
        let range = self.range(&r.range, di, &format!("{field}.range"))?;
        Ok((di, doses, range))
    }
}

/// The fact kinds, for error messages.
pub const KINDS: &[&str] = &[
    "ratio",
    "value",
    "ic50",
    "ic50_ratio",
    "inhibition_ratio",
    "combination",
    "timeline_ratio",
    "crossing_time",
    "window_min",
    "window_max",
    "event_time",
];

/// Fact files of the shipped models: `models/*.facts.toml`.
pub fn fact_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".facts.toml"))
        .collect();
    v.sort();
    Ok(v)
}
