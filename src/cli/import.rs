use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    /// SBML file (Level 2 or 3 core).
    pub model: PathBuf,
    /// Model file to write (TOML).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let imported = resloop::sbml::import_file(&a.model)?;
    resloop::output::atomic::write_atomic(&a.out, |w| w.write_all(imported.toml.as_bytes()))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let count = |r: resloop::sbml::Role| imported.symbols.values().filter(|s| s.role == r).count();
    println!(
        "wrote {}: {} species, {} parameters, {} observables (from {})",
        a.out.display(),
        count(resloop::sbml::Role::State),
        count(resloop::sbml::Role::Parameter),
        count(resloop::sbml::Role::Observable),
        a.model.display()
    );
    Ok(())
}
