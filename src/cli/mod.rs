//! Subcommands. Each parses its arguments, calls the library, prints a short report.

mod abm;
mod calibrate;
mod check;
mod checkerboard;
mod common;
mod compare;
mod demo;
mod export;
mod import;
mod live;
mod run_dir;
mod simulate;
mod story;
mod sweep;
mod synergy;
mod therapy;
mod validate;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "resloop",
    version,
    about = "Simulate drug resistance through molecular feedback loops, and its reversal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Raise (or lower) a cap on the work an input may ask for, NAME=VALUE: days,
    /// points, readouts, ic50, refreshes, doses, output_mb (`inf` for none).
    #[arg(long = "limit", value_name = "NAME=VALUE", global = true)]
    limits: Vec<String>,
    /// Replace an existing non-empty output folder (only once the new run is complete).
    #[arg(long, global = true)]
    overwrite: bool,
    #[command(flatten)]
    common: common::Common,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a model file and print a summary.
    Check(check::Args),
    /// Simulate a model under simple repeated dosing.
    Simulate(simulate::Args),
    /// Score a two-drug dose-response plate for synergy (Bliss, HSA, Loewe, ZIP, CI, MuSyC).
    Synergy(synergy::Args),
    /// Run a model under a therapy schedule (escalation, refreshes, passaging, IC50 readouts, resistance events).
    Therapy(therapy::Args),
    /// Run one model under several schedules and compare them (the what-if table and overlaid plots).
    Compare(compare::Args),
    /// Simulate a two-drug viability checkerboard on a model's cells and score it.
    Checkerboard(checkerboard::Args),
    /// Run the models' fact files (the studies' numbers) and print pass/fail per fact.
    Validate(validate::Args),
    /// Calibrate a model's `assumed` parameters against its fact file (a reproducible record).
    Calibrate(calibrate::Args),
    /// Translate an SBML model (Level 2/3 core) into a resloop model file.
    Import(import::Args),
    /// Write a plain ODE model file as SBML Level 3 Version 2.
    Export(export::Args),
    /// Agent-based run: stochastic cells carrying the loop (ensembles, lineages).
    Abm(abm::Args),
    /// Run every model in models/ under its default scenario (the README's main job).
    Demo(demo::Args),
    /// The teaching figure of a model: drug alone against drug + loop breaker (a story file).
    Story(story::Args),
    /// The live teaching page of a story: sliders rerun the model in the browser (one offline HTML file).
    Live(live::Args),
    /// Run a parameter sweep of a model (all points, or one shard with --shard i/N).
    Sweep(sweep::SweepArgs),
    /// Combine the shard directories of one sweep, checking every point is present once.
    Merge(sweep::MergeArgs),
    /// Sobol or Morris indices and plots of a finished sweep.
    Sensitivity(sweep::SensitivityArgs),
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    set_limits(&cli.limits)?;
    common::set(cli.common);
    run_dir::set_overwrite(cli.overwrite);
    run_dir::install_signal_handler();
    let result = dispatch(cli.command);
    run_dir::wait_if_interrupted();
    result
}

/// Put the `--limit` settings in force (on top of the defaults).
fn set_limits(settings: &[String]) -> anyhow::Result<()> {
    let mut l = resloop::limits::Limits::DEFAULT;
    for s in settings {
        l.apply(s).map_err(anyhow::Error::msg)?;
    }
    resloop::limits::set(l);
    Ok(())
}

/// Run a command line given as words (the demo runs the commands a user would type).
pub fn run_words(words: &[String]) -> anyhow::Result<()> {
    let cli =
        Cli::try_parse_from(std::iter::once("resloop".to_string()).chain(words.iter().cloned()))?;
    if !cli.limits.is_empty() {
        set_limits(&cli.limits)?;
    }
    common::set(cli.common);
    dispatch(cli.command)
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check(a) => check::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Synergy(a) => synergy::run(a),
        Command::Therapy(a) => therapy::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Checkerboard(a) => checkerboard::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
        Command::Abm(a) => abm::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Story(a) => story::run(a),
        Command::Live(a) => live::run(a),
        Command::Sweep(a) => sweep::run_sweep_cmd(a),
        Command::Merge(a) => sweep::run_merge(a),
        Command::Sensitivity(a) => sweep::run_sensitivity(a),
    }
}

/// The message of an error and its causes, each said once. Library errors that wrap
/// another both show it in their own message and name it as their source (so that a
/// caller reading only the top message sees everything); walking the whole chain, as
/// `{:#}` does, then repeated it ("numerical failure at t = ...: ...: numerical
/// failure at t = ..."). A cause already contained in the message is skipped.
pub fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[derive(Debug, thiserror::Error)]
    #[error("step size underflow at t = 60")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("schedule `x`, the run: {source}")]
    struct Outer {
        #[source]
        source: Inner,
    }

    /// A cause the message already shows is not repeated; one it does not show
    /// (context added by the command) is kept.
    #[test]
    fn an_error_says_each_cause_once() {
        let e = anyhow::Error::new(Outer { source: Inner });
        assert_eq!(
            super::message(&e),
            "schedule `x`, the run: step size underflow at t = 60"
        );
        let e = anyhow::Error::new(Inner).context("reading plan.toml");
        assert_eq!(
            super::message(&e),
            "reading plan.toml: step size underflow at t = 60"
        );
    }

    /// Every flag of every subcommand says what it does in `--help`.
    #[test]
    fn every_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "resloop", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }
}
