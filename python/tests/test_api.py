"""Every function of the Python API: its results equal the command line's for the
same inputs and seed (the release binary is run on the same files and its CSV
numbers compared bit for bit), and bad input raises ResloopError with its place."""

import json
import shutil
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import resloop as rl
from conftest import assert_same_numbers, read_csv

MINIMAL = "models/minimal_loop.toml"
LOOP_C = "models/il6_stat3_notch.toml"
PLATE = "examples/plates/synergy_example.csv"
TWO_BLOCKS = "examples/plates/synergyfinder_two_blocks.csv"


def place(e: rl.ResloopError):
    return (e.file, e.line, e.field)


# --- models --------------------------------------------------------------------------


def test_load_model_matches_check(cli):
    m = rl.load_model(MINIMAL)
    printed = cli("check", MINIMAL).stdout
    assert printed.startswith(m.summary)
    assert m.name == "minimal_loop"
    assert {"name", "value", "unit", "lower", "upper", "provenance"} <= set(m.parameters.columns)
    assert len(m.species) > 0 and list(m.drugs["name"]) == ["tki", "hdaci"]
    assert str(m) == m.summary


def test_model_error_carries_file_line_field(tmp_path):
    text = Path(MINIMAL).read_text()
    bad = tmp_path / "bad.toml"
    lines = text.splitlines()
    k = next(i for i, l in enumerate(lines) if l.startswith("rate = "))
    lines[k] = 'rate = "no_such_name * 2"'
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(rl.ResloopError) as e:
        rl.load_model(bad)
    assert e.value.file == str(bad)
    assert e.value.line == k + 1
    assert e.value.field is not None and e.value.field.endswith(".rate")
    assert "no_such_name" in e.value.message


def test_check_strict_refuses_warnings(tmp_path, cli):
    lines = Path(MINIMAL).read_text().splitlines()
    k = next(i for i, l in enumerate(lines) if l.startswith("provenance = "))
    del lines[k]
    p = tmp_path / "m.toml"
    p.write_text("\n".join(lines) + "\n")
    assert rl.check(p).warnings
    with pytest.raises(rl.ResloopError, match="warning"):
        rl.check(p, strict=True)
    assert cli("check", "--strict", p, ok=False).returncode != 0


def test_missing_file_is_an_error():
    with pytest.raises(rl.ResloopError) as e:
        rl.load_model("models/no_such_model.toml")
    assert e.value.file == "models/no_such_model.toml" and e.value.line is None


# --- simulate --------------------------------------------------------------------------


def test_simulate_equals_cli(tmp_path, cli):
    sim = rl.simulate(MINIMAL, 30, doses=["tki=1uM@72h"], params={"ic50_drug": 0.07}, points=120)
    cli("simulate", MINIMAL, "--days", 30, "--dose", "tki=1uM@72h", "--set", "ic50_drug=0.07",
        "--points", 120, "--no-plot", "--out", tmp_path / "cli")
    assert_same_numbers(sim.timeline, read_csv(tmp_path / "cli/timeline.csv"))
    assert sim.engine == "hybrid"  # the model has genotypes
    w = sim.wide()
    assert w.shape[0] == 121
    total = sim.series("total", "cells")
    assert len(total) == 121 and total.iloc[0] == rl.load_model(MINIMAL).initial_cells


def test_simulate_out_writes_the_cli_files(tmp_path):
    sim = rl.simulate(MINIMAL, 10, doses={"tki": "1uM@72h"}, out=tmp_path / "py")
    assert_same_numbers(sim.timeline, read_csv(tmp_path / "py/timeline.csv"))
    assert (tmp_path / "py/manifest.json").is_file()


def test_simulate_hybrid_seed_equals_cli(tmp_path, cli):
    sim = rl.simulate(LOOP_C, 20, doses=["trastuzumab=10ng/ml@72h"], engine="hybrid", seed=7, points=40)
    cli("simulate", LOOP_C, "--days", 20, "--dose", "trastuzumab=10ng/ml@72h", "--engine", "hybrid",
        "--seed", 7, "--points", 40, "--no-plot", "--out", tmp_path / "cli")
    assert_same_numbers(sim.timeline, read_csv(tmp_path / "cli/timeline.csv"))


