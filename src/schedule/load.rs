//! From a schedule file to a checked [`Schedule`] for one model.
//!
//! Every check that can be made before a run is made here, so a run never starts
//! on a schedule that cannot mean anything; each failure cites the file, line,
//! column and field, and says what was expected.

use std::path::Path;

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::error::ScheduleError;
use super::raw::*;
use super::types::*;
use super::values::{self, Amount};
use crate::compile::CompiledModel;
use crate::expr::resolve::did_you_mean_among;
use crate::model::{SourceText, TimeUnit};

impl Schedule {
    /// Read and check a schedule file against the model it will run.
    pub fn load(path: &Path, model: &CompiledModel) -> Result<Schedule, ScheduleError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScheduleError::File(crate::model::ModelError::io(path, &e)))?;
        Schedule::parse(path, &text, model)
    }

    /// Check schedule text (`path` labels errors and the manifest).
    pub fn parse(
        path: &Path,
        text: &str,
        model: &CompiledModel,
    ) -> Result<Schedule, ScheduleError> {
        let src = SourceText::new(path, text.to_string());
        let file: ScheduleFile =
            toml::from_str(&src.text).map_err(|e| ScheduleError::from_toml(&src, &e))?;
        let cx = Cx {
            src: &src,
            tu: model.meta.time_unit,
            model,
        };
        cx.schedule(&file)
    }
}

struct Cx<'a> {
    src: &'a SourceText,
    tu: TimeUnit,
    model: &'a CompiledModel,
}

type R<T> = Result<T, ScheduleError>;

