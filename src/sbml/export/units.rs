//! resloop's unit texts as SBML units, where they name one.
//!
//! A model file's units are free text (`"1/h"`, `"uM"`, `"fraction of parental"`).
//! The ones with an SI meaning become SBML unit definitions: the time unit and
//! rates per time, the drug concentration units of [`ConcUnit`], volume per body
//! weight, molar mass and cells (`item`); numbers (`"1"`) and ratios (`"fraction
//! ..."`, `"fold ..."`) are `dimensionless`. Anything else (`"survival units"`)
//! has no SBML unit: the text stays in the quantity's annotation, never guessed.

use super::document::UnitDef;
use crate::units::ConcUnit;

/// An SBML unit: a base unit or a definition the document must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum SbmlUnit {
    Base(&'static str),
    Defined(UnitDef),
}

/// Seconds in a time symbol (`h`, `day`, ...).
fn seconds_in(s: &str) -> Option<(&'static str, f64)> {
    Some(match s {
        "s" | "sec" | "second" | "seconds" => ("second", 1.0),
        "min" | "minute" | "minutes" => ("minute", 60.0),
        "h" | "hr" | "hour" | "hours" => ("hour", 3600.0),
        "d" | "day" | "days" => ("day", 86400.0),
        "w" | "week" | "weeks" => ("week", 604800.0),
        _ => return None,
    })
}

/// The SBML unit of a resloop unit text, if it has one.
pub fn sbml_unit(text: &str) -> Option<SbmlUnit> {
    let t = text.trim();
    if t == "1" || t.starts_with("fraction") || t.starts_with("fold") {
        return Some(SbmlUnit::Base("dimensionless"));
    }
    if let Some(per) = t.strip_prefix("1/") {
        let (id, s) = seconds_in(per.trim())?;
        return Some(SbmlUnit::Defined(UnitDef {
            id: format!("per_{id}"),
            units: vec![("second", -1.0, 0, s)],
        }));
    }
    if let Some((id, s)) = seconds_in(t) {
        if id == "second" {
            return Some(SbmlUnit::Base("second"));
        }
        return Some(SbmlUnit::Defined(UnitDef {
            id: id.to_string(),
            units: vec![("second", 1.0, 0, s)],
        }));
    }
    if let Some(c) = ConcUnit::parse(t) {
        return Some(SbmlUnit::Defined(concentration(&c)));
    }
    let defined = |id: &str, units| {
        Some(SbmlUnit::Defined(UnitDef {
            id: id.into(),
            units,
        }))
    };
    match t {
        "L/kg" | "l/kg" => defined(
            "litre_per_kilogram",
            vec![("litre", 1.0, 0, 1.0), ("kilogram", -1.0, 0, 1.0)],
        ),
        "g/mol" => defined(
            "gram_per_mole",
            vec![("gram", 1.0, 0, 1.0), ("mole", -1.0, 0, 1.0)],
        ),
        "cells" | "cell" => defined("cell", vec![("item", 1.0, 0, 1.0)]),
        _ => None,
    }
}

/// A drug concentration unit: mole or gram (times its factor) per litre.
pub fn concentration(c: &ConcUnit) -> UnitDef {
    let id = c.symbol().replace('/', "_per_");
    match *c {
        ConcUnit::Molar { per_mol_l, .. } => UnitDef {
            id,
            units: vec![("mole", 1.0, 0, per_mol_l), ("litre", -1.0, 0, 1.0)],
        },
        ConcUnit::Mass { per_g_l, .. } => UnitDef {
            id,
            units: vec![("gram", 1.0, 0, per_g_l), ("litre", -1.0, 0, 1.0)],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_texts() {
        let def = |t: &str| match sbml_unit(t) {
            Some(SbmlUnit::Defined(d)) => d,
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(def("1/h").units, vec![("second", -1.0, 0, 3600.0)]);
        assert_eq!(def("1/d").id, "per_day");
        assert_eq!(def("h").units, vec![("second", 1.0, 0, 3600.0)]);
        assert_eq!(sbml_unit("s"), Some(SbmlUnit::Base("second")));
        assert_eq!(def("uM").units[0], ("mole", 1.0, 0, 1e-6));
        assert_eq!(def("ng/ml").id, "ng_per_ml");
        assert_eq!(
            sbml_unit("fraction of parental"),
            Some(SbmlUnit::Base("dimensionless"))
        );
        assert_eq!(sbml_unit("1"), Some(SbmlUnit::Base("dimensionless")));
        assert_eq!(sbml_unit("survival units"), None);
        assert_eq!(sbml_unit("1 per parental pFAK unit"), None);
    }
}
