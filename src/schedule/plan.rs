//! Expansion of a schedule into dose events, as a run goes.
//!
//! A [`DosePlan`] knows every fixed edge of the schedule (arm starts and stops, ladder
//! steps, holiday edges, media refreshes, in vivo dosing days) and holds the parts a
//! run decides as it goes: the concentration of adaptive arms (raised when growth
//! resumes) and the start of arms that begin on resistance. An engine asks for the
//! next discontinuity, advances to it, and applies the events due there. It is
//! engine-agnostic: the ODE therapy driver and the agent-based engine both use it.
//!
//! In vitro, every discontinuity is a *medium change*: the medium is replaced and
//! every scheduled drug is set to its scheduled concentration (which also resets a
//! drug that decays in the medium). In vivo, each dosing day gives an mg/kg bolus at
//! the start of that day through the model's pharmacokinetics.

use super::types::*;
use crate::pkpd::{DoseEvent, DoseKind};

/// Times closer than this (relative to the run length) are the same time.
fn eps(duration: f64) -> f64 {
    1e-9 * duration.max(1.0)
}

/// The dosing state of a schedule during a run.
#[derive(Debug, Clone)]
pub struct DosePlan<'a> {
    s: &'a Schedule,
    /// Resolved start of each arm (`None`: waits for a resistance event or a size).
    start: Vec<Option<f64>>,
    /// End of each arm's window: the schedule's, or earlier for an arm that stops on
    /// resistance.
    stop: Vec<f64>,
    /// Current concentration of adaptive arms (`None` until set).
    level: Vec<Option<f64>>,
    /// Time of the last change of `level`.
    level_since: Vec<f64>,
    eps: f64,
}

