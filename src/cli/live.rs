//! `resloop live STORY.toml --out DIR`: the live teaching page of a story
//! (`DIR/live.html`, one self-contained file: sliders rerun the model in the browser).

use std::path::PathBuf;

use anyhow::Context;
use resloop::output::manifest::{model_ref, schedule_ref, FileRef, Manifest};
use resloop::report::{live, story};

use super::common::say;

/// File name of the page in its folder.
pub const PAGE: &str = "live.html";

#[derive(clap::Args)]
pub struct Args {
    /// Story file (`models/stories/<model>.toml`): the model, the drug alone, the drug
    /// the combination adds, the key species and the loop-strength parameter.
    pub story: PathBuf,
    /// The parameter the "loop strength" slider moves (default: the story's
    /// `loop_parameter`).
    #[arg(long, value_name = "PARAM")]
    pub loop_parameter: Option<String>,
    /// Output directory (the page is `live.html` in it).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let s = story::load(&a.story)?;
    let spec = live::from_story(&s, a.loop_parameter.as_deref())?;
    let page = live::page(&s, &spec).with_context(|| format!("story {}", a.story.display()))?;
    let run = super::run_dir::begin(&a.out)?;
    let path = run.path().join(PAGE);
    resloop::output::atomic::write_atomic(&path, |w| w.write_all(page.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    // What the page was made from, in the envelope every manifest shares.
    let inputs = vec![
        FileRef::read("story", &a.story)?,
        model_ref(&s.model),
        schedule_ref(&s.alone),
        schedule_ref(&s.combination),
    ];
    let body = serde_json::json!({
        "page": {"rtol": live::PAGE_RTOL, "atol": live::PAGE_ATOL,
                 "points": live::PAGE_POINTS, "live": spec},
    });
    let outputs = vec![PAGE.to_string(), "manifest.json".to_string()];
    let mp = run.path().join("manifest.json");
    Manifest::new(inputs, body, None, outputs)
        .write(&mp)
        .with_context(|| format!("cannot write {}", mp.display()))?;
    super::common::finish(run, &format!("{} (live page)", s.spec.title))?;
    say!(
        "wrote {} ({} kB; open it in a browser, offline)",
        a.out.join(PAGE).display(),
        page.len() / 1024
    );
    Ok(())
}
