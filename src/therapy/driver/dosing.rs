//! Dosing at a stop: adaptive starts and raises, the medium change or boluses due,
//! the dose-change record, and passaging.

use super::*;

impl Driver<'_, '_> {
    /// Start the adaptive level of arms whose window opens now (ICxx by assay).
    pub(super) fn start_arms_due(&mut self, t: f64) -> Result<(), TherapyError> {
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
                    let dr = self.dose_response(drug, self.engine.population().to_vec())?;
                    let c = dr.icxx(x).ok_or_else(|| TherapyError::Settings {
                        schedule: self.s.name.clone(),
                        message: format!(
                            "the adaptive arm of `{}` starts at IC{x}, but the simulated 72 h \
                             assay at t = {t} never reaches {x}% inhibition up to {} {} (fitted \
                             maximal effect: viability {:.3})",
                            self.model.drugs[drug].name,
                            dr.top_dose(),
                            dr.unit,
                            dr.fit.emax
                        ),
                    })?;
                    c.min(rule.cap)
                }
            };
            self.plan.set_level(i, c, t);
        }
        Ok(())
    }

    /// Raise adaptive arms whose growth has recovered. Returns whether any was raised.
    pub(super) fn adaptive_checks(&mut self, t: f64) -> bool {
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
            if rate >= rule.recovery * self.untreated {
                let new = (c * rule.factor).min(rule.cap);
                self.plan.set_level(i, new, t);
                raised = true;
                let drug = self.s.arms[i].drug;
                let unit = self.model.drugs[drug].unit.symbol();
                let tu = &self.s.time_unit;
                self.pending_reason[drug] = Some(format!(
                    "raise: net growth {rate:.4}/{tu} over the last {} {tu} >= {} x untreated \
                     {:.4}/{tu}; {c:.4} -> {new:.4} {unit}",
                    rule.window, rule.recovery, self.untreated
                ));
            }
        }
        raised
    }

    /// Apply scheduled dosing at the current time: the medium change (in vitro; only
    /// drugs whose concentration changes are touched) or the boluses due (in vivo,
    /// when `edge` says the plan has an event now). Records dose changes and boluses.
    pub(super) fn dose(&mut self, edge: bool, why: &str) -> Result<(), TherapyError> {
        let t = self.engine.time();
        match self.s.setting {
            Setting::InVitro => {
                let now = self.engine.concentrations();
                for ev in self.plan.medium_change(t) {
                    if let DoseKind::SetConcentration { value } = ev.kind {
                        self.dosed |= value > 0.0;
                        if value != now[ev.drug] {
                            self.engine
                                .apply_dose(ev.drug, ev.kind)
                                .map_err(|e| self.sim_err(e))?;
                        }
                    }
                }
            }
            Setting::InVivo => {
                if edge {
                    for ev in self.plan.events_at(t) {
                        self.bolus(ev.drug, ev.kind)?;
                    }
                }
            }
        }
        if edge {
            for ev in self.plan.fixed_at(t) {
                match ev.kind {
                    DoseKind::Bolus { .. } => self.bolus(ev.drug, ev.kind)?,
                    DoseKind::SetConcentration { value } => {
                        self.dosed |= value > 0.0;
                        self.engine
                            .apply_dose(ev.drug, ev.kind)
                            .map_err(|e| self.sim_err(e))?;
                    }
                }
            }
        }
        self.note_dose_changes(why);
        Ok(())
    }

    pub(super) fn bolus(&mut self, drug: usize, kind: DoseKind) -> Result<(), TherapyError> {
        self.engine
            .apply_dose(drug, kind)
            .map_err(|e| self.sim_err(e))?;
        if let DoseKind::Bolus { mg_per_kg } = kind {
            self.dosed |= mg_per_kg > 0.0;
            self.mg_total[drug] += mg_per_kg;
            self.boluses[drug] += 1;
            self.event(
                EventKind::Bolus,
                Some(drug),
                mg_per_kg,
                "mg/kg",
                String::new(),
            );
        }
        Ok(())
    }

    /// Record a `dose_change` event for every drug whose scheduled dose changed.
    pub(super) fn note_dose_changes(&mut self, why: &str) {
        let t = self.engine.time();
        for k in 0..self.scheduled.len() {
            let d = self.scheduled[k];
            let new = self.plan.drug_dose(d, t);
            self.max_dose[d] = self.max_dose[d].max(new);
            let old = self.last_dose[d];
            let reason = self.pending_reason[d].take();
            if new == old {
                self.last_dose[d] = new;
                continue;
            }
            self.last_dose[d] = new;
            let unit = dose_unit(self.model, self.s, d);
            let detail = reason.unwrap_or_else(|| format!("{why}: {old} -> {new} {unit}"));
            self.event(EventKind::DoseChange, Some(d), new, &unit, detail);
        }
    }

    /// Split the dish 1:K while it holds at least the confluence cap.
    pub(super) fn passage(&mut self) -> Result<(), TherapyError> {
        let Some(p) = self.s.culture.passage else {
            return Ok(());
        };
        while self.engine.total_cells() >= p.cap {
            let before = self.engine.total_cells();
            self.engine.passage(p.split).map_err(|e| self.sim_err(e))?;
            self.ln_expanded += p.split.ln();
            self.passages += 1;
            let after = self.engine.total_cells();
            self.event(
                EventKind::Passage,
                None,
                before,
                "cells",
                format!(
                    "split 1:{} at the confluence cap {:e}: {before:.4e} -> {after:.4e} cells",
                    p.split, p.cap
                ),
            );
        }
        Ok(())
    }
}
