"""libRoadRunner (CVODE) side of benches/stiff.rs: the same problems, the same
tolerances, timed the same way (best CPU time of several runs of the simulation alone,
model loading excluded), results written as JSON for the Rust bench to score.

Problems (the equations are those of src/engine/ode/testset.rs and
benches/il6_loop.toml, written here in Antimony):

- ROBER, HIRES, OREGO, POLLU (Bari "Test Set for IVP Solvers"): final state.
- IL6_LOOP: benches/il6_loop.toml's population ODE under 105 escalating
  trastuzumab boluses (one-compartment PK as a rate rule plus one event per dose),
  1000 output intervals over 365 days: the state at every output time.
- SBML files listed in --sbml-jobs (a JSON list of {name, sbml, t_end, points, ids,
  atol_per_rtol}): the shipped models as `resloop export` writes them (the bench
  makes the files), simulated from 0 to t_end (the file's time unit) with `points`
  output intervals, the species `ids` at every output time, atol = rtol x
  atol_per_rtol.

Usage: compare.py --out FILE [--rtols 1e-4,1e-6,...] [--min-seconds S]
                  [--problems ROBER,...] [--sbml-jobs FILE]
"""

import argparse
import json
import math
import sys
import time

import antimony
import roadrunner

HILL = """
function hill(x, K, n)
  x^n / (K^n + x^n)
end
function hill_rep(x, K, n)
  K^n / (K^n + x^n)
end
"""

ROBER = """
model rober
  y1' = -0.04*y1 + 1e4*y2*y3
  y2' = 0.04*y1 - 1e4*y2*y3 - 3e7*y2^2
  y3' = 3e7*y2^2
  y1 = 1; y2 = 0; y3 = 0
end
"""

HIRES = """
model hires
  y1' = -1.71*y1 + 0.43*y2 + 8.32*y3 + 0.0007
  y2' = 1.71*y1 - 8.75*y2
  y3' = -10.03*y3 + 0.43*y4 + 0.035*y5
  y4' = 8.32*y2 + 1.71*y3 - 1.12*y4
  y5' = -1.745*y5 + 0.43*(y6 + y7)
  y6' = -280*y6*y8 + 0.69*y4 + 1.71*y5 - 0.43*y6 + 0.69*y7
  y7' = 280*y6*y8 - 1.81*y7
  y8' = -(280*y6*y8 - 1.81*y7)
  y1 = 1; y2 = 0; y3 = 0; y4 = 0; y5 = 0; y6 = 0; y7 = 0; y8 = 0.0057
end
"""

OREGO = """
model orego
  y1' = 77.27*(y2 + y1*(1 - 8.375e-6*y1 - y2))
  y2' = (y3 - (1 + y1)*y2)/77.27
  y3' = 0.161*(y1 - y3)
  y1 = 1; y2 = 2; y3 = 3
end
"""

POLLU_K = [0.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9e3,
           2.2e-2, 1.2e4, 1.88, 1.63e4, 4.8e6, 3.5e-4, 1.75e-2, 1e8, 4.44e11, 1.24e3,
           2.1, 5.78, 4.74e-2, 1.78e3, 3.12]
# Reaction i: (rate law in y's, 1-based as published).
POLLU_R = ["y1", "y2*y4", "y5*y2", "y7", "y7", "y7*y6", "y9", "y9*y6", "y11*y2",
           "y11*y1", "y13", "y10*y2", "y14", "y1*y6", "y3", "y4", "y4", "y16", "y16",
           "y17*y6", "y19", "y19", "y1*y4", "y19*y1", "y20"]
POLLU_F = [
    "-r1-r10-r14-r23-r24+r2+r3+r9+r11+r12+r22+r25",
    "-r2-r3-r9-r12+r1+r21",
    "-r15+r1+r17+r19+r22",
    "-r2-r16-r17-r23+r15",
    "-r3+2*r4+r6+r7+r13+r20",
    "-r6-r8-r14-r20+r3+2*r18",
    "-r4-r5-r6+r13",
    "r4+r5+r6+r7",
    "-r7-r8",
    "-r12+r7+r9",
    "-r9-r10+r8+r11",
    "r9",
    "-r11+r10",
    "-r13+r12",
    "r14",
    "-r18-r19+r16",
    "-r20",
    "r20",
    "-r21-r22-r24+r23+r25",
    "-r25+r24",
]
POLLU_Y0 = {2: 0.2, 4: 0.04, 7: 0.1, 8: 0.3, 9: 0.01, 17: 0.007}


