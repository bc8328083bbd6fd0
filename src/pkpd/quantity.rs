//! A drug's own numbers as named quantities, so `--set` and sweeps change them like
//! model parameters: `drug.NAME.half_life`, `drug.NAME.volume` (in vivo PK),
//! `drug.NAME.medium_half_life` (in culture) and `drug.NAME.EFFECT.ic50` / `.emax` /
//! `.hill` (an effect whose value the model file gives as a number).
//!
//! Values are in the units the model file uses for them: half-lives in the model's
//! time unit, the volume in L/kg, IC50 in the drug's unit, Emax and Hill unitless.
//! Every one must be a positive finite number (what the model file requires). An
//! effect value the model gives as a parameter name is that parameter's: set it by
//! the parameter's name (one name per quantity).

use crate::compile::CompiledModel;
use crate::expr::{Expr, Var};

/// Prefix of every drug quantity's name.
pub const PREFIX: &str = "drug.";

/// Which number of a drug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrugField {
    HalfLife,
    Volume,
    MediumHalfLife,
    Ic50(usize),
    Emax(usize),
    Hill(usize),
}

/// One number of one drug of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrugQuantity {
    pub drug: usize,
    pub field: DrugField,
}

impl DrugQuantity {
    /// Whether `name` is meant as a drug quantity (starts with `drug.`).
    pub fn is_drug_name(name: &str) -> bool {
        name.starts_with(PREFIX)
    }

    /// Resolve `drug.NAME.FIELD` or `drug.NAME.EFFECT.FIELD` on `model`; the error
    /// says what the model offers.
    pub fn parse(model: &CompiledModel, name: &str) -> Result<DrugQuantity, String> {
        let rest = name.strip_prefix(PREFIX).unwrap_or(name);
        let parts: Vec<&str> = rest.split('.').collect();
        let drug = model
            .drug_index(parts[0])
            .ok_or_else(|| super::find_drug(model, parts[0]).unwrap_err())?;
        let d = &model.drugs[drug];
        let effects: Vec<usize> = (0..model.effects.len())
            .filter(|&e| model.effects[e].drug == drug)
            .collect();
        let offered = || {
            let mut v = vec!["half_life", "volume", "medium_half_life"]
                .into_iter()
                .map(|f| format!("drug.{}.{f}", d.name))
                .collect::<Vec<_>>();
            for &e in &effects {
                v.push(format!(
                    "drug.{}.{}.{{ic50,emax,hill}}",
                    d.name, model.effects[e].name
                ));
            }
            v.join(", ")
        };
        let field = match parts[1..] {
            ["half_life"] => DrugField::HalfLife,
            ["volume"] => DrugField::Volume,
            ["medium_half_life"] => DrugField::MediumHalfLife,
            [effect, f @ ("ic50" | "emax" | "hill")] => {
                let e = effects
                    .iter()
                    .copied()
                    .find(|&e| model.effects[e].name == effect)
                    .ok_or_else(|| {
                        format!(
                            "drug `{}` has no effect `{effect}`; its quantities are: {}",
                            d.name,
                            offered()
                        )
                    })?;
                match f {
                    "ic50" => DrugField::Ic50(e),
                    "emax" => DrugField::Emax(e),
                    _ => DrugField::Hill(e),
                }
            }
            _ => {
                return Err(format!(
                    "`{name}` is not a drug quantity; drug `{}` has: {}",
                    d.name,
                    offered()
                ))
            }
        };
        let q = DrugQuantity { drug, field };
        q.value(model).map(|_| q)
    }

    /// The quantity's name (`drug.NAME.FIELD`).
    pub fn name(&self, model: &CompiledModel) -> String {
        let d = &model.drugs[self.drug].name;
        let e = |i: usize| &model.effects[i].name;
        match self.field {
            DrugField::HalfLife => format!("drug.{d}.half_life"),
            DrugField::Volume => format!("drug.{d}.volume"),
            DrugField::MediumHalfLife => format!("drug.{d}.medium_half_life"),
            DrugField::Ic50(i) => format!("drug.{d}.{}.ic50", e(i)),
            DrugField::Emax(i) => format!("drug.{d}.{}.emax", e(i)),
            DrugField::Hill(i) => format!("drug.{d}.{}.hill", e(i)),
        }
    }

    /// Unit of the value (as the model file gives it).
    pub fn unit(&self, model: &CompiledModel) -> String {
        match self.field {
            DrugField::HalfLife | DrugField::MediumHalfLife => {
                model.meta.time_unit.symbol().to_string()
            }
            DrugField::Volume => "L/kg".into(),
            DrugField::Ic50(_) => model.drugs[self.drug].unit.symbol().to_string(),
            DrugField::Emax(_) | DrugField::Hill(_) => "1".into(),
        }
    }

    fn effect_expr<'m>(&self, model: &'m CompiledModel) -> Option<&'m Expr> {
        match self.field {
            DrugField::Ic50(i) => Some(&model.effects[i].ic50),
            DrugField::Emax(i) => Some(&model.effects[i].emax),
            DrugField::Hill(i) => Some(&model.effects[i].hill),
            _ => None,
        }
    }

    /// The model's value; an error when the model has no such number (PK the drug
    /// lacks, an effect value that is a parameter).
    pub fn value(&self, model: &CompiledModel) -> Result<f64, String> {
        let d = &model.drugs[self.drug];
        let dn = &d.name;
        match self.field {
            DrugField::HalfLife | DrugField::Volume => {
                let pk = d.in_vivo.ok_or_else(|| {
                    format!("drug `{dn}` has no `[drugs.{dn}.in_vivo]` pharmacokinetics")
                })?;
                Ok(if self.field == DrugField::HalfLife {
                    pk.half_life
                } else {
                    pk.volume
                })
            }
            DrugField::MediumHalfLife => d.medium_half_life.ok_or_else(|| {
                format!(
                    "drug `{dn}` is stable in the medium (no `medium_half_life` in the model); \
                     give one in the model to vary it"
                )
            }),
            _ => {
                let e = self.effect_expr(model).expect("an effect field");
                match e {
                    Expr::Var(Var::Param(p)) => Err(format!(
                        "in the model `{}` is the parameter `{}`; set or sweep `{}`",
                        self.name(model),
                        model.params[*p].name,
                        model.params[*p].name
                    )),
                    _ => e.as_const().ok_or_else(|| {
                        format!("`{}` is not a number in the model", self.name(model))
                    }),
                }
            }
        }
    }

    /// Put `v` in place of the model's value. `v` must be a positive finite number,
    /// as in the model file.
    pub fn set(&self, model: &mut CompiledModel, v: f64) -> Result<(), String> {
        self.value(model)?;
        if !(v.is_finite() && v > 0.0) {
            return Err(format!(
                "`{}` must be a positive finite number, found {v}",
                self.name(model)
            ));
        }
        let d = &mut model.drugs[self.drug];
        match self.field {
            DrugField::HalfLife => d.in_vivo.as_mut().expect("checked").half_life = v,
            DrugField::Volume => d.in_vivo.as_mut().expect("checked").volume = v,
            DrugField::MediumHalfLife => d.medium_half_life = Some(v),
            DrugField::Ic50(i) => model.effects[i].ic50 = Expr::c(v),
            DrugField::Emax(i) => model.effects[i].emax = Expr::c(v),
            DrugField::Hill(i) => model.effects[i].hill = Expr::c(v),
        }
        Ok(())
    }
}
