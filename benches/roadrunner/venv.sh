#!/bin/sh
# Create benches/roadrunner/.venv (once; gitignored) with libRoadRunner, Antimony and
# numpy from PyPI, and print the path of its Python. Used by setup.sh (the solver
# comparison) and .ci/sbml-roundtrip (the SBML export check).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import roadrunner, antimony" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "libroadrunner==2.10.0" antimony numpy >&2
fi
echo "$venv/bin/python"
