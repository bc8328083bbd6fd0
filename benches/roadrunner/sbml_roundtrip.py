"""Round trip through SBML, checked against libRoadRunner.

Each case is a model file and the flags of a run (`--days`, `--dose`, `--set`,
`--cells`, as `resloop simulate` takes them). `resloop export` writes the model
under that run as SBML L3V2 (the population ODE of the mean-field engine, the
drugs' kinetics and the doses as events), libRoadRunner (CVODE) loads and
simulates it, `resloop simulate --engine mean-field` runs the model itself, both
at rtol 1e-8 (atol 1e-12) on the same output grid. Every column of resloop's
timeline (each genotype's species, observables, cells, division and death rates,
the total, the drug exposures) is found in the SBML through the annotation the
export writes on each quantity. The script prints, per case, the largest relative
difference over all of them at every output time (values below atol / rtol,
where both solvers control the absolute error, and below 1e-6 of the variable's
peak, solver noise for both, are skipped). It fails when the difference of a state variable (loop species, cell
counts, drug concentrations) exceeds --max-rel (default 1e-5) with CVODE's Adams
method, or when an export does not load. The observables and rates (functions of
the state, where a difference of larger terms magnifies relative errors) and
CVODE's BDF method are reported beside.

Without cases it runs every model in models/ (not *.facts.toml) under its
[scenario], and the in vivo cases below (mg/kg boluses).

Usage (the venv comes from benches/roadrunner/venv.sh):
  benches/roadrunner/.venv/bin/python benches/roadrunner/sbml_roundtrip.py \
      --resloop target/release/resloop
  benches/roadrunner/.venv/bin/python benches/roadrunner/sbml_roundtrip.py \
      --resloop target/release/resloop \
      "models/minimal_loop.toml --days 28 --dose tki=25mg/kg@24h"
"""

import argparse
import csv
import glob
import os
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import roadrunner

# Solver tolerances (both tools), set by --rtol and --atol.
RTOL = 1e-8
ATOL = 1e-12
NS = {"sbml": "http://www.sbml.org/sbml/level3/version2/core"}
RESLOOP_NS = "urn:resloop:sbml-export:1"

# Boluses (one-compartment in vivo kinetics) on the models whose drugs have them;
# the scenarios are all in vitro.
IN_VIVO = [
    "models/minimal_loop.toml --days 28 --dose tki=25mg/kg@24h --dose hdaci=10nM@72h",
    "models/mir34a_axl.toml --days 60 --dose ceritinib=50mg/kg@24h --dose panobinostat=5mg/kg@84h",
    "models/mir150_itgb3_fak.toml --days 42 --dose auy922=10mg/kg@56hx12 --dose tae226=30mg/kg@24h",
]
SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def resloop_timeline(exe, model, flags, points, out):
    subprocess.run(
        [exe, "simulate", model, *flags, "--engine", "mean-field", "--points", str(points),
         "--rtol", str(RTOL), "--atol", str(ATOL), "--no-plot", "--quiet", "--out", out],
        check=True)
    series = {}
    with open(os.path.join(out, "timeline.csv")) as f:
        for row in csv.DictReader(f):
            key = (row["population"], row["variable"])
            series.setdefault(key, []).append(float(row["value"]))
    with open(os.path.join(out, "manifest.json")) as f:
        import json
        days = json.load(f)["days"]
    return series, days


# Roles (the export's annotation) of the ODE's state: loop species, cell counts and
# drug concentrations. The rest (observables, division and death rates) are
# functions of the state, reported beside: a rate near zero that is the
# difference of larger terms magnifies the state's relative error.
STATE = {"species", "cells", "total cells", "drug"}


def columns(xml):
    """(population, variable) -> (SBML id, whether it is state), from the export's
    annotations; and the model's time unit in seconds."""
    root = ET.parse(xml).getroot()
    model = root.find("sbml:model", NS)
    found = {}
    for el in model.iter():
        for q in el.findall("sbml:annotation/{%s}quantity" % RESLOOP_NS, NS):
            var = q.get("{%s}variable" % RESLOOP_NS)
            state = q.get("{%s}role" % RESLOOP_NS) in STATE
            # A quantity the genotypes share lists each of them.
            for p in (q.get("{%s}population" % RESLOOP_NS) or "").split():
                found[(p, var)] = (el.get("id"), state)
    return found, SECONDS[model.get("timeUnits")]


