use std::path::PathBuf;

use anyhow::bail;
use resloop::compile::compile_file;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    model: PathBuf,
    /// Treat warnings (e.g. a parameter without provenance, unit or note) as errors.
    #[arg(long)]
    strict: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let m = compile_file(&a.model)?;
    print!("{}", m.summary());
    for w in &m.warnings {
        eprintln!("warning: {}: {}", w.at, w.message);
    }
    if a.strict && !m.warnings.is_empty() {
        bail!(
            "{} warning(s) in {} (--strict)",
            m.warnings.len(),
            a.model.display()
        );
    }
    println!(
        "ok: {} checks out{}",
        a.model.display(),
        if m.warnings.is_empty() {
            String::new()
        } else {
            format!(" with {} warning(s)", m.warnings.len())
        }
    );
    Ok(())
}