impl Cx<'_> {
    fn err(&self, offset: usize, field: &str, msg: impl Into<String>) -> ScheduleError {
        ScheduleError::invalid(self.src, offset, field, msg)
    }

    fn line(&self, offset: usize) -> usize {
        self.src.locate(offset).line
    }

    /// A non-negative duration in the model's time unit.
    fn dur(&self, s: &Spanned<String>, field: &str) -> R<f64> {
        values::duration(s.get_ref(), self.tu).map_err(|m| self.err(s.span().start, field, m))
    }

    /// A positive duration.
    fn pos_dur(&self, s: &Spanned<String>, field: &str) -> R<f64> {
        let v = self.dur(s, field)?;
        if v <= 0.0 {
            return Err(self.err(
                s.span().start,
                field,
                format!("expected a positive duration, found `{}`", s.get_ref()),
            ));
        }
        Ok(v)
    }

    /// A finite number satisfying `ok`, else `expected`.
    fn num(
        &self,
        v: &Spanned<f64>,
        field: &str,
        ok: impl Fn(f64) -> bool,
        expected: &str,
    ) -> R<f64> {
        let x = *v.get_ref();
        if !x.is_finite() || !ok(x) {
            return Err(self.err(
                v.span().start,
                field,
                format!("expected {expected}, found {x}"),
            ));
        }
        Ok(x)
    }

    /// A concentration for an in vitro arm of `drug`, in the drug's unit.
    fn conc(&self, s: &Spanned<String>, field: &str, drug: usize) -> R<f64> {
        let d = &self.model.drugs[drug];
        match values::amount(s.get_ref(), d).map_err(|m| self.err(s.span().start, field, m))? {
            Amount::Concentration(c) => Ok(c),
            Amount::MgPerKg(_) => Err(self.err(
                s.span().start,
                field,
                format!(
                    "an mg/kg dose on an in vitro schedule: in vitro drugs are concentrations \
                     in the medium (e.g. `1 uM`, `10 ug/ml`; `{}` is in {})",
                    d.name, d.unit
                ),
            )),
        }
    }

    fn schedule(&self, f: &ScheduleFile) -> R<Schedule> {
        let meta = f.schedule.get_ref();
        let setting = *meta.setting.get_ref();
        let name = meta.name.get_ref().trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(self.err(
                meta.name.span().start,
                "schedule.name",
                "expected a non-empty identifier of letters, digits, `_`, `-` and `.` \
                 (it names output folders)",
            ));
        }
        let duration = self.pos_dur(&meta.duration, "schedule.duration")?;
        let readout_every = match &meta.readout_every {
            Some(s) => self.pos_dur(s, "schedule.readout_every")?,
            None => 24.0 / self.tu.hours(),
        };
        let ic50_every = meta
            .ic50_every
            .as_ref()
            .map(|s| self.pos_dur(s, "schedule.ic50_every"))
            .transpose()?;
        let equilibrate = meta
            .equilibrate
            .as_ref()
            .map(|s| self.dur(s, "schedule.equilibrate"))
            .transpose()?
            .filter(|&e| e > 0.0);
        let initial_cells = meta
            .initial_cells
            .as_ref()
            .map(|v| {
                self.num(
                    v,
                    "schedule.initial_cells",
                    |x| x > 0.0,
                    "a positive number of cells",
                )
            })
            .transpose()?;

        let culture = self.culture(f, setting)?;
        let cell_volume = match &f.tumour {
            Some(t) if setting == Setting::InVitro => {
                return Err(self.err(
                    t.span().start,
                    "tumour",
                    "`[tumour]` is for in vivo schedules (simulated tumour volume); this \
                     schedule is in_vitro",
                ))
            }
            Some(t) => self.num(
                &t.get_ref().cell_volume,
                "tumour.cell_volume",
                |x| x > 0.0,
                "a positive volume per cell in mm^3",
            )?,
            None => 1e-6,
        };

        let readout_default_check = culture.refresh_every.unwrap_or(readout_every);
        let mut arms = Vec::new();
        let mut warnings = Vec::new();
        for (k, a) in f.drug.iter().enumerate() {
            arms.push(self.arm(
                a,
                k,
                setting,
                duration,
                readout_default_check,
                &mut warnings,
            )?);
        }
        self.no_overlapping_arms(f, &arms)?;

        let primary_arm = arms
            .iter()
            .position(|a| a.regimen.escalates())
            .or((!arms.is_empty()).then_some(0));
        let ic50_drug = match &meta.ic50_drug {
            Some(n) => Some(self.drug_index(n, "schedule.ic50_drug")?),
            None => primary_arm.map(|i| arms[i].drug),
        };
        if let (Some(s), None) = (&meta.ic50_every, ic50_drug) {
            return Err(self.err(
                s.span().start,
                "schedule.ic50_every",
                "IC50 readouts need a drug: add a `[[drug]]` arm or name `ic50_drug`",
            ));
        }
        let resistance = self.resistance(f, setting, ic50_every, primary_arm, &arms)?;
        let stop = self.stop(f, &arms, &resistance)?;

        Ok(Schedule {
            name,
            title: meta.title.clone(),
            description: meta.description.clone(),
            source: meta.source.clone(),
            path: self.src.path.display().to_string(),
            sha256: hex::encode(Sha256::digest(self.src.text.as_bytes())),
            setting,
            time_unit: self.tu.symbol().to_string(),
            hours_per_unit: self.tu.hours(),
            duration,
            readout_every,
            ic50_every,
            ic50_drug,
            equilibrate,
            initial_cells,
            culture,
            primary_arm,
            arms,
            resistance,
            stop,
            cell_volume,
            warnings,
        })
    }

    fn culture(&self, f: &ScheduleFile, setting: Setting) -> R<Culture> {
        let Some(c) = &f.culture else {
            return Ok(Culture::default());
        };
        if setting == Setting::InVivo {
            return Err(self.err(
                c.span().start,
                "culture",
                "`[culture]` (media refresh, passaging) is for in vitro schedules; this \
                 schedule is in_vivo",
            ));
        }
        let c = c.get_ref();
        let refresh_every = c
            .refresh_every
            .as_ref()
            .map(|s| self.pos_dur(s, "culture.refresh_every"))
            .transpose()?;
        let passage = match (&c.confluence_cap, &c.split) {
            (None, None) => None,
            (Some(cap), Some(split)) => Some(Passage {
                cap: self.num(
                    cap,
                    "culture.confluence_cap",
                    |x| x > 0.0,
                    "a positive number of cells",
                )?,
                split: self.num(
                    split,
                    "culture.split",
                    |x| x > 1.0,
                    "a split ratio K > 1 (a passage keeps 1 cell in K)",
                )?,
            }),
            (Some(v), None) => {
                return Err(self.err(
                    v.span().start,
                    "culture.confluence_cap",
                    "passaging needs both `confluence_cap` and `split`; `split` is missing",
                ))
            }
            (None, Some(v)) => return Err(self.err(
                v.span().start,
                "culture.split",
                "passaging needs both `confluence_cap` and `split`; `confluence_cap` is missing",
            )),
        };
        Ok(Culture {
            refresh_every,
            passage,
        })
    }

    fn drug_index(&self, n: &Spanned<String>, field: &str) -> R<usize> {
        let name = n.get_ref().trim();
        self.model.drug_index(name).ok_or_else(|| {
            let names = || self.model.drugs.iter().map(|d| d.name.as_str());
            let list = names().collect::<Vec<_>>().join(", ");
            self.err(
                n.span().start,
                field,
                format!(
                    "the model `{}` has no drug `{name}`{}; its drugs are: {}",
                    self.model.meta.name,
                    did_you_mean_among(name, names()),
                    if list.is_empty() { "(none)" } else { &list }
                ),
            )
        })
    }

    fn arm(
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
            ("dose", a.dose.as_ref().map(|s| s.span().start)),
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
                        Setting::InVivo => "an in vivo arm needs `dose` (mg/kg) and `days`",
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
            (Setting::InVitro, "dose") => {
                return Err(self.err(
                    at,
                    &field("dose"),
                    "an mg/kg dose on an in vitro schedule: in vitro drugs are concentrations \
                     in the medium (`concentration`, `ladder` or `[drug.adaptive]`)",
                ))
            }
            _ => {}
        }
        if let (Some(d), None) = (&a.days, &a.dose) {
            return Err(self.err(
                d.span().start,
                &field("days"),
                "`days` belongs to an in vivo `dose`",
            ));
        }

        // Window.
        let start = match &a.start {
            None => ArmStart::At(0.0),
            Some(s) if s.get_ref().trim() == "on_resistance" => ArmStart::OnResistance,
            Some(s) => ArmStart::At(self.dur(s, &field("start"))?),
        };
        let stop = match &a.stop {
            None => duration,
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
            _ => {
                let d = a.dose.as_ref().expect("checked above");
                let mg = match values::amount(d.get_ref(), &self.model.drugs[drug])
                    .map_err(|m| self.err(d.span().start, &field("dose"), m))?
                {
                    Amount::MgPerKg(v) => v,
                    Amount::Concentration(_) => {
                        return Err(self.err(
                            d.span().start,
                            &field("dose"),
                            "a concentration on an in vivo schedule: in vivo doses are mg/kg \
                             (e.g. `50 mg/kg`), given through the model's pharmacokinetics",
                        ))
                    }
                };
                if self.model.drugs[drug].in_vivo.is_none() {
                    return Err(self.err(
                        d.span().start,
                        &field("dose"),
                        format!(
                            "drug `{dn}` has no `[drugs.{dn}.in_vivo]` pharmacokinetics in the \
                             model, so an mg/kg dose cannot become a concentration"
                        ),
                    ));
                }
                let weekdays = match &a.days {
                    None => values::days_pattern("daily").expect("daily is a pattern"),
                    Some(s) => match s.get_ref() {
                        DaysDef::Pattern(p) => values::days_pattern(p),
                        DaysDef::Weekdays(l) => values::weekdays(l),
                    }
                    .map_err(|m| self.err(s.span().start, &field("days"), m))?,
                };
                Regimen::Bolus {
                    mg_per_kg: mg,
                    weekdays,
                }
            }
        };
        Ok(DrugArm {
            drug,
            drug_name: dn,
            line: self.line(arm.span().start),
            start,
            stop,
            holidays,
            regimen,
        })
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
                (Some(f), ArmStart::OnResistance) => {
                    return Err(self.err(
                        f.span().start,
                        &sf("from"),
                        "an arm that starts on resistance has no fixed start; give its ladder \
                         steps as durations only",
                    ))
                }
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
    fn no_overlapping_arms(&self, f: &ScheduleFile, arms: &[DrugArm]) -> R<()> {
        for (j, b) in arms.iter().enumerate() {
            for a in &arms[..j] {
                if a.drug != b.drug {
                    continue;
                }
                let lo = |x: &DrugArm| match x.start {
                    ArmStart::At(t) => t,
                    ArmStart::OnResistance => 0.0,
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

    fn resistance(
        &self,
        f: &ScheduleFile,
        setting: Setting,
        ic50_every: Option<f64>,
        primary_arm: Option<usize>,
        arms: &[DrugArm],
    ) -> R<ResistanceRules> {
        let mut r = ResistanceRules {
            ic50_fold: ic50_every.map(|_| 10.0),
            steady_growth: None,
            regrowth: (setting == Setting::InVivo).then_some(0.25),
        };
        let Some(def) = &f.resistance else {
            return Ok(r);
        };
        let def = def.get_ref();
        if let Some(v) = &def.ic50_fold {
            if ic50_every.is_none() {
                return Err(self.err(
                    v.span().start,
                    "resistance.ic50_fold",
                    "the IC50 rule needs IC50 readouts: set `ic50_every` in `[schedule]`",
                ));
            }
            r.ic50_fold =
                Some(self.num(v, "resistance.ic50_fold", |x| x > 1.0, "a fold change > 1")?);
        }
        if let Some(sg) = &def.steady_growth {
            if setting == Setting::InVivo {
                return Err(self.err(
                    sg.span().start,
                    "resistance.steady_growth",
                    "steady growth at the final dose is an in vitro rule; in vivo use `regrowth`",
                ));
            }
            let ok = primary_arm.is_some_and(|i| {
                matches!(
                    arms[i].regimen,
                    Regimen::Constant { .. } | Regimen::Ladder { .. } | Regimen::Adaptive(_)
                )
            });
            if !ok {
                return Err(self.err(
                    sg.span().start,
                    "resistance.steady_growth",
                    "steady growth is judged at the final dose of the schedule's drug, but the \
                     schedule has no drug arm",
                ));
            }
            let g = sg.get_ref();
            r.steady_growth = Some(SteadyGrowth {
                window: self.pos_dur(&g.window, "resistance.steady_growth.window")?,
                fraction: self.num(
                    &g.fraction,
                    "resistance.steady_growth.fraction",
                    |x| x > 0.0,
                    "a positive fraction of the untreated growth rate",
                )?,
            });
        }
        if let Some(v) = &def.regrowth {
            if setting == Setting::InVitro {
                return Err(self.err(
                    v.span().start,
                    "resistance.regrowth",
                    "regrowth above the nadir is an in vivo rule (tumour volume); in vitro use \
                     `ic50_fold` or `steady_growth`",
                ));
            }
            r.regrowth = Some(self.num(
                v,
                "resistance.regrowth",
                |x| x > 0.0,
                "a positive fraction above the nadir (0.25 = 25%)",
            )?);
        }
        Ok(r)
    }

    fn stop(&self, f: &ScheduleFile, arms: &[DrugArm], res: &ResistanceRules) -> R<StopRules> {
        let mut s = StopRules {
            on_resistance: false,
            max_cells: None,
            extinct_below: 1.0,
        };
        if let Some(def) = &f.stop {
            let d = def.get_ref();
            if let Some(v) = &d.on_resistance {
                s.on_resistance = *v.get_ref();
                if s.on_resistance {
                    if let Some(a) = arms.iter().find(|a| a.start == ArmStart::OnResistance) {
                        return Err(self.err(
                            v.span().start,
                            "stop.on_resistance",
                            format!(
                                "the run would stop at the first resistance event, so the arm \
                                 on line {} that starts on resistance would never run",
                                a.line
                            ),
                        ));
                    }
                }
            }
            if let Some(v) = &d.max_cells {
                s.max_cells = Some(self.num(
                    v,
                    "stop.max_cells",
                    |x| x > 0.0,
                    "a positive number of cells",
                )?);
            }
            if let Some(v) = &d.extinct_below {
                s.extinct_below = self.num(
                    v,
                    "stop.extinct_below",
                    |x| x >= 0.0,
                    "a non-negative number of cells",
                )?;
            }
        }
        let can_fire =
            res.ic50_fold.is_some() || res.steady_growth.is_some() || res.regrowth.is_some();
        if !can_fire {
            if let Some(i) = arms.iter().position(|a| a.start == ArmStart::OnResistance) {
                let at = f.drug[i]
                    .get_ref()
                    .start
                    .as_ref()
                    .map_or(f.drug[i].span().start, |s| s.span().start);
                return Err(self.err(
                    at,
                    &format!("drug[{}].start", arms[i].drug_name),
                    "the arm starts on resistance, but no resistance rule can fire: set \
                     `ic50_every` (IC50 rule) or `[resistance] steady_growth`",
                ));
            }
        }
        Ok(s)
    }
}
