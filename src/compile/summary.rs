//! A model's one-screen summary (what `resloop check` prints and the Python
//! package's `Model.summary()` returns).

use super::CompiledModel;
use crate::model::Provenance;

impl CompiledModel {
    /// Name, file and hash, species with units, parameters by provenance, drugs with
    /// their exposure and effects, observables, genotypes and the default scenario.
    pub fn summary(&self) -> String {
        let m = self;
        let mut s = String::new();
        let tu = m.meta.time_unit.symbol();
        s += &format!(
            "{} — {}\n  file {} (sha256 {}…)\n  time unit: {tu}\n",
            m.meta.name,
            m.meta.title,
            m.meta.path,
            &m.meta.sha256[..12]
        );
        s += &format!(
            "  species ({}): {}\n",
            m.species.len(),
            m.species
                .iter()
                .map(|x| format!("{} [{}]", x.name, x.unit))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let count = |p: Option<Provenance>| m.params.iter().filter(|x| x.provenance == p).count();
        s += &format!(
            "  parameters ({}): {} seed, {} literature, {} assumed, {} without provenance\n",
            m.params.len(),
            count(Some(Provenance::Seed)),
            count(Some(Provenance::Literature)),
            count(Some(Provenance::Assumed)),
            count(None)
        );
        for d in &m.drugs {
            let effects: Vec<String> = m
                .effects
                .iter()
                .filter(|e| m.drugs[e.drug].name == d.name)
                .map(|e| match e.scales {
                    Some(p) => format!("{} (scales {})", e.name, m.params[p].name),
                    None => e.name.clone(),
                })
                .collect();
            let exposure = match (&d.in_vivo, d.medium_half_life) {
                (Some(pk), _) => format!(
                    "in vitro + in vivo (t1/2 {} {tu}, V {} L/kg)",
                    pk.half_life, pk.volume
                ),
                (None, Some(h)) => format!("in vitro (medium t1/2 {h} {tu})"),
                (None, None) => "in vitro".to_string(),
            };
            s += &format!(
                "  drug {} [{}], {exposure}; effects: {}\n",
                d.name,
                d.unit,
                effects.join(", ")
            );
        }
        s += &format!(
            "  observables ({}): {}\n",
            m.observables.len(),
            m.observables
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        s += &format!(
            "  genotypes ({}): {}\n",
            m.genotypes.len(),
            m.genotypes
                .iter()
                .map(|g| match g.parent {
                    None => format!("{} (base)", g.name),
                    Some(p) => format!(
                        "{} (from {}, u = {:e}/division)",
                        g.name, m.genotypes[p].name, g.mutation_probability
                    ),
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(sc) = &m.scenario {
            s += &format!(
                "  default scenario: {} days, doses {:?}\n",
                sc.days,
                sc.doses.iter().map(|d| d.text.as_str()).collect::<Vec<_>>()
            );
        }
        s
    }
}
