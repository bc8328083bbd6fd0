//! From a parsed model file to a [`CompiledModel`], checking as we go.

use std::path::Path;

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::types::*;
use crate::expr::parse::ParseErrorKind;
use crate::expr::resolve::did_you_mean_among;
use crate::expr::{parse, resolve_forbidding, Expr, NameKind, ResolveError, Scope, Var};
use crate::model::{
    load_file, load_str, ModelError, ModelErrorKind as K, ModelFile, NumOrParam, SourceText,
};
use crate::units::ConcUnit;

/// Load and compile a model file.
pub fn compile_file(path: &Path) -> Result<CompiledModel, ModelError> {
    let (src, file) = load_file(path)?;
    compile(&src, &file)
}

/// Compile model text (used by tests; `path` only labels errors).
pub fn compile_str(path: &Path, text: &str) -> Result<CompiledModel, ModelError> {
    let (src, file) = load_str(path, text.to_string())?;
    compile(&src, &file)
}

struct Ctx<'a> {
    src: &'a SourceText,
}

impl Ctx<'_> {
    fn err(&self, offset: usize, kind: K, field: &str, msg: impl Into<String>) -> ModelError {
        ModelError::at(self.src, offset, kind, Some(field.to_string()), msg)
    }

    /// Parse and resolve an expression string, mapping errors into the file.
    fn expr(&self, s: &Spanned<String>, scope: &Scope, field: &str) -> Result<Expr, ModelError> {
        self.expr_forbidding(s, scope, None, field)
    }

    fn expr_forbidding(
        &self,
        s: &Spanned<String>,
        scope: &Scope,
        forbid: Option<NameKind>,
        field: &str,
    ) -> Result<Expr, ModelError> {
        let start = s.span().start;
        let at = |pos: usize| self.src.offset_in_string(start, pos);
        let ast = parse(s.get_ref()).map_err(|e| {
            let kind = match e.kind {
                ParseErrorKind::Syntax => K::Syntax,
                ParseErrorKind::TooDeep | ParseErrorKind::TooLong => K::TooLarge,
            };
            self.err(at(e.pos), kind, field, e.message)
        })?;
        resolve_forbidding(&ast, scope, forbid).map_err(|e| {
            let kind = match e {
                ResolveError::UnknownName { .. } => K::UnknownName,
                ResolveError::NotAllowed { .. } => K::NotAllowed,
                ResolveError::UnknownFunction { .. } | ResolveError::Arity { .. } => {
                    K::BadFunctionCall
                }
                ResolveError::TooLarge { .. } => K::TooLarge,
            };
            self.err(at(e.pos()), kind, field, e.to_string())
        })
    }

    fn finite(&self, v: &Spanned<f64>, field: &str, what: &str) -> Result<f64, ModelError> {
        let x = *v.get_ref();
        if !x.is_finite() {
            return Err(self.err(
                v.span().start,
                K::BadValue,
                field,
                format!("expected a finite {what}, found {x}"),
            ));
        }
        Ok(x)
    }

    fn positive(&self, v: &Spanned<f64>, field: &str, what: &str) -> Result<f64, ModelError> {
        let x = self.finite(v, field, what)?;
        if x <= 0.0 {
            return Err(self.err(
                v.span().start,
                K::BadValue,
                field,
                format!("expected a positive {what}, found {x}"),
            ));
        }
        Ok(x)
    }
}

fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Compile a parsed model file.
pub fn compile(src: &SourceText, file: &ModelFile) -> Result<CompiledModel, ModelError> {
    let cx = Ctx { src };
    let mut scope = Scope::new();
    let mut warnings = Vec::new();

    // 1. Names: one namespace for species, parameters, drugs, effects, observables.
    let mut declare = |name: &Spanned<String>, v: Var, section: &str| -> Result<(), ModelError> {
        let n = name.get_ref();
        if !is_identifier(n) {
            return Err(cx.err(name.span().start, K::BadValue, &format!("{section}.{n}"),
                "names must start with a letter or `_` and contain only letters, digits, `_` and `.`"));
        }
        if crate::expr::resolve::FUNCTIONS.iter().any(|(f, _)| f == n) {
            return Err(cx.err(
                name.span().start,
                K::DuplicateName,
                &format!("{section}.{n}"),
                format!("`{n}` is the name of a built-in function"),
            ));
        }
        if let Some(old) = scope.insert(n, v) {
            let what = NameKind::of(old).label();
            return Err(cx.err(
                name.span().start,
                K::DuplicateName,
                &format!("{section}.{n}"),
                format!("duplicate name `{n}`: already declared as a {what}"),
            ));
        }
        Ok(())
    };
    for (i, name) in file.species.keys().enumerate() {
        declare(name, Var::Species(i), "species")?;
    }
    for (i, name) in file.parameters.keys().enumerate() {
        declare(name, Var::Param(i), "parameters")?;
    }
    for (i, name) in file.drugs.keys().enumerate() {
        declare(name, Var::Drug(i), "drugs")?;
    }
    let mut n_eff = 0;
    for (dname, d) in &file.drugs {
        for ename in d.effects.keys() {
            declare(
                ename,
                Var::Effect(n_eff),
                &format!("drugs.{}.effects", dname.get_ref()),
            )?;
            n_eff += 1;
        }
    }
    for (i, name) in file.observables.keys().enumerate() {
        declare(name, Var::Observable(i), "observables")?;
    }

    // 2. Parameters (values and bounds), so later checks can use them.
    let mut params = Vec::new();
    for (name, p) in &file.parameters {
        let field = format!("parameters.{}", name.get_ref());
        let value = cx.finite(&p.value, &format!("{field}.value"), "number")?;
        let bounds = match &p.bounds {
            None => None,
            Some(b) => {
                let [lo, hi] = *b.get_ref();
                let at = b.span().start;
                if !lo.is_finite() || !hi.is_finite() || lo > hi {
                    return Err(cx.err(
                        at,
                        K::BadValue,
                        &format!("{field}.bounds"),
                        format!(
                            "expected finite bounds [lo, hi] with lo <= hi, found [{lo}, {hi}]"
                        ),
                    ));
                }
                if value < lo || value > hi {
                    return Err(cx.err(
                        at,
                        K::BadValue,
                        &format!("{field}.bounds"),
                        format!("bounds [{lo}, {hi}] exclude the value {value}"),
                    ));
                }
                Some([lo, hi])
            }
        };
        let loc = src.locate(name.span().start).to_string();
        if p.provenance.is_none() {
            warnings.push(Warning {
                at: loc.clone(),
                message: format!(
                    "parameter `{}` has no provenance (seed, literature or assumed)",
                    name.get_ref()
                ),
            });
        }
        if p.unit.as_deref().is_none_or(str::is_empty) {
            warnings.push(Warning {
                at: loc.clone(),
                message: format!("parameter `{}` has no unit", name.get_ref()),
            });
        }
        if p.note.as_deref().is_none_or(str::is_empty) {
            warnings.push(Warning { at: loc, message: format!("parameter `{}` has no note (which number, which reference, or what it was calibrated to)", name.get_ref()) });
        }
        params.push(Param {
            name: name.get_ref().clone(),
            value,
            unit: p.unit.clone(),
            bounds,
            provenance: p.provenance,
            note: p.note.clone(),
        });
    }

    // A number or a parameter name, as a parameter-only expression.
    let num_or_param = |v: &NumOrParam, field: &str, what: &str| -> Result<Expr, ModelError> {
        match v {
            NumOrParam::Num(x) if x.is_finite() && *x > 0.0 => Ok(Expr::c(*x)),
            NumOrParam::Num(x) => Err(ModelError {
                kind: K::BadValue,
                at: src.locate(0),
                field: Some(field.to_string()),
                message: format!("expected a positive {what}, found {x}"),
            }),
            NumOrParam::Param(name) => match scope.get(name) {
                Some(Var::Param(i)) => Ok(Expr::var(Var::Param(i))),
                other => {
                    let msg = match other {
                        Some(v) => format!(
                            "`{name}` is a {}; expected a number or a parameter name",
                            NameKind::of(v).label()
                        ),
                        None => format!(
                            "unknown parameter `{name}`{}",
                            did_you_mean_among(name, params.iter().map(|p| p.name.as_str()))
                        ),
                    };
                    Err(ModelError {
                        kind: K::UnknownName,
                        at: src.locate(0),
                        field: Some(field.to_string()),
                        message: msg,
                    })
                }
            },
        }
    };

    // 3. Drugs and their effects.
    let mut drugs = Vec::new();
    let mut effects = Vec::new();
    for (di, (dname, d)) in file.drugs.iter().enumerate() {
        let field = format!("drugs.{}", dname.get_ref());
        let unit = ConcUnit::parse(d.unit.get_ref()).ok_or_else(|| {
            cx.err(
                d.unit.span().start,
                K::BadValue,
                &format!("{field}.unit"),
                format!(
                    "unknown concentration unit `{}`; expected one of {}",
                    d.unit.get_ref(),
                    ConcUnit::known()
                ),
            )
        })?;
        let medium_half_life = match d
            .in_vitro
            .as_ref()
            .and_then(|v| v.medium_half_life.as_ref())
        {
            Some(h) => Some(cx.positive(
                h,
                &format!("{field}.in_vitro.medium_half_life"),
                "half-life",
            )?),
            None => None,
        };
        let in_vivo = match &d.in_vivo {
            None => None,
            Some(v) => {
                let mw = match &v.molecular_weight {
                    Some(m) => Some(cx.positive(
                        m,
                        &format!("{field}.in_vivo.molecular_weight"),
                        "molecular weight (g/mol)",
                    )?),
                    None => None,
                };
                if matches!(unit, ConcUnit::Molar { .. }) && mw.is_none() {
                    return Err(cx.err(d.unit.span().start, K::BadValue, &format!("{field}.in_vivo.molecular_weight"),
                        format!("drug unit `{}` is molar, so mg/kg dosing needs `molecular_weight` (g/mol)", d.unit.get_ref())));
                }
                Some(Pk {
                    half_life: cx.positive(
                        &v.half_life,
                        &format!("{field}.in_vivo.half_life"),
                        "half-life",
                    )?,
                    volume: cx.positive(
                        &v.volume,
                        &format!("{field}.in_vivo.volume"),
                        "volume of distribution (L/kg)",
                    )?,
                    molecular_weight: mw,
                })
            }
        };
        for (ename, e) in &d.effects {
            let ef = format!("{field}.effects.{}", ename.get_ref());
            let scales = match &e.scales {
                None => None,
                Some(p) => match scope.get(p.get_ref()) {
                    Some(Var::Param(i)) => Some(i),
                    _ => {
                        return Err(cx.err(
                            p.span().start,
                            K::UnknownName,
                            &format!("{ef}.scales"),
                            format!(
                                "`scales` must name a parameter; `{}` is not one{}",
                                p.get_ref(),
                                did_you_mean_among(
                                    p.get_ref(),
                                    params.iter().map(|p| p.name.as_str())
                                )
                            ),
                        ))
                    }
                },
            };
            effects.push(Effect {
                name: ename.get_ref().clone(),
                drug: di,
                ic50: num_or_param(&e.ic50, &format!("{ef}.ic50"), "IC50")
                    .map_err(|err| relocate(err, src, ename.span().start))?,
                emax: match &e.emax {
                    Some(v) => num_or_param(v, &format!("{ef}.emax"), "Emax")
                        .map_err(|err| relocate(err, src, ename.span().start))?,
                    None => Expr::c(1.0),
                },
                hill: match &e.hill {
                    Some(v) => num_or_param(v, &format!("{ef}.hill"), "Hill coefficient")
                        .map_err(|err| relocate(err, src, ename.span().start))?,
                    None => Expr::c(1.0),
                },
                mode: e.mode,
                scales,
                description: e.description.clone(),
            });
        }
        drugs.push(Drug {
            name: dname.get_ref().clone(),
            unit,
            description: d.description.clone(),
            target: d.target.clone(),
            medium_half_life,
            in_vivo,
        });
    }

    // 4. Observables (may not refer to each other), species rates, fate.
    let mut observables = Vec::new();
    for (name, o) in &file.observables {
        let field = format!("observables.{}.expr", name.get_ref());
        let expr = cx
            .expr_forbidding(&o.expr, &scope, Some(NameKind::Observable), &field)
            .map_err(|mut e| {
                if e.kind == K::NotAllowed {
                    e.message += " (observables may not refer to other observables)";
                }
                e
            })?;
        observables.push(Observable {
            name: name.get_ref().clone(),
            unit: o.unit.clone(),
            description: o.description.clone(),
            expr,
        });
    }
    let mut species = Vec::new();
    for (name, s) in &file.species {
        let field = format!("species.{}", name.get_ref());
        let initial = cx.finite(&s.initial, &format!("{field}.initial"), "initial value")?;
        if initial < 0.0 && file.fate.is_some() {
            return Err(cx.err(
                s.initial.span().start,
                K::BadValue,
                &format!("{field}.initial"),
                format!("expected a non-negative initial value, found {initial}"),
            ));
        }
        species.push(Species {
            name: name.get_ref().clone(),
            unit: s.unit.clone(),
            description: s.description.clone(),
            initial,
            rate: cx.expr(&s.rate, &scope, &format!("{field}.rate"))?,
        });
    }
    // A model without `[fate]` is a plain ODE model: one population of one
    // representative "cell" that neither divides nor dies.
    let (division, death, initial_cells, carrying_capacity, take) = match &file.fate {
        Some(fate) => (
            cx.expr(&fate.division, &scope, "fate.division")?,
            cx.expr(&fate.death, &scope, "fate.death")?,
            match &fate.initial_cells {
                Some(v) => cx.positive(v, "fate.initial_cells", "number of cells")?,
                None => 1e6,
            },
            match &fate.carrying_capacity {
                Some(v) => {
                    Some(cx.positive(v, "fate.carrying_capacity", "carrying capacity (cells)")?)
                }
                None => None,
            },
            fate.take
                .as_ref()
                .map(|t| cx.expr(t, &scope, "fate.take"))
                .transpose()?,
        ),
        None => {
            if let Some((name, _)) = file.genotypes.first() {
                return Err(cx.err(
                    name.span().start,
                    K::BadValue,
                    &format!("genotypes.{}", name.get_ref()),
                    "genotypes need cells: add a `[fate]` table (division and death), or \
                     remove the genotypes for a plain ODE model",
                ));
            }
            (Expr::c(0.0), Expr::c(0.0), 1.0, None, None)
        }
    };
    check_inlined_sizes(
        &cx,
        file,
        &effects,
        &observables,
        &species,
        [&division, &death],
        take.as_ref(),
    )?;

    // 5. Genotypes: the base first, then each declared one (parents must come first).
    let base = file
        .model
        .base_genotype
        .clone()
        .unwrap_or_else(|| "parental".to_string());
    let mut genotypes = vec![Genotype {
        name: base,
        parent: None,
        mutation_probability: 0.0,
        initial_fraction: 0.0,
        description: "founding genotype".to_string(),
        overrides: Vec::new(),
    }];
    let mut pre_existing = 0.0;
    for (name, g) in &file.genotypes {
        let field = format!("genotypes.{}", name.get_ref());
        if genotypes.iter().any(|x| &x.name == name.get_ref()) {
            return Err(cx.err(
                name.span().start,
                K::DuplicateName,
                &field,
                format!("duplicate genotype `{}`", name.get_ref()),
            ));
        }
        let parent = match &g.parent {
            None => 0,
            Some(p) => genotypes.iter().position(|x| &x.name == p.get_ref()).ok_or_else(|| {
                cx.err(p.span().start, K::UnknownName, &format!("{field}.parent"),
                    format!("unknown parent genotype `{}` (a parent must be declared before its children){}", p.get_ref(),
                        did_you_mean_among(p.get_ref(), genotypes.iter().map(|x| x.name.as_str()))))
            })?,
        };
        let u = cx.finite(
            &g.mutation_probability,
            &format!("{field}.mutation_probability"),
            "probability",
        )?;
        if !(0.0..=1.0).contains(&u) {
            return Err(cx.err(
                g.mutation_probability.span().start,
                K::BadValue,
                &format!("{field}.mutation_probability"),
                format!("expected a probability in [0, 1], found {u}"),
            ));
        }
        let f0 = match &g.initial_fraction {
            Some(v) => {
                let f = cx.finite(v, &format!("{field}.initial_fraction"), "fraction")?;
                if !(0.0..=1.0).contains(&f) {
                    return Err(cx.err(
                        v.span().start,
                        K::BadValue,
                        &format!("{field}.initial_fraction"),
                        format!("expected a fraction in [0, 1], found {f}"),
                    ));
                }
                f
            }
            None => 0.0,
        };
        pre_existing += f0;
        if pre_existing > 1.0 {
            let at = g
                .initial_fraction
                .as_ref()
                .map(|v| v.span().start)
                .unwrap_or(name.span().start);
            return Err(cx.err(
                at,
                K::BadValue,
                &format!("{field}.initial_fraction"),
                format!("initial fractions of all genotypes add up to {pre_existing} > 1"),
            ));
        }
        let mut overrides = Vec::new();
        for (pname, v) in &g.overrides {
            let pf = format!("{field}.overrides.{}", pname.get_ref());
            let Some(Var::Param(i)) = scope.get(pname.get_ref()) else {
                return Err(cx.err(
                    pname.span().start,
                    K::UnknownName,
                    &pf,
                    format!(
                        "unknown parameter `{}`{}",
                        pname.get_ref(),
                        did_you_mean_among(pname.get_ref(), params.iter().map(|p| p.name.as_str()))
                    ),
                ));
            };
            overrides.push((i, cx.finite(v, &pf, "number")?));
        }
        genotypes.push(Genotype {
            name: name.get_ref().clone(),
            parent: Some(parent),
            mutation_probability: u,
            initial_fraction: f0,
            description: g.description.clone(),
            overrides,
        });
    }

    let heterogeneity = match &file.heterogeneity {
        None => Heterogeneity::default(),
        Some(h) => Heterogeneity {
            species_noise: match &h.species_noise {
                Some(v) => non_negative(&cx, v, "heterogeneity.species_noise")?,
                None => 0.0,
            },
            partition_cv: match &h.partition_cv {
                Some(v) => non_negative(&cx, v, "heterogeneity.partition_cv")?,
                None => 0.0,
            },
        },
    };

    let events = compile_events(&cx, file, &scope, genotypes.len())?;

    let mut model = CompiledModel {
        meta: Meta {
            name: file.model.name.get_ref().clone(),
            title: file.model.title.clone(),
            time_unit: file.model.time_unit,
            description: file.model.description.clone(),
            source: file.model.source.clone(),
            path: src.path.display().to_string(),
            sha256: hash(&src.text),
        },
        species,
        params,
        drugs,
        effects,
        observables,
        has_cells: file.fate.is_some(),
        division,
        death,
        initial_cells,
        carrying_capacity,
        take,
        genotypes,
        heterogeneity,
        events,
        scenario: None,
        warnings,
    };
    if let Some(sc) = &file.scenario {
        let days = cx.positive(&sc.days, "scenario.days", "number of days")?;
        crate::limits::check(crate::limits::Limit::Days, days).map_err(|e| {
            cx.err(
                sc.days.span().start,
                K::TooLarge,
                "scenario.days",
                e.to_string(),
            )
        })?;
        let t_end = days * 24.0 / model.meta.time_unit.hours();
        let mut doses = Vec::new();
        for d in &sc.doses {
            let spec = crate::pkpd::DoseSpec::parse(&model, d.get_ref())
                .and_then(|s| s.check_count(t_end).map(|()| s))
                .map_err(|e| cx.err(d.span().start, K::BadValue, "scenario.doses", e.message))?;
            doses.push(spec);
        }
        model.scenario = Some(Scenario {
            days,
            doses,
            description: sc.description.clone(),
        });
    }
    Ok(model)
}

