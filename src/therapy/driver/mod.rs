//! The therapy driver: one loop over the schedule's discontinuities.
//!
//! Plan the next stop (a medium change, ladder step, holiday edge or bolus from the
//! [`DosePlan`]; a readout; an IC50 readout; an adaptive check), advance the ODE to
//! it, act there, go on. Doses are events applied between integrations, never
//! smoothed. At each stop, in order:
//!
//! 1. exposure AUC and the expanded population's growth history are updated;
//! 2. adaptive arms due for a check raise their concentration if growth recovered;
//! 3. scheduled dosing: a medium change (in vitro) or the day's boluses (in vivo);
//! 4. passaging (in vitro): at or above the confluence cap the dish is split 1:K;
//! 5. an IC50 readout if due (a simulated 72 h assay on the population);
//! 6. resistance rules; the first event starts arms waiting for resistance;
//! 7. a timeline row if a readout is due; stop conditions.

mod dosing;
mod readout;

use std::time::Instant;

use super::rules::{GrowthHistory, NadirRule};
use super::types::*;
use crate::abm::{CompiledCells, LoopIntegration};
use crate::assay::{self, AssaySettings, DoseResponse};
use crate::compile::{BoundModel, CompiledModel};
use crate::engine::agent::as_engine::AgentEngine;
use crate::engine::ode::{
    rescale_cells, total_cells, Column, OdeRun, RowRecorder, RunSettings, SimError, Timeline,
};
use crate::engine::population::{Mode, PopulationEngine};
use crate::engine::{Advanced, Engine, EngineKind, Watch, WatchTarget};
use crate::pkpd::DoseKind;
use crate::schedule::{AdaptiveStart, ArmStart, DosePlan, Regimen, Schedule, Setting};

/// Run `model` under `schedule`.
///
/// This is the library entry point of therapy runs (the `therapy` and `compare`
/// commands, fact states, sweeps). The result's `final_state` can start another run.
pub fn run(
    model: &CompiledModel,
    schedule: &Schedule,
    options: &TherapyOptions,
) -> Result<TherapyResult, TherapyError> {
    let started = Instant::now();
    let bound = bind(model, schedule, options)?;
    let mut result = run_bound(model, &bound, schedule, options)?;
    result.wall_seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

/// `model` bound with `options.params` (the model's own values when `None`), checked:
/// what [`run_bound`] takes. Binding derives and compiles every genotype's right-hand
/// side and Jacobian, a large part of a short run's cost, so callers that run
/// several replicates or already hold the bound model bind once (measured:
/// `resloop simulate` of the imported `mir34a_axl_adaptive` replay bound it twice,
/// 60 ms of CPU for the process, 40 ms with one binding).
pub fn bind(
    model: &CompiledModel,
    schedule: &Schedule,
    options: &TherapyOptions,
) -> Result<BoundModel, TherapyError> {
    let settings_err = |message: String| TherapyError::Settings {
        schedule: schedule.name.clone(),
        message,
    };
    let params = match &options.params {
        Some(p) if p.len() != model.params.len() => {
            return Err(settings_err(format!(
                "{} parameter values for a model with {} parameters",
                p.len(),
                model.params.len()
            )))
        }
        Some(p) => p.clone(),
        None => model.param_values(),
    };
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        return Err(settings_err(format!(
            "parameter `{}` is {}",
            model.params[i].name, params[i]
        )));
    }
    BoundModel::new(model, &params)
        .map_err(|e| settings_err(format!("internal error binding the model: {e}")))
}

