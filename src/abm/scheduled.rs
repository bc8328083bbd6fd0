//! The agent-based engine under a therapy schedule (`docs/schedule-format.md`).
//!
//! One loop per replicate over the schedule's discontinuities, the same loop as the
//! ODE therapy driver (`crate::therapy`), with a stochastic population in place of the
//! ODE: plan the next stop (a medium change, ladder step, holiday edge or bolus from
//! the shared [`DosePlan`]; a readout; an IC50 readout; an adaptive check), advance the
//! cells to it with the exposure fixed in closed form, act there, go on. At each stop,
//! in order:
//!
//! 1. the expanded population's growth history is updated;
//! 2. adaptive arms due for a check raise their concentration if growth recovered;
//! 3. scheduled dosing: a medium change (in vitro) or the day's boluses (in vivo);
//! 4. passaging (in vitro): at or above the confluence cap every cell is kept with
//!    probability 1/K (random sampling of the dish), repeated while still at the cap;
//! 5. an IC50 readout if due;
//! 6. resistance rules; the first event starts arms waiting for resistance;
//! 7. the scheduled doses are recorded at readouts; stop conditions.
//!
//! Assays (ICxx starts of adaptive arms, IC50 readouts) are the ODE assay of
//! `crate::assay` on the population's mean state: per genotype, the mean loop state of
//! its cells and its cell count. For a population whose cells differ (noise), that is
//! the response of an average cell per genotype, not the mean response of the cells
//! (the two differ when the response is nonlinear in the loop state); documented in
//! `docs/abm.md`.
//!
//! Every decision depends only on the replicate's own trajectory, so a replicate is a
//! pure function of (model, schedule, seed, replicate).

use super::compiled::CompiledCells;
use super::engine::{
    AbmOptions, Founders, Progress, ReplicateEvent, ReplicateResult, Simulation, StopReason,
};
use super::error::AbmError;
use super::model::{CellModel, Exposure, StepContext};
use crate::assay::{self, AssaySettings};
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::ode::{OdeRun, RunSettings};
use crate::pkpd::{self, DoseEvent, DoseKind};
use crate::schedule::{AdaptiveStart, ArmStart, DosePlan, Regimen, Schedule, Setting};
use crate::therapy::rules::{GrowthHistory, NadirRule};

/// The exposure in force between two stops: closed form from the last events.
struct Between<'a>(&'a pkpd::Exposure);

impl Exposure for Between<'_> {
    fn drugs_at(&self, t: f64, out: &mut [f64]) {
        self.0.concentrations(t, out);
    }
}

/// Everything the replicates share.
pub struct ScheduledRun<'a> {
    pub model: &'a CompiledModel,
    pub bound: &'a BoundModel,
    pub cells: &'a CompiledCells,
    pub schedule: &'a Schedule,
    pub options: &'a AbmOptions,
    pub founders: &'a [Founders],
    pub seed: u64,
    pub assay: AssaySettings,
    /// Drug-free net growth rate at t = 0 (division - death, cell-weighted), the
    /// reference of the adaptive and steady-growth rules.
    pub untreated: f64,
}

/// Options of a scheduled run derived from the schedule: records at the readout
/// interval, no passaging or stop by the engine itself (the driver does both).
pub fn options_for(schedule: &Schedule, base: &AbmOptions) -> AbmOptions {
    let mut o = base.clone();
    o.record_every = schedule.readout_every;
    o.passage = None;
    o.stop_at_population = None;
    o.stop_when_extinct = true;
    o.treatment_start = schedule
        .arms
        .iter()
        .filter_map(|a| match a.start {
            ArmStart::At(t) => Some(t),
            ArmStart::OnResistance => None,
        })
        .fold(f64::INFINITY, f64::min);
    if !o.treatment_start.is_finite() {
        o.treatment_start = 0.0;
    }
    o
}

/// Per genotype: the loop state its cells start from, and its fraction of the cells.
pub type InitialStates = (Vec<Vec<f64>>, Vec<f64>);

