//! Concentration units and the conversions between them.
//!
//! Models state each drug's unit once; schedules may dose in any compatible unit
//! (`0.5uM` into a drug declared in nM), and in vivo doses in mg/kg become plasma
//! concentrations through the volume of distribution (and the molecular weight when
//! the drug's unit is molar).

use std::fmt;

use crate::model::TimeUnit;

/// A concentration unit: molar (scale to mol/L) or mass per volume (scale to g/L).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConcUnit {
    Molar {
        per_mol_l: f64,
        symbol: &'static str,
    },
    Mass {
        per_g_l: f64,
        symbol: &'static str,
    },
}

const UNITS: &[(&str, ConcUnit)] = &[
    (
        "pM",
        ConcUnit::Molar {
            per_mol_l: 1e-12,
            symbol: "pM",
        },
    ),
    (
        "nM",
        ConcUnit::Molar {
            per_mol_l: 1e-9,
            symbol: "nM",
        },
    ),
    (
        "uM",
        ConcUnit::Molar {
            per_mol_l: 1e-6,
            symbol: "uM",
        },
    ),
    (
        "µM",
        ConcUnit::Molar {
            per_mol_l: 1e-6,
            symbol: "uM",
        },
    ),
    (
        "mM",
        ConcUnit::Molar {
            per_mol_l: 1e-3,
            symbol: "mM",
        },
    ),
    (
        "M",
        ConcUnit::Molar {
            per_mol_l: 1.0,
            symbol: "M",
        },
    ),
    (
        "pg/ml",
        ConcUnit::Mass {
            per_g_l: 1e-9,
            symbol: "pg/ml",
        },
    ),
    (
        "ng/ml",
        ConcUnit::Mass {
            per_g_l: 1e-6,
            symbol: "ng/ml",
        },
    ),
    (
        "ug/ml",
        ConcUnit::Mass {
            per_g_l: 1e-3,
            symbol: "ug/ml",
        },
    ),
    (
        "µg/ml",
        ConcUnit::Mass {
            per_g_l: 1e-3,
            symbol: "ug/ml",
        },
    ),
    (
        "mg/l",
        ConcUnit::Mass {
            per_g_l: 1e-3,
            symbol: "mg/L",
        },
    ),
    (
        "mg/ml",
        ConcUnit::Mass {
            per_g_l: 1.0,
            symbol: "mg/ml",
        },
    ),
    (
        "g/l",
        ConcUnit::Mass {
            per_g_l: 1.0,
            symbol: "g/L",
        },
    ),
];

impl ConcUnit {
    /// Parse a unit symbol (`nM`, `uM`, `ug/ml`, `ng/mL`, `mg/L`, ...). Molar prefixes
    /// are case-sensitive (`mM` is not `MM`); `ml`/`mL`/`L`/`l` are accepted.
    pub fn parse(s: &str) -> Option<ConcUnit> {
        let s = s.trim();
        let norm = if s.contains('/') {
            s.replace("mL", "ml").replace("/L", "/l")
        } else {
            s.to_string()
        };
        UNITS.iter().find(|(k, _)| *k == norm).map(|(_, u)| *u)
    }

