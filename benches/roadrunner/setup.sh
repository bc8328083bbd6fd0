#!/bin/sh
# Create benches/roadrunner/.venv with libRoadRunner and Antimony (once, venv.sh),
# then run the comparison script with every argument passed through.
# Usage: benches/roadrunner/setup.sh [compare.py arguments]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=$("$here/venv.sh")
exec "$python" "$here/compare.py" "$@"
