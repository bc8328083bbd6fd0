"""Shared fixtures: the repository root as working directory (model files name their
neighbours relative to it, as on the command line) and the release binary the
results are compared with."""

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def cli():
    """Run ``target/release/resloop`` with arguments; returns its stdout."""
    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "resloop"
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: build it first (cargo build --release)")

    def run(*args, ok=True):
        p = subprocess.run([str(exe), *map(str, args)], cwd=ROOT, capture_output=True, text=True)
        if ok and p.returncode != 0:
            raise AssertionError(f"resloop {' '.join(map(str, args))} failed:\n{p.stderr}")
        return p

    return run


def read_csv(path) -> pd.DataFrame:
    """A CSV the command line wrote, numbers exact (as the package reads its tables)."""
    from resloop import _read_csv

    return _read_csv(path)


def assert_same_numbers(a: pd.DataFrame, b: pd.DataFrame):
    """The same columns, rows and values (numbers to the last bit, NaN equal to NaN)."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, check_exact=True
    )