/// The loop state each genotype starts from and the genotype fractions: the model's,
/// or after the schedule's drug-free `equilibrate` period run as the ODE (the loop of
/// each genotype's representative cell; mutants arising in that period are kept as
/// the ODE's expected fraction).
pub fn initial_states(
    model: &CompiledModel,
    bound: &BoundModel,
    schedule: &Schedule,
) -> Result<Option<InitialStates>, AbmError> {
    if schedule.grow_from.is_some() {
        return Err(AbmError::Settings(format!(
            "schedule `{}`: `grow_from` (a growth phase before t = 0) runs on the \
             mean-field and hybrid engines (`resloop therapy`), not yet on the agent-based one",
            schedule.name
        )));
    }
    let Some(te) = schedule.equilibrate else {
        return Ok(None);
    };
    let settings = RunSettings {
        carrying_capacity: model.carrying_capacity,
        ..RunSettings::default()
    };
    let y0 = OdeRun::initial_state(model, bound, model.initial_cells);
    let fail = |e: crate::engine::ode::SimError| {
        AbmError::Settings(format!(
            "equilibrating the loop for {te} {} before t = 0: {e}",
            schedule.time_unit
        ))
    };
    let mut run = OdeRun::new(model, bound, &settings, &y0, 0.0).map_err(fail)?;
    run.advance_to(te, &[]).map_err(fail)?;
    let stride = run.stride();
    let y = run.state();
    let total: f64 = (0..model.genotypes.len())
        .map(|g| y[g * stride + stride - 1])
        .sum();
    let states = (0..model.genotypes.len())
        .map(|g| y[g * stride..g * stride + stride - 1].to_vec())
        .collect();
    let fractions = (0..model.genotypes.len())
        .map(|g| (y[g * stride + stride - 1] / total).clamp(0.0, 1.0))
        .collect();
    Ok(Some((states, fractions)))
}

/// Drug-free net growth rate of the founders at t = 0 (cell-weighted).
pub fn untreated_rate(cells: &CompiledCells, founders: &[Founders]) -> f64 {
    let ns = cells.n_species();
    let mut scratch = cells.scratch(1);
    let drugs = vec![0.0; cells.n_drugs()];
    let (mut num, mut den) = (0.0, 0.0);
    for f in founders.iter().filter(|f| f.count > 0) {
        let mut x = vec![0.0f64; ns];
        cells.initial_state(f.genotype, &mut x);
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut b, mut d) = ([0.0], [0.0]);
        let ctx = StepContext {
            genotype: f.genotype,
            t: 0.0,
            dt: 0.0,
            drugs: &drugs,
        };
        cells.hazards(
            &ctx,
            &super::model::States::new(&xs, 1, 1, ns),
            &mut b,
            &mut d,
            &mut scratch,
        );
        num += f.count as f64 * (b[0] - d[0]);
        den += f.count as f64;
    }
    num / den
}

impl ScheduledRun<'_> {
    /// Run replicate `replicate`.
    pub fn replicate(
        &self,
        replicate: u64,
        progress: &dyn Progress,
    ) -> Result<ReplicateResult, AbmError> {
        let sim = Simulation::new(
            self.cells,
            self.founders,
            self.options.clone(),
            self.seed,
            replicate,
        )?;
        let mut d = Driver::new(self, sim, replicate);
        d.run(progress)?;
        Ok(d.finish())
    }
}

struct Driver<'r, 'a> {
    r: &'r ScheduledRun<'a>,
    s: &'a Schedule,
    sim: Simulation<'a, CompiledCells>,
    plan: DosePlan<'a>,
    pk: pkpd::Exposure,
    eps: f64,
    scheduled: Vec<usize>,
    last_dose: Vec<f64>,
    /// ln of the product of every passage's split factor (a log, so hundreds of
    /// passages cannot overflow).
    ln_expanded: f64,
    /// A dose has been given: the regrowth rule's nadir is taken from then on.
    dosed: bool,
    growth: GrowthHistory,
    nadir: Option<NadirRule>,
    ic50_0: Option<f64>,
    fired: Vec<&'static str>,
    first_resistance: Option<(f64, String)>,
    stop_on_resistance: bool,
    stopped: bool,
    events: Vec<ReplicateEvent>,
    doses: Vec<(f64, Vec<f64>)>,
    ic50: Vec<(f64, Option<f64>)>,
    pending_reason: Vec<Option<String>>,
}