ABM = dict(days=14, doses=["tki=1uM@72h"], engine="agent-based", cells=2000, points=56)
ABM_CLI = ("--days", 14, "--dose", "tki=1uM@72h", "--engine", "agent-based", "--cells", 2000,
           "--points", 56, "--no-plot")


def test_simulate_replicates_equal_cli(tmp_path, cli):
    sim = rl.simulate(MINIMAL, **ABM, replicates=3, seed=5)
    cli("simulate", MINIMAL, *ABM_CLI, "--replicates", 3, "--seed", 5, "--out", tmp_path / "cli")
    assert_same_numbers(sim.timeline, read_csv(tmp_path / "cli/timeline.csv"))
    assert list(sim.timeline.columns) == ["replicate", "time", "population", "variable", "value"]
    assert sorted(sim.timeline.replicate.unique()) == [0, 1, 2]
    finals = [sim.series("total", "cells", replicate=r).iloc[-1] for r in range(3)]
    assert len(set(finals)) == 3  # stochastic: the replicates differ
    # Replicate 0 is the run without replicates (a pure function of inputs, seed and r).
    one = rl.simulate(MINIMAL, **ABM, seed=5)
    assert "replicate" not in one.timeline.columns
    assert_same_numbers(one.timeline, sim.timeline[sim.timeline.replicate == 0].drop(columns="replicate"))
    assert sim.series("total", "cells").equals(one.series("total", "cells"))


def test_simulate_replicates_out_writes_the_cli_files(tmp_path):
    sim = rl.simulate(MINIMAL, **ABM, replicates=2, seed=9, out=tmp_path / "py")
    assert_same_numbers(sim.timeline, read_csv(tmp_path / "py/timeline.csv"))
    assert json.loads((tmp_path / "py/manifest.json").read_text())["replicates"] == 2


def test_simulate_mean_field_runs_once_whatever_the_replicates(tmp_path, cli):
    sim = rl.simulate(MINIMAL, 10, engine="mean-field", replicates=3, points=20)
    cli("simulate", MINIMAL, "--days", 10, "--engine", "mean-field", "--replicates", 3,
        "--points", 20, "--drug-free", "--no-plot", "--out", tmp_path / "cli")
    assert "replicate" not in sim.timeline.columns
    assert_same_numbers(sim.timeline, read_csv(tmp_path / "cli/timeline.csv"))


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(replicates=0), "replicates"),
        (dict(doses=["tki=1 parsec@72h"]), "tki=1 parsec@72h"),
        (dict(params={"no_such_parameter": 1.0}), "no_such_parameter"),
        (dict(method="euler"), "euler"),
        (dict(engine="quantum"), "quantum"),
        (dict(rtol=2.0), "rtol"),
    ],
)
def test_simulate_bad_input(kwargs, text):
    with pytest.raises(rl.ResloopError, match=text):
        rl.simulate(MINIMAL, 10, **kwargs)


def test_limits_are_the_cli_limits(tmp_path, cli):
    try:
        rl.set_limits(days=20)
        with pytest.raises(rl.ResloopError, match="days"):
            rl.simulate(MINIMAL, 30)
        assert cli("--limit", "days=20", "simulate", MINIMAL, "--days", 30, "--out", tmp_path / "x",
                   ok=False).returncode != 0
        with pytest.raises(rl.ResloopError, match="parsecs"):
            rl.set_limits(parsecs=3)
    finally:
        rl.set_limits()
    assert len(rl.simulate(MINIMAL, 30, points=10).timeline) > 0


# --- therapy and compare ---------------------------------------------------------------


SCHEDULE = "models/schedules/minimal_loop_combo_on_relapse.toml"


