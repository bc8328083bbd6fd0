"""Round trip through SBML, checked against libRoadRunner.

For each resloop model file given (a plain ODE model, e.g. one written by
`resloop import`): `resloop export` writes SBML L3V2, libRoadRunner (CVODE) loads
and simulates it, `resloop simulate` runs the model itself, both at rtol 1e-8
(atol 1e-12) on the same output grid; the script prints the largest relative
difference over every species and observable (values below 1e-6 of the
variable's peak or within 1000 x atol of zero, solver noise for both, are skipped), and fails when it exceeds --max-rel (default
1e-5) or when the export does not load.

Usage (the venv comes from benches/roadrunner/setup.sh, or any Python with
libroadrunner):
  benches/roadrunner/.venv/bin/python benches/roadrunner/sbml_roundtrip.py \
      --resloop target/release/resloop --days 4 out/goodwin.toml
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile

import roadrunner

RTOL = 1e-8
ATOL = 1e-12


def resloop_timeline(exe, model, days, points, out):
    subprocess.run(
        [exe, "simulate", model, "--days", str(days), "--points", str(points),
         "--rtol", str(RTOL), "--atol", str(ATOL), "--no-plot", "--out", out],
        check=True, stdout=subprocess.DEVNULL)
    series = {}
    with open(os.path.join(out, "timeline.csv")) as f:
        for row in csv.DictReader(f):
            if row["population"] == "exposure":
                continue
            series.setdefault(row["variable"], []).append(float(row["value"]))
    return series


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--resloop", default="target/release/resloop")
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--max-rel", type=float, default=1e-5)
    a = ap.parse_args()
    worst_all = 0.0
    for model in a.models:
        with tempfile.TemporaryDirectory() as tmp:
            xml = os.path.join(tmp, "model.xml")
            subprocess.run([a.resloop, "export", model, "--out", xml], check=True,
                           stdout=subprocess.DEVNULL)
            mine = resloop_timeline(a.resloop, model, a.days, a.points, os.path.join(tmp, "run"))
            rr = roadrunner.RoadRunner(xml)
            rr.integrator.relative_tolerance = RTOL
            rr.integrator.absolute_tolerance = ATOL
            # The exported model keeps resloop's time unit; --days converts to it.
            with open(model) as f:
                text = f.read()
            per_day = {"seconds": 86400.0, "minutes": 1440.0, "hours": 24.0, "days": 1.0}
            tu = next(v for k, v in per_day.items() if f'time_unit = "{k}"' in text)
            t_end = a.days * tu
            names = [n for n in mine if n in rr.model.getFloatingSpeciesIds()
                     or n in rr.model.getGlobalParameterIds()]
            res = rr.simulate(0, t_end, a.points + 1, ["time"] + names)
            worst, where = 0.0, ""
            for j, n in enumerate(names):
                peak = max(abs(v) for v in mine[n])
                for k, want in enumerate(mine[n]):
                    got = res[k, j + 1]
                    # Values that have decayed below 1e-6 of the variable's peak (or
                    # within 1000 x atol of zero) are solver noise for both.
                    if max(abs(got), abs(want)) < max(1e3 * ATOL, 1e-6 * peak):
                        continue
                    rel = abs(got - want) / abs(want) if want != 0 else abs(got)
                    if rel > worst:
                        worst, where = rel, f"{n} at t = {res[k, 0]}"
            print(f"{model}: {len(names)} variables, max relative difference {worst:.2e} ({where or 'none'})")
            worst_all = max(worst_all, worst)
    if worst_all > a.max_rel:
        print(f"FAIL: {worst_all:.2e} > {a.max_rel:.0e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
