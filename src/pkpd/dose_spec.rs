//! The command line's repeated-dosing shorthand:
//! `DRUG=AMOUNT@EVERY[xCOUNT][,STEP][,escalate_every=N][,cap=AMOUNT]`.
//!
//! `AMOUNT` carries a unit: a concentration (`0.5uM`, `10ng/ml`: in vitro, the medium
//! is set to it at every refresh) or `mg/kg` (in vivo bolus). `EVERY` is a duration
//! with `h`, `d` or `w`. Both are read by the one grammar of [`crate::units`] that
//! schedules, sweeps and facts use; a bare number is an error. `xCOUNT` limits the
//! number of doses; without it dosing repeats until the end of the run. The first
//! dose is at t = 0. `EVERY` may be any duration (`84h`, `3.5d`).
//!
//! A dose that changes by rule adds options after commas, with the names and meaning
//! of a schedule's bolus series ([`super::escalation`]): `STEP` is `+AMOUNT` (added)
//! or `xFACTOR` (multiplied), taken once every `escalate_every` doses (default 1),
//! up to `cap`. `trastuzumab=1mg/kg@3.5dx105,+0.1mg/kg` gives 105 boluses every 3.5
//! days of 1, 1.1, 1.2, ... mg/kg.

use super::escalation::{parse_step, Escalation};
use super::{DoseEvent, DoseKind};
use crate::compile::CompiledModel;
use crate::units::Amount;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--dose `{spec}`: {message}")]
pub struct DoseSpecError {
    pub spec: String,
    pub message: String,
}

/// Read an amount with its unit for drug `di`: a concentration (`0.5uM`, `10 ng/ml`,
/// converted into the drug's unit, through its molecular weight when one side is
/// molar and the other mass) or an in vivo dose (`50 mg/kg`). The error is a sentence
/// for the caller to place (file and line, or the flag).
pub fn parse_amount(model: &CompiledModel, di: usize, amount: &str) -> Result<DoseKind, String> {
    let drug = &model.drugs[di];
    let mw = drug.in_vivo.and_then(|pk| pk.molecular_weight);
    match crate::units::amount(amount, &drug.unit, mw)? {
        Amount::MgPerKg(_) if drug.in_vivo.is_none() => Err(format!(
            "mg/kg dosing needs `[drugs.{}.in_vivo]` pharmacokinetics in the model",
            drug.name
        )),
        Amount::MgPerKg(mg_per_kg) => Ok(DoseKind::Bolus { mg_per_kg }),
        Amount::Concentration(value) => Ok(DoseKind::SetConcentration { value }),
    }
}

/// The index of the drug `name`, or a message naming the model's drugs (and the
/// closest, for a typo).
pub fn find_drug(model: &CompiledModel, name: &str) -> Result<usize, String> {
    model.drug_index(name).ok_or_else(|| {
        let names = || model.drugs.iter().map(|d| d.name.as_str());
        format!(
            "the model has no drug `{name}`{}; its drugs are: {}",
            crate::expr::resolve::did_you_mean_among(name, names()),
            names().collect::<Vec<_>>().join(", ")
        )
    })
}

/// A dose spec read against a model: what `DRUG=AMOUNT@EVERY[xCOUNT][,STEP]...` says,
/// before it is laid out over a run of a given length ([`DoseSpec::events`]). It is
/// read once, where it enters (a `--dose` flag, a model's `[scenario]`), and the run
/// uses this value; it is written (manifests) as the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseSpec {
    /// The spec as given.
    pub text: String,
    pub drug: usize,
    /// The first dose.
    pub kind: DoseKind,
    /// Interval between doses, in the model's time unit (> 0).
    pub every: f64,
    /// Number of doses; `None`: until the end of the run.
    pub count: Option<usize>,
    pub escalation: Option<Escalation>,
}