/// Most nodes a rate, division or death expression may have once observables, drug
/// effects and the parameters effects scale are inlined (see [`crate::compile::BoundModel`]).
pub const MAX_INLINED_NODES: usize = 1_000_000;

/// Refuse, before any binding work, a rate that inlining would blow up (an observable
/// of 10^5 nodes used 10^3 times): an upper bound on its bound size, with the file
/// position of the rate.
fn check_inlined_sizes(
    cx: &Ctx,
    file: &ModelFile,
    effects: &[Effect],
    observables: &[Observable],
    species: &[Species],
    fate: [&Expr; 2],
    take: Option<&Expr>,
) -> Result<(), ModelError> {
    // A bound effect is `emax * hill(C, ic50, n)` over constants: 16 nodes bounds it;
    // a scaled parameter is its value times one `(1 -+ E)` per effect.
    const EFFECT: usize = 16;
    let base = |v: Var| match v {
        Var::Param(i) => 1 + (EFFECT + 2) * effects.iter().filter(|e| e.scales == Some(i)).count(),
        Var::Effect(_) => EFFECT,
        _ => 1,
    };
    let obs: Vec<usize> = observables
        .iter()
        .map(|o| o.expr.size_with(&base))
        .collect();
    let full = |v: Var| match v {
        Var::Observable(i) => obs[i],
        other => base(other),
    };
    let mut rates: Vec<(usize, String, &Expr)> = file
        .species
        .iter()
        .zip(species)
        .map(|((name, raw), s)| {
            (
                raw.rate.span().start,
                format!("species.{}.rate", name.get_ref()),
                &s.rate,
            )
        })
        .collect();
    if let Some(f) = &file.fate {
        rates.push((f.division.span().start, "fate.division".into(), fate[0]));
        rates.push((f.death.span().start, "fate.death".into(), fate[1]));
        if let (Some(at), Some(e)) = (&f.take, take) {
            rates.push((at.span().start, "fate.take".into(), e));
        }
    }
    for (at, field, e) in rates {
        let n = e.size_with(&full);
        if n > MAX_INLINED_NODES {
            return Err(cx.err(
                at,
                K::TooLarge,
                &field,
                format!(
                    "with observables and drug effects inlined this expression has about {n} \
                     nodes, over the limit of {MAX_INLINED_NODES}; this limit cannot be raised: \
                     use large observables fewer times"
                ),
            ));
        }
    }
    Ok(())
}

