//! `[[parameters]]`: a model parameter (bounds default to the model's), a drug
//! quantity (`drug.NAME.half_life`, ...; bounds required, positive) or a dose
//! placeholder.

use super::*;

impl Cx<'_> {
    /// Resolve one `[[parameters]]` entry: a model parameter (bounds default to the
    /// model's and must lie inside them) or a dose placeholder (bounds required).
    pub(super) fn parameter(
        &self,
        p: &RawParameter,
        model: &CompiledModel,
        placeholders: &[(String, usize)],
        dose_specs: &[DoseSpecAt],
        options: &LoadOptions,
    ) -> Result<(ParameterSpec, Target, Option<String>), SweepError> {
        let name = p.name.get_ref();
        let at = p.name.span().start;
        let field = format!("parameters.{name}");
        if name.is_empty() || is_reserved(name) {
            return Err(self.err(
                at,
                &field,
                "a parameter name may not be empty nor one of id, status, error",
            ));
        }
        let lo = p.lo.as_ref().map(|v| *v.get_ref());
        let hi = p.hi.as_ref().map(|v| *v.get_ref());
        let (target, lo, hi, unit) = if let Some(i) = model.param_index(name) {
            let mp = &model.params[i];
            let declared = mp.bounds;
            let need = |which: &str| {
                self.err(
                    at,
                    &field,
                    format!(
                        "the model declares no bounds for `{name}`; give `{which}` in the sweep file"
                    ),
                )
            };
            let lo = match (lo, declared) {
                (Some(v), _) => v,
                (None, Some(b)) => b[0],
                (None, None) => return Err(need("lo")),
            };
            let hi = match (hi, declared) {
                (Some(v), _) => v,
                (None, Some(b)) => b[1],
                (None, None) => return Err(need("hi")),
            };
            if let (Some(b), false) = (declared, options.allow_outside) {
                for (v, which, span) in [(lo, "lo", &p.lo), (hi, "hi", &p.hi)] {
                    if v < b[0] || v > b[1] {
                        let off = span.as_ref().map_or(at, |s| s.span().start);
                        return Err(self.err(
                            off,
                            &format!("{field}.{which}"),
                            format!(
                                "{which} = {v} lies outside the bounds [{}, {}] the model `{}` declares for `{name}`; \
                                 pass --allow-out-of-bounds to sweep beyond them",
                                b[0], b[1], model.meta.name
                            ),
                        ));
                    }
                }
            }
            (Target::Param(i), lo, hi, mp.unit.clone())
        } else if DrugQuantity::is_drug_name(name) {
            let q = DrugQuantity::parse(model, name).map_err(|m| self.unknown(at, &field, m))?;
            let need = |which: &str| {
                self.err(
                    at,
                    &field,
                    format!(
                        "a drug quantity has no declared bounds; give `{which}` in the sweep file"
                    ),
                )
            };
            let lo = lo.ok_or_else(|| need("lo"))?;
            let hi = hi.ok_or_else(|| need("hi"))?;
            if lo <= 0.0 {
                let off = p.lo.as_ref().map_or(at, |s| s.span().start);
                return Err(self.err(
                    off,
                    &format!("{field}.lo"),
                    format!("lo = {lo}: `{name}` must be positive, as in the model file"),
                ));
            }
            (Target::Drug(q), lo, hi, Some(q.unit(model)))
        } else if placeholders.iter().any(|(n, _)| n == name) {
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(self.err(
                    at,
                    &field,
                    format!(
                        "`{name}` is a dose placeholder, not a model parameter: give lo and hi"
                    ),
                ));
            };
            (Target::Dose, lo, hi, placeholder_unit(dose_specs, name))
        } else {
            return Err(self.unknown(
                at,
                &field,
                format!(
                    "the model `{}` has no parameter `{name}`{} (and no dose spec uses `{{{name}}}`)",
                    model.meta.name,
                    did_you_mean_among(name, model.param_names())
                ),
            ));
        };
        let spec = ParameterSpec {
            name: name.clone(),
            lo,
            hi,
            scale: p.scale,
        };
        spec.validate()
            .map_err(|e| self.err(at, &field, e.to_string()))?;
        Ok((spec, target, unit))
    }
}