impl serde::Serialize for DoseSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl DoseSpec {
    /// Read `spec` against `model` (drug, amount and unit, interval, count, escalation).
    pub fn parse(model: &CompiledModel, spec: &str) -> Result<DoseSpec, DoseSpecError> {
        let fail = |m: String| DoseSpecError {
            spec: spec.to_string(),
            message: m,
        };
        let (head, options) = match spec.split_once(',') {
            Some((h, o)) => (h, Some(o)),
            None => (spec, None),
        };
        let (drug, rest) = head
            .split_once('=')
            .ok_or_else(|| fail(format!("expected {SYNTAX}")))?;
        let di = find_drug(model, drug.trim()).map_err(fail)?;
        let (amount, timing) = rest
            .split_once('@')
            .ok_or_else(|| fail("missing `@EVERY` (e.g. `@72h`)".into()))?;
        let kind = parse_amount(model, di, amount).map_err(fail)?;
        let (every, count) = match timing.split_once('x') {
            Some((e, c)) => (
                e,
                Some(
                    c.trim()
                        .parse::<usize>()
                        .map_err(|_| fail(format!("cannot read the dose count `{c}`")))?,
                ),
            ),
            None => (timing, None),
        };
        let escalation = match options {
            None => None,
            Some(o) => Some(escalation(model, di, kind, o).map_err(fail)?),
        };
        let tu = model.meta.time_unit;
        let every =
            crate::units::duration(every, tu).map_err(|m| fail(format!("the interval: {m}")))?;
        if every <= 0.0 {
            return Err(fail("the dosing interval must be positive".into()));
        }
        Ok(DoseSpec {
            text: spec.to_string(),
            drug: di,
            kind,
            every,
            count,
            escalation,
        })
    }

    /// Refuse a spec that would put more doses into `[0, t_end]` than the `doses`
    /// limit allows, counted before any is laid out (`@1e-6h` over a month is 7e8).
    pub fn check_count(&self, t_end: f64) -> Result<(), DoseSpecError> {
        let n = crate::limits::events_in(t_end, self.every)
            .min(self.count.map_or(f64::INFINITY, |c| c as f64));
        crate::limits::check(crate::limits::Limit::Doses, n).map_err(|e| DoseSpecError {
            spec: self.text.clone(),
            message: e.to_string(),
        })
    }

    /// The dose events over `[0, t_end]`, the first at t = 0.
    pub fn events(&self, t_end: f64) -> Result<Vec<DoseEvent>, DoseSpecError> {
        self.check_count(t_end)?;
        let mut events = Vec::new();
        let mut k = 0usize;
        loop {
            let t = k as f64 * self.every;
            if t > t_end + 1e-9 * self.every || self.count.is_some_and(|c| k >= c) {
                break;
            }
            let kind = match (self.escalation, self.kind) {
                (None, kind) => kind,
                (Some(e), DoseKind::Bolus { mg_per_kg }) => DoseKind::Bolus {
                    mg_per_kg: e.dose(mg_per_kg, k as u64),
                },
                (Some(e), DoseKind::SetConcentration { value }) => DoseKind::SetConcentration {
                    value: e.dose(value, k as u64),
                },
            };
            events.push(DoseEvent {
                time: t,
                drug: self.drug,
                kind,
            });
            k += 1;
        }
        Ok(events)
    }
}

/// Read one `--dose` spec and expand it into events over `[0, t_end]` (for a spec
/// used once; one used again keeps its [`DoseSpec`]).
pub fn parse_dose_spec(
    model: &CompiledModel,
    spec: &str,
    t_end: f64,
) -> Result<Vec<DoseEvent>, DoseSpecError> {
    DoseSpec::parse(model, spec)?.events(t_end)
}

/// The shape of a dose spec, for messages.
const SYNTAX: &str = "DRUG=AMOUNT@EVERY[xCOUNT][,STEP][,escalate_every=N][,cap=AMOUNT]";