/// [`run`] on `bound`, the model bound with `options.params` ([`bind`]).
pub fn run_bound(
    model: &CompiledModel,
    bound: &BoundModel,
    schedule: &Schedule,
    options: &TherapyOptions,
) -> Result<TherapyResult, TherapyError> {
    let started = Instant::now();
    let settings_err = |message: String| TherapyError::Settings {
        schedule: schedule.name.clone(),
        message,
    };
    let y0 = start_state(model, bound, schedule, options)?;
    let sim = |source| TherapyError::Sim {
        schedule: schedule.name.clone(),
        phase: "start",
        source: Box::new(source),
    };
    // The agent-based engine's cells start from each genotype's loop state at t = 0.
    let cells = match options.engine {
        EngineKind::AgentBased if !model.has_cells => {
            return Err(settings_err(format!(
                "the agent-based engine follows cells, and {} declares none (no [fate]: \
                 a plain ODE model); run it with --engine mean-field",
                model.meta.path
            )))
        }
        EngineKind::AgentBased => Some(agent_cells(model, bound, &y0).map_err(settings_err)?),
        _ => None,
    };
    let mut engine =
        start_engine(model, bound, &y0, options, cells.as_ref(), schedule).map_err(sim)?;
    let mut result = drive(model, bound, schedule, options, &y0, engine.as_mut())?;
    result.wall_seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

/// The state a run of `schedule` starts from with these options: the model's (or
/// `options.initial_state`), after the schedule's `equilibrate` period, rescaled to
/// its initial cells, grown from `grow_from` cells if the schedule says so (a random
/// growth per replicate on the stochastic engines). Per genotype: species then cells.
pub fn start(
    model: &CompiledModel,
    bound: &BoundModel,
    schedule: &Schedule,
    options: &TherapyOptions,
) -> Result<Vec<f64>, TherapyError> {
    start_state(model, bound, schedule, options)
}

/// Run `schedule` on an engine the caller built (at time 0, holding `y0`), for callers
/// that keep the engine afterwards (the `abm` command reads its clone lineages). The
/// engine is left where the run ended.
pub fn drive(
    model: &CompiledModel,
    bound: &BoundModel,
    schedule: &Schedule,
    options: &TherapyOptions,
    y0: &[f64],
    engine: &mut dyn Engine,
) -> Result<TherapyResult, TherapyError> {
    let started = Instant::now();
    let mut d = Driver::new(model, bound, schedule, options, engine, y0)?;
    d.run()?;
    Ok(d.finish(started.elapsed().as_secs_f64()))
}

/// What a [`Watch`] of the driver is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum WatchFor {
    MaxCells,
    GenotypeStop,
    /// Arm `i` starts on size.
    ArmStart(usize),
    Progression,
}

struct Driver<'a, 'e> {
    model: &'a CompiledModel,
    bound: &'a BoundModel,
    s: &'a Schedule,
    opts: &'a TherapyOptions,
    plan: DosePlan<'a>,
    engine: &'e mut dyn Engine,
    rec: RowRecorder<'a>,
    eps: f64,
    assay: AssaySettings,
    /// Drugs with an arm, in model order.
    scheduled: Vec<usize>,
    last_dose: Vec<f64>,
    /// Concentrations right after the previous stop, for the AUC.
    conc_prev: Vec<f64>,
    t_prev: f64,
    auc: Vec<f64>,
    mg_total: Vec<f64>,
    boluses: Vec<usize>,
    max_dose: Vec<f64>,
    /// ln of the product of every passage's split factor (in log space: hundreds of
    /// passages overflow an f64).
    ln_expanded: f64,
    passages: usize,
    growth: GrowthHistory,
    untreated: f64,
    nadir: Option<NadirRule>,
    ic50_0: Option<f64>,
    /// Genotypes judged resistant by their own IC50 at the latest readout.
    resistant_by_ic50: Vec<bool>,
    first_resistance: Option<(f64, ResistanceRule)>,
    fired: Vec<ResistanceRule>,
    stop_reason: StopReason,
    /// A drug has been given (the regrowth rule measures from the first dose on).
    dosed: bool,
    /// Why a drug's scheduled dose is about to change (set by adaptive raises).
    pending_reason: Vec<Option<String>>,
    // Outputs.
    columns: Vec<Column>,
    times: Vec<f64>,
    values: Vec<f64>,
    ic50: Vec<Ic50Readout>,
    events: Vec<Event>,
    warnings: Vec<String>,
    assay_wells: usize,
    min_cells: f64,
}

