//! The command line's repeated-dosing shorthand: `DRUG=AMOUNT@EVERY[xCOUNT]`.
//!
//! `AMOUNT` carries a unit: a concentration (`0.5uM`, `10ng/ml`: in vitro, the medium
//! is set to it at every refresh) or `mg/kg` (in vivo bolus). `EVERY` is a duration
//! with `h`, `d` or `w`. Both are read by the one grammar of [`crate::units`] that
//! schedules, sweeps and facts use; a bare number is an error. `xCOUNT` limits the
//! number of doses; without it dosing repeats until the end of the run. The first
//! dose is at t = 0.

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

/// Expand one `--dose` spec into events over `[0, t_end]`.
pub fn parse_dose_spec(
    model: &CompiledModel,
    spec: &str,
    t_end: f64,
) -> Result<Vec<DoseEvent>, DoseSpecError> {
    let fail = |m: String| DoseSpecError {
        spec: spec.to_string(),
        message: m,
    };
    let (drug, rest) = spec
        .split_once('=')
        .ok_or_else(|| fail("expected DRUG=AMOUNT@EVERY[xCOUNT]".into()))?;
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
    let tu = model.meta.time_unit;
    let every =
        crate::units::duration(every, tu).map_err(|m| fail(format!("the interval: {m}")))?;
    if every <= 0.0 {
        return Err(fail("the dosing interval must be positive".into()));
    }
    // Count before expanding: `@1e-6h` over a month is 7e8 events.
    let n = crate::limits::events_in(t_end, every).min(count.map_or(f64::INFINITY, |c| c as f64));
    crate::limits::check(crate::limits::Limit::Doses, n).map_err(|e| fail(e.to_string()))?;
    let mut events = Vec::new();
    let mut k = 0usize;
    loop {
        let t = k as f64 * every;
        if t > t_end + 1e-9 * every || count.is_some_and(|c| k >= c) {
            break;
        }
        events.push(DoseEvent {
            time: t,
            drug: di,
            kind,
        });
        k += 1;
    }
    Ok(events)
}
