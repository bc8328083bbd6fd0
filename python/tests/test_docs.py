"""The Python examples in docs/python.md run as written (from the repository root),
and what their comments promise holds."""

import re

from conftest import ROOT


def blocks():
    text = (ROOT / "docs/python.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_docs_examples_run(capsys):
    found = blocks()
    assert len(found) >= 2
    env = {}
    for code in found:
        exec(compile(code, "docs/python.md", "exec"), env)
    # The error example prints the file, line and field of the bad schedule field.
    out = capsys.readouterr().out
    assert "<schedule dict x> 4 schedule.duration" in out
