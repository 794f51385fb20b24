#!/usr/bin/env bash
# Side-by-side throughput: a release engram-server against reference Redis 7.4
# (../shared/peers/redis-stack.sh), both driven by the same redis-benchmark binary.
# Not part of the test suite.
#
#   benches/load.sh
#
# Environment (defaults in brackets):
#   ENGRAM_PORT [7580]  REDIS_PORT [7581]
#   TESTS [set,get,incr,mset]   CLIENTS [50]   PIPELINES ["1 16"]
#   N1 [200000]         requests per run at -P 1
#   NP [1000000]        requests per run at -P > 1
#   KEYSPACE [100000]   -r: random keys out of this many
#   REPEAT [3]          runs per (server, pipeline); the median-rps run is reported
#   ENGRAM_ARGS         extra engram-server flags, e.g. "--durability none"
#   REDIS_ARGS          extra reference flags, e.g. "--appendonly yes --appendfsync always"
#                       (the durability comparison: benches/durability.sh)
#   PEERS               path of redis-stack.sh [../shared/peers/redis-stack.sh]
#   NO_BUILD=1          use the existing release binary
#
# Prints a table: command, pipeline, engram rps, redis rps, ratio (engram/redis),
# engram p99 ms, redis p99 ms; and the machine it ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ENGRAM_PORT=${ENGRAM_PORT:-7580}
REDIS_PORT=${REDIS_PORT:-7581}
TESTS=${TESTS:-set,get,incr,mset}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
N1=${N1:-200000}
NP=${NP:-1000000}
KEYSPACE=${KEYSPACE:-100000}
REPEAT=${REPEAT:-3}
ENGRAM_ARGS=${ENGRAM_ARGS:-}
REDIS_ARGS=${REDIS_ARGS:-}
PEERS=${PEERS:-$ROOT/../shared/peers/redis-stack.sh}
[ -x "$PEERS" ] || PEERS=/work/shared/peers/redis-stack.sh
[ -x "$PEERS" ] || { echo "redis-stack.sh not found; set PEERS" >&2; exit 1; }

TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/release/engram-server

if [ "${NO_BUILD:-0}" != "1" ]; then
  echo "building release engram-server..." >&2
  cargo build --release --bin engram-server >&2
fi
[ -x "$BIN" ] || { echo "missing $BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/engram-load.XXXXXX)
ENGRAM_PID=
cleanup() {
  [ -n "$ENGRAM_PID" ] && kill "$ENGRAM_PID" 2>/dev/null && wait "$ENGRAM_PID" 2>/dev/null
  "$PEERS" stop "$REDIS_PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ping() {
  local port=$1
  for _ in $(seq 200); do
    if "$PEERS" cli "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "server on port $port did not answer PING" >&2
  return 1
}

echo "starting engram-server on $ENGRAM_PORT ($BIN $ENGRAM_ARGS)" >&2
# shellcheck disable=SC2086 # ENGRAM_ARGS is a list of flags
RUST_LOG=warn "$BIN" --port "$ENGRAM_PORT" --dir "$WORK/engram" $ENGRAM_ARGS \
  >"$WORK/engram.log" 2>&1 &
ENGRAM_PID=$!
wait_ping "$ENGRAM_PORT"

echo "starting reference redis on $REDIS_PORT" >&2
# shellcheck disable=SC2086 # REDIS_ARGS is a list of flags
"$PEERS" start "$REDIS_PORT" $REDIS_ARGS >/dev/null
wait_ping "$REDIS_PORT"

# run PORT PIPELINE N -> CSV lines "TEST",rps,avg,min,p50,p95,p99,max (one per test)
run() {
  local port=$1 p=$2 n=$3
  "$PEERS" bench "$port" -t "$TESTS" -c "$CLIENTS" -P "$p" -n "$n" -r "$KEYSPACE" --csv \
    2>/dev/null | tail -n +2
}

# For each (server, pipeline): REPEAT runs; per test keep the run with the median rps.
# Output rows: server pipeline test rps p99
RESULTS=$WORK/results
: >"$RESULTS"
for p in $PIPELINES; do
  if [ "$p" = 1 ]; then n=$N1; else n=$NP; fi
  for rep in $(seq "$REPEAT"); do
    for server in engram redis; do
      if [ "$server" = engram ]; then port=$ENGRAM_PORT; else port=$REDIS_PORT; fi
      echo "  $server -P $p -n $n run $rep/$REPEAT" >&2
      run "$port" "$p" "$n" | awk -F'","|"' -v s="$server" -v p="$p" \
        'NF > 2 { name = $2; sub(/ \(.*/, "", name); print s, p, name, $3, $8 }' >>"$RESULTS"
    done
  done
done

median() { # rows "rps p99" on stdin -> the row with the median rps
  sort -n -k1,1 | awk '{ rows[NR] = $0 } END { if (NR) print rows[int((NR + 1) / 2)] }'
}

printf '\n%-6s %8s %12s %12s %7s %10s %10s\n' \
  command pipeline "engram rps" "redis rps" ratio "engram p99" "redis p99"
printf '%-6s %8s %12s %12s %7s %10s %10s\n' \
  ------ -------- ---------- --------- ----- ---------- ---------
for p in $PIPELINES; do
  for t in $(echo "$TESTS" | tr ',' ' ' | tr '[:lower:]' '[:upper:]'); do
    e=$(awk -v p="$p" -v t="$t" '$1 == "engram" && $2 == p && $3 == t { print $4, $5 }' \
      "$RESULTS" | median)
    r=$(awk -v p="$p" -v t="$t" '$1 == "redis" && $2 == p && $3 == t { print $4, $5 }' \
      "$RESULTS" | median)
    read -r erps ep99 <<<"${e:-- -}"
    read -r rrps rp99 <<<"${r:-- -}"
    ratio=$(awk -v a="$erps" -v b="$rrps" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-6s %8s %12s %12s %7s %10s %10s\n' "$t" "$p" "$erps" "$rrps" "$ratio" "$ep99" "$rp99"
  done
done
echo
echo "p99 in ms. -c $CLIENTS, -r $KEYSPACE, -n $N1 (P=1) / $NP (P>1), median of $REPEAT runs."
echo "engram: $("$BIN" --version) ${ENGRAM_ARGS:+($ENGRAM_ARGS)}; durability: $("$PEERS" cli "$ENGRAM_PORT" config get durability 2>/dev/null | tail -1)"
echo "redis:  $("$PEERS" cli "$REDIS_PORT" info server 2>/dev/null | grep -m1 redis_version | tr -d '\r') ${REDIS_ARGS:+($REDIS_ARGS)}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); client and servers share it"