impl<'r, 'a> Driver<'r, 'a> {
    fn new(r: &'r ScheduledRun<'a>, sim: Simulation<'a, CompiledCells>, _rep: u64) -> Self {
        let s = r.schedule;
        let mut scheduled: Vec<usize> = s.arms.iter().map(|a| a.drug).collect();
        scheduled.sort_unstable();
        scheduled.dedup();
        let nd = r.model.drugs.len();
        Driver {
            r,
            s,
            sim,
            plan: DosePlan::new(s),
            pk: pkpd::Exposure::new(r.model),
            eps: 1e-9 * s.duration.max(1.0),
            scheduled,
            last_dose: vec![0.0; nd],
            ln_expanded: 0.0,
            dosed: false,
            growth: GrowthHistory::default(),
            nadir: s.resistance.regrowth.map(NadirRule::new),
            ic50_0: None,
            fired: Vec::new(),
            first_resistance: None,
            stop_on_resistance: false,
            stopped: false,
            events: Vec::new(),
            doses: Vec::new(),
            ic50: Vec::new(),
            pending_reason: vec![None; nd],
        }
    }

    fn event(&mut self, kind: &str, drug: Option<usize>, value: f64, unit: &str, detail: String) {
        self.events.push(ReplicateEvent {
            t: self.sim.time(),
            kind: kind.to_string(),
            drug: drug.map(|d| self.r.model.drugs[d].name.clone()),
            value,
            unit: unit.to_string(),
            detail,
        });
    }

    fn next_on_grid(&self, t: f64, every: f64) -> f64 {
        (((t + self.eps) / every).floor() + 1.0) * every
    }

    fn due(&self, t: f64, every: f64) -> bool {
        ((t / every).round() * every - t).abs() <= self.eps
    }

    fn population(&self) -> f64 {
        self.sim.population() as f64
    }

    /// Record ln N of the expanded population (cells times every split factor).
    fn push_growth(&mut self, t: f64) {
        let n = self.population();
        let v = if n > 0.0 {
            n.ln() + self.ln_expanded
        } else {
            f64::NEG_INFINITY
        };
        self.growth.push_ln(t, v);
    }

    fn run(&mut self, progress: &dyn Progress) -> Result<(), AbmError> {
        let s = self.s;
        self.push_growth(0.0);
        self.start_arms_due(0.0)?;
        self.dose(true, "start")?;
        self.passage()?;
        self.readouts(true, s.ic50_every.is_some())?;
        if self.check_stop() {
            return Ok(());
        }
        loop {
            let t = self.sim.time();
            if t >= s.duration - self.eps {
                break;
            }
            let edge = self.plan.next_after(t);
            let mut t_next = s.duration;
            if let Some(e) = edge {
                t_next = t_next.min(e);
            }
            t_next = t_next.min(self.next_on_grid(t, s.readout_every));
            if let Some(e) = s.ic50_every {
                t_next = t_next.min(self.next_on_grid(t, e));
            }
            for a in &s.arms {
                if let Regimen::Adaptive(rule) = &a.regimen {
                    t_next = t_next.min(self.next_on_grid(t, rule.check_every));
                }
            }
            let why = self.sim.advance_to(t_next, &Between(&self.pk), progress)?;
            if why == StopReason::Extinct {
                let t = self.sim.time();
                self.push_growth(t);
                self.event("stop", None, 0.0, "cells", "extinct: no cell left".into());
                break;
            }
            let t = t_next;
            self.push_growth(t);
            let end = t >= s.duration - self.eps;
            let edge_due = edge.is_some_and(|e| e <= t + self.eps);
            let readout_due = end || self.due(t, s.readout_every);
            let ic50_due = s.ic50_every.is_some_and(|e| self.due(t, e));
            self.start_arms_due(t)?;
            let raised = self.adaptive_checks(t);
            if edge_due || raised {
                self.dose(edge_due, if raised { "raise" } else { "schedule" })?;
            }
            if edge_due || readout_due {
                self.passage()?;
            }
            self.readouts(readout_due, ic50_due)?;
            if self.check_stop() || end {
                break;
            }
        }
        Ok(())
    }

