use std::path::PathBuf;

use anyhow::{bail, Context};
use rayon::prelude::*;
use resloop::compile::compile_file;
use resloop::therapy::{self, compare::write_compare};

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
    let model = compile_file(&a.model)?;
    let opts = a.run.options(&model)?;
    // Every schedule is checked before anything runs or is written.
    let mut schedules = Vec::new();
    for p in &a.schedules {
        let s = load_schedule(p, &model)?;
        if let Some(prev) = schedules
            .iter()
            .position(|x: &resloop::schedule::Schedule| x.name == s.name)
        {
            bail!(
                "{} and {} are both named `{}`; schedule names name the output folders and \
                 must differ",
                a.schedules[prev].display(),
                p.display(),
                s.name
            );
        }
        schedules.push(s);
    }
    let all: Vec<&resloop::schedule::Schedule> = schedules.iter().collect();
    super::therapy::check_output_size(&model, &all, &opts, a.run.replicates)?;
    let results = schedules
        .par_iter()
        .map(|s| therapy::run_replicates(&model, s, &opts, a.run.replicates))
        .collect::<Result<Vec<_>, _>>()?;
    for (s, reps) in schedules.iter().zip(&results) {
        for r in reps {
            resloop::output::timeline::check_timeline(&r.timeline)
                .with_context(|| format!("schedule `{}`", s.name))?;
        }
    }
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
