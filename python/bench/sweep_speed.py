"""Cost of the Python boundary on a 1,000-run sweep: the same sweep file on the same
number of threads, run by the command line (`resloop sweep --no-analysis`) and by
`resloop.sweep`, alternated so that both see the same machine load.

For each it records the wall time and the CPU time (user + system, all threads; for
the command line the child process's, process start included). On a shared machine
the CPU time is the steadier measure of cost: other jobs stretch the wall time, not
the work done. Prints the minimum and median of each, the difference of Python from
the command line, and the part of the Python call spent outside the library's sweep
runner (the boundary itself: arguments in, the DataFrame out).

    python python/bench/sweep_speed.py [--threads 2] [--repeats 15]

Run from the repository root after `cargo build --release` and `pip install ./python`.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import resloop as rl

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "python/bench/sweep_1000.toml"


def cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def measure(run, who):
    c, t = cpu(who), time.perf_counter()
    run()
    return time.perf_counter() - t, cpu(who) - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "resloop"
    tmp = Path(tempfile.mkdtemp(prefix="resloop-bench-"))
    times = {"command line": [], "Python": []}
    inner = []  # the library's own sweep time inside each Python call
    try:
        for k in range(a.repeats):
            cmd = [str(exe), "sweep", str(SWEEP), "--out", str(tmp / f"cli{k}"), "--threads",
                   str(a.threads), "--no-analysis"]
            times["command line"].append(measure(
                lambda: subprocess.run(cmd, check=True, capture_output=True), resource.RUSAGE_CHILDREN))

            def py():
                s = rl.sweep(SWEEP, tmp / f"py{k}", threads=a.threads)
                assert len(s.runs) == 1000
                inner.append(s.wall_seconds)

            times["Python"].append(measure(py, resource.RUSAGE_SELF))
    finally:
        shutil.rmtree(tmp)
    print(f"1,000-run sweep ({SWEEP.name}), {a.threads} threads, {a.repeats} alternating repeats")
    for i, what in [(0, "wall"), (1, "CPU")]:
        for label, f in [("minimum", min), ("median", statistics.median)]:
            c = f(t[i] for t in times["command line"])
            p = f(t[i] for t in times["Python"])
            print(f"  {what:4} {label:7}: command line {c:.3f} s, Python {p:.3f} s, "
                  f"Python {100 * (p - c) / c:+.1f} %")
    # What the boundary itself costs: the Python call's wall time minus the time the
    # library's sweep runner measured for itself (loading the sweep file is on both sides).
    gap = statistics.median(t[0] - i for t, i in zip(times["Python"], inner))
    print(f"  Python call outside the library's sweep runner: median {1000 * gap:.1f} ms")
    print("load average (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