def pollu():
    lines = ["model pollu"]
    for i, (k, law) in enumerate(zip(POLLU_K, POLLU_R), start=1):
        lines.append(f"  r{i} := {k!r}*{law}")
    for i, f in enumerate(POLLU_F, start=1):
        lines.append(f"  y{i}' = {f}")
    for i in range(1, 21):
        lines.append(f"  y{i} = {POLLU_Y0.get(i, 0.0)!r}")
    lines.append("end")
    return "\n".join(lines)


# benches/il6_loop.toml, parameter values and rates as written there.
IL6_PARAMS = {
    "k_akt": 24.0, "k_open_stress": 0.01, "k_open_stat3": 0.1, "K_locus": 0.1,
    "n_locus": 4.0, "k_close": 0.01, "k_il6": 4.0, "il6_basal": 0.01, "il6_max": 9.0,
    "g_closed": 0.02, "K_notch_il6": 3.0, "k_jak": 48.0, "K_il6_jak": 1.0,
    "k_phos": 100.0, "k_dephos": 400.0, "jak_basal": 0.06, "k_stat3_turnover": 0.5,
    "k_jag1": 3.0, "jag1_basal": 0.5, "jag1_stat3": 21.0, "k_notch": 6.0,
    "notch_basal": 0.583, "notch_jag1": 10.83, "K_jag1_notch": 5.0, "k_hey1": 4.0,
    "hey1_basal": 0.152, "hey1_notch": 55.1, "K_notch_hey1": 8.0, "k_emt": 0.05,
    "K_notch_emt": 2.5, "ic50_trastuzumab": 5.0, "r_div": 0.75, "d_basal": 0.02,
    "k_kill": 1.2, "w_stat3": 5.0, "K_survival": 0.37,
}
IL6_SPECIES = [
    ("AKT", 1.0, "k_akt * ((1 - her2_block) - AKT)"),
    ("IL6_enhancer", 0.013,
     "(k_open_stress * (1 - AKT) + k_open_stat3 * hill(pSTAT3, K_locus, n_locus)) * (1 - IL6_enhancer) - k_close * IL6_enhancer"),
    ("IL6", 0.04,
     "k_il6 * (il6_basal + il6_max * (g_closed + IL6_enhancer) / (g_closed + 1) * hill(NOTCH, K_notch_il6, 2) - IL6)"),
    ("JAK2", 0.04, "k_jak * (hill(IL6, K_il6_jak, 1) - JAK2)"),
    ("STAT3", 0.976,
     "k_dephos * pSTAT3 - k_phos * (jak_basal + JAK2) * STAT3 + k_stat3_turnover * (1 - STAT3 - pSTAT3)"),
    ("pSTAT3", 0.024,
     "k_phos * (jak_basal + JAK2) * STAT3 - k_dephos * pSTAT3 - k_stat3_turnover * pSTAT3"),
    ("JAG1", 1.0, "k_jag1 * (jag1_basal + jag1_stat3 * pSTAT3 - JAG1)"),
    ("NOTCH", 1.0,
     "k_notch * (notch_basal + notch_jag1 * hill(JAG1, K_jag1_notch, 2) - NOTCH)"),
    ("HEY1", 1.0, "k_hey1 * (hey1_basal + hey1_notch * hill(NOTCH, K_notch_hey1, 2) - HEY1)"),
    ("EMT", 0.06, "k_emt * (hill(NOTCH, K_notch_emt, 3) - EMT)"),
]
# Dosing: 105 boluses every 3.5 days, escalating 1 + 0.1 k mg/kg (k = 0..104);
# volume 0.1 L/kg so a 1 mg/kg bolus adds 10 ug/ml; half-life 1 day.
IL6_DOSES = [(3.5 * k, 1.0 + 0.1 * k) for k in range(105)]
IL6_VOLUME = 0.1
IL6_HALF_LIFE = 1.0
IL6_CELLS0 = 1.0e6
IL6_CAPACITY = 1.0e9
IL6_DAYS = 365.0
IL6_POINTS = 1000


