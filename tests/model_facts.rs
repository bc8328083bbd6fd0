//! Every fact of every shipped model is a named test: `<model>::<fact id>`.
//!
//! The facts are data beside the models (`models/*.facts.toml`); `resloop validate`
//! runs the same definitions. A fact marked `known_failure` must fail: it passes the
//! test when it fails as declared, and fails the test when it starts passing (so the
//! list of known failures cannot rot); any other failing fact fails. Each test is
//! labelled with the fact's role (calibration or prediction).
//! Filter as usual: `cargo test --release --test model_facts -- mir34a`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use resloop::facts::{self, FactFile, Role, Runner, Status};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    let files = facts::fact_files(Path::new("models")).expect("models/ is readable");
    for path in files {
        let file: &'static FactFile = Box::leak(Box::new(
            facts::load(&path).unwrap_or_else(|e| panic!("{e}")),
        ));
        let model = file.model.meta.name.clone();
        // States (e.g. months of escalation) are made once per model, on first use.
        let runner: Arc<OnceLock<Runner<'static>>> = Arc::new(OnceLock::new());
        for fact in &file.facts {
            let runner = Arc::clone(&runner);
            let name = format!("{model}::{}", fact.id);
            let known = fact.known_failure.clone();
            let role = fact.role;
            let trial = Trial::test(name, move || {
                let r = runner.get_or_init(|| {
                    let mut r = Runner::new(file);
                    r.make_states();
                    r
                });
                let o = r.check(fact);
                match o.status {
                    Status::Pass | Status::KnownFailure => Ok(()),
                    // The known-failure list must match the failures: a fact that
                    // starts passing fails here until its `known_failure` is removed.
                    Status::UnexpectedPass => Err(Failed::from(format!(
                        "{}: passes ({}) but is marked known_failure ({}): remove the mark, and say in the model's docs what changed",
                        o.id,
                        o.value_shown(),
                        o.known_failure.as_deref().unwrap_or("")
                    ))),
                    Status::Fail => Err(Failed::from(format!(
                        "{}: {}\n  study {}, tolerance {}, achieved {} ({})",
                        o.id,
                        o.claim,
                        o.study,
                        o.tolerance,
                        o.value_shown(),
                        o.detail
                    ))),
                }
            })
            .with_kind(match (role, known.is_some()) {
                (Role::Calibration, false) => "calibration",
                (Role::Calibration, true) => "calibration, known_failure",
                (Role::Prediction, false) => "prediction",
                (Role::Prediction, true) => "prediction, known_failure",
            });
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
