//! `resloop sweep`, `resloop merge` and `resloop sensitivity`, and the sweep part of
//! `resloop demo`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use resloop::sensitivity::{sensitivity_with, SensitivityOptions, SensitivityReport};
use resloop::sweep::{
    load_model_sweep, merge, run_sweep, LoadOptions, RunOptions, Shard, SweepSummary,
};

use super::common::say;

#[derive(clap::Args)]
pub struct SweepArgs {
    /// Sweep file (TOML, see docs/sweep-format.md).
    pub sweep: PathBuf,
    /// Output directory (runs.csv, manifest.json, sensitivity/).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a sweep that was interrupted in --out.
    #[arg(long)]
    pub resume: bool,
    /// Run only shard i of N (0-based), e.g. `--shard 0/4`; combine with `resloop merge`.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Accept parameter ranges outside the bounds the model declares.
    #[arg(long = "allow-out-of-bounds", alias = "allow-outside")]
    pub allow_outside: bool,
    /// Skip the sensitivity analysis and plots after an unsharded sweep.
    #[arg(long)]
    pub no_analysis: bool,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Shard directories of one sweep.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Directory of the merged sweep.
    #[arg(long)]
    pub out: PathBuf,
    /// Skip the sensitivity analysis and plots of the merged sweep.
    #[arg(long)]
    pub no_analysis: bool,
}

#[derive(clap::Args)]
pub struct SensitivityArgs {
    /// A finished (unsharded or merged) sweep directory.
    pub dir: PathBuf,
    /// Bootstrap resamples for Sobol confidence intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Coverage of the confidence intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
}

pub fn run_sweep_cmd(a: SweepArgs) -> anyhow::Result<()> {
    let shard = a
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .context("--shard")?;
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let load = LoadOptions {
        allow_outside: a.allow_outside,
    };
    let sweep = load_model_sweep(&a.sweep, &load)?;
    let ignored = resloop::sweep::Design::ignored_columns(&sweep.spec)?;
    if !ignored.is_empty() {
        eprintln!(
            "note: the points file's columns {} are not swept parameters; ignored",
            ignored.join(", ")
        );
    }
    let options = RunOptions {
        resume: a.resume,
        shard,
        threads: a.threads,
        progress: !super::common::get().quiet,
        cancel: Some(super::run_dir::sweep_cancel_flag()),
    };
    if super::run_dir::overwrite() && !a.resume && a.out.exists() {
        // A sweep owns its folder (it is resumable), so --overwrite removes the old
        // sweep first; anything that is not a sweep folder is never removed.
        if !a.out.join("manifest.json").is_file() {
            bail!(
                "--overwrite: {} is not a sweep folder (no manifest.json); not removing it",
                a.out.display()
            );
        }
        std::fs::remove_dir_all(&a.out)
            .with_context(|| format!("cannot remove {}", a.out.display()))?;
    }
    let s = run_sweep(&sweep.spec, &sweep.evaluator, &a.out, &options)?;
    print_summary(&a.out, &s, a.threads);
    if shard.is_none() && !a.no_analysis {
        analyse(&a.out, &default_analysis())?;
    }
    if super::common::get().report {
        resloop::report::write_report(&a.out, &super::common::title("Sweep", &a.sweep))?;
    }
    Ok(())
}

pub fn run_merge(a: MergeArgs) -> anyhow::Result<()> {
    let run = super::run_dir::begin(&a.out)?;
    let m = merge(&a.dirs, run.path())?;
    super::common::finish(run, &super::common::title("Merged sweep", &a.out))?;
    say!(
        "merged {} directories into {}: {} points ({} ok, {} failed)",
        a.dirs.len(),
        a.out.display(),
        m.points,
        m.ok,
        m.failed
    );
    if !a.no_analysis {
        analyse(&a.out, &default_analysis())?;
    }
    Ok(())
}

pub fn run_sensitivity(a: SensitivityArgs) -> anyhow::Result<()> {
    if !(a.confidence > 0.0 && a.confidence < 1.0) {
        bail!(
            "--confidence must lie strictly between 0 and 1, found {}",
            a.confidence
        );
    }
    if a.resamples == 0 {
        bail!("--resamples must be at least 1");
    }
    let o = SensitivityOptions {
        resamples: a.resamples,
        confidence: a.confidence,
        plots: !super::common::get().no_plot,
    };
    analyse(&a.dir, &o).map(|_| ())
}

