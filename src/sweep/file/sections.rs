//! The `[model]` and `[schedule]` sections: the model file, fixed parameter changes,
//! solver settings, the therapy schedule file or the plain run's days and dose specs
//! (with `{name}` placeholders).

use super::*;

impl Cx<'_> {
    /// Load and compile the model named by `[model] file`.
    pub(super) fn model(
        &self,
        file: &Spanned<String>,
    ) -> Result<(CompiledModel, PathBuf), SweepError> {
        let path = self.dir.join(file.get_ref());
        if !path.is_file() {
            return Err(self.err(
                file.span().start,
                "model.file",
                format!("no model file at {}", path.display()),
            ));
        }
        let (msrc, mfile) = load_file(&path)?;
        Ok((compile(&msrc, &mfile)?, path))
    }

    /// Model parameter values with the file's `set` changes; a drug quantity
    /// (`drug.NAME.half_life`, ...) in `set` changes the model itself.
    pub(super) fn base_params(
        &self,
        model: &mut CompiledModel,
        rm: &RawModel,
    ) -> Result<Vec<f64>, SweepError> {
        let mut base = model.param_values();
        for (name, value) in &rm.set {
            let field = format!("model.set.{}", name.get_ref());
            if DrugQuantity::is_drug_name(name.get_ref()) {
                DrugQuantity::parse(model, name.get_ref())
                    .map_err(|m| self.unknown(name.span().start, &field, m))?
                    .set(model, *value.get_ref())
                    .map_err(|m| self.err(value.span().start, &field, m))?;
                continue;
            }
            let i = model.param_index(name.get_ref()).ok_or_else(|| {
                self.unknown(
                    name.span().start,
                    &field,
                    format!(
                        "the model `{}` has no parameter `{}`{}",
                        model.meta.name,
                        name.get_ref(),
                        did_you_mean_among(name.get_ref(), model.param_names())
                    ),
                )
            })?;
            let v = *value.get_ref();
            if !v.is_finite() {
                return Err(self.err(
                    value.span().start,
                    &field,
                    format!("expected a finite value, found {v}"),
                ));
            }
            base[i] = v;
        }
        Ok(base)
    }

    /// The therapy schedule named by `[schedule] file`, checked against the model; the
    /// keys that describe a plain run (`days`, `doses`, `points`, `initial_cells`) are
    /// the schedule file's business then and refused here.
    pub(super) fn schedule_file(
        &self,
        model: &CompiledModel,
        rs: Option<&RawSchedule>,
    ) -> Result<Option<Schedule>, SweepError> {
        let Some(rs) = rs else { return Ok(None) };
        let Some(file) = &rs.file else {
            return Ok(None);
        };
        let clash = [
            ("days", rs.days.as_ref().map(|x| x.span().start)),
            (
                "doses",
                rs.doses
                    .as_ref()
                    .and_then(|d| d.first())
                    .map(|x| x.span().start),
            ),
            ("points", rs.points.as_ref().map(|x| x.span().start)),
            (
                "initial_cells",
                rs.initial_cells.as_ref().map(|x| x.span().start),
            ),
        ];
        for (key, at) in clash {
            if let Some(at) = at {
                return Err(self.err(
                    at,
                    &format!("schedule.{key}"),
                    format!("`{key}` does not go with a schedule file: the schedule sets the duration, doses, readouts and initial cells"),
                ));
            }
        }
        let path = self.dir.join(file.get_ref());
        if !path.is_file() {
            return Err(self.err(
                file.span().start,
                "schedule.file",
                format!("no schedule file at {}", path.display()),
            ));
        }
        Ok(Some(Schedule::load(&path, model)?))
    }

    /// Run length (days) and dose specs: the `[schedule]` section, else the model's
    /// `[scenario]`.
    pub(super) fn schedule(
        &self,
        model: &CompiledModel,
        rs: Option<&RawSchedule>,
    ) -> Result<(f64, DoseList), SweepError> {
        let scenario = model.scenario.as_ref();
        let days = match rs.and_then(|s| s.days.as_ref()) {
            Some(d) => {
                let v = *d.get_ref();
                if !(v.is_finite() && v > 0.0) {
                    return Err(self.err(
                        d.span().start,
                        "schedule.days",
                        format!("expected a positive number of days, found {v}"),
                    ));
                }
                v
            }
            None => match scenario {
                Some(s) => s.days,
                None => {
                    return Err(self.err(
                        0,
                        "schedule.days",
                        format!(
                        "the model `{}` declares no [scenario]; give [schedule] days (and doses)",
                        model.meta.name
                    ),
                    ))
                }
            },
        };
        let at = rs
            .and_then(|s| s.days.as_ref())
            .map_or(0, |d| d.span().start);
        crate::limits::check(crate::limits::Limit::Days, days)
            .map_err(|e| self.err(at, "schedule.days", e.to_string()))?;
        let doses = match rs.and_then(|s| s.doses.as_ref()) {
            Some(d) => DoseList::File(
                d.iter()
                    .map(|s| (s.get_ref().clone(), s.span().start))
                    .collect(),
            ),
            None => DoseList::Scenario(scenario.map(|s| s.doses.clone()).unwrap_or_default()),
        };
        Ok((days, doses))
    }

    /// Solver settings (`[model]`) and output grid and initial cells (`[schedule]`).
    pub(super) fn ode_options(
        &self,
        rm: &RawModel,
        rs: Option<&RawSchedule>,
        t_end: f64,
    ) -> Result<OdeOptions, SweepError> {
        let mut o = OdeOptions::new(t_end);
        if let Some(m) = &rm.method {
            o.method = Method::parse(m.get_ref()).ok_or_else(|| {
                self.err(
                    m.span().start,
                    "model.method",
                    format!(
                        "unknown method `{}`; expected {}",
                        m.get_ref(),
                        Method::EXPECTED
                    ),
                )
            })?;
        }
        if let Some(r) = &rm.rtol {
            let v = *r.get_ref();
            crate::limits::check_tolerances(v, o.atol)
                .map_err(|e| self.err(r.span().start, "model.rtol", e.to_string()))?;
            o.rtol = v;
        }
        if let Some(a) = &rm.atol {
            let v = *a.get_ref();
            crate::limits::check_tolerances(o.rtol, v)
                .map_err(|e| self.err(a.span().start, "model.atol", e.to_string()))?;
            o.atol = v;
        }
        o.n_out = DEFAULT_POINTS as usize;
        if let Some(p) = rs.and_then(|s| s.points.as_ref()) {
            let v = *p.get_ref();
            if v < 1 {
                return Err(self.err(
                    p.span().start,
                    "schedule.points",
                    format!("expected at least 1 output interval, found {v}"),
                ));
            }
            crate::limits::check(crate::limits::Limit::Points, v as f64)
                .map_err(|e| self.err(p.span().start, "schedule.points", e.to_string()))?;
            o.n_out = v as usize;
        }
        if let Some(c) = rs.and_then(|s| s.initial_cells.as_ref()) {
            let v = *c.get_ref();
            if !(v.is_finite() && v > 0.0) {
                return Err(self.err(
                    c.span().start,
                    "schedule.initial_cells",
                    format!("expected a positive number of cells, found {v}"),
                ));
            }
            o.initial_cells = Some(v);
        }
        Ok(o)
    }

    /// Dose events: parsed once when fixed; with placeholders, checked now at the
    /// bounds of every placeholder parameter and parsed per run.
    pub(super) fn doses(
        &self,
        model: &CompiledModel,
        doses: &DoseList,
        targets: &[(String, Target)],
        params: &[ParameterSpec],
        t_end: f64,
    ) -> Result<Doses, SweepError> {
        let specs = match doses {
            DoseList::File(specs) => specs,
            DoseList::Scenario(specs) => {
                let mut events = Vec::new();
                for s in specs {
                    events.extend(
                        s.events(t_end)
                            .map_err(|e| self.err(0, "schedule.doses", e.to_string()))?,
                    );
                }
                return Ok(Doses::Fixed(events));
            }
        };
        let templated = specs.iter().any(|(s, _)| !placeholder_names(s).is_empty());
        let check = |s: &str, at: usize| {
            parse_dose_spec(model, s, t_end)
                .map_err(|e| self.err(at, "schedule.doses", e.to_string()))
        };
        if !templated {
            let mut events = Vec::new();
            for (s, at) in specs {
                events.extend(check(s, *at)?);
            }
            return Ok(Doses::Fixed(events));
        }
        for corner in [0, 1] {
            let point: Vec<f64> = params
                .iter()
                .map(|p| if corner == 0 { p.lo } else { p.hi })
                .collect();
            for (s, at) in specs {
                check(&fill_template(s, targets, &point), *at)?;
            }
        }
        Ok(Doses::Templates(
            specs.iter().map(|(s, _)| s.clone()).collect(),
        ))
    }
}

/// Names inside `{...}` in a dose spec.
pub(super) fn placeholder_names(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = spec;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(after[..close].trim().to_string());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Parse a duration with a unit (`72h`, `30d`, `6w`) into days.
pub fn parse_days(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, days_per) = if let Some(x) = s.strip_suffix('h') {
        (x, 1.0 / 24.0)
    } else if let Some(x) = s.strip_suffix('d') {
        (x, 1.0)
    } else if let Some(x) = s.strip_suffix('w') {
        (x, 7.0)
    } else {
        return None;
    };
    let v: f64 = num.trim().parse().ok()?;
    v.is_finite().then_some(v * days_per)
}

/// The concentration unit written right after `{name}` in a dose spec (`{c}uM@72h`).
pub(super) fn placeholder_unit(specs: &[DoseSpecAt], name: &str) -> Option<String> {
    let key = format!("{{{name}}}");
    specs.iter().find_map(|(s, _)| {
        let rest = &s[s.find(&key)? + key.len()..];
        let unit = rest.split('@').next()?.trim();
        (!unit.is_empty()).then(|| unit.to_string())
    })
}