impl<'a, 'e> Driver<'a, 'e> {
    fn new(
        model: &'a CompiledModel,
        bound: &'a BoundModel,
        s: &'a Schedule,
        opts: &'a TherapyOptions,
        engine: &'e mut dyn Engine,
        y0: &[f64],
    ) -> Result<Driver<'a, 'e>, TherapyError> {
        let settings_err = |message: String| TherapyError::Settings {
            schedule: s.name.clone(),
            message,
        };

        let mut scheduled: Vec<usize> = s.arms.iter().map(|a| a.drug).collect();
        scheduled.sort_unstable();
        scheduled.dedup();
        let mut rec = RowRecorder::new(model, bound);
        let mut columns = rec.columns();
        let total = |v: &str, u: &str| Column {
            population: "total".into(),
            variable: v.into(),
            unit: u.into(),
        };
        columns.push(total("expanded_cells", "cells"));
        columns.push(total("resistant_fraction", "1"));
        columns.push(total("resistant_fraction_ic50", "1"));
        if s.setting == Setting::InVivo {
            columns.push(total("tumour_volume", "mm^3"));
        }
        for &dr in &scheduled {
            columns.push(Column {
                population: "dose".into(),
                variable: model.drugs[dr].name.clone(),
                unit: dose_unit(model, s, dr),
            });
        }

        // Untreated net growth rate at t = 0: the model's division and death rates of
        // every genotype at its loop state with no drug, weighted by cells.
        let zero = vec![0.0; model.drugs.len()];
        let readings = rec.read(0.0, y0, &zero);
        let n: f64 = readings.iter().map(|r| r.cells).sum();
        let untreated = readings
            .iter()
            .map(|r| r.cells * (r.division - r.death))
            .sum::<f64>()
            / n;
        let needs_growth = s.resistance.steady_growth.is_some()
            || s.arms
                .iter()
                .any(|a| matches!(a.regimen, Regimen::Adaptive(_)));
        if needs_growth && (untreated.is_nan() || untreated <= 0.0) {
            return Err(settings_err(format!(
                "the adaptive rule and steady-growth rule compare growth with the untreated \
                 growth rate, but the population's drug-free net growth rate at t = 0 is {untreated} \
                 per {}",
                s.time_unit
            )));
        }
        let assay = opts.assay.unwrap_or_else(|| AssaySettings::standard(model));
        let nd = model.drugs.len();
        Ok(Driver {
            model,
            bound,
            s,
            opts,
            plan: DosePlan::new(s),
            engine,
            rec,
            eps: 1e-9 * s.duration.max(1.0),
            assay,
            last_dose: vec![0.0; nd],
            conc_prev: vec![0.0; nd],
            t_prev: 0.0,
            auc: vec![0.0; nd],
            mg_total: vec![0.0; nd],
            boluses: vec![0; nd],
            max_dose: vec![0.0; nd],
            scheduled,
            ln_expanded: 0.0,
            passages: 0,
            growth: GrowthHistory::default(),
            untreated,
            nadir: s.resistance.regrowth.map(NadirRule::new),
            ic50_0: None,
            resistant_by_ic50: vec![false; model.genotypes.len()],
            first_resistance: None,
            fired: Vec::new(),
            stop_reason: StopReason::End,
            pending_reason: vec![None; nd],
            dosed: false,
            columns,
            times: Vec::new(),
            values: Vec::new(),
            ic50: Vec::new(),
            events: Vec::new(),
            warnings: s.warnings.clone(),
            assay_wells: 0,
            min_cells: f64::INFINITY,
        })
    }

    fn sim_err(&self, source: SimError) -> TherapyError {
        TherapyError::Sim {
            schedule: self.s.name.clone(),
            phase: "the run",
            source: Box::new(source),
        }
    }

    fn event(
        &mut self,
        kind: EventKind,
        drug: Option<usize>,
        value: f64,
        unit: &str,
        detail: String,
    ) {
        self.events.push(Event {
            time: self.engine.time(),
            kind,
            drug: drug.map(|d| self.model.drugs[d].name.clone()),
            value,
            unit: unit.to_string(),
            detail,
        });
    }

    /// Next multiple of `every` strictly after `t`. When `n` intervals of `every`
    /// make the run, the k-th is `duration k / n` (correctly rounded), so a readout
    /// grid given as the run's length over a number of points (`simulate --points`)
    /// lands on the times its caller computes.
    fn next_on_grid(&self, t: f64, every: f64) -> f64 {
        let k = ((t + self.eps) / every).floor() + 1.0;
        let n = (self.s.duration / every).round();
        if n >= 1.0 && (n * every - self.s.duration).abs() <= self.eps {
            self.s.duration * k / n
        } else {
            k * every
        }
    }

