use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML): a plain ODE model (no fate map, drugs or genotypes).
    pub model: PathBuf,
    /// SBML file to write (Level 3 Version 2).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let model = resloop::compile::compile_file(&a.model)?;
    let xml = resloop::sbml::export::export(&model)?;
    resloop::output::atomic::write_atomic(&a.out, |w| w.write_all(xml.as_bytes()))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    println!(
        "wrote {}: SBML Level 3 Version 2, {} species, {} parameters, {} observables, {} events",
        a.out.display(),
        model.species.len(),
        model.params.len(),
        model.observables.len(),
        model.events.len()
    );
    Ok(())
}
