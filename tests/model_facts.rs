//! Every fact of every shipped model is a named test: `<model>::<fact id>`.
//!
//! The facts are data beside the models (`models/*.facts.toml`); `resloop validate`
//! runs the same definitions. A fact marked `known_failure` is reported but does not
//! fail (it is listed as ignored with its reason); any other failing fact fails.
//! Filter as usual: `cargo test --release --test model_facts -- mir34a`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use resloop::facts::{self, FactFile, Runner, Status};

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
            let trial = Trial::test(name, move || {
                let r = runner.get_or_init(|| {
                    let mut r = Runner::new(file);
                    r.make_states();
                    r
                });
                let o = r.check(fact);
                match o.status {
                    Status::Pass | Status::KnownFailure => Ok(()),
                    Status::UnexpectedPass => {
                        eprintln!(
                            "note: {} passes ({}) but is marked as a known failure: update the fact file",
                            o.id,
                            o.value_shown()
                        );
                        Ok(())
                    }
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
            .with_kind(if known.is_some() { "known_failure" } else { "" });
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