    fn due(&self, t: f64, every: f64) -> bool {
        let k = (t / every).round();
        (k * every - t).abs() <= self.eps
    }

    fn run(&mut self) -> Result<(), TherapyError> {
        let s = self.s;
        // t = 0: arms starting now, the first medium / doses, passage, readouts.
        self.growth.push(0.0, self.engine.total_cells());
        self.size_starts(0.0)?;
        self.start_arms_due(0.0)?;
        self.dose(true, "start")?;
        self.passage()?;
        let ic50_due = s.ic50_every.is_some();
        self.act_on_readouts(true, ic50_due)?;
        self.conc_prev = self.engine.concentrations();
        if self.check_stop() {
            return Ok(());
        }
        loop {
            let t = self.engine.time();
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
            for c in self.check_intervals() {
                t_next = t_next.min(self.next_on_grid(t, c));
            }
            // The end of the host's lag is a discontinuity (division starts).
            if t < s.host.lag - self.eps {
                t_next = t_next.min(s.host.lag);
            }
            let (watches, purposes) = self.watches();
            let why = self
                .engine
                .advance_to(t_next, &watches)
                .map_err(|e| self.sim_err(e))?;
            if why != Advanced::Reached {
                // Act at the event itself, not at the next readout.
                let t = self.engine.time();
                self.accumulate(t);
                let ended = match why {
                    Advanced::Extinct if s.stop.on_extinction => Some(StopReason::Extinct),
                    // The run goes on to its end: time and loop states move.
                    Advanced::Extinct => None,
                    Advanced::Watch(i) => match purposes[i] {
                        WatchFor::MaxCells => Some(StopReason::MaxCells),
                        WatchFor::GenotypeStop => Some(StopReason::GenotypeCells),
                        WatchFor::ArmStart(a) => {
                            self.start_on_size(a, t)?;
                            None
                        }
                        WatchFor::Progression => {
                            self.progression(t)?;
                            None
                        }
                    },
                    Advanced::Reached => None,
                };
                if let Some(reason) = ended {
                    self.stop_reason = reason;
                    self.check_stop();
                    break;
                }
                self.conc_prev = self.engine.concentrations();
                if self.check_stop() {
                    break;
                }
                continue;
            }
            let t = t_next;
            self.accumulate(t);
            let end = t >= s.duration - self.eps;
            let edge_due = edge.is_some_and(|e| e <= t + self.eps);
            let readout_due = end || self.due(t, s.readout_every);
            let ic50_due = s.ic50_every.is_some_and(|e| self.due(t, e));

            self.size_starts(t)?;
            self.start_arms_due(t)?;
            let raised = self.adaptive_checks(t);
            // Fixed doses are also given at the end, before the last readout.
            let fixed_end = end && !self.plan.fixed_at(t).is_empty();
            if edge_due || raised || fixed_end {
                self.dose(
                    edge_due || fixed_end,
                    if raised { "raise" } else { "schedule" },
                )?;
            }
            if edge_due || readout_due {
                self.passage()?;
            }
            self.act_on_readouts(readout_due, ic50_due)?;
            self.conc_prev = self.engine.concentrations();
            if self.check_stop() || end {
                break;
            }
        }
        Ok(())
    }

    /// Sizes at which the engine must stop at the crossing event itself, and why:
    /// the burden limit, a genotype's stop size, arms that start on size, the
    /// absolute progression size (once the population is below it after a dose).
    fn watches(&self) -> (Vec<Watch>, Vec<WatchFor>) {
        let mut w = Vec::new();
        let mut why = Vec::new();
        let mut add = |target, cells, purpose| {
            w.push(Watch { target, cells });
            why.push(purpose);
        };
        if let Some(m) = self.s.stop.max_cells {
            add(WatchTarget::Total, m, WatchFor::MaxCells);
        }
        for &(g, n) in &self.s.stop.genotype_cells {
            add(WatchTarget::Genotype(g), n, WatchFor::GenotypeStop);
        }
        for (i, a) in self.s.arms.iter().enumerate() {
            if let ArmStart::OnSize { genotype, cells } = a.start {
                if self.plan.arm_start(i).is_none() {
                    let target = genotype.map_or(WatchTarget::Total, WatchTarget::Genotype);
                    add(target, cells, WatchFor::ArmStart(i));
                }
            }
        }
        if let Some(above) = self.s.resistance.above {
            let armed = self.dosed
                && !self.fired.contains(&ResistanceRule::Threshold)
                && self.engine.total_cells() < above.cells;
            if armed {
                add(WatchTarget::Total, above.cells, WatchFor::Progression);
            }
        }
        (w, why)
    }

