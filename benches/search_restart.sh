#!/usr/bin/env bash
# Restart time of vector search, engram vs the reference (see search_restart.py).
#   benches/search_restart.sh [--n 50000] [--dim 128] [--skip-ref]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin engram-server
TARGET_DIR=${CARGO_TARGET_DIR:-target}
PY=${PYTHON:-.venv/bin/python}
exec "$PY" benches/search_restart.py --engram-bin "$TARGET_DIR/release/engram-server" "$@"
