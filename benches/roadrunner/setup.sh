#!/bin/sh
# Create benches/roadrunner/.venv with libRoadRunner and Antimony (once), then
# run the comparison script with every argument passed through.
# Usage: benches/roadrunner/setup.sh [compare.py arguments]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet libroadrunner antimony numpy
fi
exec "$venv/bin/python" "$here/compare.py" "$@"
