//! Which timeline column a metric reads: cells of a population, a species,
//! observable, rate or drug exposure, and the columns only therapy runs have.

use super::*;

impl Cx<'_> {
    /// The cell-count column of `population` (default `total`).
    pub(super) fn cells_of(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
    ) -> Result<ColumnRef, SweepError> {
        let pop = match &m.population {
            None => "total".to_string(),
            Some(p) => {
                let name = p.get_ref();
                if name != "total" && model.genotype_index(name).is_none() {
                    return Err(self.unknown(
                        p.span().start,
                        &format!("metrics[{k}].population"),
                        format!(
                            "`{name}` is neither `total` nor a genotype of the model `{}`{}",
                            model.meta.name,
                            did_you_mean_among(
                                name,
                                model.genotypes.iter().map(|g| g.name.as_str())
                            )
                        ),
                    ));
                }
                name.clone()
            }
        };
        Ok(ColumnRef {
            population: pop,
            variable: "cells".into(),
        })
    }

    /// Columns only a therapy run's timeline has: totals (`expanded_cells`,
    /// `resistant_fraction`, `resistant_fraction_ic50`, in vivo `tumour_volume`) and
    /// the scheduled dose of each drug (population `dose`). `None` for other columns.
    pub(super) fn therapy_column(
        &self,
        model: &CompiledModel,
        s: &Schedule,
        var: &str,
        pop: Option<&str>,
        pop_at: usize,
        k: usize,
    ) -> Result<Option<(ColumnRef, String)>, SweepError> {
        let field = format!("metrics[{k}].population");
        let totals: &[(&str, &str)] = &[
            ("expanded_cells", "cells"),
            ("resistant_fraction", "1"),
            ("resistant_fraction_ic50", "1"),
            ("tumour_volume", "mm^3"),
        ];
        if let Some((_, unit)) = totals.iter().find(|(n, _)| *n == var) {
            if var == "tumour_volume" && s.setting != Setting::InVivo {
                return Err(self.err(
                    pop_at,
                    &format!("metrics[{k}].variable"),
                    "`tumour_volume` exists only in in vivo schedules",
                ));
            }
            if pop.is_some_and(|p| p != "total") {
                return Err(self.err(
                    pop_at,
                    &field,
                    format!("`{var}` is a column of population `total`"),
                ));
            }
            return Ok(Some((
                ColumnRef {
                    population: "total".into(),
                    variable: var.into(),
                },
                unit.to_string(),
            )));
        }
        if pop == Some("dose") {
            let Some(d) = model
                .drug_index(var)
                .filter(|&d| s.arms.iter().any(|a| a.drug == d))
            else {
                return Err(self.err(pop_at, &field, format!("population `dose` holds the scheduled dose of each drug the schedule gives; `{var}` is not one")));
            };
            let unit = match s.setting {
                Setting::InVivo => "mg/kg".to_string(),
                _ => model.drugs[d].unit.symbol().to_string(),
            };
            return Ok(Some((
                ColumnRef {
                    population: "dose".into(),
                    variable: var.into(),
                },
                unit,
            )));
        }
        Ok(None)
    }

    /// A timeline column named by `variable` and `population`, with its unit.
    pub(super) fn column(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
        schedule: Option<&Schedule>,
    ) -> Result<(ColumnRef, String), SweepError> {
        let Some(v) = &m.variable else {
            return Err(self.err(
                m.kind.span().start,
                &format!("metrics[{k}].variable"),
                format!("metric kind `{}` needs a `variable` (a species, observable, drug, cells, division_rate or death_rate)", m.kind.get_ref()),
            ));
        };
        let var = v.get_ref().as_str();
        let pop_at = m
            .population
            .as_ref()
            .map_or(v.span().start, |s| s.span().start);
        let pop_given = m.population.as_ref().map(|p| p.get_ref().as_str());
        if let Some(s) = schedule {
            if let Some(col) = self.therapy_column(model, s, var, pop_given, pop_at, k)? {
                return Ok(col);
            }
        }
        let tu = model.meta.time_unit.symbol();
        let per_cell: Option<String> = if let Some(i) = model.species_index(var) {
            Some(model.species[i].unit.clone())
        } else if let Some(o) = model.observables.iter().find(|o| o.name == var) {
            Some(o.unit.clone().unwrap_or_default())
        } else if var == "division_rate" || var == "death_rate" {
            Some(format!("1/{tu}"))
        } else {
            None
        };
        let drug = model.drug_index(var);
        let candidates = || {
            model
                .species
                .iter()
                .map(|s| s.name.as_str())
                .chain(model.observables.iter().map(|o| o.name.as_str()))
                .chain(model.drugs.iter().map(|d| d.name.as_str()))
                .chain(["cells", "division_rate", "death_rate"])
        };
        if per_cell.is_none() && drug.is_none() && var != "cells" {
            return Err(self.unknown(
                v.span().start,
                &format!("metrics[{k}].variable"),
                format!(
                    "the model `{}` has no species, observable or drug `{var}`{}",
                    model.meta.name,
                    did_you_mean_among(var, candidates())
                ),
            ));
        }
        let base = model.genotypes[0].name.clone();
        let pop = m.population.as_ref().map(|p| p.get_ref().clone());
        let bad_pop = |p: &str, expected: &str| {
            self.err(
                m.population.as_ref().map_or(0, |s| s.span().start),
                &format!("metrics[{k}].population"),
                format!("population `{p}` does not fit variable `{var}` (expected {expected})"),
            )
        };
        let (population, unit) = if let Some(d) = drug {
            let p = pop.unwrap_or_else(|| "exposure".into());
            if p != "exposure" {
                return Err(bad_pop(&p, "`exposure`"));
            }
            (p, model.drugs[d].unit.symbol().to_string())
        } else {
            let default = if var == "cells" {
                "total".to_string()
            } else {
                base
            };
            let p = pop.unwrap_or(default);
            let genotype = model.genotype_index(&p).is_some();
            let ok = genotype || (p == "total" && var == "cells");
            if !ok {
                let expected = if var == "cells" {
                    "`total` or a genotype"
                } else {
                    "a genotype"
                };
                return Err(bad_pop(&p, expected));
            }
            let unit = per_cell.unwrap_or_else(|| "cells".into());
            (p, unit)
        };
        Ok((
            ColumnRef {
                population,
                variable: var.to_string(),
            },
            unit,
        ))
    }
}