def largest_difference(mine, keys, res):
    """Largest relative difference of libRoadRunner's `res` from resloop's series,
    and where."""
    worst, where = 0.0, ""
    for j, k in keys:
        peak = max(abs(v) for v in mine[k])
        for i, want in enumerate(mine[k]):
            got = res[i, j + 1]
            # Below atol / rtol both solvers control the absolute error (atol), not
            # the relative one; below 1e-6 of the variable's peak a decayed value
            # is solver noise for both.
            if max(abs(got), abs(want)) < max(ATOL / RTOL, 1e-6 * peak):
                continue
            rel = abs(got - want) / abs(want) if want != 0 else abs(got)
            if rel > worst:
                worst, where = rel, f"{k[0]}/{k[1]} at t = {res[i, 0]:g}"
    return worst, where


def run_case(exe, case, points, tmp):
    """Export and simulate one case; the largest differences with CVODE's Adams and
    BDF methods."""
    words = shlex.split(case)
    model, flags = words[0], words[1:]
    xml = os.path.join(tmp, "model.xml")
    subprocess.run([exe, "export", model, *flags, "--quiet", "--out", xml], check=True)
    mine, days = resloop_timeline(exe, model, flags, points, os.path.join(tmp, "run"))
    ids, unit_seconds = columns(xml)
    missing = [k for k in mine if k not in ids]
    if missing:
        raise SystemExit(f"{case}: timeline columns missing from the export: {missing[:5]}")
    keys = list(mine)
    state = [(j, k) for j, k in enumerate(keys) if ids[k][1]]
    derived = [(j, k) for j, k in enumerate(keys) if not ids[k][1]]
    t_end = days * 86400.0 / unit_seconds
    out = {}
    for method, stiff in (("adams", False), ("bdf", True)):
        started = time.perf_counter()
        rr = roadrunner.RoadRunner(xml)
        rr.integrator.relative_tolerance = RTOL
        rr.integrator.absolute_tolerance = ATOL
        rr.integrator.setValue("maximum_num_steps", 10**6)
        rr.integrator.setValue("stiff", stiff)
        res = rr.simulate(0, t_end, points + 1, ["time"] + [ids[k][0] for k in keys])
        secs = time.perf_counter() - started
        out[method] = (largest_difference(mine, state, res),
                       largest_difference(mine, derived, res), secs)
    return len(keys), out


def main():
    global RTOL, ATOL
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*", help='"MODEL [simulate flags]" (default: every '
                    "shipped model under its scenario, and the in vivo cases)")
    ap.add_argument("--resloop", default="target/release/resloop")
    ap.add_argument("--points", type=int, default=400)
    ap.add_argument("--max-rel", type=float, default=1e-5)
    ap.add_argument("--rtol", type=float, default=RTOL)
    ap.add_argument("--atol", type=float, default=ATOL)
    a = ap.parse_args()
    RTOL, ATOL = a.rtol, a.atol
    cases = a.cases or sorted(
        m for m in glob.glob("models/*.toml") if not m.endswith(".facts.toml")) + IN_VIVO
    worst_all = 0.0
    print(f"libroadrunner {roadrunner.__version__}, rtol {RTOL:g}, atol {ATOL:g}, "
          f"{a.points + 1} output times; the check is the state (species, cells, drugs) "
          f"with CVODE's Adams method (the shipped models are not stiff); BDF and the "
          f"observables and rates are shown beside it")
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            n, out = run_case(a.resloop, case, a.points, tmp)
        print(f"{case}: {n} columns")
        for method in ("adams", "bdf"):
            (worst, where), (dworst, dwhere), secs = out[method]
            print(f"  {method:5}: state {worst:.2e} ({where or 'none'}); observables and "
                  f"rates {dworst:.2e} ({dwhere or 'none'}); libRoadRunner {secs:.2f} s")
        worst_all = max(worst_all, out["adams"][0][0])
    if worst_all > a.max_rel:
        print(f"FAIL: {worst_all:.2e} > {a.max_rel:.0e}", file=sys.stderr)
        sys.exit(1)
    print(f"all cases within {a.max_rel:.0e} (largest {worst_all:.2e})")


if __name__ == "__main__":
    main()
