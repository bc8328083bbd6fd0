"""resloop from Python: the command line's functions, returning pandas DataFrames.

Each function runs the same Rust library code as the ``resloop`` subcommand of the
same name, in this process, with the GIL released while it simulates. Arguments
left ``None`` keep the command line's defaults. Functions that write files take
``out=``: given, the folder holds what the command line writes there; not given,
results stay in memory (or in a temporary folder that is removed afterwards).

Errors in inputs raise :class:`ResloopError`, whose ``file``, ``line``, ``column``
and ``field`` attributes say where a model, schedule, sweep, fact or plate file is
wrong (``None`` when the error has no place).

See ``docs/python.md`` for a tour.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import _resloop as _native
from ._resloop import ResloopError

__version__ = _native.__version__

__all__ = [
    "ResloopError",
    "Model",
    "load_model",
    "check",
    "simulate",
    "therapy",
    "compare",
    "abm",
    "synergy",
    "checkerboard",
    "sweep",
    "sensitivity",
    "validate",
    "set_limits",
    "wide",
    "schedule_toml",
]

PathLike = Union[str, os.PathLike]
Schedule = Union[PathLike, Mapping[str, Any]]


# Numbers read back equal the ones the library wrote, to the last bit: pandas 3 parses
# floats exactly by default (and deprecates the option); older pandas needs "round_trip".
_EXACT = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _read_csv(path) -> pd.DataFrame:
    # Only empty fields and the library's `NaN` are missing (a text such as "NA" stays).
    return pd.read_csv(path, keep_default_na=False, na_values=["", "NaN"], **_EXACT)


def _sets(params: Optional[Mapping[str, float]]) -> list:
    """Parameter changes as the command line's ``--set NAME=VALUE`` (repr keeps every bit)."""
    if params is None:
        return []
    if not isinstance(params, Mapping):
        raise TypeError("params must be a dict of parameter name -> value")
    return [f"{k}={float(v)!r}" for k, v in params.items()]


def _doses(doses) -> list:
    """Doses as ``DRUG=AMOUNT@EVERY[xCOUNT]`` texts: a list of them, or a dict drug -> spec."""
    if doses is None:
        return []
    if isinstance(doses, str):
        return [doses]
    if isinstance(doses, Mapping):
        out = []
        for drug, spec in doses.items():
            specs = [spec] if isinstance(spec, str) else list(spec)
            out.extend(f"{drug}={s}" for s in specs)
        return out
    return [str(d) for d in doses]


def _schedule(s: Schedule, k: int = 0):
    """(path, TOML text, label) of a schedule given as a file or a dict."""
    if isinstance(s, Mapping):
        head = s.get("schedule")
        name = head.get("name") if isinstance(head, Mapping) else None
        name = name or f"schedule {k}"
        return None, _native.schedule_toml(dict(s)), f"<schedule dict {name}>"
    return os.fspath(s), None, os.fspath(s)


def set_limits(**limits: float) -> None:
    """The command line's ``--limit NAME=VALUE`` caps on the work an input may ask
    for (days, points, readouts, ic50, refreshes, doses, output_mb; ``float("inf")``
    for none), on top of the defaults, for every later call; ``set_limits()``
    restores the defaults."""
    _native.set_limits([f"{k}={'inf' if v == float('inf') else repr(float(v))}" for k, v in limits.items()])


def schedule_toml(schedule: Mapping[str, Any]) -> str:
    """The TOML text a schedule dict is read as (error lines refer to it)."""
    return _native.schedule_toml(dict(schedule))


class _Folder:
    """``out`` when given, else a temporary folder removed when the result is dropped."""

    def __init__(self, out: Optional[PathLike]):
        if out is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="resloop-")
            self.path = Path(self._tmp.name)
        else:
            self._tmp = None
            self.path = Path(out)
            self.path.mkdir(parents=True, exist_ok=True)

    def close(self):
        if self._tmp is not None:
            self._tmp.cleanup()


def wide(timeline: pd.DataFrame) -> pd.DataFrame:
    """A long timeline (time, population, variable, value) as one column per
    (population, variable), indexed by time (and replicate when present)."""
    index = ["replicate", "time"] if "replicate" in timeline.columns else ["time"]
    return timeline.pivot_table(
        index=index, columns=["population", "variable"], values="value", aggfunc="first",
        sort=False, dropna=False,
    )


# --- models -----------------------------------------------------------------------