impl<'a> DosePlan<'a> {
    pub fn new(s: &'a Schedule) -> DosePlan<'a> {
        DosePlan {
            start: s
                .arms
                .iter()
                .map(|a| match a.start {
                    ArmStart::At(t) => Some(t),
                    _ => None,
                })
                .collect(),
            stop: s.arms.iter().map(|a| a.stop).collect(),
            level: vec![None; s.arms.len()],
            level_since: vec![0.0; s.arms.len()],
            eps: eps(s.duration),
            s,
        }
    }

    pub fn schedule(&self) -> &Schedule {
        self.s
    }

    /// Resolved start of an arm, if it has started (or has a fixed start).
    pub fn arm_start(&self, arm: usize) -> Option<f64> {
        self.start[arm]
    }

    /// End an arm's window at `t` (an arm that stops on resistance). Returns false if
    /// it had already ended.
    pub fn stop_arm(&mut self, arm: usize, t: f64) -> bool {
        if self.stop[arm] <= t + self.eps {
            return false;
        }
        self.stop[arm] = t;
        true
    }

    /// End of an arm's window (the schedule's, or where it was stopped).
    pub fn arm_stop(&self, arm: usize) -> f64 {
        self.stop[arm]
    }

    /// Start an arm that waits for resistance or a size, at `t`. Returns false if it
    /// was not waiting.
    pub fn start_arm(&mut self, arm: usize, t: f64) -> bool {
        if self.start[arm].is_some() {
            return false;
        }
        self.start[arm] = Some(t);
        true
    }

    /// Set the concentration of an adaptive arm from `t` on.
    pub fn set_level(&mut self, arm: usize, concentration: f64, t: f64) {
        self.level[arm] = Some(concentration);
        self.level_since[arm] = t;
    }

    /// Current concentration of an adaptive arm and since when it is held.
    pub fn level(&self, arm: usize) -> Option<(f64, f64)> {
        self.level[arm].map(|c| (c, self.level_since[arm]))
    }

    fn in_holiday(&self, arm: &DrugArm, t: f64) -> bool {
        arm.holidays
            .iter()
            .any(|&(a, b)| t >= a - self.eps && t < b - self.eps)
    }

    /// The arm is given at `t` (inside its window and not on holiday). The window is
    /// `[start, stop)`, except that an arm running to the end of the run is still
    /// in force at the end (the last readout shows it).
    pub fn active(&self, arm: usize, t: f64) -> bool {
        let a = &self.s.arms[arm];
        let stop = self.stop[arm];
        let open = t < stop - self.eps
            || (stop >= self.s.duration - self.eps && t <= self.s.duration + self.eps);
        match self.start[arm] {
            Some(t0) => t >= t0 - self.eps && open && !self.in_holiday(a, t),
            None => false,
        }
    }

    /// In vitro: the concentration an arm puts in the medium at `t` (after the events
    /// at `t`). In vivo: while the arm is active, the mg/kg of its latest bolus slot
    /// at or before `t` (the sum when series coincide; 0 before the first).
    pub fn arm_dose(&self, arm: usize, t: f64) -> f64 {
        if !self.active(arm, t) {
            return 0.0;
        }
        let t0 = self.start[arm].expect("active arms have started");
        match &self.s.arms[arm].regimen {
            Regimen::Constant { concentration } => *concentration,
            Regimen::Ladder { steps } => ladder_level(steps, t - t0, self.eps),
            Regimen::Adaptive(_) => self.level[arm].unwrap_or(0.0),
            Regimen::Bolus { series } => latest_bolus(series, t - t0, self.eps),
            Regimen::Doses { doses } => latest_fixed(doses, t - t0, self.eps),
        }
    }

    /// The scheduled dose of a drug at `t`: the sum over its arms (which never
    /// overlap, so at most one is non-zero). Units as [`DosePlan::arm_dose`].
    pub fn drug_dose(&self, drug: usize, t: f64) -> f64 {
        (0..self.s.arms.len())
            .filter(|&i| self.s.arms[i].drug == drug)
            .map(|i| self.arm_dose(i, t))
            .sum()
    }

    /// Every fixed edge of arm `i` in model time (absolute), including the start and
    /// the stop; empty for an arm that has not started.
    fn arm_edges(&self, i: usize, out: &mut Vec<f64>) {
        let Some(t0) = self.start[i] else { return };
        let a = &self.s.arms[i];
        out.push(t0);
        out.push(self.stop[i]);
        for &(h0, h1) in &a.holidays {
            out.push(h0);
            out.push(h1);
        }
        match &a.regimen {
            Regimen::Ladder { steps } => {
                for st in steps {
                    out.push(t0 + st.offset);
                    out.push(t0 + st.offset + st.duration);
                }
            }
            Regimen::Doses { doses } => out.extend(doses.iter().map(|d| t0 + d.time)),
            _ => {}
        }
    }

    /// The first time strictly after `t` (and at most the run's end) at which the
    /// schedule changes something: a medium change or an edge in vitro, a bolus in
    /// vivo. `None` when nothing happens before the end.
    pub fn next_after(&self, t: f64) -> Option<f64> {
        let lim = t + self.eps;
        let mut best = f64::INFINITY;
        match self.s.setting {
            Setting::InVitro => {
                let mut edges = Vec::new();
                for i in 0..self.s.arms.len() {
                    self.arm_edges(i, &mut edges);
                }
                for e in edges {
                    if e > lim && e < best {
                        best = e;
                    }
                }
                if let Some(r) = self.s.culture.refresh_every {
                    let k = (lim / r).floor() + 1.0;
                    let mut c = k * r;
                    if c <= lim {
                        c += r;
                    }
                    best = best.min(c);
                }
            }
            Setting::InVivo => {
                // Boluses, and the arms' edges (where the dose in force changes).
                let mut edges = Vec::new();
                for i in 0..self.s.arms.len() {
                    if let Some(b) = self.next_bolus(i, lim) {
                        best = best.min(b);
                    }
                    self.arm_edges(i, &mut edges);
                }
                for e in edges {
                    if e > lim && e < best {
                        best = e;
                    }
                }
            }
        }
        (best < self.s.duration - self.eps).then_some(best)
    }

    /// First bolus time of arm `i` strictly after `lim`, before its stop.
    fn next_bolus(&self, i: usize, lim: f64) -> Option<f64> {
        let a = &self.s.arms[i];
        let (Some(t0), Regimen::Bolus { series }) = (self.start[i], &a.regimen) else {
            return None;
        };
        let end = self.stop[i].min(self.s.duration) - self.eps;
        let mut best: Option<f64> = None;
        for b in series {
            let first = t0 + b.after;
            let mut k = if lim < first {
                0.0
            } else {
                ((lim - first) / b.every).floor()
            };
            loop {
                let tb = first + k * b.every;
                if tb >= end || b.times.is_some_and(|n| k >= n as f64) {
                    break;
                }
                if tb > lim && !self.in_holiday(a, tb) {
                    best = Some(best.map_or(tb, |x: f64| x.min(tb)));
                    break;
                }
                k += 1.0;
            }
        }
        best
    }

    /// The boluses of arm `i` at `t` (mg/kg, one per series with a dose then).
    fn boluses_at(&self, i: usize, t: f64) -> Vec<f64> {
        let a = &self.s.arms[i];
        let (Some(t0), Regimen::Bolus { series }) = (self.start[i], &a.regimen) else {
            return Vec::new();
        };
        if !self.active(i, t) || t >= self.s.duration - self.eps {
            return Vec::new();
        }
        series
            .iter()
            .filter_map(|b| {
                let k = slot_at(b, t - t0, self.eps)?;
                Some(b.dose(k))
            })
            .collect()
    }

    /// The medium change at `t` (in vitro): every drug with an arm is set to its
    /// scheduled concentration (a drug given only as fixed doses keeps its own
    /// times, [`DosePlan::fixed_at`]). Empty in vivo.
    pub fn medium_change(&self, t: f64) -> Vec<DoseEvent> {
        if self.s.setting != Setting::InVitro {
            return Vec::new();
        }
        let mut drugs: Vec<usize> = self
            .s
            .arms
            .iter()
            .filter(|a| !matches!(a.regimen, Regimen::Doses { .. }))
            .map(|a| a.drug)
            .collect();
        drugs.sort_unstable();
        drugs.dedup();
        drugs
            .into_iter()
            .map(|d| DoseEvent {
                time: t,
                drug: d,
                kind: DoseKind::SetConcentration {
                    value: self.drug_dose(d, t),
                },
            })
            .collect()
    }

    /// The events due at `t`, a time returned by [`DosePlan::next_after`] or t = 0:
    /// the medium change (in vitro) or the boluses given at `t` (in vivo).
    pub fn events_at(&self, t: f64) -> Vec<DoseEvent> {
        match self.s.setting {
            Setting::InVitro => self.medium_change(t),
            Setting::InVivo => (0..self.s.arms.len())
                .flat_map(|i| self.arm_events_at(i, t))
                .collect(),
        }
    }

    /// The events of one arm due at `t`: its bolus (in vivo), if `t` is one of its
    /// dosing times; in vitro, nothing (drugs change together at medium changes).
    pub fn arm_events_at(&self, arm: usize, t: f64) -> Vec<DoseEvent> {
        self.boluses_at(arm, t)
            .into_iter()
            .map(|mg_per_kg| DoseEvent {
                time: t,
                drug: self.s.arms[arm].drug,
                kind: DoseKind::Bolus { mg_per_kg },
            })
            .collect()
    }

    /// The fixed doses ([`Regimen::Doses`]) due at `t`, in either setting, given as
    /// they are; unlike the other events also at the end of the run.
    pub fn fixed_at(&self, t: f64) -> Vec<DoseEvent> {
        let mut out = Vec::new();
        for (i, a) in self.s.arms.iter().enumerate() {
            let (Some(t0), Regimen::Doses { doses }) = (self.start[i], &a.regimen) else {
                continue;
            };
            out.extend(
                doses
                    .iter()
                    .filter(|d| (t0 + d.time - t).abs() <= self.eps)
                    .map(|d| DoseEvent {
                        time: t,
                        drug: a.drug,
                        kind: d.kind,
                    }),
            );
        }
        out
    }

    /// The concentration an arm ends on (cap, last ladder step, the constant); `None`
    /// for adaptive arms before they start and for in vivo arms.
    pub fn final_dose(&self, arm: usize) -> Option<f64> {
        match &self.s.arms[arm].regimen {
            Regimen::Constant { concentration } => Some(*concentration),
            Regimen::Ladder { steps } => steps.last().map(|s| s.concentration),
            Regimen::Adaptive(r) => Some(r.cap),
            Regimen::Bolus { .. } | Regimen::Doses { .. } => None,
        }
    }

    /// If arm `arm` is at its final dose at `t`, since when it has been given there
    /// without interruption (a holiday interrupts it).
    pub fn at_final_dose_since(&self, arm: usize, t: f64) -> Option<f64> {
        let fin = self.final_dose(arm)?;
        if !self.active(arm, t) {
            return None;
        }
        let now = self.arm_dose(arm, t);
        if (now - fin).abs() > 1e-12 * fin.abs().max(1e-300) {
            return None;
        }
        let t0 = self.start[arm]?;
        let a = &self.s.arms[arm];
        let mut since = match &a.regimen {
            Regimen::Constant { .. } => t0,
            Regimen::Ladder { steps } => t0 + steps.last()?.offset,
            Regimen::Adaptive(_) => self.level_since[arm],
            Regimen::Bolus { .. } | Regimen::Doses { .. } => return None,
        };
        for &(_, h1) in &a.holidays {
            if h1 <= t + self.eps && h1 > since {
                since = h1;
            }
        }
        Some(since)
    }

    /// All fixed dose events of the whole run, for schedules whose dosing does not
    /// depend on the run (no adaptive arms, no arms starting on resistance or size or
    /// stopping on resistance). `None` otherwise.
    pub fn fixed_events(&self) -> Option<Vec<DoseEvent>> {
        let dynamic = self.s.arms.iter().any(|a| {
            matches!(a.regimen, Regimen::Adaptive(_)) || !a.start.is_fixed() || a.stop_on_resistance
        });
        if dynamic {
            return None;
        }
        let mut out = self.events_at(0.0);
        out.extend(self.fixed_at(0.0));
        let mut t = 0.0;
        while let Some(n) = self.next_after(t) {
            out.extend(self.events_at(n));
            out.extend(self.fixed_at(n));
            t = n;
        }
        if t < self.s.duration - self.eps {
            out.extend(self.fixed_at(self.s.duration));
        }
        Some(out)
    }
}

/// The slot of series `b` at `tau` since the arm's start (within `eps`), if any.
fn slot_at(b: &BolusSeries, tau: f64, eps: f64) -> Option<u64> {
    let k = ((tau - b.after) / b.every).round();
    let ok = k >= 0.0
        && (b.after + k * b.every - tau).abs() <= eps
        && b.times.is_none_or(|n| k < n as f64);
    ok.then_some(k as u64)
}

/// The mg/kg of the latest bolus slot of `series` at or before `tau` since the arm's
/// start (summed over series whose slots fall then); 0 before the first.
fn latest_bolus(series: &[BolusSeries], tau: f64, eps: f64) -> f64 {
    let mut best = (f64::NEG_INFINITY, 0.0);
    for b in series {
        if tau < b.after - eps {
            continue;
        }
        let mut k = ((tau - b.after + eps) / b.every).floor().max(0.0);
        if let Some(n) = b.times {
            k = k.min(n as f64 - 1.0);
        }
        let at = b.after + k * b.every;
        if at > best.0 + eps {
            best = (at, b.dose(k as u64));
        } else if (at - best.0).abs() <= eps {
            best.1 += b.dose(k as u64);
        }
    }
    best.1
}

/// The amount of the latest fixed dose at or before `tau` since the arm's start (the
/// concentration set, or the mg/kg; boluses at one time add up); 0 before the first.
fn latest_fixed(doses: &[FixedDose], tau: f64, eps: f64) -> f64 {
    let k = doses.partition_point(|d| d.time <= tau + eps);
    let Some(last) = k.checked_sub(1).map(|i| &doses[i]) else {
        return 0.0;
    };
    match last.kind {
        // The medium holds the last concentration set.
        DoseKind::SetConcentration { value } => value,
        DoseKind::Bolus { .. } => doses[..k]
            .iter()
            .rev()
            .take_while(|d| (d.time - last.time).abs() <= eps)
            .map(|d| match d.kind {
                DoseKind::Bolus { mg_per_kg } => mg_per_kg,
                DoseKind::SetConcentration { .. } => 0.0,
            })
            .sum(),
    }
}

/// Concentration of a ladder at time `tau` since the arm's start: the step in force;
/// zero in a gap between steps; the last step is held.
pub fn ladder_level(steps: &[LadderStep], tau: f64, eps: f64) -> f64 {
    let k = steps.partition_point(|s| s.offset <= tau + eps);
    if k == 0 {
        return 0.0;
    }
    let s = &steps[k - 1];
    if k < steps.len() && tau >= s.offset + s.duration - eps {
        0.0
    } else {
        s.concentration
    }
}
