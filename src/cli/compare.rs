use std::path::PathBuf;

use resloop::compile::compile_file;
use resloop::experiment::run_compare;
use resloop::therapy::compare::write_compare;

use super::therapy::{load_schedule, report, RunArgs};

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    pub model: PathBuf,
    /// Schedule files to compare (each runs on the model; their names must differ).
    #[arg(required = true, num_args = 1..)]
    pub schedules: Vec<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Output directory: one folder per schedule, compare.csv, compare.png/svg.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let run = super::run_dir::begin(&a.out)?;
    let mut model = compile_file(&a.model)?;
    let opts = a.run.options(&mut model)?;
    // Every schedule is checked before anything runs or is written.
    let schedules = a
        .schedules
        .iter()
        .map(|p| load_schedule(p, &model))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels: Vec<String> = a
        .schedules
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let results = run_compare(&model, &schedules, &labels, &opts, a.run.engine.replicates)?;
    let runs: Vec<_> = schedules
        .iter()
        .zip(&results)
        .map(|(s, r)| (s, r.as_slice()))
        .collect();
    let table = write_compare(
        run.path(),
        &model,
        &opts,
        &runs,
        !super::common::get().no_plot,
    )?;
    super::common::finish(
        run,
        &super::common::title("What-if comparison of", &a.model),
    )?;
    for (s, r) in &runs {
        say!("{}", report(s, &r[0]));
    }
    say!();
    if !super::common::get().quiet {
        print!("{}", table.render());
    }
    say!(
        "\nwrote {} (one folder per schedule, compare.csv{})",
        a.out.display(),
        if super::common::get().no_plot {
            ""
        } else {
            ", compare.png, compare.svg"
        }
    );
    Ok(())
}