    /// Check intervals of the adaptive arms.
    fn check_intervals(&self) -> Vec<f64> {
        self.s
            .arms
            .iter()
            .filter_map(|a| match &a.regimen {
                Regimen::Adaptive(r) => Some(r.check_every),
                _ => None,
            })
            .collect()
    }

    /// AUC of every drug over the segment just integrated (exposure is an exponential
    /// between events, so the logarithmic mean of the end values is exact), and the
    /// expanded population's growth history.
    fn accumulate(&mut self, t: f64) {
        let now = self.engine.concentrations();
        let dt = t - self.t_prev;
        for (i, (&c0, &c1)) in self.conc_prev.iter().zip(&now).enumerate() {
            self.auc[i] += dt * log_mean(c0, c1);
        }
        self.t_prev = t;
        let n = self.engine.total_cells();
        let ln_n = if n > 0.0 { n.ln() } else { f64::NEG_INFINITY };
        self.growth.push_ln(t, ln_n + self.ln_expanded);
    }
}

impl Driver<'_, '_> {
    /// The first genotype at or above its `stop.genotype_cells` size, and that size.
    fn genotype_over(&self) -> Option<(usize, f64)> {
        let y = self.engine.population();
        let stride = self.engine.stride();
        self.s
            .stop
            .genotype_cells
            .iter()
            .copied()
            .find(|&(g, n)| y[g * stride + stride - 1] >= n * (1.0 - 1e-9))
    }

    /// Apply the stop conditions; true when the run ends here.
    fn check_stop(&mut self) -> bool {
        let total = self.engine.total_cells();
        if self.stop_reason == StopReason::End {
            let gone = self.s.stop.on_extinction
                && (total < self.s.stop.extinct_below
                    || (self.engine.kind().is_stochastic() && total <= 0.0));
            if gone {
                self.stop_reason = StopReason::Extinct;
            } else if self.s.stop.max_cells.is_some_and(|m| total > m) {
                self.stop_reason = StopReason::MaxCells;
            } else if self.genotype_over().is_some() {
                self.stop_reason = StopReason::GenotypeCells;
            }
        }
        if self.stop_reason == StopReason::End {
            return false;
        }
        self.record_row();
        let why = match self.stop_reason {
            StopReason::Extinct if total <= 0.0 => "extinct: no cell left".to_string(),
            StopReason::Extinct => {
                format!("extinct: {total:.4e} cells < {}", self.s.stop.extinct_below)
            }
            StopReason::MaxCells => format!(
                "burden {total:.4e} cells >= max_cells {}",
                self.s.stop.max_cells.unwrap_or(f64::NAN)
            ),
            StopReason::OnResistance => "first resistance event (stop.on_resistance)".into(),
            StopReason::GenotypeCells => match self.genotype_over() {
                Some((g, n)) => format!(
                    "genotype `{}` reached {n} cells (stop.genotype_cells)",
                    self.model.genotypes[g].name
                ),
                None => "a genotype reached its stop.genotype_cells size".into(),
            },
            StopReason::End => unreachable!("handled above"),
        };
        self.event(EventKind::Stop, None, total, "cells", why);
        true
    }

