//! The calibration loss: how far the facts are from their tolerances.
//!
//! Each calibration fact not marked `known_failure` adds the squared distance of its value
//! outside its tolerance interval `[min, max]` (zero inside). Fold changes, IC50s and
//! their ratios, times and combination indices are positive quantities whose
//! tolerances are multiplicative ("2-fold", "15-45-fold"), so they are measured on a
//! natural-log scale: being 2x too low costs as much as being 2x too high. Other
//! values (a Bliss excess, a level, a window extreme) are measured linearly. A fact
//! that cannot be evaluated, or whose censored reading (an IC50 beyond the tested
//! range) cannot guarantee its tolerance, adds [`UNEVALUABLE_PENALTY`].
//!
//! The loss is zero exactly when every scored fact passes (the same rule as
//! [`crate::facts::meets`]), so "loss 0" and "all facts pass" never disagree.

use crate::facts::{
    Bound, Fact, Measure, Outcome, Reading, Role, Score as CombinationScore, Status,
};

/// Added for a fact that cannot be evaluated: the cost of missing a log-scale
/// tolerance by a factor of e^10 (~22000), far beyond any miss a working model makes.
pub const UNEVALUABLE_PENALTY: f64 = 100.0;

/// The loss of one evaluation and how many scored facts pass.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Score {
    pub loss: f64,
    /// Facts not marked `known_failure` that pass.
    pub passing: usize,
    /// Facts not marked `known_failure` (the ones in the loss).
    pub scored: usize,
}

/// Is the fact's value a positive quantity whose tolerance is multiplicative?
fn multiplicative(fact: &Fact) -> bool {
    match &fact.measure {
        Measure::Ratio { .. }
        | Measure::Ic50 { .. }
        | Measure::Ic50Ratio { .. }
        | Measure::InhibitionRatio { .. }
        | Measure::TimelineRatio { .. }
        | Measure::CrossingTime { .. }
        | Measure::EventTime { .. } => true,
        Measure::Combination { score, .. } => *score == CombinationScore::Ci,
        Measure::Value { .. } | Measure::Window { .. } | Measure::Inexpressible { .. } => false,
    }
}

/// Distance of a reading from the fact's tolerance interval (0 inside), or `None`
/// when the reading cannot be scored (not finite, or a bound on the wrong side).
pub fn fact_distance(fact: &Fact, reading: Reading) -> Option<f64> {
    let v = reading.value;
    if !v.is_finite() {
        return None;
    }
    // A censored reading guarantees only one side (see `facts::meets`).
    match reading.bound {
        Bound::Exact => {}
        Bound::AtLeast if fact.max.is_some() => return None,
        Bound::AtMost if fact.min.is_some() => return None,
        Bound::AtLeast | Bound::AtMost => {}
    }
    let log = multiplicative(fact)
        && v > 0.0
        && fact.min.is_none_or(|m| m > 0.0)
        && fact.max.is_none_or(|m| m > 0.0);
    let scale = |x: f64| if log { x.ln() } else { x };
    let below = fact.min.map_or(0.0, |m| (scale(m) - scale(v)).max(0.0));
    let above = fact.max.map_or(0.0, |m| (scale(v) - scale(m)).max(0.0));
    Some(below + above)
}

/// Score one run of a fact file: `outcomes[i]` is the outcome of `facts[i]`.
pub fn score(facts: &[Fact], outcomes: &[Outcome]) -> Score {
    let mut s = Score {
        loss: 0.0,
        passing: 0,
        scored: 0,
    };
    for (f, o) in facts.iter().zip(outcomes) {
        // Predictions are never targets (calibrate refuses them; this keeps the loss
        // honest for any other caller).
        if f.known_failure.is_some() || f.role == Role::Prediction {
            continue;
        }
        s.scored += 1;
        if o.status == Status::Pass {
            s.passing += 1;
        }
        s.loss += match o.reading.and_then(|r| fact_distance(f, r)) {
            Some(d) => d * d,
            None => UNEVALUABLE_PENALTY,
        };
    }
    s
}