@dataclass
class Model:
    """A checked model: what ``resloop check`` prints, as tables."""

    path: str
    name: str
    title: str
    time_unit: str
    sha256: str
    summary: str
    species: pd.DataFrame
    parameters: pd.DataFrame
    drugs: pd.DataFrame
    observables: list
    genotypes: pd.DataFrame
    initial_cells: float
    warnings: list = field(default_factory=list)

    def __str__(self) -> str:
        return self.summary


def load_model(path: PathLike) -> Model:
    """Read and check a model file (``resloop check``)."""
    d = _native.load_model(os.fspath(path))
    meta = json.loads(d["meta"])
    params = pd.DataFrame(json.loads(d["parameters"]))
    if len(params):
        bounds = params.pop("bounds")
        params.insert(3, "lower", [b[0] if b else np.nan for b in bounds])
        params.insert(4, "upper", [b[1] if b else np.nan for b in bounds])
    return Model(
        path=meta["path"],
        name=meta["name"],
        title=meta["title"],
        time_unit=meta["time_unit"],
        sha256=meta["sha256"],
        summary=d["summary"],
        species=pd.DataFrame(d["species"], columns=["name", "unit", "initial", "description"]),
        parameters=params,
        drugs=pd.DataFrame(d["drugs"], columns=["name", "unit", "target"]),
        observables=list(d["observables"]),
        genotypes=pd.DataFrame(d["genotypes"], columns=["name", "parent", "mutation_probability"]),
        initial_cells=d["initial_cells"],
        warnings=[f"{at}: {m}" for at, m in d["warnings"]],
    )


def check(path: PathLike, strict: bool = False) -> Model:
    """``resloop check [--strict]``: the model, or ResloopError (with ``strict``, also
    when it has warnings, e.g. a parameter without provenance)."""
    m = load_model(path)
    if strict and m.warnings:
        raise _warnings_error(path, m.warnings)
    return m


def _warnings_error(path: PathLike, warnings: list) -> ResloopError:
    e = ResloopError(f"{len(warnings)} warning(s) in {os.fspath(path)} (strict): " + "; ".join(warnings))
    e.message, e.file, e.line, e.column, e.field = str(e), os.fspath(path), None, None, None
    return e


# --- simulate ---------------------------------------------------------------------


@dataclass
class Simulation:
    """A simulated run: the long timeline (``timeline.csv``'s rows: with more than one
    replicate, stacked under a leading ``replicate`` column) and replicate 0's solver
    counts and wall time."""

    timeline: pd.DataFrame
    engine: str
    stats: dict
    wall_seconds: float
    out: Optional[Path] = None

    def wide(self) -> pd.DataFrame:
        return wide(self.timeline)

    def series(self, population: str, variable: str, replicate: int = 0) -> pd.Series:
        t = self.timeline
        if "replicate" in t.columns:
            t = t[t.replicate == replicate]
        s = t[(t.population == population) & (t.variable == variable)]
        return pd.Series(s["value"].to_numpy(), index=s["time"].to_numpy(), name=f"{population}/{variable}")


def simulate(
    model: PathLike,
    days: float,
    doses=None,
    params: Optional[Mapping[str, float]] = None,
    *,
    method: Optional[str] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    points: Optional[int] = None,
    cells: Optional[float] = None,
    engine: Optional[str] = None,
    replicates: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[PathLike] = None,
    plot: bool = False,
) -> Simulation:
    """``resloop simulate``: repeated dosing (``doses=["tki=0.5uM@72h"]`` or
    ``{"tki": "0.5uM@72h"}``) for ``days``; ``params`` changes parameters.
    ``replicates`` runs that many replicates of a stochastic engine (in parallel;
    replicate r a pure function of the inputs, ``seed`` and r; the mean field runs
    once), stacked in the timeline under a ``replicate`` column when more than one,
    as in the command line's ``timeline.csv``."""
    d = _native.simulate(
        os.fspath(model), float(days), _doses(doses), _sets(params), method, rtol, atol,
        points, cells, engine, replicates, seed, None if out is None else os.fspath(out), plot,
    )
    columns = ("replicate",) * ("replicate" in d) + ("time", "population", "variable", "value")
    tl = pd.DataFrame({k: d[k] for k in columns})
    return Simulation(tl, d["engine"], json.loads(d["stats"]), d["wall_seconds"],
                      None if out is None else Path(out))


# --- therapy and compare ------------------------------------------------------------