def test_therapy_equals_cli(tmp_path, cli):
    run = rl.therapy(MINIMAL, SCHEDULE)
    cli("therapy", MINIMAL, SCHEDULE, "--no-plot", "--out", tmp_path / "cli")
    assert_same_numbers(run.timeline, read_csv(tmp_path / "cli/timeline.csv"))
    assert_same_numbers(run.events, read_csv(tmp_path / "cli/events.csv"))
    summary = json.loads((tmp_path / "cli/summary.json").read_text())
    assert run.summary[0] == summary
    assert run.story == summary["story"]


def test_therapy_schedule_dict_is_the_file(tmp_path):
    as_dict = tomllib.loads(Path(SCHEDULE).read_text())
    a = rl.therapy(MINIMAL, SCHEDULE)
    b = rl.therapy(MINIMAL, as_dict)
    assert_same_numbers(a.timeline, b.timeline)
    assert a.summary == b.summary


def test_therapy_replicates_seed_equals_cli(tmp_path, cli):
    sched = "models/schedules/il6_stat3_notch_top_dose.toml"
    run = rl.therapy(LOOP_C, sched, engine="hybrid", replicates=3, seed=5)
    cli("therapy", LOOP_C, sched, "--engine", "hybrid", "--replicates", 3, "--seed", 5, "--no-plot",
        "--out", tmp_path / "cli")
    assert_same_numbers(run.timeline, read_csv(tmp_path / "cli/timeline.csv"))
    assert run.ensemble["replicates"] == 3
    assert sorted(run.timeline["replicate"].unique()) == [0, 1, 2]


def test_schedule_dict_error_names_the_field():
    s = tomllib.loads(Path(SCHEDULE).read_text())
    s["schedule"]["duration"] = "ten weeks"
    with pytest.raises(rl.ResloopError) as e:
        rl.therapy(MINIMAL, s)
    assert e.value.file.startswith("<schedule dict")
    assert e.value.field == "schedule.duration"
    text = rl.schedule_toml(s)
    assert 'duration = "ten weeks"' in text.splitlines()[e.value.line - 1]


def test_schedule_file_error_names_file_line_field(tmp_path):
    text = Path(SCHEDULE).read_text().replace("[[drug]]\nname = \"tki\"", "[[drug]]\nname = \"aspirin\"", 1)
    assert "aspirin" in text
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(rl.ResloopError) as e:
        rl.therapy(MINIMAL, p)
    assert e.value.file == str(p)
    assert text.splitlines()[e.value.line - 1].strip() == 'name = "aspirin"'
    assert e.value.field is not None and "name" in e.value.field


def test_therapy_bad_settings():
    with pytest.raises(rl.ResloopError, match="replicates"):
        rl.therapy(MINIMAL, SCHEDULE, replicates=0)
    with pytest.raises(TypeError):
        rl.therapy(MINIMAL, SCHEDULE, params=[("x", 1)])


def test_compare_equals_cli(tmp_path, cli):
    scheds = ["models/schedules/il6_stat3_notch_continuous.toml",
              "models/schedules/il6_stat3_notch_ly411575_relapse.toml"]
    c = rl.compare(LOOP_C, scheds, out=tmp_path / "py")
    cli("compare", LOOP_C, *scheds, "--no-plot", "--out", tmp_path / "cli")
    assert_same_numbers(c.table, read_csv(tmp_path / "cli/compare.csv"))
    assert set(c.runs) == {"il6_stat3_notch_continuous", "il6_stat3_notch_ly411575_relapse"}
    for name, run in c.runs.items():
        assert_same_numbers(run.timeline, read_csv(tmp_path / "cli" / name / "timeline.csv"))


def test_compare_refuses_two_schedules_of_one_name():
    with pytest.raises(rl.ResloopError, match="both named"):
        rl.compare(MINIMAL, [SCHEDULE, SCHEDULE])


# --- agent-based --------------------------------------------------------------------------


