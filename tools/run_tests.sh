#!/usr/bin/env bash
# Quick start, command 2: install what is missing (with mmcv's compiled ops: the suite tests detection transfer),
# then run the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash tools/install.sh --with-ops
exec "${SCL_VENV:-$ROOT/.venv}/bin/python" -m pytest tests "$@"
