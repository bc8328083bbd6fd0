//! Readouts at a stop: simulated assays (IC50 readouts and ICxx starts), the
//! resistance rules and what the first event triggers, and the timeline row.

use super::*;

impl Driver<'_, '_> {
    /// A 72 h dose-response of `drug` on the snapshot `state` (no other drug).
    pub(super) fn dose_response(
        &mut self,
        drug: usize,
        state: Vec<f64>,
    ) -> Result<DoseResponse, TherapyError> {
        // The schedule's range applies to its IC50 drug; options override it.
        let mine = self.s.ic50_drug == Some(drug);
        let (lo, hi) = self
            .opts
            .ic50_range
            .or(self.s.ic50_range.filter(|_| mine))
            .unwrap_or_else(|| assay::default_range(self.model, self.bound, drug));
        let points = self
            .opts
            .ic50_points
            .or(self.s.ic50_points.filter(|_| mine))
            .unwrap_or_else(|| assay::points_for(lo, hi));
        let t = self.engine.time();
        let fail = |source| TherapyError::Assay {
            schedule: self.s.name.clone(),
            time: t,
            source: Box::new(source),
        };
        let doses = assay::log_doses(lo, hi, points).map_err(fail)?;
        let background = vec![0.0; self.model.drugs.len()];
        self.assay_wells += doses.len() + 1;
        assay::dose_response(
            self.model,
            self.bound,
            &state,
            &background,
            drug,
            &doses,
            &self.assay,
        )
        .map_err(fail)
    }

    /// IC50 readout, resistance rules and the timeline row, as due.
    pub(super) fn act_on_readouts(
        &mut self,
        readout_due: bool,
        ic50_due: bool,
    ) -> Result<(), TherapyError> {
        let t = self.engine.time();
        if ic50_due {
            self.ic50_readout()?;
        }
        if readout_due {
            if let (Some(rule), Some(arm)) = (self.s.resistance.steady_growth, self.s.primary_arm) {
                if let Some(since) = self.plan.at_final_dose_since(arm, t) {
                    if t - since >= rule.window - self.eps {
                        if let Some(rate) = self.growth.rate(t, rule.window) {
                            if rate >= rule.fraction * self.untreated {
                                let tu = self.s.time_unit.clone();
                                self.resistance(
                                    ResistanceRule::SteadyGrowth,
                                    t,
                                    rate,
                                    &format!("1/{tu}"),
                                    format!(
                                        "net growth {rate:.4}/{tu} over the last {} {tu} at the \
                                         final dose >= {} x untreated {:.4}/{tu}",
                                        rule.window, rule.fraction, self.untreated
                                    ),
                                )?;
                            }
                        }
                    }
                }
            }
            if self.nadir.is_some() && self.dosed {
                // As measured: a tumour below the detection limit reads as the limit.
                let v =
                    (self.engine.total_cells() * self.s.cell_volume).max(self.s.detection_limit);
                let hit = self.nadir.as_mut().and_then(|n| n.push(t, v));
                if let Some(r) = hit {
                    let fraction = self.s.resistance.regrowth.unwrap_or(0.25);
                    self.resistance(
                        ResistanceRule::Regrowth,
                        r.time,
                        r.volume,
                        "mm^3",
                        format!(
                            "tumour volume crossed {:.0}% above its nadir {:.4e} mm^3 (at t = {}) \
                             at t = {:.4}, seen at the readout t = {}",
                            fraction * 100.0,
                            r.nadir,
                            r.nadir_time,
                            r.time,
                            r.detected_at
                        ),
                    )?;
                }
            }
            self.record_row();
        }
        Ok(())
    }