fn print_summary(out: &Path, s: &SweepSummary, threads: Option<usize>) {
    let secs = s.wall_time.as_secs_f64();
    let threads = threads.unwrap_or_else(rayon::current_num_threads);
    let rate = if secs > 0.0 {
        s.evaluated as f64 / secs
    } else {
        0.0
    };
    say!(
        "{}: {} points ({} ok, {} failed; {} evaluated now, {} from before) in {:.2} s: \
         {:.1} runs/s on {} threads ({:.1} per thread)",
        out.display(),
        s.points,
        s.ok,
        s.failed,
        s.evaluated,
        s.reused,
        secs,
        rate,
        threads,
        rate / threads as f64
    );
}

/// Run the sensitivity analysis of a finished sweep and print the ranking per metric.
/// The analysis after a sweep or a merge: default settings, plots unless `--no-plot`.
fn default_analysis() -> SensitivityOptions {
    SensitivityOptions {
        plots: !super::common::get().no_plot,
        ..SensitivityOptions::default()
    }
}

fn analyse(dir: &Path, o: &SensitivityOptions) -> anyhow::Result<SensitivityReport> {
    let rep = sensitivity_with(dir, o)?;
    print_ranking(&rep);
    for (m, k, n) in &rep.censored {
        say!(
            "{m}: {k} of {n} runs never reached the event (censored at the run's end); its \
             indices are those of `{m}_reached`, P(event by the end), not of the times"
        );
    }
    say!(
        "sensitivity ({}): {} files in {}",
        rep.method,
        rep.files.len(),
        dir.join("sensitivity").display()
    );
    Ok(rep)
}

/// Parameters by decreasing total-order Sobol index (or Morris mu*), per metric.
fn print_ranking(rep: &SensitivityReport) {
    let key = match rep.method {
        "sobol" => "ST",
        "morris" => "mu_star",
        _ => return,
    };
    let mut metrics: Vec<&str> = Vec::new();
    for r in &rep.indices {
        if !metrics.contains(&r.metric.as_str()) {
            metrics.push(&r.metric);
        }
    }
    for m in metrics {
        let mut rows: Vec<_> = rep
            .indices
            .iter()
            .filter(|r| r.metric == m && r.index == key)
            .collect();
        rows.sort_by(|a, b| b.value.total_cmp(&a.value));
        let text: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {:.3}", r.parameter, r.value))
            .collect();
        say!("  {m}: {key} {}", text.join(", "));
    }
}

/// Run every sweep in `models/sweeps/` into `out/<sweep>/` with its sensitivity
/// analysis (the sweep part of `resloop demo`). An earlier demo output of the same
/// sweep is replaced; any other existing content is refused.
pub fn demo(out: &Path) -> anyhow::Result<()> {
    demo_from(Path::new("models/sweeps"), out)
}

fn demo_from(sweeps: &Path, out: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(sweeps)
        .with_context(|| format!("cannot read the sweeps folder {}", sweeps.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no sweep files (*.toml) in {}", sweeps.display());
    }
    for f in &files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let dir = out.join(&stem);
        if dir.join("runs.csv").exists() {
            if !dir.join("manifest.json").exists() {
                bail!(
                    "{} holds a runs.csv that is not a sweep output; not replacing it",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot replace {}", dir.display()))?;
        }
        let sweep = load_model_sweep(f, &LoadOptions::default())?;
        let options = RunOptions {
            progress: !super::common::get().quiet,
            ..RunOptions::default()
        };
        let s = run_sweep(&sweep.spec, &sweep.evaluator, &dir, &options)?;
        say!("sweep {}", f.display());
        print_summary(&dir, &s, None);
        analyse(&dir, &default_analysis())?;
        if super::common::get().report {
            resloop::report::write_report(&dir, &super::common::title("Sweep", f))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_runs_every_shipped_sweep_with_its_analysis() {
        // Tests run in the package root, where `resloop demo` runs too.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = tempfile::tempdir().unwrap();
        demo(out.path()).unwrap();
        // Running again replaces the earlier output.
        demo(out.path()).unwrap();
        let mut n = 0;
        for e in std::fs::read_dir(root.join("models/sweeps")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let dir = out.path().join(p.file_stem().unwrap());
                assert!(dir.join("runs.csv").exists());
                assert!(dir.join("sensitivity/plots").is_dir());
                n += 1;
            }
        }
        assert!(n >= 1);
    }
}