    fn finish(self, wall_seconds: f64) -> TherapyResult {
        let s = self.s;
        let t_end = self.engine.time();
        let days = |t: f64| t * s.hours_per_unit / 24.0;
        let drugs = self
            .scheduled
            .iter()
            .map(|&d| DrugSummary {
                drug: self.model.drugs[d].name.clone(),
                unit: self.model.drugs[d].unit.symbol().to_string(),
                auc_unit_days: days(self.auc[d]),
                total_mg_per_kg: self.mg_total[d],
                boluses: self.boluses[d],
                max_dose: self.max_dose[d],
                final_dose: self.plan.drug_dose(d, t_end),
            })
            .collect();
        let total = self.engine.total_cells();
        let last_ic50 = self.ic50.last();
        let genetic_col = self
            .columns
            .iter()
            .position(|c| c.population == "total" && c.variable == "resistant_fraction")
            .expect("the driver adds this column");
        let w = self.columns.len();
        let resistant_fraction_final = self
            .values
            .get((self.times.len().saturating_sub(1)) * w + genetic_col)
            .copied()
            .unwrap_or(0.0);
        let extinct = self.stop_reason == StopReason::Extinct;
        let endpoint = |reached: bool, t: f64| Endpoint {
            reached,
            time: t,
            days: days(t),
        };
        let resistance = match self.first_resistance {
            Some((t, _)) => endpoint(true, t),
            None => endpoint(false, t_end),
        };
        let extinction = endpoint(extinct, t_end);
        let story = story(
            &resistance,
            self.first_resistance.map(|r| r.1),
            &extinction,
            self.stop_reason,
            total,
            s.setting,
        );
        let summary = Summary {
            schedule: s.name.clone(),
            setting: s.setting,
            engine: self.engine.kind(),
            expected_values: !self.engine.kind().is_stochastic(),
            replicate: self.opts.replicate,
            time_unit: s.time_unit.clone(),
            end_time: t_end,
            end_days: days(t_end),
            stop_reason: self.stop_reason,
            time_to_resistance: self.first_resistance.map(|r| r.0),
            time_to_resistance_days: self.first_resistance.map(|r| days(r.0)),
            resistance_rule: self.first_resistance.map(|r| r.1),
            resistance,
            extinction,
            story,
            final_cells: total,
            final_expanded_cells: total * self.ln_expanded.exp(),
            min_cells: self.min_cells,
            final_volume: (s.setting == Setting::InVivo).then_some(total * s.cell_volume),
            nadir_volume: self.nadir.as_ref().and_then(|n| n.nadir()).map(|n| n.0),
            passages: self.passages,
            untreated_growth_rate: self.untreated,
            ic50_initial: self.ic50_0,
            ic50_final: last_ic50.and_then(|r| r.ic50),
            ic50_fold_final: last_ic50.and_then(|r| r.fold),
            resistant_fraction_final,
            drugs,
            counters: self.engine.counters().cloned(),
        };
        TherapyResult {
            timeline: Timeline {
                times: self.times,
                time_unit: s.time_unit.clone(),
                columns: self.columns,
                values: self.values,
            },
            ic50: self.ic50,
            events: self.events,
            final_state: self.engine.population().to_vec(),
            final_time: t_end,
            summary,
            stats: self.engine.stats(),
            assay_wells: self.assay_wells,
            wall_seconds,
            warnings: self.warnings,
        }
    }
}

/// Solver settings of a run, with the host's growth (`[tumour]` of an in vivo
/// schedule): its division factor and its carrying capacity, else the model's.
fn run_settings(model: &CompiledModel, s: &Schedule, opts: &TherapyOptions) -> RunSettings {
    RunSettings {
        method: opts.method,
        rtol: opts.rtol,
        atol: opts.atol,
        carrying_capacity: s.host.carrying_capacity.or(model.carrying_capacity),
        division_factor: s.host.division_factor,
        // Before injection (equilibration, growth in the dish) nothing lags; the run
        // itself starts at injection (see `start_engine`).
        division_from: 0.0,
        negative_tolerance: opts
            .negative_tolerance
            .unwrap_or_else(|| crate::engine::ode::default_negative_tolerance(model, opts.atol)),
    }
}

