"""Generate the reference data of resloop's synergy agreement tests.

Plates are generated under each no-interaction model (Bliss, Loewe) and under MuSyC with
known parameters, exact and with seeded Gaussian noise, and scored with the Python
`synergy` package (version 1.0.0, Wooten et al.). The plates and the package's outputs are
written to tests/data/synergy_reference/, which `tests/synergy_reference.rs` reads; the
tests themselves never need Python.

Run through scripts/synergy_reference.sh, which creates the virtual environment with
`pip install synergy==1.0.0`.

Files per plate NAME:
- NAME_plate.csv       dose_a,dose_b,response (resloop's plate format, viable fraction)
- NAME_reference.csv   dose_a,dose_b,response and one column per method (empty = NaN)
- NAME_musyc.json      true parameters (when generated under MuSyC) and the package's fit
"""

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
from importlib.metadata import version
from synergy.combination import MuSyC, ZIP, Bliss, HSA, Loewe, CombinationIndex
from synergy.single import Hill

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "synergy_reference"
MUSYC_NAMES = ["E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2", "alpha12", "alpha21", "gamma12", "gamma21"]


def grid(n, c, span):
    """Zero plus n - 1 log-spaced doses from c / span to c * span."""
    return np.concatenate([[0.0], np.logspace(math.log10(c / span), math.log10(c * span), n - 1)])


def mesh(da, db):
    d1, d2 = np.meshgrid(da, db, indexing="ij")
    return d1.ravel(), d2.ravel()


def hill(e0, emax, h, c):
    return Hill(E0=e0, Emax=emax, h=h, C=c)


def bliss_plate(a, b, da, db):
    d1, d2 = mesh(da, db)
    return d1, d2, a.E(d1) * b.E(d2)


def loewe_plate(a, b, da, db):
    d1, d2 = mesh(da, db)
    model = Loewe(mode="delta_hsa", drug1_model=a, drug2_model=b)
    return d1, d2, np.asarray(model.E_reference(d1, d2), dtype=float)


def musyc_plate(params, da, db):
    d1, d2 = mesh(da, db)
    model = MuSyC(**params)
    return d1, d2, np.asarray(model.E(d1, d2), dtype=float)


def noisy(plate, sd, seed):
    d1, d2, e = plate
    rng = np.random.default_rng(seed)
    return d1, d2, e + rng.normal(0.0, sd, size=e.shape)