def test_abm_equals_cli_and_threads_do_not_matter(tmp_path, cli):
    kw = dict(cells=2000, replicates=4, seed=3, days=12, doses=["tki=1uM@72h"])
    a = rl.abm(MINIMAL, threads=1, **kw)
    b = rl.abm(MINIMAL, threads=2, **kw)
    cli("abm", MINIMAL, "--cells", 2000, "--replicates", 4, "--seed", 3, "--days", 12,
        "--dose", "tki=1uM@72h", "--no-plot", "--out", tmp_path / "cli")
    for name, table in a.tables.items():
        assert_same_numbers(table, read_csv(tmp_path / "cli" / f"{name}.csv"))
        assert_same_numbers(table, b.tables[name])
    assert a.summary["replicates"] == 4
    assert a.timeline is not None and a.clones is not None


def test_abm_schedule_dict_and_errors(tmp_path):
    s = tomllib.loads(Path(SCHEDULE).read_text())
    s["schedule"]["duration"] = "10d"
    r = rl.abm(MINIMAL, s, cells=500, replicates=2, mode="hybrid", out=tmp_path / "o")
    assert (tmp_path / "o/schedule.toml").is_file() and r.summary["replicates"] == 2
    with pytest.raises(rl.ResloopError, match="integrator"):
        rl.abm(MINIMAL, integrator="leapfrog")
    with pytest.raises(rl.ResloopError, match="cells"):
        rl.abm(MINIMAL, cells=0.5)


# --- synergy and checkerboards ---------------------------------------------------------------


def test_synergy_dataframe_equals_cli(tmp_path, cli):
    plate = pd.read_csv(PLATE)
    res = rl.synergy(plate, bootstrap=50, seed=4)
    cli("synergy", PLATE, "--bootstrap", 50, "--seed", 4, "--no-plot", "--out", tmp_path / "cli")
    assert_same_numbers(res.scores, read_csv(tmp_path / "cli/scores.csv"))
    assert set(res.scores["method"]) == {"bliss", "bliss_hill", "hsa", "loewe", "zip", "ci", "musyc"}
    assert res.scores["ci_lo"].notna().any()
    assert set(res.summary["method"]) == set(res.scores["method"])


def test_synergy_blocks_and_percent_inhibition(tmp_path, cli):
    res = rl.synergy(TWO_BLOCKS, methods="bliss,hsa", out=tmp_path / "py")
    cli("synergy", TWO_BLOCKS, "--methods", "bliss,hsa", "--no-plot", "--out", tmp_path / "cli")
    for block, df in res.scores.groupby("block", sort=False):
        cli_df = read_csv(next((tmp_path / "cli").glob(f"block-{block}/scores.csv")))
        assert_same_numbers(df.drop(columns="block"), cli_df)


def test_synergy_plate_error_has_line_and_field():
    plate = pd.read_csv(PLATE)
    plate.loc[5, "dose_a"] = -1.0
    with pytest.raises(rl.ResloopError) as e:
        rl.synergy(plate)
    assert e.value.file == "<DataFrame>"
    assert e.value.line == 5 + 2  # header is line 1
    assert e.value.field == "dose_a"
    with pytest.raises(rl.ResloopError, match="unknown synergy method"):
        rl.synergy(PLATE, methods="magic")


def test_checkerboard_equals_cli(tmp_path, cli):
    args = ("tki", [0, 0.1, 0.3, 1, 3], "hdaci", "0,10nM,30nM,100nM")
    cb = rl.checkerboard(MINIMAL, *args, state="initial")
    cli("checkerboard", MINIMAL, "--drug-a", "tki", "--doses-a", "0,0.1,0.3,1,3", "--drug-b", "hdaci",
        "--doses-b", "0,10nM,30nM,100nM", "--state", "initial", "--out", tmp_path / "cli")
    assert_same_numbers(cb.plate, read_csv(tmp_path / "cli/plate.csv"))
    assert_same_numbers(cb.scores.scores, read_csv(tmp_path / "cli/scores.csv"))
    with pytest.raises(rl.ResloopError, match="the model has no drug `aspirin`"):
        rl.checkerboard(MINIMAL, "aspirin", [0, 1], "hdaci", [0, 1], state="initial")


# --- sweeps, sensitivity, facts ---------------------------------------------------------------


