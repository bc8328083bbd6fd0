//! The sweep file's shape as serde reads it: every table denies unknown keys, and
//! the values later checks refer to keep their location in the file.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSweep {
    pub(super) seed: u64,
    pub(super) design: Spanned<DesignSpec>,
    pub(super) parameters: Vec<RawParameter>,
    pub(super) model: Option<RawModel>,
    pub(super) schedule: Option<RawSchedule>,
    #[serde(default)]
    pub(super) metrics: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParameter {
    pub(super) name: Spanned<String>,
    pub(super) lo: Option<Spanned<f64>>,
    pub(super) hi: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) scale: Scale,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub(super) file: Spanned<String>,
    #[serde(default)]
    pub(super) set: IndexMap<Spanned<String>, Spanned<f64>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) rtol: Option<Spanned<f64>>,
    pub(super) atol: Option<Spanned<f64>>,
    /// `mean-field` (default) or `hybrid` (schedule runs only).
    pub(super) engine: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) file: Option<Spanned<String>>,
    pub(super) days: Option<Spanned<f64>>,
    pub(super) doses: Option<Vec<Spanned<String>>>,
    pub(super) points: Option<Spanned<u64>>,
    pub(super) initial_cells: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    pub(super) kind: Spanned<String>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) variable: Option<Spanned<String>>,
    pub(super) population: Option<Spanned<String>>,
    pub(super) at: Option<Spanned<String>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) to: Option<Spanned<String>>,
    pub(super) fraction: Option<Spanned<f64>>,
    pub(super) genotypes: Option<Spanned<Vec<String>>>,
    pub(super) rule: Option<Spanned<String>>,
    pub(super) drugs: Option<Spanned<Vec<String>>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) summary: Option<Spanned<String>>,
    pub(super) snapshot: Option<Spanned<String>>,
    pub(super) doses_a: Option<Spanned<Vec<f64>>>,
    pub(super) doses_b: Option<Spanned<Vec<f64>>>,
}

/// Metric kinds and the optional fields each takes (besides `kind` and `name`).
pub(super) const METRIC_KINDS: &[(&str, &[&str])] = &[
    ("final_population", &["population"]),
    ("resistant_fraction", &["genotypes", "at"]),
    ("time_to_resistance", &["population", "fraction", "rule"]),
    ("auc", &["variable", "population", "from", "to"]),
    ("value", &["variable", "population", "at"]),
    ("min", &["variable", "population", "from", "to"]),
    ("max", &["variable", "population", "from", "to"]),
    ("ic50_fold", &[]),
    (
        "synergy",
        &[
            "drugs", "doses_a", "doses_b", "method", "summary", "snapshot",
        ],
    ),
];

impl RawMetric {
    /// Optional fields present, with their offsets.
    pub(super) fn present(&self) -> Vec<(&'static str, usize)> {
        let mut v = Vec::new();
        let mut add = |n: &'static str, s: Option<usize>| {
            if let Some(s) = s {
                v.push((n, s));
            }
        };
        add("variable", self.variable.as_ref().map(|x| x.span().start));
        add(
            "population",
            self.population.as_ref().map(|x| x.span().start),
        );
        add("at", self.at.as_ref().map(|x| x.span().start));
        add("from", self.from.as_ref().map(|x| x.span().start));
        add("to", self.to.as_ref().map(|x| x.span().start));
        add("fraction", self.fraction.as_ref().map(|x| x.span().start));
        add("genotypes", self.genotypes.as_ref().map(|x| x.span().start));
        add("rule", self.rule.as_ref().map(|x| x.span().start));
        add("drugs", self.drugs.as_ref().map(|x| x.span().start));
        add("method", self.method.as_ref().map(|x| x.span().start));
        add("summary", self.summary.as_ref().map(|x| x.span().start));
        add("snapshot", self.snapshot.as_ref().map(|x| x.span().start));
        add("doses_a", self.doses_a.as_ref().map(|x| x.span().start));
        add("doses_b", self.doses_b.as_ref().map(|x| x.span().start));
        v
    }
}
