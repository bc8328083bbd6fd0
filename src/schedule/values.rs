//! Values with units in a schedule: durations, concentrations, mg/kg doses and
//! days-of-week patterns. Each reader returns the value or the sentence explaining
//! what was expected; validation adds the file, line and field.

use crate::compile::Drug;
use crate::units::ConcUnit;

pub use crate::units::{duration, Amount};

/// An amount for `drug`: a concentration (converted into the drug's declared unit;
/// molar <-> mass through the drug's molecular weight) or an mg/kg dose. The grammar
/// is [`crate::units::amount`], shared with the command line.
pub fn amount(s: &str, drug: &Drug) -> Result<Amount, String> {
    crate::units::amount(
        s,
        &drug.unit,
        drug.in_vivo.and_then(|pk| pk.molecular_weight),
    )
}

/// Convert `v` in `from` into the drug's unit (one conversion rule for the whole
/// crate: [`ConcUnit::factor_to_with_mw`]).
pub fn convert(v: f64, from: &ConcUnit, drug: &Drug) -> Result<f64, String> {
    let mw = drug.in_vivo.and_then(|pk| pk.molecular_weight);
    from.factor_to_with_mw(&drug.unit, mw)
        .map(|f| v * f)
        .ok_or_else(|| {
            format!(
                "cannot convert {} into the drug's unit {} (molar vs mass) without the drug's \
             `molecular_weight` in the model",
                from, drug.unit
            )
        })
}

/// `"IC30"` -> 30.
pub fn icxx(s: &str) -> Option<Result<f64, String>> {
    let t = s.trim();
    let rest = t.strip_prefix("IC").or_else(|| t.strip_prefix("ic"))?;
    Some(match rest.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x < 100.0 => Ok(x),
        _ => Err(format!(
            "`{s}`: expected ICxx with 0 < xx < 100 (e.g. IC30), or a concentration"
        )),
    })
}

/// Dosing days within each week counted from an arm's start (1 = the start day).
pub fn days_pattern(pattern: &str) -> Result<Vec<u32>, String> {
    match pattern.trim() {
        "daily" | "7/7" => Ok((1..=7).collect()),
        "5/7" => Ok((1..=5).collect()),
        "3/7" => Ok(vec![1, 3, 5]),
        "weekly" | "1/7" => Ok(vec![1]),
        other => Err(format!(
            "unknown dosing days `{other}`; expected \"daily\", \"5/7\", \"3/7\", \"weekly\" \
             or a list of day numbers 1-7 counted from the arm's start"
        )),
    }
}

/// A list of weekday numbers 1..=7, no repeats.
pub fn weekdays(list: &[i64]) -> Result<Vec<u32>, String> {
    if list.is_empty() {
        return Err("the list of dosing days is empty".into());
    }
    let mut out: Vec<u32> = Vec::with_capacity(list.len());
    for &d in list {
        if !(1..=7).contains(&d) {
            return Err(format!(
                "day {d} is not a day of the week; expected numbers 1-7 counted from the arm's start"
            ));
        }
        if out.contains(&(d as u32)) {
            return Err(format!("day {d} is listed twice"));
        }
        out.push(d as u32);
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Drug, Pk};
    use crate::model::TimeUnit;

    fn drug(unit: &str, mw: Option<f64>) -> Drug {
        Drug {
            name: "x".into(),
            unit: ConcUnit::parse(unit).unwrap(),
            description: String::new(),
            target: String::new(),
            medium_half_life: None,
            in_vivo: mw.map(|m| Pk {
                half_life: 1.0,
                volume: 1.0,
                molecular_weight: Some(m),
            }),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration("72h", TimeUnit::Days).unwrap(), 3.0);
        assert_eq!(duration("4d", TimeUnit::Hours).unwrap(), 96.0);
        assert_eq!(duration("6 w", TimeUnit::Days).unwrap(), 42.0);
        assert_eq!(duration("1.5e1d", TimeUnit::Days).unwrap(), 15.0);
        assert!(duration("72", TimeUnit::Days)
            .unwrap_err()
            .contains("no unit"));
        assert!(duration("-3d", TimeUnit::Days)
            .unwrap_err()
            .contains("non-negative"));
        assert!(duration("3m", TimeUnit::Days)
            .unwrap_err()
            .contains("unknown time unit"));
        assert!(duration("nan d", TimeUnit::Days)
            .unwrap_err()
            .contains("finite"));
        assert!(duration("d", TimeUnit::Days).is_err());
    }

    #[test]
    fn amounts_convert_into_the_drug_unit() {
        let nm = drug("nM", None);
        let Amount::Concentration(v) = amount("0.5uM", &nm).unwrap() else {
            panic!()
        };
        assert!((v - 500.0).abs() < 1e-9);
        assert!(matches!(
            amount("50 mg/kg", &nm).unwrap(),
            Amount::MgPerKg(50.0)
        ));
        assert!(amount("10 ug/ml", &nm).unwrap_err().contains("molecular"));
        // 1 uM of a 500 g/mol drug = 0.5 ug/ml
        let ug = drug("ug/ml", Some(500.0));
        let Amount::Concentration(v) = amount("1 uM", &ug).unwrap() else {
            panic!()
        };
        assert!((v - 0.5).abs() < 1e-12);
        let um = drug("uM", Some(500.0));
        let Amount::Concentration(v) = amount("0.5 ug/ml", &um).unwrap() else {
            panic!()
        };
        assert!((v - 1.0).abs() < 1e-12);
        assert!(amount("-1 nM", &nm).unwrap_err().contains("non-negative"));
        assert!(amount("inf nM", &nm).unwrap_err().contains("finite"));
        assert!(amount("2", &nm).unwrap_err().contains("no unit"));
        assert!(amount("2 furlongs", &nm)
            .unwrap_err()
            .contains("unknown unit"));
    }

    #[test]
    fn days() {
        assert_eq!(days_pattern("3/7").unwrap(), vec![1, 3, 5]);
        assert_eq!(days_pattern("5/7").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(days_pattern("daily").unwrap().len(), 7);
        assert!(days_pattern("2/7").is_err());
        assert_eq!(weekdays(&[5, 1]).unwrap(), vec![1, 5]);
        assert!(weekdays(&[0]).is_err());
        assert!(weekdays(&[1, 1]).is_err());
        assert_eq!(icxx("IC30").unwrap().unwrap(), 30.0);
        assert!(icxx("IC100").unwrap().is_err());
        assert!(icxx("2 nM").is_none());
    }
}
