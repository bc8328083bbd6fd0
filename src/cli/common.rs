//! The flags every subcommand shares (`--no-plot`, `--quiet`, `--report`), held for
//! the length of one command so each subcommand reads them the same way, and `say!`,
//! the one way a subcommand prints its summary (silent under `--quiet`).

use std::sync::atomic::{AtomicBool, Ordering};

/// Flags accepted by every subcommand (declared `global` on the top-level parser).
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct Common {
    /// Skip the plots (figures are the slowest part of a short run).
    #[arg(long, global = true, alias = "no-plots")]
    pub no_plot: bool,
    /// Print nothing but errors and warnings (no summary, no progress).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Also write `report.html` into the run folder: one self-contained page (figures,
    /// tables, summary, timeline explorer, manifest) that opens offline from disk.
    #[arg(long, global = true)]
    pub report: bool,
}

/// Parameter changes, shared by the subcommands that run a model.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Sets {
    /// Change a parameter, PARAM=VALUE (repeatable); the value must lie within the
    /// bounds the model declares for it.
    #[arg(long = "set", value_name = "PARAM=VALUE")]
    pub sets: Vec<String>,
    /// Accept `--set` values outside a parameter's declared bounds.
    #[arg(long)]
    pub allow_out_of_bounds: bool,
}

/// Which engine runs the model and, for a stochastic one, how many replicates from
/// which seed: shared by `simulate`, `therapy` and `compare`, which all run through
/// the one therapy driver.
#[derive(clap::Args, Debug, Clone)]
pub struct Engine {
    /// Engine: hybrid (default for a model with genotypes: small clones as exact random
    /// births, deaths and mutant arrivals, large ones as ODEs), mean-field (the ODE
    /// alone: counts are expected values; default for a model with one genotype), or
    /// agent-based (every cell, 1 h steps; clones above 10^4 cells as counts when the
    /// model has no cell-to-cell noise).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Replicates of a stochastic engine (run in parallel; ignored by mean-field).
    #[arg(long, default_value_t = 1)]
    pub replicates: u64,
    /// Seed of a stochastic engine: replicate r is a pure function of (inputs, seed, r).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// How long a model runs and which doses it gets, shared by `simulate`, `abm` and
/// `export` (the model's `[scenario]` unless given).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Plan {
    /// Length of the run in days (default: the model's [scenario]).
    #[arg(long)]
    pub days: Option<f64>,
    /// Repeated dosing, DRUG=AMOUNT@EVERY[xCOUNT][,STEP][,escalate_every=N][,cap=AMOUNT],
    /// e.g. `tki=0.5uM@72h` (in vitro: the medium is set to 0.5 uM every 72 h),
    /// `tki=50mg/kg@24hx28` (in vivo bolus) or `her2=1mg/kg@3.5dx105,+0.1mg/kg`
    /// (escalating); default: the model's [scenario] doses.
    #[arg(long = "dose", value_name = "DRUG=AMOUNT@EVERY[xCOUNT]")]
    pub doses: Vec<String>,
    /// No drug at all (ignore the model's scenario doses).
    #[arg(long)]
    pub drug_free: bool,
}

static NO_PLOT: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);
static REPORT: AtomicBool = AtomicBool::new(false);

/// Put the flags of the command line in force. A command the demo runs inherits the
/// demo's flags on top of its own.
pub fn set(c: Common) {
    NO_PLOT.fetch_or(c.no_plot, Ordering::Relaxed);
    QUIET.fetch_or(c.quiet, Ordering::Relaxed);
    REPORT.fetch_or(c.report, Ordering::Relaxed);
}

/// The flags in force.
pub fn get() -> Common {
    Common {
        no_plot: NO_PLOT.load(Ordering::Relaxed),
        quiet: QUIET.load(Ordering::Relaxed),
        report: REPORT.load(Ordering::Relaxed),
    }
}

/// Finish a run folder: with `--report`, write its page first (inside the folder, so
/// the page is part of the complete run), then move the folder into place.
pub fn finish(run: resloop::output::atomic::RunDir, title: &str) -> anyhow::Result<()> {
    if get().report {
        resloop::report::write_report(run.path(), title)?;
    }
    run.finish()?;
    Ok(())
}

/// A title for a run's page: `what` and the file's stem (`therapy of mir34a_axl`).
pub fn title(what: &str, file: &std::path::Path) -> String {
    let stem = file
        .file_name()
        .map(|s| s.to_string_lossy().trim_end_matches(".toml").to_string())
        .unwrap_or_default();
    format!("{what} {stem}")
}

/// `println!` unless `--quiet`.
macro_rules! say {
    ($($t:tt)*) => {
        if !$crate::cli::common::get().quiet {
            println!($($t)*);
        }
    };
}
pub(crate) use say;