    /// The population's mean state as an ODE state: per genotype, mean loop state
    /// (the model's initial one for a genotype with no cell) and cell count.
    fn mean_state(&self) -> Vec<f64> {
        let (counts, means) = self.sim.genotype_means();
        let ns = self.r.model.species.len();
        let mut init = vec![0.0; ns];
        let mut y = Vec::with_capacity(counts.len() * (ns + 1));
        for (g, &n) in counts.iter().enumerate() {
            self.r.cells.initial_state(g, &mut init);
            for s in 0..ns {
                let m = means[g * ns + s];
                y.push(if m.is_finite() { m } else { init[s] });
            }
            y.push(n as f64);
        }
        y
    }

    fn dose_response(&self, drug: usize) -> Result<assay::DoseResponse, AbmError> {
        let (lo, hi) = assay::default_range(self.r.model, self.r.bound, drug);
        let doses = assay::log_doses(lo, hi, assay::points_for(lo, hi))
            .map_err(|e| AbmError::Settings(e.to_string()))?;
        let background = vec![0.0; self.r.model.drugs.len()];
        let t = self.sim.time();
        assay::dose_response(
            self.r.model,
            self.r.bound,
            &self.mean_state(),
            &background,
            drug,
            &doses,
            &self.r.assay,
        )
        .map_err(|e| {
            AbmError::Settings(format!(
                "simulated 72 h assay at t = {t} {}: {e}",
                self.s.time_unit
            ))
        })
    }

    fn start_arms_due(&mut self, t: f64) -> Result<(), AbmError> {
        for i in 0..self.s.arms.len() {
            let Regimen::Adaptive(rule) = self.s.arms[i].regimen else {
                continue;
            };
            let Some(t0) = self.plan.arm_start(i) else {
                continue;
            };
            if self.plan.level(i).is_some() || (t0 - t).abs() > self.eps {
                continue;
            }
            let c = match rule.start {
                AdaptiveStart::Concentration(c) => c,
                AdaptiveStart::Icxx(x) => {
                    let drug = self.s.arms[i].drug;
                    let dr = self.dose_response(drug)?;
                    let c = dr.icxx(x).ok_or_else(|| {
                        AbmError::Settings(format!(
                            "the adaptive arm of `{}` starts at IC{x}, but the simulated 72 h \
                             assay on the population at t = {t} never reaches {x}% inhibition \
                             up to {} {}",
                            self.r.model.drugs[drug].name,
                            dr.top_dose(),
                            dr.unit
                        ))
                    })?;
                    c.min(rule.cap)
                }
            };
            self.plan.set_level(i, c, t);
        }
        Ok(())
    }

    fn adaptive_checks(&mut self, t: f64) -> bool {
        let mut raised = false;
        for i in 0..self.s.arms.len() {
            let Regimen::Adaptive(rule) = self.s.arms[i].regimen else {
                continue;
            };
            if !self.due(t, rule.check_every) || !self.plan.active(i, t) {
                continue;
            }
            let Some((c, since)) = self.plan.level(i) else {
                continue;
            };
            if c >= rule.cap * (1.0 - 1e-12) || t - since < rule.min_hold - self.eps {
                continue;
            }
            let Some(rate) = self.growth.rate(t, rule.window) else {
                continue;
            };
            if rate >= rule.recovery * self.r.untreated {
                let new = (c * rule.factor).min(rule.cap);
                self.plan.set_level(i, new, t);
                raised = true;
                let drug = self.s.arms[i].drug;
                let tu = &self.s.time_unit;
                self.pending_reason[drug] = Some(format!(
                    "raise: net growth {rate:.4}/{tu} over the last {} {tu} >= {} x untreated \
                     {:.4}/{tu}; {c:.4} -> {new:.4}",
                    rule.window, rule.recovery, self.r.untreated
                ));
            }
        }
        raised
    }

    fn apply(&mut self, ev: &DoseEvent) -> Result<(), AbmError> {
        self.pk
            .apply(ev, self.r.model)
            .map_err(|e| AbmError::Exposure(e.to_string()))
    }

