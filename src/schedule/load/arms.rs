//! Checking drug arms: the drug, its window and holidays, and exactly one regimen
//! valid for the setting (constant, ladder, adaptive, in vivo bolus); arms of one drug
//! must not overlap.

use super::*;

impl Cx<'_> {
    pub(super) fn arm(
        &self,
        arm: &Spanned<DrugArmDef>,
        k: usize,
        setting: Setting,
        duration: f64,
        default_check: f64,
        warnings: &mut Vec<String>,
    ) -> R<DrugArm> {
        let a = arm.get_ref();
        let drug = self.drug_index(&a.name, &format!("drug[{}].name", k + 1))?;
        let dn = self.model.drugs[drug].name.clone();
        let field = |key: &str| format!("drug[{dn}].{key}");

        // Exactly one regimen.
        let given: Vec<(&str, usize)> = [
            (
                "concentration",
                a.concentration.as_ref().map(|s| s.span().start),
            ),
            ("ladder", a.ladder.as_ref().map(|s| s.span().start)),
            ("adaptive", a.adaptive.as_ref().map(|s| s.span().start)),
            (
                "dose",
                a.dose.as_ref().map(|s| s.span().start).or_else(|| {
                    let other = a.concentration.is_some() || a.ladder.is_some();
                    (!other && a.adaptive.is_none())
                        .then(|| a.own_series_at().map(|(_, at)| at))
                        .flatten()
                }),
            ),
            ("bolus", a.bolus.as_ref().map(|s| s.span().start)),
        ]
        .into_iter()
        .filter_map(|(k, o)| o.map(|o| (k, o)))
        .collect();
        match given.as_slice() {
            [] => {
                return Err(self.err(
                    arm.span().start,
                    &format!("drug[{dn}]"),
                    match setting {
                        Setting::InVitro => {
                            "an in vitro arm needs one of `concentration`, \
                                             `ladder` or `[drug.adaptive]`"
                        }
                        Setting::InVivo => {
                            "an in vivo arm needs `dose` (mg/kg) with `days` or `every`, or \
                             `[[drug.bolus]]` series"
                        }
                    },
                ))
            }
            [_] => {}
            [(first, _), (second, at), ..] => {
                return Err(self.err(
                    *at,
                    &field(second),
                    format!("an arm has exactly one regimen; this one already has `{first}`"),
                ))
            }
        }
        let (key, at) = given[0];
        match (setting, key) {
            (Setting::InVivo, "concentration" | "ladder" | "adaptive") => {
                let conc_hint = if key == "concentration" {
                    "a concentration on an in vivo schedule: "
                } else {
                    "escalation rules are in vitro; "
                };
                return Err(self.err(
                    at,
                    &field(key),
                    format!(
                        "{conc_hint}in vivo drugs are given as mg/kg doses through the model's \
                         pharmacokinetics (`dose = \"50 mg/kg\"`, `days = \"daily\"`)"
                    ),
                ));
            }
            (Setting::InVitro, "dose" | "bolus") => {
                return Err(self.err(
                    at,
                    &field(key),
                    "an mg/kg dose on an in vitro schedule: in vitro drugs are concentrations \
                     in the medium (`concentration`, `ladder` or `[drug.adaptive]`)",
                ))
            }
            _ => {}
        }

        if key != "dose" {
            if let Some((k, at)) = a.own_series_at() {
                return Err(self.err(
                    at,
                    &field(k),
                    format!("`{k}` belongs to an in vivo `dose` (a bolus series)"),
                ));
            }
        }

        // Window.
        let start = match &a.start {
            None => ArmStart::At(0.0),
            Some(s) if s.get_ref().trim() == "on_resistance" => ArmStart::OnResistance,
            Some(s) if s.get_ref().trim() == "on_size" => {
                let Some(c) = &a.start_cells else {
                    return Err(self.err(
                        s.span().start,
                        &field("start"),
                        "`start = \"on_size\"` needs `start_cells`, the cells at which the arm \
                         starts",
                    ));
                };
                let cells = self.num(
                    c,
                    &field("start_cells"),
                    |x| x > 0.0,
                    "a positive number of cells",
                )?;
                let genotype = match &a.start_genotype {
                    None => None,
                    Some(g) => Some(self.genotype(g, &field("start_genotype"))?),
                };
                ArmStart::OnSize { genotype, cells }
            }
            Some(s) => ArmStart::At(self.dur(s, &field("start"))?),
        };
        if !matches!(start, ArmStart::OnSize { .. }) {
            if let Some(v) = a
                .start_cells
                .as_ref()
                .map(|v| v.span().start)
                .or(a.start_genotype.as_ref().map(|v| v.span().start))
            {
                return Err(self.err(
                    v,
                    &field("start_cells"),
                    "`start_cells` and `start_genotype` belong to `start = \"on_size\"`",
                ));
            }
        }
        let stop_on_resistance = a
            .stop
            .as_ref()
            .is_some_and(|s| s.get_ref().trim() == "on_resistance");
        let stop = match &a.stop {
            None => duration,
            Some(_) if stop_on_resistance => duration,
            Some(s) => self.dur(s, &field("stop"))?,
        };
        let at_start = |msg: String| {
            self.err(
                a.start
                    .as_ref()
                    .map_or(arm.span().start, |s| s.span().start),
                &field("start"),
                msg,
            )
        };
        if let ArmStart::At(t0) = start {
            if t0 >= duration {
                return Err(at_start(format!(
                    "the arm starts at {} {}, at or after the end of the run ({} {})",
                    t0,
                    self.tu.symbol(),
                    duration,
                    self.tu.symbol()
                )));
            }
            if stop <= t0 {
                let at = a.stop.as_ref().map_or(arm.span().start, |s| s.span().start);
                return Err(self.err(
                    at,
                    &field("stop"),
                    format!(
                        "the arm stops at {stop} {u}, not after its start at {t0} {u}",
                        u = self.tu.symbol()
                    ),
                ));
            }
        }
        if stop > duration * (1.0 + 1e-12) {
            let at = a.stop.as_ref().map_or(arm.span().start, |s| s.span().start);
            return Err(self.err(
                at,
                &field("stop"),
                format!(
                    "the arm stops at {stop} {u}, after the end of the run ({duration} {u})",
                    u = self.tu.symbol()
                ),
            ));
        }
        let stop = stop.min(duration);
        let mut holidays = Vec::new();
        for (i, h) in a.holidays.iter().enumerate() {
            let hf = field(&format!("holidays[{}]", i + 1));
            let [from, to] = h.get_ref().as_slice() else {
                return Err(self.err(
                    h.span().start,
                    &hf,
                    format!(
                        "a holiday is a window `[from, to]` of two durations, found {} values",
                        h.get_ref().len()
                    ),
                ));
            };
            let (f0, f1) = (self.dur(from, &hf)?, self.dur(to, &hf)?);
            if f1 <= f0 {
                return Err(self.err(
                    to.span().start,
                    &hf,
                    format!(
                        "the holiday ends at {f1} {u}, not after it starts at {f0} {u}",
                        u = self.tu.symbol()
                    ),
                ));
            }
            holidays.push((f0, f1));
        }
        holidays.sort_by(|x, y| x.0.total_cmp(&y.0));

        let regimen = match key {
            "concentration" => Regimen::Constant {
                concentration: self.conc(
                    a.concentration.as_ref().expect("checked above"),
                    &field("concentration"),
                    drug,
                )?,
            },
            "ladder" => self.ladder(
                a.ladder.as_ref().expect("checked above"),
                drug,
                &dn,
                start,
                stop,
                warnings,
            )?,
            "adaptive" => Regimen::Adaptive(self.adaptive(
                a.adaptive.as_ref().expect("checked above"),
                drug,
                &dn,
                default_check,
            )?),
            "dose" => Regimen::Bolus {
                series: self.bolus_series(
                    &a.own_series(),
                    arm.span().start,
                    &format!("drug[{dn}]"),
                    drug,
                    duration,
                )?,
            },
            _ => {
                let list = a.bolus.as_ref().expect("checked above");
                if list.get_ref().is_empty() {
                    return Err(self.err(
                        list.span().start,
                        &field("bolus"),
                        "the list of bolus series is empty",
                    ));
                }
                let mut series = Vec::new();
                for (i, b) in list.get_ref().iter().enumerate() {
                    series.extend(self.bolus_series(
                        b.get_ref(),
                        b.span().start,
                        &format!("drug[{dn}].bolus[{}]", i + 1),
                        drug,
                        duration,
                    )?);
                }
                Regimen::Bolus { series }
            }
        };
        Ok(DrugArm {
            drug,
            drug_name: dn,
            line: self.line(arm.span().start),
            start,
            stop,
            stop_on_resistance,
            holidays,
            regimen,
        })
    }

    /// One bolus series (`dose` with `days` or `every`, `times`, `after`, `escalate`,
    /// `escalate_every`, `cap`) as [`BolusSeries`]: a weekday pattern of several days
    /// is one series per day, every 7 days. The boluses of the whole schedule are
    /// counted against [`crate::limits::Limit::Doses`].
    fn bolus_series(
        &self,
        b: &BolusDef,
        at: usize,
        prefix: &str,
        drug: usize,
        duration: f64,
    ) -> R<Vec<BolusSeries>> {
        let field = |key: &str| format!("{prefix}.{key}");
        let dn = &self.model.drugs[drug].name;
        let Some(d) = &b.dose else {
            return Err(self.err(
                at,
                &field("dose"),
                "a bolus series needs `dose` (mg/kg); `days`, `every`, `times`, `after`, \
                 `escalate` and `cap` describe its dosing",
            ));
        };
        let mg = self.mg_per_kg(d, &field("dose"), drug)?;
        let day = 24.0 / self.tu.hours();
        let after = match &b.after {
            Some(s) => self.dur(s, &field("after"))?,
            None => 0.0,
        };
        // (offset since the arm's start, interval) of each series.
        let slots: Vec<(f64, f64)> = match (&b.days, &b.every) {
            (Some(_), Some(e)) => {
                return Err(self.err(
                    e.span().start,
                    &field("every"),
                    "give `days` (days of each week) or `every` (an interval), not both",
                ))
            }
            (None, Some(e)) => vec![(after, self.pos_dur(e, &field("every"))?)],
            (days, None) => {
                let weekdays = match days {
                    None => values::days_pattern("daily").expect("daily is a pattern"),
                    Some(s) => match s.get_ref() {
                        DaysDef::Pattern(p) => values::days_pattern(p),
                        DaysDef::Weekdays(l) => values::weekdays(l),
                    }
                    .map_err(|m| self.err(s.span().start, &field("days"), m))?,
                };
                if weekdays.len() == 7 {
                    vec![(after, day)]
                } else {
                    weekdays
                        .iter()
                        .map(|&w| (after + f64::from(w - 1) * day, 7.0 * day))
                        .collect()
                }
            }
        };
        if slots.len() > 1 {
            if let Some(k) = b
                .times
                .as_ref()
                .map(|v| ("times", v.span().start))
                .or(b.escalate.as_ref().map(|v| ("escalate", v.span().start)))
            {
                return Err(self.err(
                    k.1,
                    &field(k.0),
                    format!(
                        "`{}` counts the doses of one series, but these `days` make {} series \
                         (one per weekday); give the interval with `every` instead",
                        k.0,
                        slots.len()
                    ),
                ));
            }
        }
        let times = match &b.times {
            None => None,
            Some(v) if *v.get_ref() >= 1 => Some(*v.get_ref() as u64),
            Some(v) => {
                return Err(self.err(
                    v.span().start,
                    &field("times"),
                    format!("expected a number of doses >= 1, found {}", v.get_ref()),
                ))
            }
        };
        let escalation = self.escalation(b, &field, drug, mg)?;
        let mut out = Vec::new();
        for (offset, every) in slots {
            let slots_in_run = crate::limits::events_in((duration - offset).max(0.0), every);
            let n = times.map_or(slots_in_run, |t| (t as f64).min(slots_in_run));
            self.doses.set(self.doses.get() + n);
            let (key, at_n) = match &b.every {
                Some(e) => ("every", e),
                None => ("dose", d),
            };
            crate::limits::check(crate::limits::Limit::Doses, self.doses.get())
                .map_err(|e| self.err(at_n.span().start, &field(key), e.to_string()))?;
            let series = BolusSeries {
                after: offset,
                every,
                times,
                mg_per_kg: mg,
                escalation,
                line: self.line(at),
            };
            if n >= 1.0 {
                let last = series.dose(n as u64 - 1);
                if !last.is_finite() {
                    let e = b.escalate.as_ref().expect("only escalation grows doses");
                    return Err(self.err(
                        e.span().start,
                        &field("escalate"),
                        format!(
                            "drug `{dn}`: the escalation reaches {last} mg/kg by dose {n}; give \
                             a `cap` or fewer `times`"
                        ),
                    ));
                }
            }
            out.push(series);
        }
        Ok(out)
    }

    /// The escalation of a bolus series (`escalate`, `escalate_every`, `cap`).
    fn escalation(
        &self,
        b: &BolusDef,
        field: &dyn Fn(&str) -> String,
        drug: usize,
        first: f64,
    ) -> R<Option<Escalation>> {
        let Some(e) = &b.escalate else {
            if let Some((k, at)) = b
                .escalate_every
                .as_ref()
                .map(|v| ("escalate_every", v.span().start))
                .or(b.cap.as_ref().map(|v| ("cap", v.span().start)))
            {
                return Err(self.err(
                    at,
                    &field(k),
                    format!("`{k}` belongs to an escalating series: add `escalate`"),
                ));
            }
            return Ok(None);
        };
        let d = &self.model.drugs[drug];
        let step = crate::pkpd::escalation::parse_step(
            e.get_ref(),
            true,
            &d.unit,
            d.in_vivo.and_then(|pk| pk.molecular_weight),
        )
        .map_err(|m| self.err(e.span().start, &field("escalate"), m))?;
        let every = match &b.escalate_every {
            None => 1,
            Some(v) if *v.get_ref() >= 1 => *v.get_ref() as u64,
            Some(v) => {
                return Err(self.err(
                    v.span().start,
                    &field("escalate_every"),
                    format!(
                        "expected a number of doses per step >= 1, found {}",
                        v.get_ref()
                    ),
                ))
            }
        };
        let cap = match &b.cap {
            None => None,
            Some(c) => {
                let v = self.mg_per_kg(c, &field("cap"), drug)?;
                if v < first {
                    return Err(self.err(
                        c.span().start,
                        &field("cap"),
                        format!("the cap ({v} mg/kg) is below the first dose ({first} mg/kg)"),
                    ));
                }
                Some(v)
            }
        };
        Ok(Some(Escalation { step, every, cap }))
    }

    /// An in vivo dose in mg/kg of `drug` (which needs in vivo PK).
    fn mg_per_kg(&self, d: &Spanned<String>, field: &str, drug: usize) -> R<f64> {
        let dn = &self.model.drugs[drug].name;
        let mg = match values::amount(d.get_ref(), &self.model.drugs[drug])
            .map_err(|m| self.err(d.span().start, field, m))?
        {
            Amount::MgPerKg(v) => v,
            Amount::Concentration(_) => {
                return Err(self.err(
                    d.span().start,
                    field,
                    "a concentration on an in vivo schedule: in vivo doses are mg/kg \
                     (e.g. `50 mg/kg`), given through the model's pharmacokinetics",
                ))
            }
        };
        if self.model.drugs[drug].in_vivo.is_none() {
            return Err(self.err(
                d.span().start,
                field,
                format!(
                    "drug `{dn}` has no `[drugs.{dn}.in_vivo]` pharmacokinetics in the \
                     model, so an mg/kg dose cannot become a concentration"
                ),
            ));
        }
        Ok(mg)
    }

    fn ladder(
        &self,
        l: &Spanned<Vec<Spanned<LadderStepDef>>>,
        drug: usize,
        dn: &str,
        start: ArmStart,
        stop: f64,
        warnings: &mut Vec<String>,
    ) -> R<Regimen> {
        let u = self.tu.symbol();
        if l.get_ref().is_empty() {
            return Err(self.err(
                l.span().start,
                &format!("drug[{dn}].ladder"),
                "the ladder has no steps",
            ));
        }
        let mut steps: Vec<LadderStep> = Vec::new();
        for (i, s) in l.get_ref().iter().enumerate() {
            let sf = |k: &str| format!("drug[{dn}].ladder[{}].{k}", i + 1);
            let st = s.get_ref();
            let concentration = self.conc(&st.concentration, &sf("concentration"), drug)?;
            let duration = self.pos_dur(&st.duration, &sf("duration"))?;
            let prev_end = steps.last().map_or(0.0, |p| p.offset + p.duration);
            let offset = match (&st.from, start) {
                (None, _) => prev_end,
                (Some(f), ArmStart::At(t0)) => {
                    let from = self.dur(f, &sf("from"))?;
                    if from < t0 {
                        return Err(self.err(
                            f.span().start,
                            &sf("from"),
                            format!(
                                "step {} starts at {from} {u}, before the arm starts at {t0} {u}",
                                i + 1
                            ),
                        ));
                    }
                    let off = from - t0;
                    if off < prev_end - 1e-9 * prev_end.abs().max(1.0) {
                        return Err(self.err(
                            f.span().start,
                            &sf("from"),
                            format!(
                                "step {} starts at {from} {u}, before step {} ends at {} {u}: \
                                 ladder steps must be in time order and must not overlap",
                                i + 1,
                                i,
                                prev_end + t0
                            ),
                        ));
                    }
                    off
                }
                (Some(f), _) => {
                    return Err(self.err(
                        f.span().start,
                        &sf("from"),
                        "an arm that starts on resistance or on size has no fixed start; give \
                         its ladder steps as durations only",
                    ))
                }
            };
            steps.push(LadderStep {
                offset,
                duration,
                concentration,
            });
        }
        if let ArmStart::At(t0) = start {
            let late: Vec<String> = steps
                .iter()
                .enumerate()
                .filter(|(_, s)| t0 + s.offset >= stop)
                .map(|(i, _)| (i + 1).to_string())
                .collect();
            if !late.is_empty() {
                warnings.push(format!(
                    "{}:{}: drug[{dn}].ladder: step(s) {} start after the arm stops at {stop} {u}; \
                     they are never given",
                    self.src.path.display(),
                    self.line(l.span().start),
                    late.join(", ")
                ));
            }
        }
        Ok(Regimen::Ladder { steps })
    }

    fn adaptive(
        &self,
        ad: &Spanned<AdaptiveDef>,
        drug: usize,
        dn: &str,
        default_check: f64,
    ) -> R<AdaptiveRule> {
        let a = ad.get_ref();
        let f = |k: &str| format!("drug[{dn}].adaptive.{k}");
        let start = match values::icxx(a.start.get_ref()) {
            Some(r) => {
                AdaptiveStart::Icxx(r.map_err(|m| self.err(a.start.span().start, &f("start"), m))?)
            }
            None => {
                let c = self.conc(&a.start, &f("start"), drug)?;
                if c <= 0.0 {
                    return Err(self.err(
                        a.start.span().start,
                        &f("start"),
                        "the starting concentration must be positive (a zero dose cannot be \
                         raised by a factor)",
                    ));
                }
                AdaptiveStart::Concentration(c)
            }
        };
        let factor = self.num(&a.factor, &f("factor"), |x| x > 1.0, "a factor > 1")?;
        let recovery = self.num(
            &a.recovery,
            &f("recovery"),
            |x| x > 0.0 && x <= 1.0,
            "a fraction of the untreated growth rate in (0, 1]",
        )?;
        let window = self.pos_dur(&a.window, &f("window"))?;
        let min_hold = match &a.min_hold {
            Some(s) => self.dur(s, &f("min_hold"))?,
            None => window,
        };
        let cap = self.conc(&a.cap, &f("cap"), drug)?;
        if cap <= 0.0 {
            return Err(self.err(a.cap.span().start, &f("cap"), "the cap must be positive"));
        }
        if let AdaptiveStart::Concentration(c) = start {
            if cap < c {
                return Err(self.err(
                    a.cap.span().start,
                    &f("cap"),
                    format!(
                        "the cap ({cap} {u}) is below the starting concentration ({c} {u})",
                        u = self.model.drugs[drug].unit
                    ),
                ));
            }
        }
        let check_every = match &a.check_every {
            Some(s) => self.pos_dur(s, &f("check_every"))?,
            None => default_check,
        };
        Ok(AdaptiveRule {
            start,
            factor,
            recovery,
            window,
            min_hold,
            cap,
            check_every,
        })
    }

    /// Two arms of one drug must not be given at the same time.
    pub(super) fn no_overlapping_arms(&self, f: &ScheduleFile, arms: &[DrugArm]) -> R<()> {
        for (j, b) in arms.iter().enumerate() {
            for a in &arms[..j] {
                if a.drug != b.drug {
                    continue;
                }
                let lo = |x: &DrugArm| match x.start {
                    ArmStart::At(t) => t,
                    _ => 0.0,
                };
                if lo(a) < b.stop && lo(b) < a.stop {
                    let def = f.drug[j].get_ref();
                    let at = def
                        .start
                        .as_ref()
                        .map_or(f.drug[j].span().start, |s| s.span().start);
                    return Err(self.err(
                        at,
                        &format!("drug[{}].start", b.drug_name),
                        format!(
                            "this arm of `{}` overlaps its arm on line {} (arms of one drug \
                             must not overlap; an arm starting on resistance may start at any \
                             time)",
                            b.drug_name, a.line
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
