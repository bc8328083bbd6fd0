//! `[[metrics]]`: each entry resolved against the model (and the schedule file, if
//! any) into a column name, a [`Metric`] and its unit.

use super::*;

impl Cx<'_> {
    /// Resolve the `[[metrics]]` list; returns (name, metric) pairs and their units.
    #[allow(clippy::type_complexity)]
    pub(super) fn metrics(
        &self,
        model: &CompiledModel,
        raw: &[RawMetric],
        days: f64,
        params: &[ParameterSpec],
        schedule: Option<&Schedule>,
    ) -> Result<(Vec<(String, Metric)>, BTreeMap<String, String>), SweepError> {
        if raw.is_empty() {
            return Err(self.err(
                0,
                "metrics",
                "a model sweep needs at least one [[metrics]] entry (e.g. kind = \"final_population\")",
            ));
        }
        let mut out: Vec<(String, Metric)> = Vec::new();
        let mut units = BTreeMap::new();
        let mut seen: HashSet<String> = params.iter().map(|p| p.name.clone()).collect();
        for (k, m) in raw.iter().enumerate() {
            let (name, metric, unit) = self.metric(model, m, k, days, schedule)?;
            let (at, field) = match &m.name {
                Some(n) => (n.span().start, format!("metrics[{k}].name")),
                None => (m.kind.span().start, format!("metrics[{k}].kind")),
            };
            if name.is_empty() || is_reserved(&name) || !seen.insert(name.clone()) {
                return Err(self.err(
                    at,
                    &field,
                    format!(
                        "the column name `{name}` is empty, reserved (id, status, error) or already used by a parameter or metric; give this metric a distinct `name`"
                    ),
                ));
            }
            if !unit.is_empty() {
                units.insert(name.clone(), unit);
            }
            out.push((name, metric));
        }
        Ok((out, units))
    }

    /// Resolve one metric: (column name, definition, unit).
    pub(super) fn metric(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
        days: f64,
        schedule: Option<&Schedule>,
    ) -> Result<(String, Metric, String), SweepError> {
        let kind = m.kind.get_ref().as_str();
        let field = |f: &str| format!("metrics[{k}].{f}");
        let Some((_, allowed)) = METRIC_KINDS.iter().find(|(n, _)| *n == kind) else {
            return Err(self.unknown(
                m.kind.span().start,
                &field("kind"),
                format!(
                    "unknown metric kind `{kind}`{}; kinds: {}",
                    did_you_mean_among(kind, METRIC_KINDS.iter().map(|(n, _)| *n)),
                    METRIC_KINDS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        for (f, at) in m.present() {
            if !allowed.contains(&f) {
                return Err(self.err(
                    at,
                    &field(f),
                    format!(
                        "`{f}` does not apply to metric kind `{kind}` (it takes: name{})",
                        allowed.iter().map(|a| format!(", {a}")).collect::<String>()
                    ),
                ));
            }
        }
        let time =
            |s: &Option<Spanned<String>>, f: &str, default: f64| -> Result<f64, SweepError> {
                let Some(s) = s else { return Ok(default) };
                let v = parse_days(s.get_ref()).ok_or_else(|| {
                    self.err(
                        s.span().start,
                        &field(f),
                        format!(
                            "cannot read the time `{}` (a number with h, d or w, e.g. 30d)",
                            s.get_ref()
                        ),
                    )
                })?;
                if !(0.0..=days * (1.0 + 1e-12)).contains(&v) {
                    return Err(self.err(
                        s.span().start,
                        &field(f),
                        format!(
                            "the time {} ({v} d) lies outside the run (0 to {days} d)",
                            s.get_ref()
                        ),
                    ));
                }
                Ok(v.min(days))
            };
        let window = || -> Result<(f64, f64), SweepError> {
            let from = time(&m.from, "from", 0.0)?;
            let to = time(&m.to, "to", days)?;
            if to <= from {
                let at =
                    m.to.as_ref()
                        .or(m.from.as_ref())
                        .map_or(m.kind.span().start, |s| s.span().start);
                return Err(self.err(
                    at,
                    &field("to"),
                    format!("the window must end after it starts (from {from} d, to {to} d)"),
                ));
            }
            Ok((from, to))
        };
        let suffix = |col: &ColumnRef, default_pop: &str| {
            if col.population == default_pop {
                String::new()
            } else {
                format!("_{}", col.population)
            }
        };
        let given = m.name.as_ref().map(|n| n.get_ref().clone());
        let (default_name, metric, unit) = match kind {
            "final_population" => {
                let cells = self.cells_of(model, m, k)?;
                let n = format!("final_population{}", suffix(&cells, "total"));
                (n, Metric::FinalPopulation { cells }, "cells".to_string())
            }
            "resistant_fraction" => {
                let genotypes = match &m.genotypes {
                    Some(g) => {
                        for name in g.get_ref() {
                            if model.genotype_index(name).is_none() {
                                return Err(self.unknown(
                                    g.span().start,
                                    &field("genotypes"),
                                    format!(
                                        "the model `{}` has no genotype `{name}`{}",
                                        model.meta.name,
                                        did_you_mean_among(
                                            name,
                                            model.genotypes.iter().map(|g| g.name.as_str())
                                        )
                                    ),
                                ));
                            }
                        }
                        g.get_ref().clone()
                    }
                    None => model
                        .genotypes
                        .iter()
                        .skip(1)
                        .map(|g| g.name.clone())
                        .collect(),
                };
                if genotypes.is_empty() {
                    return Err(self.err(
                        m.kind.span().start,
                        &field("genotypes"),
                        format!(
                            "the model `{}` has no genotype besides its base; a resistant fraction needs `genotypes`",
                            model.meta.name
                        ),
                    ));
                }
                let at = time(&m.at, "at", days)?;
                (
                    "resistant_fraction".to_string(),
                    Metric::ResistantFraction { genotypes, at },
                    "1".to_string(),
                )
            }
            "time_to_resistance" => {
                let by_schedule = match &m.rule {
                    None => schedule.is_some(),
                    Some(r) => match r.get_ref().as_str() {
                        "regrowth" => false,
                        "schedule" if schedule.is_some() => true,
                        "schedule" => {
                            return Err(self.err(
                                r.span().start,
                                &field("rule"),
                                "rule = \"schedule\" uses a therapy schedule's [resistance] rules: name one with `[schedule] file`, or use rule = \"regrowth\"",
                            ))
                        }
                        other => {
                            return Err(self.err(
                                r.span().start,
                                &field("rule"),
                                format!("unknown rule `{other}`; expected regrowth or schedule"),
                            ))
                        }
                    },
                };
                if by_schedule {
                    for (f, at) in [
                        ("fraction", m.fraction.as_ref().map(|x| x.span().start)),
                        ("population", m.population.as_ref().map(|x| x.span().start)),
                    ] {
                        if let Some(at) = at {
                            return Err(self.err(
                                at,
                                &field(f),
                                format!("`{f}` belongs to rule = \"regrowth\"; with a schedule file the schedule's [resistance] rules decide (set rule = \"regrowth\" to use it)"),
                            ));
                        }
                    }
                    return Ok((
                        given.unwrap_or_else(|| "time_to_resistance".into()),
                        Metric::ScheduleResistance,
                        "d".into(),
                    ));
                }
                let fraction = match &m.fraction {
                    Some(f) => {
                        let v = *f.get_ref();
                        if !(v.is_finite() && v > 0.0) {
                            return Err(self.err(
                                f.span().start,
                                &field("fraction"),
                                format!("expected a positive fraction, found {v}"),
                            ));
                        }
                        v
                    }
                    None => DEFAULT_REGROWTH,
                };
                let cells = self.cells_of(model, m, k)?;
                let n = format!("time_to_resistance{}", suffix(&cells, "total"));
                (
                    n,
                    Metric::TimeToResistance { cells, fraction },
                    "d".to_string(),
                )
            }
            "auc" | "value" | "min" | "max" => {
                let (column, unit) = self.column(model, m, k, schedule)?;
                let base = &model.genotypes[0].name;
                let default_pop = if column.variable == "cells" {
                    "total"
                } else if model.drug_index(&column.variable).is_some() {
                    "exposure"
                } else {
                    base.as_str()
                };
                let sfx = suffix(&column, default_pop);
                let var = column.variable.clone();
                match kind {
                    "auc" => {
                        let (from, to) = window()?;
                        let u = if unit.is_empty() {
                            "d".to_string()
                        } else {
                            format!("{unit} d")
                        };
                        (
                            format!("auc_{var}{sfx}"),
                            Metric::Auc { column, from, to },
                            u,
                        )
                    }
                    "value" => {
                        let at = time(&m.at, "at", days)?;
                        let n = match &m.at {
                            Some(s) => format!("{var}{sfx}_at_{}", s.get_ref().replace(' ', "")),
                            None => format!("final_{var}{sfx}"),
                        };
                        (n, Metric::ValueAt { column, at }, unit)
                    }
                    "min" => {
                        let (from, to) = window()?;
                        (
                            format!("min_{var}{sfx}"),
                            Metric::Min { column, from, to },
                            unit,
                        )
                    }
                    _ => {
                        let (from, to) = window()?;
                        (
                            format!("max_{var}{sfx}"),
                            Metric::Max { column, from, to },
                            unit,
                        )
                    }
                }
            }
            "ic50_fold" => {
                if schedule.is_none_or(|s| s.ic50_every.is_none()) {
                    return Err(self.err(
                        m.kind.span().start,
                        &field("kind"),
                        "`ic50_fold` needs IC50 readouts: a therapy schedule (`[schedule] file`) with `ic50_every`",
                    ));
                }
                ("ic50_fold".to_string(), Metric::Ic50Fold, "1".to_string())
            }
            _ => {
                let sm = self.synergy(model, m, k)?;
                let n = format!(
                    "{}_{}_{}_{}",
                    sm.method,
                    sm.statistic.name(),
                    model.drugs[sm.drug_a].name,
                    model.drugs[sm.drug_b].name
                );
                (n, Metric::Synergy(sm), "1".to_string())
            }
        };
        Ok((given.unwrap_or(default_name), metric, unit))
    }

    /// Resolve a synergy metric: two drugs of the model, their checkerboard doses,
    /// a method of the synergy layer, a summary statistic and the snapshot.
    pub(super) fn synergy(
        &self,
        model: &CompiledModel,
        m: &RawMetric,
        k: usize,
    ) -> Result<SynergyMetric, SweepError> {
        let field = |f: &str| format!("metrics[{k}].{f}");
        let at_kind = m.kind.span().start;
        let Some(drugs) = &m.drugs else {
            return Err(self.err(
                at_kind,
                &field("drugs"),
                "a synergy metric needs `drugs = [\"A\", \"B\"]`",
            ));
        };
        let names = drugs.get_ref();
        if names.len() != 2 || names[0] == names[1] {
            return Err(self.err(
                drugs.span().start,
                &field("drugs"),
                format!("expected two different drugs, found {names:?}"),
            ));
        }
        let mut idx = [0usize; 2];
        for (slot, name) in idx.iter_mut().zip(names) {
            *slot = model.drug_index(name).ok_or_else(|| {
                self.unknown(
                    drugs.span().start,
                    &field("drugs"),
                    format!(
                        "the model `{}` has no drug `{name}`{}",
                        model.meta.name,
                        did_you_mean_among(name, model.drugs.iter().map(|d| d.name.as_str()))
                    ),
                )
            })?;
        }
        let doses = |d: &Option<Spanned<Vec<f64>>>,
                     f: &str,
                     drug: usize|
         -> Result<Vec<f64>, SweepError> {
            let Some(d) = d else {
                return Err(self.err(
                    at_kind,
                    &field(f),
                    format!("a synergy metric needs `{f}`: the checkerboard concentrations of `{}` in {}", model.drugs[drug].name, model.drugs[drug].unit.symbol()),
                ));
            };
            normalise_doses(d.get_ref()).ok_or_else(|| {
                self.err(d.span().start, &field(f), "expected at least three distinct non-negative, finite concentrations (0 is added for the single-agent row)")
            })
        };
        let method = match &m.method {
            None => SynergyMethod::Bliss,
            Some(s) => s
                .get_ref()
                .parse::<SynergyMethod>()
                .map_err(|e| self.unknown(s.span().start, &field("method"), e.to_string()))?,
        };
        let statistic = match &m.summary {
            None => Statistic::Mean,
            Some(s) => Statistic::parse(s.get_ref()).ok_or_else(|| {
                self.err(
                    s.span().start,
                    &field("summary"),
                    format!(
                        "unknown summary `{}`; expected mean, median, min or max",
                        s.get_ref()
                    ),
                )
            })?,
        };
        let snapshot = match m
            .snapshot
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s.span().start))
        {
            None | Some(("end", _)) => Snapshot::End,
            Some(("start", _)) => Snapshot::Start,
            Some((other, at)) => {
                return Err(self.err(
                    at,
                    &field("snapshot"),
                    format!("unknown snapshot `{other}`; expected start or end"),
                ))
            }
        };
        Ok(SynergyMetric {
            drug_a: idx[0],
            drug_b: idx[1],
            doses_a: doses(&m.doses_a, "doses_a", idx[0])?,
            doses_b: doses(&m.doses_b, "doses_b", idx[1])?,
            method,
            statistic,
            snapshot,
        })
    }
}
