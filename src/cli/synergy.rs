use std::path::PathBuf;

use anyhow::anyhow;
use resloop::synergy::{run_synergy, LoeweFallback, Method, SynergyOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Plate CSV in long format: dose_a,dose_b,response[,replicate] (response = viable fraction).
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
    #[arg(long)]
    drug_a: Option<String>,
    #[arg(long)]
    drug_b: Option<String>,
    #[arg(long)]
    unit_a: Option<String>,
    #[arg(long)]
    unit_b: Option<String>,
    /// Loewe cells beyond the weaker drug's Emax: hsa (default), weakest or nan.
    #[arg(long, default_value = "hsa")]
    loewe_fallback: String,
    /// Skip the plots.
    #[arg(long)]
    no_plot: bool,
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
    o.plots = !a.no_plot;
    let report = run_synergy(&o, &a.out)?;
    println!(
        "convention: excess scores = reference - observed viability (> 0 synergy); ci < 1 synergy"
    );
    println!(
        "{:<11} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "method", "mean", "median", "min", "max", "scored", "undefined"
    );
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    for r in &report.results {
        let s = &r.summary;
        println!(
            "{:<11} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
            format!("{:?}", r.method).to_lowercase(),
            f(s.mean),
            f(s.median),
            f(s.min),
            f(s.max),
            s.n_scored,
            s.n_undefined
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
