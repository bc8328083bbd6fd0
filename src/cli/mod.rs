//! Subcommands. Each parses its arguments, calls the library, prints a short report.

mod abm;
mod check;
mod demo;
mod simulate;
mod synergy;

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
}

#[derive(Subcommand)]
enum Command {
    /// Validate a model file and print a summary.
    Check(check::Args),
    /// Simulate a model under simple repeated dosing.
    Simulate(simulate::Args),
    /// Score a two-drug dose-response plate for synergy (Bliss, HSA, Loewe, ZIP, CI, MuSyC).
    Synergy(synergy::Args),
    /// Agent-based run: stochastic cells carrying the loop (ensembles, lineages).
    Abm(abm::Args),
    /// Run every model in models/ under its default scenario (the README's main job).
    Demo(demo::Args),
}

pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Check(a) => check::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Synergy(a) => synergy::run(a),
        Command::Abm(a) => abm::run(a),
        Command::Demo(a) => demo::run(a),
    }
}