    pub fn symbol(&self) -> &'static str {
        match self {
            ConcUnit::Molar { symbol, .. } | ConcUnit::Mass { symbol, .. } => symbol,
        }
    }

    /// Factor converting a value in `self` into `to`, when both are molar or both mass.
    pub fn factor_to(&self, to: &ConcUnit) -> Option<f64> {
        match (self, to) {
            (ConcUnit::Molar { per_mol_l: a, .. }, ConcUnit::Molar { per_mol_l: b, .. }) => {
                Some(a / b)
            }
            (ConcUnit::Mass { per_g_l: a, .. }, ConcUnit::Mass { per_g_l: b, .. }) => Some(a / b),
            _ => None,
        }
    }

    /// Factor converting `self` into `to`, crossing molar and mass units through the
    /// molecular weight `mw` (g/mol) when given.
    pub fn factor_to_with_mw(&self, to: &ConcUnit, mw: Option<f64>) -> Option<f64> {
        if let Some(f) = self.factor_to(to) {
            return Some(f);
        }
        let mw = mw?;
        match (self, to) {
            // value [unit] -> mol/L -> g/L -> target
            (ConcUnit::Molar { per_mol_l, .. }, ConcUnit::Mass { per_g_l, .. }) => {
                Some(per_mol_l * mw / per_g_l)
            }
            (ConcUnit::Mass { per_g_l, .. }, ConcUnit::Molar { per_mol_l, .. }) => {
                Some(per_g_l / mw / per_mol_l)
            }
            _ => None,
        }
    }

    /// Convert a plasma concentration in mg/L into this unit (`mw` in g/mol, needed
    /// for molar units).
    pub fn from_mg_per_l(&self, mg_l: f64, mw: Option<f64>) -> Option<f64> {
        let g_l = mg_l * 1e-3;
        match self {
            ConcUnit::Mass { per_g_l, .. } => Some(g_l / per_g_l),
            ConcUnit::Molar { per_mol_l, .. } => mw.map(|mw| g_l / mw / per_mol_l),
        }
    }

    /// All accepted symbols, for error messages.
    pub fn known() -> String {
        UNITS
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !k.contains('µ'))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ConcUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

// ---------------------------------------------------------------------------------
// One grammar for durations and amounts: the command line (`--dose`, `--dt`, ...),
// schedules, sweeps and fact files all read values with units through these.
// ---------------------------------------------------------------------------------

/// Split `"2.5 nM"` into the number and the rest (unit), trimmed.
fn split_number(s: &str) -> (&str, &str) {
    let s = s.trim();
    let b = s.as_bytes();
    let mut end = 0;
    while end < b.len() {
        let c = b[end];
        let ok = c.is_ascii_digit()
            || c == b'.'
            || ((c == b'e' || c == b'E')
                && end > 0
                && b.get(end + 1).is_some_and(|n| {
                    n.is_ascii_digit() || ((*n == b'-' || *n == b'+') && end + 2 < b.len())
                }))
            || ((c == b'-' || c == b'+') && (end == 0 || matches!(b[end - 1], b'e' | b'E')));
        if !ok {
            break;
        }
        end += 1;
    }
    (s[..end].trim(), s[end..].trim())
}

/// The leading number of `s` and the rest; `Ok(None)` when there is no number.
fn leading(s: &str) -> Result<Option<(f64, &str)>, String> {
    let lower = s.trim().trim_start_matches(['-', '+']).to_ascii_lowercase();
    if lower.starts_with("nan") || lower.starts_with("inf") {
        return Err(format!("expected a finite value, found `{s}`"));
    }
    let (num, rest) = split_number(s);
    if num.is_empty() {
        return Ok(None);
    }
    let v = num
        .parse::<f64>()
        .map_err(|_| format!("cannot read a number at the start of `{s}`"))?;
    Ok(Some((v, rest)))
}

/// A duration with a unit (`72h`, `4d`, `6w`), converted into the model's time unit.
/// A bare number is refused: the schedule does not know the model's time unit.
pub fn duration(s: &str, unit: TimeUnit) -> Result<f64, String> {
    let Some((v, u)) = leading(s)? else {
        return Err(format!(
            "expected a duration such as `72h`, `4d` or `6w`, found `{s}`"
        ));
    };
    let hours = match u {
        "h" | "hour" | "hours" => 1.0,
        "d" | "day" | "days" => 24.0,
        "w" | "week" | "weeks" => 168.0,
        "" => {
            return Err(format!(
                "`{s}` has no unit; write it in hours, days or weeks (`{s}h`, `{s}d`, `{s}w`)"
            ))
        }
        other => {
            return Err(format!(
                "unknown time unit `{other}` in `{s}`; expected h, d or w"
            ))
        }
    };
    if !v.is_finite() {
        return Err(format!("expected a finite duration, found `{s}`"));
    }
    if v < 0.0 {
        return Err(format!("expected a non-negative duration, found `{s}`"));
    }
    Ok(v * hours / unit.hours())
}

