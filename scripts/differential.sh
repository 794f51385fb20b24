#!/usr/bin/env bash
# Differential test: the same seeded random command sequences against engram-server and a
# reference Redis 7.4 (python/tests/differential). Starts both servers unless given ports.
#
#   scripts/differential.sh                      # all families, 20 seeds x 150 commands, RESP2+3
#   ENGRAM_DIFF_SEEDS=200 scripts/differential.sh -k zsets
#   ENGRAM_REFERENCE_PORT=7681 ENGRAM_PORT=7680 scripts/differential.sh   # running servers
#
# Extra arguments go to pytest. Replay one seed (from python/tests):
#   ../../.venv/bin/python -m differential.diff --ref 7681 --engram 7680 --family zsets --seeds 17 --protocol 2
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${ENGRAM_PORT:-}" ] || cargo build --bin engram-server
[ -n "${ENGRAM_REFERENCE_PORT:-}" ] || export ENGRAM_DIFFERENTIAL=1
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || { echo "no $VENV: run scripts/test.sh once (it creates the venv)" >&2; exit 1; }
exec "$VENV/bin/python" -m pytest python/tests/differential -q -p no:cacheprovider "$@"