    fn dose(&mut self, edge: bool, why: &str) -> Result<(), AbmError> {
        let t = self.sim.time();
        match self.s.setting {
            Setting::InVitro => {
                for ev in self.plan.medium_change(t) {
                    if let DoseKind::SetConcentration { value } = ev.kind {
                        if value != self.pk.concentration(ev.drug, t) {
                            self.apply(&ev)?;
                        }
                        self.dosed |= value > 0.0;
                    }
                }
            }
            Setting::InVivo => {
                if edge {
                    for ev in self.plan.events_at(t) {
                        self.bolus(&ev)?;
                    }
                }
            }
        }
        self.note_dose_changes(why);
        Ok(())
    }

    fn bolus(&mut self, ev: &DoseEvent) -> Result<(), AbmError> {
        self.apply(ev)?;
        if let DoseKind::Bolus { mg_per_kg } = ev.kind {
            self.dosed |= mg_per_kg > 0.0;
            self.event("bolus", Some(ev.drug), mg_per_kg, "mg/kg", String::new());
        }
        Ok(())
    }

    fn dose_unit(&self, d: usize) -> String {
        match self.s.setting {
            Setting::InVitro => self.r.model.drugs[d].unit.symbol().to_string(),
            Setting::InVivo => "mg/kg".into(),
        }
    }

    fn note_dose_changes(&mut self, why: &str) {
        let t = self.sim.time();
        for k in 0..self.scheduled.len() {
            let d = self.scheduled[k];
            let new = self.plan.drug_dose(d, t);
            let old = self.last_dose[d];
            let reason = self.pending_reason[d].take();
            self.last_dose[d] = new;
            if new != old {
                let unit = self.dose_unit(d);
                let detail = reason.unwrap_or_else(|| format!("{why}: {old} -> {new} {unit}"));
                self.event("dose_change", Some(d), new, &unit, detail);
            }
        }
    }

    /// Random 1:K splits while the dish holds at least the cap.
    fn passage(&mut self) -> Result<(), AbmError> {
        let Some(p) = self.s.culture.passage else {
            return Ok(());
        };
        // Each split is recorded by the engine (`ReplicateResult::passages`).
        while self.population() >= p.cap && self.population() > 0.0 {
            self.sim.passage(1.0 / p.split)?;
            self.ln_expanded += p.split.ln();
        }
        Ok(())
    }

    fn readouts(&mut self, readout_due: bool, ic50_due: bool) -> Result<(), AbmError> {
        let t = self.sim.time();
        if ic50_due && self.population() > 0.0 {
            self.ic50_readout()?;
        }
        if readout_due {
            if let (Some(rule), Some(arm)) = (self.s.resistance.steady_growth, self.s.primary_arm) {
                if let Some(since) = self.plan.at_final_dose_since(arm, t) {
                    if t - since >= rule.window - self.eps {
                        if let Some(rate) = self.growth.rate(t, rule.window) {
                            if rate >= rule.fraction * self.r.untreated {
                                let tu = self.s.time_unit.clone();
                                self.resistance(
                                    "steady_growth",
                                    t,
                                    rate,
                                    &format!("1/{tu}"),
                                    format!(
                                        "net growth {rate:.4}/{tu} over the last {} {tu} at the \
                                         final dose >= {} x untreated {:.4}/{tu}",
                                        rule.window, rule.fraction, self.r.untreated
                                    ),
                                )?;
                            }
                        }
                    }
                }
            }
            if self.nadir.is_some() && self.dosed {
                let v = self.population() * self.s.cell_volume;
                if let Some(hit) = self.nadir.as_mut().and_then(|n| n.push(t, v)) {
                    self.resistance(
                        "regrowth",
                        hit.time,
                        hit.volume,
                        "mm^3",
                        format!(
                            "tumour volume crossed {:.0}% above its nadir {:.4e} mm^3 (at t = {})",
                            self.s.resistance.regrowth.unwrap_or(0.25) * 100.0,
                            hit.nadir,
                            hit.nadir_time
                        ),
                    )?;
                }
            }
            let doses: Vec<f64> = self
                .scheduled
                .iter()
                .map(|&d| self.plan.drug_dose(d, t))
                .collect();
            if self.doses.last().map(|x| x.0) != Some(t) {
                self.doses.push((t, doses));
            }
        }
        Ok(())
    }