def test_sweep_and_sensitivity_equal_cli(tmp_path, cli):
    sw = "models/sweeps/minimal_loop_sobol.toml"
    s = rl.sweep(sw, tmp_path / "py", threads=2)
    cli("sweep", sw, "--threads", 2, "--out", tmp_path / "cli")
    runs = read_csv(tmp_path / "cli/runs.csv")
    assert_same_numbers(s.runs.drop(columns=["status", "error"]), runs.drop(columns=["status", "error"]))
    assert list(s.runs["status"]) == list(runs["status"])
    idx = s.sensitivity(resamples=200)
    cli("sensitivity", tmp_path / "cli", "--resamples", 200, "--no-plots")
    cli_idx = read_csv(tmp_path / "cli/sensitivity/indices.csv")
    py = idx[["metric", "parameter", "index", "value"]]
    assert_same_numbers(py, cli_idx[["metric", "parameter", "index", "value"]])
    assert idx.attrs["method"] == "sobol"


def test_sweep_in_memory_and_threads():
    sw = "models/sweeps/minimal_loop_dose_grid.toml"
    a = rl.sweep(sw, threads=1)
    b = rl.sweep(sw, threads=2)
    assert len(a.runs) == 36
    assert_same_numbers(a.runs, b.runs)


def test_sweep_error_names_the_field(tmp_path):
    text = Path("models/sweeps/minimal_loop_dose_grid.toml").read_text()
    p = tmp_path / "s.toml"
    p.write_text(text.replace('name = "tki_uM"\nlo = 0.01', 'name = "tki_uM"\nlo = "low"'))
    shutil.copy("models/minimal_loop.toml", tmp_path / "minimal_loop.toml")
    p.write_text(p.read_text().replace("../minimal_loop.toml", "minimal_loop.toml"))
    with pytest.raises(rl.ResloopError) as e:
        rl.sweep(p)
    assert e.value.file == str(p) and e.value.line is not None


def test_sensitivity_bad_options(tmp_path):
    with pytest.raises(rl.ResloopError, match="confidence"):
        rl.sensitivity(tmp_path, confidence=1.5)
    with pytest.raises(rl.ResloopError):
        rl.sensitivity(tmp_path)  # not a sweep folder


def test_validate_equals_cli(tmp_path, cli):
    df = rl.validate(MINIMAL, out=tmp_path / "py")
    cli("validate", MINIMAL, "--out", tmp_path / "cli")
    cli_df = read_csv(tmp_path / "cli/validate.csv")
    assert list(df["fact"]) == list(cli_df["fact"])
    assert list(df.columns) == list(cli_df.columns)
    assert list(df["status"]) == list(cli_df["status"])
    assert list(df["role"]) == list(cli_df["role"])
    assert list(df["bound"].fillna("")) == list(cli_df["bound"].fillna(""))
    np.testing.assert_array_equal(df["value"].to_numpy(), cli_df["value"].to_numpy())
    assert (tmp_path / "py/validate.csv").read_text() == (tmp_path / "cli/validate.csv").read_text()


def test_validate_errors():
    with pytest.raises(rl.ResloopError, match="mean-field or hybrid"):
        rl.validate(MINIMAL, engine="agent-based")
    with pytest.raises(rl.ResloopError) as e:
        rl.validate("models/no_such.toml")
    assert e.value.file == "models/no_such.facts.toml"


# --- the boundary ------------------------------------------------------------------------------


def test_gil_is_released_while_simulating():
    """Another Python thread keeps running while a sweep simulates: it could not
    wake up inside the native call if that held the GIL (it would only run in the
    few milliseconds of Python around it, which the margins leave out)."""
    stamps = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    windows = []
    try:
        while sum(t1 - t0 for t0, t1 in windows) < 1.0:
            t0 = time.perf_counter()
            rl.sweep("python/bench/sweep_1000.toml", threads=1)
            windows.append((t0, time.perf_counter()))
    finally:
        done.set()
        ticker.join()
    margin = 0.05
    inside = [s for s in stamps if any(t0 + margin < s < t1 - margin for t0, t1 in windows)]
    assert len(inside) >= 100
