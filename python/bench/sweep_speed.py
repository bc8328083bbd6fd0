"""Cost of the Python boundary on a 1,000-run sweep: the same sweep file on the same
number of threads, run by the command line (`resloop sweep`) and by `resloop.sweep`,
alternated so that both see the same machine load. Prints each wall time, the
medians and the overhead of Python over the command line.

    python python/bench/sweep_speed.py [--threads 2] [--repeats 5]

Run from the repository root after `cargo build --release` and `pip install ./python`.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import resloop as rl

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "python/bench/sweep_1000.toml"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "resloop"
    tmp = Path(tempfile.mkdtemp(prefix="resloop-bench-"))
    cli_times, py_times = [], []
    try:
        for k in range(a.repeats):
            out = tmp / f"cli{k}"
            t = time.perf_counter()
            subprocess.run([str(exe), "sweep", str(SWEEP), "--out", str(out), "--threads",
                            str(a.threads), "--no-analysis"], check=True, capture_output=True)
            cli_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            s = rl.sweep(SWEEP, tmp / f"py{k}", threads=a.threads)
            py_times.append(time.perf_counter() - t)
            assert len(s.runs) == 1000
            print(f"repeat {k}: command line {cli_times[-1]:.3f} s, Python {py_times[-1]:.3f} s")
    finally:
        shutil.rmtree(tmp)
    c, p = statistics.median(cli_times), statistics.median(py_times)
    print(f"median of {a.repeats}: command line {c:.3f} s, Python {p:.3f} s "
          f"({1000 / c:.0f} vs {1000 / p:.0f} runs/s on {a.threads} threads); "
          f"Python overhead {100 * (p - c) / c:+.1f} %")
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