/// Events: a trigger, species to set, and how simultaneous events are ordered.
fn compile_events(
    cx: &Ctx,
    file: &ModelFile,
    scope: &Scope,
    n_genotypes: usize,
) -> Result<Vec<Event>, ModelError> {
    let mut events = Vec::new();
    for (name, e) in &file.events {
        let field = format!("events.{}", name.get_ref());
        if n_genotypes > 1 {
            return Err(cx.err(
                name.span().start,
                K::NotAllowed,
                &field,
                "events are supported in models with one genotype only (an event would \
                 have to choose whose loop state triggers it)",
            ));
        }
        if !is_identifier(name.get_ref()) {
            return Err(cx.err(
                name.span().start,
                K::BadValue,
                &field,
                "names must start with a letter or `_` and contain only letters, digits, `_` and `.`",
            ));
        }
        let trigger = cx.expr(&e.trigger, scope, &format!("{field}.trigger"))?;
        let priority = match &e.priority {
            Some(p) => Some(cx.expr(p, scope, &format!("{field}.priority"))?),
            None => None,
        };
        let delay = match &e.delay {
            Some(d) => Some(cx.expr(d, scope, &format!("{field}.delay"))?),
            None => None,
        };
        let mut assignments = Vec::new();
        for (target, value) in &e.assign {
            let tf = format!("{field}.assign.{}", target.get_ref());
            let i = match scope.get(target.get_ref()) {
                Some(Var::Species(i)) => i,
                other => {
                    let msg = match other {
                        Some(v) => format!(
                            "`{}` is a {}; an event sets species only (a quantity that \
                             events change is a species, with rate \"0\" if nothing else \
                             changes it)",
                            target.get_ref(),
                            NameKind::of(v).label()
                        ),
                        None => format!(
                            "unknown species `{}`{}",
                            target.get_ref(),
                            did_you_mean_among(
                                target.get_ref(),
                                file.species.keys().map(|k| k.get_ref().as_str())
                            )
                        ),
                    };
                    return Err(cx.err(target.span().start, K::UnknownName, &tf, msg));
                }
            };
            assignments.push((i, cx.expr(value, scope, &tf)?));
        }
        events.push(Event {
            name: name.get_ref().clone(),
            trigger,
            assignments,
            initial_value: e.initial_value.unwrap_or(true),
            persistent: e.persistent.unwrap_or(true),
            priority,
            delay,
            use_values_from_trigger_time: e.use_values_from_trigger_time.unwrap_or(true),
            description: e.description.clone(),
        });
    }
    Ok(events)
}

fn non_negative(cx: &Ctx, v: &Spanned<f64>, field: &str) -> Result<f64, ModelError> {
    let x = cx.finite(v, field, "number")?;
    if x < 0.0 {
        return Err(cx.err(
            v.span().start,
            K::BadValue,
            field,
            format!("expected a non-negative number, found {x}"),
        ));
    }
    Ok(x)
}

/// Give an error that had no precise location the location of its table key.
fn relocate(mut e: ModelError, src: &SourceText, offset: usize) -> ModelError {
    if e.at.line == 1 && e.at.column == 1 {
        e.at = src.locate(offset);
    }
    e
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
        && s != "t"
}