/// The escalation options after the first comma of a dose spec: one step (`+AMOUNT`
/// or `xFACTOR`), optionally `escalate_every=N` and `cap=AMOUNT`.
fn escalation(
    model: &CompiledModel,
    di: usize,
    kind: DoseKind,
    options: &str,
) -> Result<Escalation, String> {
    let drug = &model.drugs[di];
    let mw = drug.in_vivo.and_then(|pk| pk.molecular_weight);
    let bolus = matches!(kind, DoseKind::Bolus { .. });
    let (mut step, mut every, mut cap) = (None, None, None);
    for opt in options.split(',').map(str::trim) {
        match opt.split_once('=') {
            Some(("escalate_every", n)) if every.is_none() => {
                every = Some(
                    n.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| {
                            format!("`escalate_every={n}`: expected a whole number of doses >= 1")
                        })?,
                );
            }
            Some(("cap", c)) if cap.is_none() => {
                cap = Some(match (parse_amount(model, di, c)?, bolus) {
                    (DoseKind::Bolus { mg_per_kg }, true) => mg_per_kg,
                    (DoseKind::SetConcentration { value }, false) => value,
                    _ => return Err(format!("`cap={c}`: the cap must be in the dose's unit")),
                });
            }
            Some((k, _)) => {
                return Err(format!(
                    "`{opt}`: unknown or repeated option `{k}`; expected {SYNTAX}"
                ))
            }
            None if step.is_none() => step = Some(parse_step(opt, bolus, &drug.unit, mw)?),
            None => return Err(format!("`{opt}`: a dose has one escalation step")),
        }
    }
    let step = step.ok_or_else(|| {
        format!("escalation options without a step (`+AMOUNT` or `xFACTOR`); expected {SYNTAX}")
    })?;
    Ok(Escalation {
        step,
        every: every.unwrap_or(1),
        cap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CompiledModel {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minimal_loop.toml");
        crate::compile::compile_file(&path).unwrap()
    }

    /// The model's `[scenario]` doses are read when it is compiled, into the value the
    /// runs lay out over their own length (a `--days` longer than the scenario's),
    /// and written back as the text they were read from.
    #[test]
    fn a_scenario_is_read_once_into_typed_doses() {
        let m = model();
        let sc = m.scenario.as_ref().unwrap();
        let spec = &sc.doses[0];
        assert_eq!(spec.text, "tki=1uM@72h");
        assert_eq!(spec.drug, m.drug_index("tki").unwrap());
        assert_eq!(spec.every, 72.0, "hours, the model's time unit");
        assert_eq!(spec.kind, DoseKind::SetConcentration { value: 1.0 });
        let times = |t_end: f64| -> Vec<f64> {
            spec.events(t_end).unwrap().iter().map(|e| e.time).collect()
        };
        assert_eq!(times(100.0), vec![0.0, 72.0]);
        assert_eq!(times(30.0 * 24.0).len(), 11, "0, 72, ..., 720 h");
        assert_eq!(serde_json::to_string(spec).unwrap(), "\"tki=1uM@72h\"");
    }

    /// A count and an escalation belong to the spec, the run's length only cuts it.
    #[test]
    fn count_and_escalation_are_kept_until_laid_out() {
        let m = model();
        let spec = DoseSpec::parse(&m, "tki=10mg/kg@3.5dx8,+5mg/kg").unwrap();
        let doses = |t_end: f64| -> Vec<(f64, f64)> {
            spec.events(t_end)
                .unwrap()
                .iter()
                .map(|e| match e.kind {
                    DoseKind::Bolus { mg_per_kg } => (e.time, mg_per_kg),
                    k => panic!("{k:?}"),
                })
                .collect()
        };
        let all = doses(28.0 * 24.0);
        assert_eq!(all.len(), 8, "the count caps a long run");
        assert_eq!(all[7], (7.0 * 84.0, 45.0));
        assert_eq!(doses(100.0), vec![(0.0, 10.0), (84.0, 15.0)]);
        assert_eq!(
            parse_dose_spec(&m, "tki=10mg/kg@3.5dx8,+5mg/kg", 100.0).unwrap(),
            spec.events(100.0).unwrap()
        );
    }
}
