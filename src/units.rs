//! Concentration units and the conversions between them.
//!
//! Models state each drug's unit once; schedules may dose in any compatible unit
//! (`0.5uM` into a drug declared in nM), and in vivo doses in mg/kg become plasma
//! concentrations through the volume of distribution (and the molecular weight when
//! the drug's unit is molar).

use std::fmt;

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
}