@dataclass
class TherapyRun:
    """One schedule's run (or replicates): the tables ``resloop therapy`` writes."""

    name: str
    timeline: pd.DataFrame
    events: pd.DataFrame
    ic50: Optional[pd.DataFrame]
    summary: list
    ensemble: Optional[dict]
    warnings: list
    out: Optional[Path] = None

    def wide(self) -> pd.DataFrame:
        return wide(self.timeline)

    @property
    def story(self) -> str:
        return self.summary[0]["story"]


def _therapy_run(folder: Path, s: dict) -> TherapyRun:
    summaries = json.loads(s["replicates"])
    ic50 = folder / "ic50.csv"
    return TherapyRun(
        name=summaries[0]["schedule"],
        timeline=_read_csv(folder / "timeline.csv"),
        events=_read_csv(folder / "events.csv"),
        ic50=_read_csv(ic50) if ic50.exists() else None,
        summary=summaries,
        ensemble=json.loads(s["ensemble"]),
        warnings=list(s["warnings"]),
    )


def therapy(
    model: PathLike,
    schedule: Schedule,
    params: Optional[Mapping[str, float]] = None,
    *,
    method: Optional[str] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    engine: Optional[str] = None,
    replicates: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[PathLike] = None,
    plot: bool = False,
) -> TherapyRun:
    """``resloop therapy``: run a schedule (a file, or a dict read as the same TOML)."""
    path, text, label = _schedule(schedule)
    folder = _Folder(out)
    try:
        s = _native.therapy(
            os.fspath(model), path, text, label, _sets(params), method, rtol, atol, engine,
            replicates, seed, str(folder.path), plot,
        )
        run = _therapy_run(folder.path, s)
        run.out = None if out is None else folder.path
        return run
    finally:
        folder.close()


@dataclass
class Comparison:
    """``resloop compare``: the what-if table and each schedule's run."""

    table: pd.DataFrame
    runs: dict
    out: Optional[Path] = None


