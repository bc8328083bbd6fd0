use std::path::PathBuf;

use anyhow::anyhow;
use resloop::fit::FitGate;
use resloop::synergy::{run_synergy, LoeweFallback, Method, SynergyOptions, SynergyReport};

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// Plate CSV: long format dose_a,dose_b,response[,replicate][,block] (response = viable
    /// fraction), or SynergyFinder's PairIndex,Response,Drug1,Drug2,Conc1,Conc2,ConcUnit
    /// (response = % inhibition). Every block in the file is scored.
    plate: PathBuf,
    /// Methods: all, or a comma list of bliss,bliss_hill,hsa,loewe,zip,ci,musyc.
    #[arg(long, default_value = "all")]
    methods: String,
    /// Bootstrap resamples for confidence intervals (0 = none).
    #[arg(long, default_value_t = 0)]
    bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Responses are percent inhibition (0 = untreated, 100 = all dead).
    #[arg(long)]
    percent_inhibition: bool,
    /// Name of drug A (the `dose_a` column); overrides a `drug_a` column of the plate.
    #[arg(long)]
    drug_a: Option<String>,
    /// Name of drug B (the `dose_b` column); overrides a `drug_b` column of the plate.
    #[arg(long)]
    drug_b: Option<String>,
    /// Unit of drug A's doses (e.g. `nM`); must agree with a `unit_a` column if the plate has one.
    #[arg(long)]
    unit_a: Option<String>,
    /// Unit of drug B's doses (e.g. `nM`); must agree with a `unit_b` column if the plate has one.
    #[arg(long)]
    unit_b: Option<String>,
    /// Loewe cells beyond the weaker drug's Emax: hsa (default), weakest or nan.
    #[arg(long, default_value = "hsa")]
    loewe_fallback: String,
    /// ZIP curves: fitted Emax (default, as the synergy package) or fixed Emax = 0.
    #[arg(long, default_value = "fitted")]
    zip_emax: String,
    /// MuSyC per-cell score: model (null minus fitted surface, default) or data (null
    /// minus measured means).
    #[arg(long, default_value = "model")]
    musyc_score: String,
    /// Fit gate: smallest r^2 of a Hill or MuSyC fit a score may rest on.
    #[arg(long, default_value_t = FitGate::default().min_r2)]
    min_r2: f64,
    /// Fit gate: smallest effect (fraction of untreated) each drug alone must reach.
    #[arg(long, default_value_t = FitGate::default().min_effect)]
    min_effect: f64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut o = SynergyOptions::new(&a.plate);
    o.methods = Method::parse_list(&a.methods)?;
    o.bootstrap = a.bootstrap;
    o.seed = a.seed;
    o.percent_inhibition = a.percent_inhibition;
    o.drug_a = a.drug_a;
    o.drug_b = a.drug_b;
    o.unit_a = a.unit_a;
    o.unit_b = a.unit_b;
    o.loewe_fallback = a
        .loewe_fallback
        .parse::<LoeweFallback>()
        .map_err(|e| anyhow!("--loewe-fallback: {e}"))?;
    o.zip_emax = a.zip_emax.parse().map_err(|e| anyhow!("--zip-emax: {e}"))?;
    o.musyc_score = a
        .musyc_score
        .parse()
        .map_err(|e| anyhow!("--musyc-score: {e}"))?;
    o.gate.min_r2 = a.min_r2;
    o.gate.min_effect = a.min_effect;
    o.plots = !super::common::get().no_plot;
    // Complete or absent: written into a temporary sibling, renamed into place last.
    let run = super::run_dir::begin(&a.out)?;
    let reports = run_synergy(&o, run.path())?;
    super::common::finish(run, &super::common::title("Synergy of", &a.plate))?;
    say!(
        "convention: excess scores = reference - observed viability (> 0 synergy); ci < 1 synergy"
    );
    for report in &reports {
        print_table(report);
    }
    say!("wrote {}", a.out.display());
    Ok(())
}

/// One block's summary table, the reasons behind undefined cells and the warnings.
pub fn print_table(report: &SynergyReport) {
    let c = &report.context;
    if let Some(id) = &report.block {
        say!(
            "\nblock {id}: {} + {}",
            c.grid.drug_a.name,
            c.grid.drug_b.name
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    say!(
        "{:<11} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "method",
        "mean",
        "median",
        "min",
        "max",
        "scored",
        "undefined"
    );
    let f = |v: Option<f64>| v.map_or("undefined".to_string(), |x| format!("{x:.4}"));
    for r in &report.results {
        let s = &r.summary;
        say!(
            "{:<11} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
            r.method.name(),
            f(s.mean),
            f(s.median),
            f(s.min),
            f(s.max),
            s.n_scored,
            s.n_undefined
        );
    }
    for r in &report.results {
        for (reason, n) in &r.summary.undefined_reasons {
            say!("  {}: {n} cell(s) undefined: {reason}", r.method.name());
        }
    }
}