    pub(super) fn ic50_readout(&mut self) -> Result<(), TherapyError> {
        let Some(drug) = self.s.ic50_drug else {
            return Ok(());
        };
        let t = self.engine.time();
        let state = self.engine.population().to_vec();
        let dr = self.dose_response(drug, state.clone())?;
        let ic50 = dr.ic50();
        let top = dr.top_dose();
        let first = self.ic50.is_empty();
        if first {
            self.ic50_0 = ic50;
            if ic50.is_none() {
                self.warnings.push(format!(
                    "the IC50 of `{}` at t = 0 is above the tested range (> {top} {}); \
                     IC50 folds and the ic50_fold rule are undefined",
                    dr.drug, dr.unit
                ));
            }
        }
        let fold = self.ic50_0.map(|i0| ic50.unwrap_or(top) / i0);
        // Each genotype alone, at its own loop state, for the phenotypic resistant
        // fraction.
        let ng = self.model.genotypes.len();
        let stride = self.model.species.len() + 1;
        let genotype_ic50 = if ng == 1 {
            vec![ic50]
        } else {
            let mut out = Vec::with_capacity(ng);
            for g in 0..ng {
                let mut y = state.clone();
                for (h, chunk) in y.chunks_exact_mut(stride).enumerate() {
                    chunk[stride - 1] = if h == g { 1.0 } else { 0.0 };
                }
                out.push(self.dose_response(drug, y)?.ic50());
            }
            out
        };
        if let (Some(i0), Some(f)) = (self.ic50_0, self.s.resistance.ic50_fold) {
            for (g, r) in genotype_ic50.iter().enumerate() {
                // Undetermined = above the tested range.
                self.resistant_by_ic50[g] = r.unwrap_or(top) >= f * i0;
            }
        }
        let shown = ic50.unwrap_or(f64::NAN);
        let detail = match (ic50, fold) {
            (Some(_), Some(f)) => format!("{f:.3} x the t = 0 IC50"),
            (None, Some(f)) => format!(
                "above the tested range (> {top} {}): >= {f:.3} x the t = 0 IC50",
                dr.unit
            ),
            (Some(_), None) => "fold undefined: the t = 0 IC50 is above the tested range".into(),
            (None, None) => format!("above the tested range (> {top} {})", dr.unit),
        };
        let unit = dr.unit.clone();
        self.event(EventKind::Ic50, Some(drug), shown, &unit, detail);
        self.ic50.push(Ic50Readout {
            time: t,
            drug: dr.drug.clone(),
            unit: unit.clone(),
            ic50,
            top_dose: top,
            fold,
            fit: dr.fit,
            genotype_ic50,
        });
        if let (Some(f), Some(fold)) = (self.s.resistance.ic50_fold, fold) {
            if fold >= f {
                self.resistance(
                    ResistanceRule::Ic50Fold,
                    t,
                    fold,
                    "fold",
                    format!(
                        "IC50 of `{}` {} {unit} >= {f} x the t = 0 IC50 {} {unit}",
                        dr.drug,
                        ic50.map_or(format!("> {top}"), |v| format!("{v:.4}")),
                        self.ic50_0.map_or("?".into(), |v| format!("{v:.4}"))
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// A resistance rule fired at `time` (<= now). The first event of the run
    /// starts the arms waiting for it (now) and may stop the run.
    pub(super) fn resistance(
        &mut self,
        rule: ResistanceRule,
        time: f64,
        value: f64,
        unit: &str,
        detail: String,
    ) -> Result<(), TherapyError> {
        if self.fired.contains(&rule) {
            return Ok(());
        }
        self.fired.push(rule);
        self.events.push(Event {
            time,
            kind: EventKind::Resistance(rule),
            drug: None,
            value,
            unit: unit.into(),
            detail,
        });
        if self.first_resistance.is_some() {
            return Ok(());
        }
        self.first_resistance = Some((time, rule));
        if self.s.stop.on_resistance {
            self.stop_reason = StopReason::OnResistance;
            return Ok(());
        }
        let t = self.engine.time();
        // Arms that end on resistance end now; in vitro the medium is changed.
        let mut stopped = false;
        for i in 0..self.s.arms.len() {
            if self.s.arms[i].stop_on_resistance
                && self.plan.arm_start(i).is_some()
                && self.plan.stop_arm(i, t)
            {
                stopped = true;
            }
        }
        if stopped && self.s.setting == Setting::InVitro {
            self.dose(false, "stopped on resistance")?;
        } else if stopped {
            self.note_dose_changes("stopped on resistance");
        }
        let mut started = Vec::new();
        for i in 0..self.s.arms.len() {
            if self.s.arms[i].start == ArmStart::OnResistance
                && t < self.plan.arm_stop(i) - self.eps
                && self.plan.start_arm(i, t)
            {
                started.push(i);
                let d = self.s.arms[i].drug;
                self.event(
                    EventKind::ArmStart,
                    Some(d),
                    t,
                    &self.s.time_unit.clone(),
                    format!("started on resistance ({})", rule.label()),
                );
            }
        }
        self.dose_started(&started, "started on resistance")
    }

    /// Give the first doses of arms that have just started (now).
    fn dose_started(&mut self, started: &[usize], why: &str) -> Result<(), TherapyError> {
        if started.is_empty() {
            return Ok(());
        }
        let t = self.engine.time();
        self.start_arms_due(t)?;
        match self.s.setting {
            Setting::InVitro => self.dose(false, why)?,
            Setting::InVivo => {
                for &i in started {
                    for ev in self.plan.arm_events_at(i, t) {
                        self.bolus(ev.drug, ev.kind)?;
                    }
                }
                self.note_dose_changes(why);
            }
        }
        Ok(())
    }

    /// Start arm `i`, which waits for a size, now (its watch fired or a stop found
    /// the population at or above it).
    pub(super) fn start_on_size(&mut self, i: usize, t: f64) -> Result<(), TherapyError> {
        let ArmStart::OnSize { genotype, cells } = self.s.arms[i].start else {
            return Ok(());
        };
        if t >= self.plan.arm_stop(i) - self.eps || !self.plan.start_arm(i, t) {
            return Ok(());
        }
        let whose = genotype.map_or("the population".to_string(), |g| {
            format!("genotype `{}`", self.model.genotypes[g].name)
        });
        let d = self.s.arms[i].drug;
        self.event(
            EventKind::ArmStart,
            Some(d),
            t,
            &self.s.time_unit.clone(),
            format!("started on size: {whose} reached {cells:e} cells"),
        );
        self.dose_started(&[i], "started on size")
    }

    /// Arms waiting for a size that the population already holds (at a stop).
    pub(super) fn size_starts(&mut self, t: f64) -> Result<(), TherapyError> {
        for i in 0..self.s.arms.len() {
            let ArmStart::OnSize { genotype, cells } = self.s.arms[i].start else {
                continue;
            };
            if self.plan.arm_start(i).is_some() {
                continue;
            }
            let y = self.engine.population();
            let stride = self.engine.stride();
            let n = match genotype {
                Some(g) => y[g * stride + stride - 1],
                None => self.engine.total_cells(),
            };
            if n >= cells * (1.0 - 1e-9) {
                self.start_on_size(i, t)?;
            }
        }
        Ok(())
    }

    /// The progression watch fired: the cells rose to the schedule's absolute size.
    pub(super) fn progression(&mut self, t: f64) -> Result<(), TherapyError> {
        let Some(above) = self.s.resistance.above else {
            return Ok(());
        };
        let total = self.engine.total_cells();
        let (value, unit, what) = match above.volume {
            Some(v) => (
                total * self.s.cell_volume,
                "mm^3",
                format!("tumour volume rose to {v} mm^3 after the first dose"),
            ),
            None => (
                total,
                "cells",
                format!("cells rose to {:e} after the first dose", above.cells),
            ),
        };
        self.resistance(ResistanceRule::Threshold, t, value, unit, what)
    }

    /// Append the timeline row of the current state.
    pub(super) fn record_row(&mut self) {
        let t = self.engine.time();
        if self.times.last() == Some(&t) {
            return;
        }
        let y = self.engine.population();
        let start = self.values.len();
        self.rec.row(t, y, self.engine.exposure(), &mut self.values);
        let stride = self.model.species.len() + 1;
        let total = total_cells(y, stride);
        self.min_cells = self.min_cells.min(total);
        let frac = |pick: &dyn Fn(usize) -> bool| {
            if total > 0.0 {
                y.chunks_exact(stride)
                    .enumerate()
                    .filter(|(g, _)| pick(*g))
                    .map(|(_, c)| c[stride - 1])
                    .sum::<f64>()
                    / total
            } else {
                0.0
            }
        };
        let genetic = frac(&|g| g > 0);
        let flags = self.resistant_by_ic50.clone();
        let phenotypic = frac(&|g| flags[g]);
        self.values.push(total * self.ln_expanded.exp());
        self.values.push(genetic);
        self.values.push(phenotypic);
        if self.s.setting == Setting::InVivo {
            self.values.push(total * self.s.cell_volume);
        }
        for k in 0..self.scheduled.len() {
            let d = self.scheduled[k];
            self.values.push(self.plan.drug_dose(d, t));
        }
        debug_assert_eq!(self.values.len() - start, self.columns.len());
        self.times.push(t);
    }
}