def safe(f):
    """Scores of one method, or NaNs (with the reason on stderr) if the package fails."""
    try:
        return np.asarray(f(), dtype=float)
    except Exception as exc:  # noqa: BLE001 - the reference failing is itself a result
        print(f"  {f.__name__}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def score(d1, d2, e):
    out = {}
    out["bliss"] = safe(lambda: Bliss().fit(d1, d2, e))
    out["bliss_hill"] = safe(lambda: Bliss(drug1_model=Hill(), drug2_model=Hill()).fit(d1, d2, e))
    out["hsa"] = safe(lambda: HSA().fit(d1, d2, e))
    out["loewe"] = safe(lambda: Loewe(mode="delta_hsa").fit(d1, d2, e))
    out["zip"] = safe(lambda: ZIP().fit(d1, d2, e))
    out["ci"] = safe(lambda: CombinationIndex().fit(d1, d2, e))
    musyc = MuSyC()
    musyc.fit(d1, d2, e)
    fit = None
    if musyc.is_specified:
        ref = np.asarray(musyc.E_reference(d1, d2), dtype=float)
        model = np.asarray(musyc.E(d1, d2), dtype=float)
        combo = (d1 > 0) & (d2 > 0)
        out["musyc"] = np.where(combo, ref - model, 0.0)
        out["musyc_vs_data"] = np.where(combo, ref - e, 0.0)
        fit = {k: float(v) for k, v in musyc.get_parameters().items()}
        fit["beta"] = float(musyc.beta)
        fit["r_squared"] = float(musyc.r_squared)
        fit["converged"] = bool(musyc.is_converged)
    return out, fit


def fmt(x):
    return "" if x is None or not np.isfinite(x) else repr(float(x))


def write(name, plate, truth=None):
    d1, d2, e = plate
    print(name, file=sys.stderr)
    with open(OUT / f"{name}_plate.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["dose_a", "dose_b", "response"])
        for row in zip(d1, d2, e):
            w.writerow([fmt(v) for v in row])
    scores, fit = score(d1, d2, e)
    methods = [m for m in scores if scores[m] is not None]
    with open(OUT / f"{name}_reference.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["dose_a", "dose_b", "response"] + methods)
        for k in range(len(e)):
            w.writerow([fmt(d1[k]), fmt(d2[k]), fmt(e[k])] + [fmt(scores[m][k]) for m in methods])
    doc = {"synergy_version": version("synergy"), "truth": truth, "fit": fit}
    (OUT / f"{name}_musyc.json").write_text(json.dumps(doc, indent=2) + "\n")


def example_plates():
    """The README's example plates: an 8 x 8 checkerboard with 3 replicates and plate noise
    (resloop's layout, viable fraction), and the same kind of data for two drug pairs in
    SynergyFinder's layout (percent inhibition, two PairIndex blocks)."""
    out = OUT.parent.parent.parent / "examples" / "plates"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    da, db = grid(8, 0.1, 20.0), grid(8, 0.05, 20.0)
    truth = {
        "E0": 1.0, "E1": 0.15, "E2": 0.45, "E3": 0.02, "h1": 1.4, "h2": 1.1, "C1": 0.1, "C2": 0.05,
        "alpha12": 3.0, "alpha21": 2.0, "gamma12": 1.0, "gamma21": 1.0,
    }
    d1, d2, e = musyc_plate(truth, da, db)
    with open(out / "synergy_example.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["dose_a", "dose_b", "response", "replicate", "drug_a", "drug_b", "unit_a", "unit_b"])
        for rep in range(3):
            noise = rng.normal(0.0, 0.03, size=e.shape)
            for k in range(len(e)):
                w.writerow([f"{d1[k]:.4g}", f"{d2[k]:.4g}", f"{e[k] + noise[k]:.4f}", rep + 1,
                            "ceritinib", "tazemetostat", "uM", "uM"])
    inactive = {**truth, "E2": 1.0, "E3": 0.15}
    with open(out / "synergyfinder_two_blocks.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["PairIndex", "Response", "Drug1", "Drug2", "Conc1", "Conc2", "ConcUnit"])
        for block, (params, drug2) in enumerate([(truth, "tazemetostat"), (inactive, "vehicle-like")], 1):
            d1, d2, e = musyc_plate(params, da, db)
            for rep in range(2):
                noise = rng.normal(0.0, 0.03, size=e.shape)
                for k in range(len(e)):
                    w.writerow([block, f"{100 * (1 - e[k] - noise[k]):.2f}", "ceritinib", drug2,
                                f"{d1[k]:.4g}", f"{d2[k]:.4g}", "uM"])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    example_plates()
    da, db = grid(8, 0.5, 30.0), grid(8, 2.0, 30.0)
    partial_a, full_b = hill(1.0, 0.35, 1.3, 0.5), hill(1.0, 0.0, 0.9, 2.0)
    write("bliss_partial", bliss_plate(partial_a, full_b, da, db))
    write("bliss_partial_noisy", noisy(bliss_plate(partial_a, full_b, da, db), 0.02, 1))
    strong_a, strong_b = hill(1.0, 0.05, 1.8, 0.5), hill(1.0, 0.2, 1.1, 2.0)
    write("bliss_steep", bliss_plate(strong_a, strong_b, da, db))
    write("loewe_null", loewe_plate(hill(1.0, 0.1, 1.5, 0.5), hill(1.0, 0.25, 1.0, 2.0), da, db))

    db10, da10 = grid(10, 1.0, 100.0), grid(10, 0.5, 100.0)
    synergistic = {
        "E0": 1.0, "E1": 0.4, "E2": 0.3, "E3": 0.05, "h1": 1.5, "h2": 0.8, "C1": 0.5, "C2": 1.0,
        "alpha12": 2.0, "alpha21": 0.3, "gamma12": 1.5, "gamma21": 0.8,
    }
    antagonistic = {
        "E0": 1.0, "E1": 0.2, "E2": 0.1, "E3": 0.25, "h1": 1.0, "h2": 2.0, "C1": 0.5, "C2": 1.0,
        "alpha12": 0.5, "alpha21": 3.0, "gamma12": 1.0, "gamma21": 1.0,
    }
    write("musyc_synergy", musyc_plate(synergistic, da10, db10), synergistic)
    write("musyc_synergy_noisy", noisy(musyc_plate(synergistic, da10, db10), 0.02, 2), synergistic)
    write("musyc_antagonism", musyc_plate(antagonistic, da10, db10), antagonistic)


if __name__ == "__main__":
    main()