/// The population at t = 0: the given state or the model's, equilibrated drug-free
/// for `equilibrate`, scaled to the initial cells, grown from `grow_from` cells, and
/// in vivo only the cells that take (`injection`).
fn start_state(
    model: &CompiledModel,
    bound: &BoundModel,
    s: &Schedule,
    opts: &TherapyOptions,
) -> Result<Vec<f64>, TherapyError> {
    let sim = |phase, source| TherapyError::Sim {
        schedule: s.name.clone(),
        phase,
        source: Box::new(source),
    };
    let settings = run_settings(model, s, opts);
    let stride = model.species.len() + 1;
    let given_total = opts
        .initial_state
        .as_ref()
        .map(|y| total_cells(y, stride))
        .filter(|_| {
            opts.initial_state
                .as_ref()
                .is_some_and(|y| y.len() % stride == 0)
        });
    // The cells in the dish, or injected into the host.
    let target = s
        .initial_cells
        .or(given_total)
        .unwrap_or(model.initial_cells);
    let mut y0 = match &opts.initial_state {
        Some(y) => y.clone(),
        None => OdeRun::initial_state(model, bound, target),
    };
    if let Some(te) = s.equilibrate {
        let mut eq =
            OdeRun::new(model, bound, &settings, &y0, 0.0).map_err(|e| sim("equilibration", e))?;
        eq.advance_to(te, &[])
            .map_err(|e| sim("equilibration", e))?;
        y0 = eq.state().to_vec();
    }
    rescale_cells(&mut y0, stride, target);
    if let Some(n0) = s.grow_from {
        y0 = grow(
            model,
            bound,
            &settings,
            &y0,
            n0,
            target,
            opts,
            s.hours_per_unit,
        )
        .map_err(|e| sim("the growth before t = 0", e))?;
    }
    // In vivo only the cells that take form the tumour.
    let draw = opts
        .engine
        .is_stochastic()
        .then_some((opts.seed, opts.replicate));
    super::injection::inject(model, bound, s, &mut y0, draw).map_err(|message| {
        TherapyError::Settings {
            schedule: s.name.clone(),
            message,
        }
    })?;
    Ok(y0)
}

/// One sentence for a run: what happened and when, or what was not reached by the
/// end (censored).
fn story(
    resistance: &Endpoint,
    rule: Option<ResistanceRule>,
    extinction: &Endpoint,
    stop: StopReason,
    cells: f64,
    setting: Setting,
) -> String {
    let mut parts = Vec::new();
    if resistance.reached {
        let how = rule.map_or(String::new(), |r| format!(" ({})", r.label()));
        parts.push(format!(
            "resistant at day {}{how}",
            fmt_days(resistance.days)
        ));
    }
    if extinction.reached {
        let what = if resistance.reached {
            "then extinct"
        } else {
            "extinct"
        };
        parts.push(format!("{what} at day {}", fmt_days(extinction.days)));
    } else {
        if !resistance.reached {
            parts.push(format!(
                "no resistance by day {} (censored)",
                fmt_days(resistance.days)
            ));
        }
        let place = match setting {
            Setting::InVitro => "in the dish",
            Setting::InVivo => "in the tumour",
        };
        let end = match stop {
            StopReason::MaxCells => "stopped at the burden limit with",
            StopReason::OnResistance => "stopped on resistance with",
            StopReason::GenotypeCells => "stopped at a genotype's size with",
            _ => "ended with",
        };
        parts.push(format!("{end} {} cells {place}", fmt_cells(cells)));
    }
    parts.join("; ")
}

fn fmt_days(d: f64) -> String {
    let r = (d * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn fmt_cells(n: f64) -> String {
    if n >= 1e4 {
        format!("{n:.2e}")
    } else if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.3}")
    }
}

/// The drug-free growth phase before t = 0: `n0` cells of the base genotype, at the
/// loop state of `y0`, grown until they number `target`. On the hybrid engine mutants
/// arise at random during it (each replicate its own Luria-Delbruck draw, from a
/// stream apart from the treatment's); a lineage that dies out is started again, so
/// the phase is conditioned on the culture growing.
#[allow(clippy::too_many_arguments)]
fn grow(
    model: &CompiledModel,
    bound: &BoundModel,
    settings: &RunSettings,
    y0: &[f64],
    n0: f64,
    target: f64,
    opts: &TherapyOptions,
    hours_per_unit: f64,
) -> Result<Vec<f64>, SimError> {
    const ATTEMPTS: u64 = 1000;
    let stride = model.species.len() + 1;
    let mut start = y0.to_vec();
    for (g, c) in start.chunks_exact_mut(stride).enumerate() {
        c[stride - 1] = if g == 0 { n0 } else { 0.0 };
    }
    // Ten years is far beyond any culture's growth to its size.
    let limit = 10.0 * 365.0 * 24.0 / hours_per_unit;
    let watch = [Watch {
        target: WatchTarget::Total,
        cells: target,
    }];
    for attempt in 0..ATTEMPTS {
        let mode = match opts.engine {
            EngineKind::MeanField => Mode::MeanField,
            _ => Mode::Hybrid {
                settings: opts.hybrid,
                seed: opts.seed,
                replicate: opts.replicate ^ (1 << 63) ^ (attempt << 40),
            },
        };
        let mut e = PopulationEngine::new(model, bound, settings, &start, 0.0, mode)?;
        match e.advance_to(limit, &watch)? {
            Advanced::Watch(_) => return Ok(e.population().to_vec()),
            Advanced::Extinct => continue,
            Advanced::Reached => {
                return Err(SimError::Settings(format!(
                    "{n0} cells did not grow to the initial {target:e} cells within ten years \
                     without drug"
                )))
            }
        }
    }
    Err(SimError::Settings(format!(
        "{n0} cells died out in each of {ATTEMPTS} attempts to grow them to {target:e} cells"
    )))
}