def _numeric(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        try:
            df[c] = pd.to_numeric(df[c])
        except (ValueError, TypeError):
            pass
    return df


def compare(
    model: PathLike,
    schedules: Sequence[Schedule],
    params: Optional[Mapping[str, float]] = None,
    *,
    method: Optional[str] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    engine: Optional[str] = None,
    replicates: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[PathLike] = None,
    plot: bool = False,
) -> Comparison:
    """``resloop compare``: several schedules on one model (their names must differ)."""
    specs = [_schedule(s, k) for k, s in enumerate(schedules)]
    folder = _Folder(out)
    try:
        d = _native.compare(
            os.fspath(model), specs, _sets(params), method, rtol, atol, engine, replicates,
            seed, str(folder.path), plot,
        )
        table = pd.DataFrame([[None if v == "" else v for v in r] for r in d["rows"]],
                             columns=d["header"])
        runs = {}
        for name, s in zip(d["names"], d["summaries"]):
            # `resloop compare` writes each schedule's run into a folder of its name.
            runs[name] = _therapy_run(folder.path / name, s)
        return Comparison(_numeric(table), runs, None if out is None else folder.path)
    finally:
        folder.close()


# --- agent-based ------------------------------------------------------------------


@dataclass
class AbmRun:
    """``resloop abm``: the ensemble's tables and its manifest (summary, settings)."""

    timeline: pd.DataFrame
    replicates: pd.DataFrame
    clones: pd.DataFrame
    manifest: dict
    tables: dict
    out: Optional[Path] = None

    @property
    def summary(self) -> dict:
        return self.manifest["summary"]


def abm(
    model: PathLike,
    schedule: Optional[Schedule] = None,
    *,
    cells: Optional[float] = None,
    replicates: Optional[int] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    days: Optional[float] = None,
    doses=None,
    drug_free: bool = False,
    params: Optional[Mapping[str, float]] = None,
    dt: Optional[str] = None,
    integrator: Optional[str] = None,
    substeps: Optional[int] = None,
    mode: Optional[str] = None,
    lump_above: Optional[int] = None,
    expand_below: Optional[int] = None,
    record_every: Optional[str] = None,
    snapshots: Iterable[str] = (),
    species: Iterable[str] = (),
    resistance: Optional[str] = None,
    memory_gb: Optional[float] = None,
    out: Optional[PathLike] = None,
    plot: bool = False,
) -> AbmRun:
    """``resloop abm``: an agent-based ensemble (``mode="hybrid"`` keeps large clones
    as counts); a pure function of the inputs and ``seed``, whatever ``threads``."""
    folder = _Folder(out)
    try:
        sched = None
        if schedule is not None:
            path, text, _ = _schedule(schedule)
            if text is not None:
                # The agent-based runner reads schedule files: the dict's TOML goes
                # into the output folder and is read from there by the same parser.
                sched = str(folder.path / "schedule.toml")
                Path(sched).write_text(text)
            else:
                sched = path
        manifest = json.loads(_native.abm(
            os.fspath(model), sched, cells, replicates, seed, threads, days, _doses(doses),
            drug_free, _sets(params), dt, integrator, substeps, mode, lump_above,
            expand_below, record_every, list(snapshots), list(species), resistance,
            memory_gb, str(folder.path), plot,
        ))
        tables = {p.stem: _read_csv(p) for p in sorted(folder.path.glob("*.csv"))}
        return AbmRun(
            timeline=tables.get("timeline"),
            replicates=tables.get("summary"),
            clones=tables.get("clones"),
            manifest=manifest,
            tables=tables,
            out=None if out is None else folder.path,
        )
    finally:
        folder.close()


# --- synergy and checkerboards --------------------------------------------------------


@dataclass
class SynergyResult:
    """Scores of a plate: one row per method and cell (``scores.csv``; a ``block``
    column for multi-plate input), per-method summaries and bootstrap intervals."""

    scores: pd.DataFrame
    summary: pd.DataFrame
    bootstrap: list
    warnings: list
    out: Optional[Path] = None


def _plate_text(plate) -> tuple:
    if isinstance(plate, pd.DataFrame):
        # repr-exact floats: the parser reads the same numbers the frame holds.
        return plate.to_csv(index=False, float_format=None), "<DataFrame>"
    p = os.fspath(plate)
    with open(p, encoding="utf-8") as f:
        return f.read(), p


def synergy(
    plate,
    methods: Optional[str] = None,
    *,
    bootstrap: Optional[int] = None,
    seed: Optional[int] = None,
    percent_inhibition: bool = False,
    drug_a: Optional[str] = None,
    drug_b: Optional[str] = None,
    unit_a: Optional[str] = None,
    unit_b: Optional[str] = None,
    loewe_fallback: Optional[str] = None,
    zip_emax: Optional[str] = None,
    musyc_score: Optional[str] = None,
    min_r2: Optional[float] = None,
    min_effect: Optional[float] = None,
    out: Optional[PathLike] = None,
    plot: bool = False,
) -> SynergyResult:
    """``resloop synergy``: score a plate (a DataFrame with dose_a, dose_b, response
    [, replicate][, block] columns, SynergyFinder's columns, or a CSV file) with
    ``methods`` ("all" or e.g. "bliss,hsa,loewe,zip,ci,musyc")."""
    if isinstance(methods, (list, tuple)):
        methods = ",".join(methods)
    text, label = _plate_text(plate)
    blocks = _native.synergy(
        text, label, methods, bootstrap, seed, percent_inhibition, drug_a, drug_b, unit_a,
        unit_b, loewe_fallback, zip_emax, musyc_score, min_r2, min_effect,
        None if out is None else os.fspath(out), plot,
    )
    return _synergy_result(blocks, out)


def _synergy_result(blocks: list, out: Optional[PathLike]) -> SynergyResult:
    """The scores of every block as one frame (a ``block`` column when several)."""
    cols = list(_native.SCORE_COLUMNS)  # scores.csv's columns
    frames, summaries, boots, warnings = [], [], [], []
    for b in blocks:
        df = pd.DataFrame({c: b[c] for c in cols})
        for c in cols[1:-1]:
            df[c] = df[c].astype(float)
        s = pd.DataFrame([dict(method=m, **{k: v for k, v in x.items() if k != "undefined_reasons"})
                          for m, x in json.loads(b["summary"])])
        if len(blocks) > 1:
            df.insert(0, "block", b["block"])
            s.insert(0, "block", b["block"])
        frames.append(df)
        summaries.append(s)
        boots.append(json.loads(b["bootstrap"]))
        warnings.extend(b["warnings"])
    return SynergyResult(pd.concat(frames, ignore_index=True), pd.concat(summaries, ignore_index=True),
                         boots, warnings, None if out is None else Path(out))


@dataclass
class Checkerboard:
    """A simulated checkerboard: the plate (the lab-data format) and its scores."""

    plate: pd.DataFrame
    scores: Optional[SynergyResult]
    out: Optional[Path] = None


def _dose_list(d) -> str:
    return d if isinstance(d, str) else ",".join(x if isinstance(x, str) else repr(float(x)) for x in d)


def checkerboard(
    model: PathLike,
    drug_a: str,
    doses_a,
    drug_b: str,
    doses_b,
    *,
    hours: float = 72.0,
    seeding: float = 3000.0,
    state: str = "parental",
    methods: Optional[str] = "all",
    out: Optional[PathLike] = None,
    plot: bool = False,
) -> Checkerboard:
    """``resloop checkerboard``: a two-drug viability checkerboard on a population
    state (``initial`` or a state of the model's fact file), scored unless
    ``methods`` is None. Doses: a list (numbers in the drug's unit, or texts such as
    "100nM") or the command line's comma list."""
    text = _native.checkerboard_plate(os.fspath(model), drug_a, _dose_list(doses_a), drug_b,
                                      _dose_list(doses_b), float(hours), float(seeding), state)
    plate = _read_csv(io.StringIO(text))
    scores = None
    label = "<checkerboard>"
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        label = os.fspath(Path(out) / "plate.csv")
        Path(label).write_text(text)
    if methods not in (None, "none"):
        blocks = _native.synergy(text, label, methods, None, None, False, None, None, None, None,
                                 None, None, None, None, None, None if out is None else os.fspath(out), plot)
        scores = _synergy_result(blocks, out)
    return Checkerboard(plate, scores, None if out is None else Path(out))


# --- sweeps, sensitivity, facts -----------------------------------------------------


@dataclass
class Sweep:
    """A finished sweep: one row per point (``runs.csv``'s rows, in memory)."""

    runs: pd.DataFrame
    dir: Path
    wall_seconds: float
    _folder: Any = None

    def sensitivity(self, resamples: Optional[int] = None, confidence: Optional[float] = None,
                    plots: bool = False) -> pd.DataFrame:
        return sensitivity(self.dir, resamples=resamples, confidence=confidence, plots=plots)


def sweep(
    path: PathLike,
    out: Optional[PathLike] = None,
    *,
    threads: Optional[int] = None,
    allow_outside: bool = False,
    resume: bool = False,
) -> Sweep:
    """``resloop sweep --no-analysis``: every point of a sweep file, run in this
    process on ``threads`` threads (default: one per core). ``out`` keeps the sweep
    folder (runs.csv, manifest.json; resumable with ``resume=True``)."""
    folder = _Folder(out)
    d = _native.sweep(os.fspath(path), str(folder.path), threads, allow_outside, resume)
    wall = d.pop("wall_seconds")
    runs = pd.DataFrame(d)
    return Sweep(runs, folder.path, wall, folder if out is None else None)


def sensitivity(
    dir: PathLike,
    *,
    resamples: Optional[int] = None,
    confidence: Optional[float] = None,
    plots: bool = False,
) -> pd.DataFrame:
    """``resloop sensitivity``: Sobol (S1, ST) or Morris (mu, mu_star, sigma) indices
    of a finished sweep folder, one row per metric, parameter and index."""
    d = _native.sensitivity(os.fspath(dir), resamples, confidence, plots)
    df = pd.DataFrame({k: d[k] for k in ("metric", "parameter", "index", "value", "ci_low", "ci_high", "used")})
    for c in ("value", "ci_low", "ci_high"):
        df[c] = df[c].astype(float)
    df.attrs["method"] = d["method"]
    df.attrs["censored"] = d["censored"]
    return df


def validate(
    models: Union[None, PathLike, Sequence[PathLike]] = None,
    *,
    only: Optional[str] = None,
    engine: Optional[str] = None,
    seed: Optional[int] = None,
    out: Optional[PathLike] = None,
) -> pd.DataFrame:
    """``resloop validate``: run fact files (model files name theirs; default every
    ``models/*.facts.toml``), one row per fact with its value and status."""
    if models is None:
        files = [os.fspath(p) for p in _native.fact_files("models")]
    elif isinstance(models, (str, os.PathLike)):
        files = [os.fspath(models)]
    else:
        files = [os.fspath(m) for m in models]
    if not files:
        raise ResloopError("no fact files found (expected models/*.facts.toml)")
    d = _native.validate(files, only, engine, seed, None if out is None else os.fspath(out))
    df = pd.DataFrame(d)
    df["value"] = df["value"].astype(float)
    return df