/// What kind of amount a text is, by its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// A concentration already converted into the drug's unit.
    Concentration(f64),
    /// An mg/kg dose.
    MgPerKg(f64),
}

/// An amount in the grammar shared by the command line, schedules, sweeps and facts:
/// a concentration (converted into `unit`; molar <-> mass through the molecular
/// weight `mw`, g/mol) or an mg/kg dose. A bare number is refused: it would silently
/// mean whatever unit the reader assumed.
pub fn amount(s: &str, unit: &ConcUnit, mw: Option<f64>) -> Result<Amount, String> {
    let Some((v, given)) = leading(s)? else {
        return Err(format!(
            "expected an amount with a unit such as `2 nM`, `10 ug/ml` or `50 mg/kg`, found `{s}`"
        ));
    };
    if !v.is_finite() {
        return Err(format!("expected a finite amount, found `{s}`"));
    }
    if v < 0.0 {
        return Err(format!("expected a non-negative amount, found `{s}`"));
    }
    if given.is_empty() {
        return Err(format!(
            "`{s}` has no unit; write a concentration (e.g. `{v}{unit}`) or an mg/kg dose"
        ));
    }
    if given.eq_ignore_ascii_case("mg/kg") {
        return Ok(Amount::MgPerKg(v));
    }
    let from = ConcUnit::parse(given).ok_or_else(|| {
        format!(
            "unknown unit `{given}`; expected mg/kg or a concentration ({})",
            ConcUnit::known()
        )
    })?;
    from.factor_to_with_mw(unit, mw)
        .map(|f| Amount::Concentration(v * f))
        .ok_or_else(|| {
            format!(
                "cannot convert {from} into the drug's unit {unit} (molar vs mass) without the \
                 drug's `molecular_weight` in the model"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let nm = ConcUnit::parse("nM").unwrap();
        let um = ConcUnit::parse("uM").unwrap();
        assert!((um.factor_to(&nm).unwrap() - 1000.0).abs() < 1e-9);
        let ugml = ConcUnit::parse("ug/mL").unwrap();
        assert_eq!(ugml.factor_to(&nm), None);
        // 1 uM of a 500 g/mol drug = 0.5 ug/ml, and back
        let f = um.factor_to_with_mw(&ugml, Some(500.0)).unwrap();
        assert!((f - 0.5).abs() < 1e-12);
        let g = ugml.factor_to_with_mw(&um, Some(500.0)).unwrap();
        assert!((f * g - 1.0).abs() < 1e-12);
        assert_eq!(um.factor_to_with_mw(&ugml, None), None);
        // 10 mg/L of a 500 g/mol drug = 20 uM
        assert!((um.from_mg_per_l(10.0, Some(500.0)).unwrap() - 20.0).abs() < 1e-12);
        assert_eq!(um.from_mg_per_l(10.0, None), None);
        assert!((ugml.from_mg_per_l(10.0, None).unwrap() - 10.0).abs() < 1e-12);
        assert!(ConcUnit::parse("MM").is_none());
    }

    #[test]
    fn one_grammar_for_durations_and_amounts() {
        assert_eq!(duration("3w", TimeUnit::Days).unwrap(), 21.0);
        assert_eq!(duration("72h", TimeUnit::Days).unwrap(), 3.0);
        assert!(duration("72", TimeUnit::Days)
            .unwrap_err()
            .contains("no unit"));
        let nm = ConcUnit::parse("nM").unwrap();
        assert_eq!(
            amount("0.05uM", &nm, None).unwrap(),
            Amount::Concentration(50.0)
        );
        assert!(amount("0.05", &nm, None).unwrap_err().contains("no unit"));
        assert_eq!(amount("5mg/kg", &nm, None).unwrap(), Amount::MgPerKg(5.0));
    }
}