def il6_loop():
    lines = [HILL, "model il6_loop"]
    for name, value in IL6_PARAMS.items():
        lines.append(f"  {name} = {value!r}")
    lines.append(f"  k_el = {math.log(2) / IL6_HALF_LIFE!r}")
    lines.append("  her2_block := hill(C, ic50_trastuzumab, 1)")
    lines.append("  survival := AKT + w_stat3 * pSTAT3")
    lines.append(f"  crowd := piecewise(1 - N / {IL6_CAPACITY!r}, N < {IL6_CAPACITY!r}, 0)")
    for name, init, rate in IL6_SPECIES:
        lines.append(f"  {name}' = {rate}")
        lines.append(f"  {name} = {init!r}")
    lines.append("  N' = r_div * hill(survival, K_survival, 4) * crowd * N"
                 " - (d_basal + k_kill * hill_rep(survival, K_survival, 4)) * N")
    lines.append(f"  N = {IL6_CELLS0!r}")
    lines.append("  C' = -k_el * C")
    t0, d0 = IL6_DOSES[0]
    assert t0 == 0.0
    lines.append(f"  C = {d0 / IL6_VOLUME!r}")
    for k, (t, dose) in enumerate(IL6_DOSES[1:], start=1):
        lines.append(f"  E{k}: at (time >= {t!r}), t0 = false: C = C + {dose / IL6_VOLUME!r}")
    lines.append("end")
    return "\n".join(lines)


PROBLEMS = {
    "ROBER": (ROBER, 1e11, 1, [f"y{i}" for i in range(1, 4)]),
    "HIRES": (HIRES, 321.8122, 1, [f"y{i}" for i in range(1, 9)]),
    "OREGO": (OREGO, 360.0, 1, [f"y{i}" for i in range(1, 4)]),
    "POLLU": (pollu(), 60.0, 1, [f"y{i}" for i in range(1, 21)]),
    "IL6_LOOP": (il6_loop(), IL6_DAYS, IL6_POINTS, [s[0] for s in IL6_SPECIES] + ["N"]),
}

# Absolute tolerances as in src/engine/ode/testset.rs (rtol times a scale) and
# the il6 benchmark's fixed 1e-12.
ATOL_SCALE = {"ROBER": 1e-8, "HIRES": 1e-5, "OREGO": 1e-2, "POLLU": 1e-8}


def load(text):
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        sys.exit("antimony: " + antimony.getLastError())
    sbml = antimony.getSBMLString(antimony.getMainModuleName())
    return roadrunner.RoadRunner(sbml)


def timed(name, rr, names, t_end, points, rtols, atol_of, min_seconds):
    """Best CPU time and the values of each rtol's run (see `run`)."""
    rows = []
    for rtol in rtols:
        atol = atol_of(rtol)
        best, res, total, reps = math.inf, None, 0.0, 0
        while reps < 3 or (total < min_seconds and reps < 200):
            try:
                secs, res = run(rr, names, t_end, points, rtol, atol)
            except RuntimeError as e:
                res = None
                print(f"{name} rtol {rtol}: {e}", file=sys.stderr)
                break
            best, total, reps = min(best, secs), total + secs, reps + 1
        if res is None:
            rows.append({"rtol": rtol, "atol": atol, "failed": True})
            continue
        values = [[float(v) for v in row[1:]] for row in res]
        if points == 1:
            values = values[-1:]
        rows.append({"rtol": rtol, "atol": atol, "seconds": best, "reps": reps,
                     "times": [float(row[0]) for row in res][-len(values):],
                     "values": values})
    return rows


def run(rr, names, t_end, points, rtol, atol):
    rr.resetAll()
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.maximum_num_steps = 10_000_000
    rr.timeCourseSelections = ["time"] + names
    # CPU time of this thread (CVODE runs in it), as the Rust side measures: wall
    # time on a loaded machine inflates long runs far more than short ones.
    t = time.thread_time()
    res = rr.simulate(0.0, t_end, points + 1)
    return time.thread_time() - t, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rtols", default="1e-4,1e-5,1e-6,1e-7,1e-8,1e-9,1e-10")
    ap.add_argument("--min-seconds", type=float, default=0.3)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--sbml-jobs", help="JSON list of SBML files to run (see above)")
    a = ap.parse_args()
    rtols = [float(x) for x in a.rtols.split(",")]
    out = {"roadrunner": roadrunner.__version__, "problems": {}}
    for name in filter(None, a.problems.split(",")):
        text, t_end, points, names = PROBLEMS[name]
        scale = ATOL_SCALE.get(name)
        out["problems"][name] = timed(
            name, load(text), names, t_end, points, rtols,
            lambda rtol: rtol * scale if scale else 1e-12, a.min_seconds)
    if a.sbml_jobs:
        with open(a.sbml_jobs) as f:
            jobs = json.load(f)
        for job in jobs:
            rr = roadrunner.RoadRunner(job["sbml"])
            out["problems"][job["name"]] = timed(
                job["name"], rr, job["ids"], job["t_end"], job["points"], rtols,
                lambda rtol: rtol * job["atol_per_rtol"], a.min_seconds)
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
