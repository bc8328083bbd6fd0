//! From a schedule file to a checked [`Schedule`] for one model.
//!
//! Every check that can be made before a run is made here, so a run never starts
//! on a schedule that cannot mean anything; each failure cites the file, line,
//! column and field, and says what was expected.

mod arms;

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
            doses: Default::default(),
        };
        cx.schedule(&file)
    }
}

struct Cx<'a> {
    src: &'a SourceText,
    tu: TimeUnit,
    model: &'a CompiledModel,
    /// In vivo boluses of the arms read so far (for the dose limit).
    doses: std::cell::Cell<f64>,
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
        let (readout_every, readout_points) = match (&meta.readout_every, &meta.points) {
            (Some(_), Some(p)) => {
                return Err(self.err(
                    p.span().start,
                    "schedule.points",
                    "give the readouts as `readout_every` (an interval) or `points` (a number \
                     of intervals over `duration`), not both",
                ))
            }
            (Some(s), None) => {
                let every = self.pos_dur(s, "schedule.readout_every")?;
                (every, (duration / every).ceil() as u64)
            }
            (None, Some(p)) if *p.get_ref() >= 1 => {
                let n = *p.get_ref() as u64;
                (duration / n as f64, n)
            }
            (None, Some(p)) => {
                return Err(self.err(
                    p.span().start,
                    "schedule.points",
                    format!(
                        "expected a number of readout intervals >= 1, found {}",
                        p.get_ref()
                    ),
                ))
            }
            (None, None) => {
                let every = 24.0 / self.tu.hours();
                (every, (duration / every).ceil() as u64)
            }
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
        let grow_from = meta
            .grow_from
            .as_ref()
            .map(|v| {
                let target = initial_cells.unwrap_or(self.model.initial_cells);
                self.num(
                    v,
                    "schedule.grow_from",
                    |x| x.is_finite() && x >= 1.0 && x < target,
                    &format!("a number of cells from 1 up to the initial cells ({target:e})"),
                )
            })
            .transpose()?;

        let culture = self.culture(f, setting)?;
        self.within_limits(
            f,
            duration,
            readout_every,
            readout_points,
            ic50_every,
            &culture,
        )?;
        let cell_volume = match &f.tumour {
            Some(t) if setting == Setting::InVitro => {
                return Err(self.err(
                    t.span().start,
                    "tumour",
                    "`[tumour]` is for in vivo schedules (simulated tumour volume); this \
                     schedule is in_vitro",
                ))
            }
            Some(t) => match &t.get_ref().cell_volume {
                Some(v) => self.num(
                    v,
                    "tumour.cell_volume",
                    |x| x > 0.0,
                    "a positive volume per cell in mm^3",
                )?,
                None => 1e-6,
            },
            None => 1e-6,
        };
        let mut host = Host::default();
        let mut detection_limit = 0.0;
        if let Some(t) = &f.tumour {
            let t = t.get_ref();
            if let Some(v) = &t.take {
                host.take = self.num(
                    v,
                    "tumour.take",
                    |x| x > 0.0 && x <= 1.0,
                    "a fraction of the injected cells in (0, 1]",
                )?;
            }
            if let Some(v) = &t.growth {
                host.division_factor = self.num(
                    v,
                    "tumour.growth",
                    |x| x > 0.0,
                    "a positive factor on the division rates (1 = as in culture)",
                )?;
            }
            if let Some(v) = &t.lag {
                host.lag = self.dur(v, "tumour.lag")?;
                if host.lag >= duration {
                    return Err(self.err(
                        v.span().start,
                        "tumour.lag",
                        format!(
                            "expected a lag shorter than the schedule's duration (`{}` is \
                             {} {u}, the duration {duration} {u}): no cell would divide",
                            v.get_ref(),
                            host.lag,
                            u = self.tu.symbol()
                        ),
                    ));
                }
            }
            if let Some(v) = &t.detection_limit {
                detection_limit = self.num(
                    v,
                    "tumour.detection_limit",
                    |x| x >= 0.0,
                    "a non-negative tumour volume in mm^3",
                )?;
            }
            if let Some(v) = &t.max_volume {
                let mm3 = self.num(
                    v,
                    "tumour.max_volume",
                    |x| x > 0.0,
                    "a positive tumour volume in mm^3",
                )?;
                host.carrying_capacity = Some(mm3 / cell_volume);
            }
        }

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
        let ic50_range = match (&meta.ic50_range, ic50_drug) {
            (None, _) => None,
            (Some(r), None) => {
                return Err(self.err(
                    r.span().start,
                    "schedule.ic50_range",
                    "IC50 readouts need a drug: add a `[[drug]]` arm or name `ic50_drug`",
                ))
            }
            (Some(r), Some(d)) => {
                let f = "schedule.ic50_range";
                let [lo, hi] = r.get_ref().as_slice() else {
                    return Err(self.err(
                        r.span().start,
                        f,
                        format!(
                            "expected two concentrations `[lowest, highest]`, found {} values",
                            r.get_ref().len()
                        ),
                    ));
                };
                let (a, b) = (self.conc(lo, f, d)?, self.conc(hi, f, d)?);
                if !(a > 0.0 && b > a) {
                    return Err(self.err(
                        r.span().start,
                        f,
                        format!(
                            "expected 0 < lowest < highest, found {a} and {b} {}",
                            self.model.drugs[d].unit
                        ),
                    ));
                }
                Some((a, b))
            }
        };
        let ic50_points = match &meta.ic50_points {
            None => None,
            Some(p) if (4..=1000).contains(p.get_ref()) => Some(*p.get_ref() as usize),
            Some(p) => {
                return Err(self.err(
                    p.span().start,
                    "schedule.ic50_points",
                    format!(
                        "expected between 4 and 1000 tested concentrations, found {}",
                        p.get_ref()
                    ),
                ))
            }
        };
        if let (Some(s), None) = (&meta.ic50_every, ic50_drug) {
            return Err(self.err(
                s.span().start,
                "schedule.ic50_every",
                "IC50 readouts need a drug: add a `[[drug]]` arm or name `ic50_drug`",
            ));
        }
        let resistance =
            self.resistance(f, setting, ic50_every, primary_arm, &arms, cell_volume)?;
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
            ic50_range,
            ic50_points,
            equilibrate,
            initial_cells,
            grow_from,
            culture,
            primary_arm,
            arms,
            resistance,
            stop,
            cell_volume,
            host,
            detection_limit,
            warnings,
        })
    }

    /// Refuse, before any run, a schedule that asks for more work than the limits in
    /// force allow ([`crate::limits`]): run length, readouts, IC50 readouts, medium
    /// refreshes, in vivo dosing days.
    fn within_limits(
        &self,
        f: &ScheduleFile,
        duration: f64,
        readout_every: f64,
        readout_points: u64,
        ic50_every: Option<f64>,
        culture: &Culture,
    ) -> R<()> {
        use crate::limits::{check, events_in, Limit};
        let meta = f.schedule.get_ref();
        let at = |s: &Spanned<String>, field: &'static str| {
            let offset = s.span().start;
            move |e: crate::limits::LimitExceeded| self.err(offset, field, e.to_string())
        };
        let days = duration * self.tu.hours() / 24.0;
        check(Limit::Days, days).map_err(at(&meta.duration, "schedule.duration"))?;
        // (Boluses are counted series by series as the arms are read.)
        if let Some(s) = &meta.readout_every {
            check(Limit::Readouts, events_in(duration, readout_every))
                .map_err(at(s, "schedule.readout_every"))?;
        }
        if let Some(p) = &meta.points {
            check(Limit::Readouts, readout_points as f64)
                .map_err(|e| self.err(p.span().start, "schedule.points", e.to_string()))?;
        }
        if let (Some(s), Some(every)) = (&meta.ic50_every, ic50_every) {
            check(Limit::Ic50, events_in(duration, every)).map_err(at(s, "schedule.ic50_every"))?;
        }
        let refresh = f
            .culture
            .as_ref()
            .and_then(|c| c.get_ref().refresh_every.as_ref());
        if let (Some(s), Some(every)) = (refresh, culture.refresh_every) {
            check(Limit::Refreshes, events_in(duration, every))
                .map_err(at(s, "culture.refresh_every"))?;
        }
        Ok(())
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

    fn genotype_name(&self, at: usize, name: &str, field: &str) -> R<usize> {
        let name = name.trim();
        self.model.genotype_index(name).ok_or_else(|| {
            let names = || self.model.genotypes.iter().map(|g| g.name.as_str());
            self.err(
                at,
                field,
                format!(
                    "the model `{}` has no genotype `{name}`{}; its genotypes are: {}",
                    self.model.meta.name,
                    did_you_mean_among(name, names()),
                    names().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    pub(super) fn genotype(&self, n: &Spanned<String>, field: &str) -> R<usize> {
        self.genotype_name(n.span().start, n.get_ref(), field)
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

    fn resistance(
        &self,
        f: &ScheduleFile,
        setting: Setting,
        ic50_every: Option<f64>,
        primary_arm: Option<usize>,
        arms: &[DrugArm],
        cell_volume: f64,
    ) -> R<ResistanceRules> {
        let mut r = ResistanceRules {
            ic50_fold: ic50_every.map(|_| 10.0),
            steady_growth: None,
            regrowth: (setting == Setting::InVivo).then_some(0.25),
            above: None,
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
        match (&def.cells_above, &def.volume_above) {
            (Some(c), Some(_)) => {
                return Err(self.err(
                    c.span().start,
                    "resistance.cells_above",
                    "give the progression size as `cells_above` or `volume_above`, not both",
                ))
            }
            (Some(c), None) => {
                r.above = Some(SizeThreshold {
                    cells: self.num(
                        c,
                        "resistance.cells_above",
                        |x| x > 0.0,
                        "a positive number of cells",
                    )?,
                    volume: None,
                })
            }
            (None, Some(v)) => {
                if setting == Setting::InVitro {
                    return Err(self.err(
                        v.span().start,
                        "resistance.volume_above",
                        "a tumour volume is an in vivo size; in vitro use `cells_above`",
                    ));
                }
                let mm3 = self.num(
                    v,
                    "resistance.volume_above",
                    |x| x > 0.0,
                    "a positive tumour volume in mm^3",
                )?;
                r.above = Some(SizeThreshold {
                    cells: mm3 / cell_volume,
                    volume: Some(mm3),
                })
            }
            (None, None) => {}
        }
        Ok(r)
    }

    fn stop(&self, f: &ScheduleFile, arms: &[DrugArm], res: &ResistanceRules) -> R<StopRules> {
        let mut s = StopRules {
            on_resistance: false,
            max_cells: None,
            extinct_below: 1.0,
            genotype_cells: Vec::new(),
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
            if let Some(m) = &d.genotype_cells {
                for (name, v) in m.get_ref() {
                    let field = format!("stop.genotype_cells.{name}");
                    let g = self.genotype_name(v.span().start, name, &field)?;
                    let n = self.num(v, &field, |x| x > 0.0, "a positive number of cells")?;
                    s.genotype_cells.push((g, n));
                }
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
        let can_fire = res.ic50_fold.is_some()
            || res.steady_growth.is_some()
            || res.regrowth.is_some()
            || res.above.is_some();
        if !can_fire {
            if let Some(i) = arms.iter().position(|a| a.stop_on_resistance) {
                let at = f.drug[i]
                    .get_ref()
                    .stop
                    .as_ref()
                    .map_or(f.drug[i].span().start, |s| s.span().start);
                return Err(self.err(
                    at,
                    &format!("drug[{}].stop", arms[i].drug_name),
                    "the arm stops on resistance, but no resistance rule can fire: set \
                     `ic50_every` (IC50 rule), `[resistance] steady_growth` or `cells_above`",
                ));
            }
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