/// The engine the options ask for, started at t = 0 from `y0`.
fn start_engine<'a>(
    model: &'a CompiledModel,
    bound: &'a BoundModel,
    y0: &[f64],
    opts: &TherapyOptions,
    cells: Option<&'a CompiledCells>,
    s: &Schedule,
) -> Result<Box<dyn Engine + 'a>, SimError> {
    let settings = RunSettings {
        // The host's lag: the run starts at injection.
        division_from: s.host.lag,
        ..run_settings(model, s, opts)
    };
    let mode = match opts.engine {
        EngineKind::MeanField => Mode::MeanField,
        EngineKind::Hybrid => Mode::Hybrid {
            settings: opts.hybrid,
            seed: opts.seed,
            replicate: opts.replicate,
        },
        EngineKind::AgentBased => {
            let cells = cells.ok_or_else(|| {
                SimError::Settings("the agent-based engine needs its compiled cells".into())
            })?;
            let dt = opts.agent_dt_hours / s.hours_per_unit;
            return Ok(Box::new(AgentEngine::new(
                model,
                cells,
                y0,
                dt,
                s.duration,
                &settings,
                opts.seed,
                opts.replicate,
            )?));
        }
    };
    Ok(Box::new(PopulationEngine::new(
        model, bound, &settings, y0, 0.0, mode,
    )?))
}

/// The agent-based engine's cell model, each genotype's cells starting from that
/// genotype's loop state in `y0`.
fn agent_cells(
    model: &CompiledModel,
    bound: &BoundModel,
    y0: &[f64],
) -> Result<CompiledCells, String> {
    let mut cells = CompiledCells::new(model, bound, LoopIntegration::default())
        .map_err(|e| format!("agent-based engine: {e}"))?;
    let stride = model.species.len() + 1;
    let total = total_cells(y0, stride);
    let states = y0
        .chunks_exact(stride)
        .map(|c| c[..stride - 1].to_vec())
        .collect();
    let fractions = y0
        .chunks_exact(stride)
        .map(|c| {
            if total > 0.0 {
                (c[stride - 1] / total).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    cells
        .set_initial(states, fractions)
        .map_err(|e| format!("agent-based engine: {e}"))?;
    Ok(cells)
}

/// Logarithmic mean of two concentrations: the mean of an exponential between them.
fn log_mean(a: f64, b: f64) -> f64 {
    if a <= 0.0 || b <= 0.0 {
        // Only an exponential decaying to exactly zero, or zero throughout.
        return 0.0;
    }
    let r = a / b;
    if (r - 1.0).abs() < 1e-9 {
        0.5 * (a + b)
    } else {
        (a - b) / r.ln()
    }
}

/// Unit of the `dose` column of a drug: its concentration unit in vitro, mg/kg in vivo
/// or where a fixed dose list gives it as boluses.
fn dose_unit(model: &CompiledModel, s: &Schedule, drug: usize) -> String {
    let boluses = s.arms.iter().any(|a| {
        a.drug == drug
            && matches!(&a.regimen, Regimen::Doses { doses }
                if doses.iter().any(|d| matches!(d.kind, DoseKind::Bolus { .. })))
    });
    match s.setting {
        Setting::InVitro if !boluses => model.drugs[drug].unit.symbol().to_string(),
        _ => "mg/kg".to_string(),
    }
}