    fn ic50_readout(&mut self) -> Result<(), AbmError> {
        let Some(drug) = self.s.ic50_drug else {
            return Ok(());
        };
        let t = self.sim.time();
        let dr = self.dose_response(drug)?;
        let ic50 = dr.ic50();
        let top = dr.top_dose();
        if self.ic50.is_empty() {
            self.ic50_0 = ic50;
        }
        self.ic50.push((t, ic50));
        let fold = self.ic50_0.map(|i0| ic50.unwrap_or(top) / i0);
        let unit = dr.unit.clone();
        self.event(
            "ic50",
            Some(drug),
            ic50.unwrap_or(f64::NAN),
            &unit,
            match fold {
                Some(f) => format!("{f:.3} x the t = 0 IC50"),
                None => format!("above the tested range (> {top} {unit})"),
            },
        );
        if let (Some(f), Some(fold)) = (self.s.resistance.ic50_fold, fold) {
            if fold >= f {
                self.resistance(
                    "ic50_fold",
                    t,
                    fold,
                    "fold",
                    format!("IC50 of `{}` >= {f} x the t = 0 IC50", dr.drug),
                )?;
            }
        }
        Ok(())
    }

    fn resistance(
        &mut self,
        rule: &'static str,
        time: f64,
        value: f64,
        unit: &str,
        detail: String,
    ) -> Result<(), AbmError> {
        if self.fired.contains(&rule) {
            return Ok(());
        }
        self.fired.push(rule);
        self.events.push(ReplicateEvent {
            t: time,
            kind: format!("resistance:{rule}"),
            drug: None,
            value,
            unit: unit.to_string(),
            detail,
        });
        if self.first_resistance.is_some() {
            return Ok(());
        }
        self.first_resistance = Some((time, rule.to_string()));
        if self.s.stop.on_resistance {
            self.stop_on_resistance = true;
            return Ok(());
        }
        let t = self.sim.time();
        let mut started = Vec::new();
        for i in 0..self.s.arms.len() {
            if self.s.arms[i].start == ArmStart::OnResistance
                && t < self.s.arms[i].stop - self.eps
                && self.plan.start_arm(i, t)
            {
                started.push(i);
                let d = self.s.arms[i].drug;
                let tu = self.s.time_unit.clone();
                self.event(
                    "arm_start",
                    Some(d),
                    t,
                    &tu,
                    format!("started on resistance ({rule})"),
                );
            }
        }
        if started.is_empty() {
            return Ok(());
        }
        self.start_arms_due(t)?;
        match self.s.setting {
            Setting::InVitro => self.dose(false, "started on resistance")?,
            Setting::InVivo => {
                for &i in &started {
                    for ev in self.plan.arm_events_at(i, t) {
                        self.bolus(&ev)?;
                    }
                }
                self.note_dose_changes("started on resistance");
            }
        }
        Ok(())
    }

    fn check_stop(&mut self) -> bool {
        if self.stopped {
            return true;
        }
        let total = self.population();
        let why = if self.stop_on_resistance {
            Some("first resistance event (stop.on_resistance)".to_string())
        } else if total < self.s.stop.extinct_below {
            Some(format!(
                "extinct: {total} cells < {}",
                self.s.stop.extinct_below
            ))
        } else if self.s.stop.max_cells.is_some_and(|m| total > m) {
            Some(format!(
                "burden {total} cells > max_cells {}",
                self.s.stop.max_cells.unwrap_or(f64::NAN)
            ))
        } else {
            None
        };
        match why {
            Some(w) => {
                self.event("stop", None, total, "cells", w);
                self.stopped = true;
                true
            }
            None => false,
        }
    }

    fn finish(self) -> ReplicateResult {
        let mut r = self.sim.finish();
        r.events = self.events;
        r.resistance = self.first_resistance;
        r.doses = self.doses;
        r.ic50 = self.ic50;
        r
    }
}
