#!/usr/bin/env bash
# Replicated shard cost and read scaling, all on loopback, driven by redis-benchmark
# (the one from ../shared/peers/redis-stack.sh, as in benches/load.sh). Not part of the
# test suite.
#   1. Durable writes: SET against the leader of a 3-node shard (durability quorum: a
#      write is acknowledged once 2 of 3 nodes have it fsynced) versus a single node with
#      durability local (fsync before the reply), at -c CLIENTS -P 1 and -P 16; rps,
#      p50, p99 and the shard/single rps ratio.
#   2. Replica reads: GET at -c CLIENTS -P READ_PIPELINE on preloaded keys, served by 1, 2
#      and 3 nodes at once (the leader first, then replicas): one redis-benchmark per
#      serving node, run concurrently; the total is the sum of their rps (and, as a
#      cross-check, all their requests over the wall-clock time of the whole group).
#
#   benches/shard.sh
#
# Environment (defaults in brackets):
#   BASE_PORT [7590]    shard nodes on BASE_PORT..BASE_PORT+2 (cluster bus: +10000 each),
#                       the single node on BASE_PORT+3; all must be free
#   CLIENTS [50]        -c for every redis-benchmark
#   PIPELINES ["1 16"]  -P values for the SET comparison
#   N1 [100000]         SET requests per run at -P 1
#   NP [500000]         SET requests per run at -P > 1
#   KEYSPACE [100000]   -r: random keys out of this many (all preloaded for the GET runs)
#   READ_PIPELINE [16]  -P for the GET runs
#   READ_N [1000000]    GET requests per redis-benchmark (so 1/2/3 nodes issue 1/2/3x that)
#   REPEAT [3]          runs per measurement; the median-rps run is reported
#   HEARTBEAT_MS [100]  --raft-heartbeat-ms
#   ELECTION_MS [500]   --raft-election-timeout-ms
#   SHARD_ARGS          extra flags for the shard nodes
#   SINGLE_ARGS         extra flags for the single node, e.g. "--durability none"
#   PEERS               path of redis-stack.sh [../shared/peers/redis-stack.sh]
#   NO_BUILD=1          use the existing release binary
#
# Prints two markdown tables (writes; reads) and the machine it ran on. Servers and
# clients share the machine, so with few cores (see nproc in the output) read scaling is
# bounded by CPU, not by the shard.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BASE_PORT=${BASE_PORT:-7590}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
N1=${N1:-100000}
NP=${NP:-500000}
KEYSPACE=${KEYSPACE:-100000}
READ_PIPELINE=${READ_PIPELINE:-16}
READ_N=${READ_N:-1000000}
REPEAT=${REPEAT:-3}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}
ELECTION_MS=${ELECTION_MS:-500}
SHARD_ARGS=${SHARD_ARGS:-}
SINGLE_ARGS=${SINGLE_ARGS:-}
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

NODE_PORTS=("$BASE_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2)))
SINGLE_PORT=$((BASE_PORT + 3))
CLUSTER_PEERS=$(printf '127.0.0.1:%s,' "${NODE_PORTS[@]}")
CLUSTER_PEERS=${CLUSTER_PEERS%,}

WORK=$(mktemp -d /tmp/engram-shard.XXXXXX)
PIDS=() # every engram-server this script started
cleanup() {
  local pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do stop_pid "$pid"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cli() { "$PEERS" cli "$@"; }
now() { date +%s.%N; }

# stop_pid PID: SIGTERM, then SIGKILL if it has not exited within 10 s.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "${NODE_PORTS[@]}" "$SINGLE_PORT"; do
  for p in "$port" $((port + 10000)); do
    port_free "$p" || { echo "port $p is in use; set BASE_PORT" >&2; exit 1; }
  done
done

wait_ping() {
  local port=$1
  for _ in $(seq 200); do
    if cli "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "server on port $port did not answer PING (logs in $WORK)" >&2
  return 1
}

# start NAME PORT [flags...]: an engram-server in the background, logging to WORK/NAME.log.
start() {
  local name=$1 port=$2; shift 2
  RUST_LOG=warn "$BIN" --port "$port" --dir "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

# leader: the port of the one node whose ROLE is master; fails if none within 15 s.
leader() {
  local masters port
  for _ in $(seq 150); do
    masters=()
    for port in "${NODE_PORTS[@]}"; do
      [ "$(cli "$port" role 2>/dev/null | head -1)" = master ] && masters+=("$port")
    done
    if [ "${#masters[@]}" = 1 ]; then echo "${masters[0]}"; return 0; fi
    sleep 0.1
  done
  echo "no single leader after 15 s (masters: ${masters[*]:-none}; logs in $WORK)" >&2
  return 1
}

# wait_writable PORT: until a SET there is acknowledged (the leader has committed its term).
wait_writable() {
  for _ in $(seq 150); do
    [ "$(cli "$1" set shard:bench:probe 1 2>/dev/null)" = OK ] && { cli "$1" del shard:bench:probe >/dev/null; return 0; }
    sleep 0.1
  done
  echo "port $1 did not accept a write within 15 s" >&2
  return 1
}

WARNINGS=$WORK/warnings
: >"$WARNINGS"
warn() { echo "warning: $*" >&2; echo "$*" >>"$WARNINGS"; }

# bench PORT LABEL [redis-benchmark args...] -> "rps p50 p99" (CSV columns: test, rps, avg,
# min, p50, p95, p99, max). The raw output is kept; server error replies and a failed
# redis-benchmark become warnings.
bench() {
  local port=$1 label=$2; shift 2
  local out=$WORK/bench.$BASHPID.$RANDOM # unique also when run in background subshells
  if ! "$PEERS" bench "$port" "$@" --csv >"$out.csv" 2>"$out.err"; then
    warn "$label: redis-benchmark failed: $(head -c 300 "$out.err" | tr '\n' ' ')"
  fi
  if grep -qi error "$out.csv" "$out.err"; then
    warn "$label: $(grep -hi -m1 error "$out.csv" "$out.err" | head -1)"
  fi
  awk -F'","|"' 'NF > 2 && $2 != "test" { print $3, $6, $8; exit }' "$out.csv"
}

median() { # rows "rps ..." on stdin -> the row with the median rps
  sort -n -k1,1 | awk '{ rows[NR] = $0 } END { if (NR) print rows[int((NR + 1) / 2)] }'
}

echo "machine: $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# ---- servers --------------------------------------------------------------------------
echo "starting single node on $SINGLE_PORT ($BIN $SINGLE_ARGS)" >&2
# shellcheck disable=SC2086 # SINGLE_ARGS is a list of flags
start single "$SINGLE_PORT" $SINGLE_ARGS
wait_ping "$SINGLE_PORT"

echo "starting 3-node shard on ${NODE_PORTS[*]} (peers $CLUSTER_PEERS)" >&2
for i in 1 2 3; do
  # shellcheck disable=SC2086 # SHARD_ARGS is a list of flags
  start "node$i" "${NODE_PORTS[$((i - 1))]}" --node-id "$i" --cluster-peers "$CLUSTER_PEERS" \
    --raft-heartbeat-ms "$HEARTBEAT_MS" --raft-election-timeout-ms "$ELECTION_MS" $SHARD_ARGS
done
for port in "${NODE_PORTS[@]}"; do wait_ping "$port"; done
t0=$(now)
LEADER=$(leader)
wait_writable "$LEADER"
ELECT_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "leader: port $LEADER (writable ${ELECT_SECS}s after all nodes answered PING)" >&2

# The leader before and after a shard run must be the same node, or the run measured an
# election (and probably READONLY errors).
check_leader() {
  local now_leader
  now_leader=$(leader) || { warn "$1: no leader after the run"; return 0; }
  if [ "$now_leader" != "$LEADER" ]; then
    warn "$1: leader moved from $LEADER to $now_leader"
    LEADER=$now_leader
    wait_writable "$LEADER"
  fi
}

# ---- 1. durable SET: single node vs shard leader -----------------------------------------
# Rows: target pipeline rps p50 p99
WRITES=$WORK/writes
: >"$WRITES"
for p in $PIPELINES; do
  if [ "$p" = 1 ]; then n=$N1; else n=$NP; fi
  for rep in $(seq "$REPEAT"); do
    for target in single shard; do
      if [ "$target" = single ]; then port=$SINGLE_PORT; else port=$LEADER; fi
      label="SET $target -P $p run $rep/$REPEAT"
      echo "  $label (-n $n, port $port)" >&2
      row=$(bench "$port" "$label" -t set -c "$CLIENTS" -P "$p" -n "$n" -r "$KEYSPACE")
      if [ -n "$row" ]; then echo "$target $p $row" >>"$WRITES"; fi
      if [ "$target" = shard ]; then check_leader "$label"; fi
    done
  done
done
SINGLE_DURABILITY=$(cli "$SINGLE_PORT" config get durability 2>/dev/null | tail -1)
SHARD_DURABILITY=$(cli "$LEADER" config get durability 2>/dev/null | tail -1)
# The single node is done; stop it so it takes nothing from the read runs.
stop_pid "${PIDS[0]}"
unset 'PIDS[0]'

# ---- 2. replica reads: GET served by 1, 2, 3 nodes at once --------------------------------
# Every key the GETs can draw, written through the leader, then replicated everywhere.
echo "preloading $KEYSPACE keys through the leader" >&2
python3 - "$KEYSPACE" <<'PY' | cli "$LEADER" --pipe >"$WORK/preload.out" 2>&1
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer
for i in range(n):
    k = b"key:%012d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxxx\r\n" % (len(k), k))
PY
grep -q 'errors: 0,' "$WORK/preload.out" || warn "preload: $(tail -1 "$WORK/preload.out")"
want=$(cli "$LEADER" dbsize)
[ "$want" -ge "$KEYSPACE" ] || warn "preload: leader has $want keys, expected $KEYSPACE"
for port in "${NODE_PORTS[@]}"; do
  for _ in $(seq 300); do [ "$(cli "$port" dbsize)" = "$want" ] && break; sleep 0.1; done
  got=$(cli "$port" dbsize)
  [ "$got" = "$want" ] || warn "replication: port $port has $got keys, leader $want after 30 s"
done

# Serving order: the leader, then the replicas in peer-list order.
SERVING=("$LEADER")
for port in "${NODE_PORTS[@]}"; do [ "$port" = "$LEADER" ] || SERVING+=("$port"); done

# Rows: nodes sum_rps wall_rps per-node-rps...
READS=$WORK/reads
: >"$READS"
for k in 1 2 3; do
  for rep in $(seq "$REPEAT"); do
    echo "  GET on $k node(s) (${SERVING[*]:0:$k}) -P $READ_PIPELINE run $rep/$REPEAT" >&2
    bpids=()
    t0=$(now)
    for i in $(seq 0 $((k - 1))); do
      bench "${SERVING[$i]}" "GET $k nodes run $rep, port ${SERVING[$i]}" -t get -c "$CLIENTS" \
        -P "$READ_PIPELINE" -n "$READ_N" -r "$KEYSPACE" >"$WORK/read.$k.$rep.$i" &
      bpids+=($!)
    done
    for pid in "${bpids[@]}"; do wait "$pid" || true; done
    t1=$(now)
    # shellcheck disable=SC2086 # the per-node files
    cat $(for i in $(seq 0 $((k - 1))); do echo "$WORK/read.$k.$rep.$i"; done) | awk \
      -v k="$k" -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v n="$READ_N" '
      { sum += $1; per = per " " int($1) }
      END { if (NR == k) printf "%d %d %d%s\n", sum, k * n / wall, k, per }' >>"$READS"
    check_leader "GET $k nodes run $rep"
  done
done

# ---- report -------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

echo
echo "### Durable SET: 3-node shard leader (quorum) vs single node (local)"
echo
echo "| pipeline | single rps | shard rps | shard/single | single p50 | shard p50 | single p99 | shard p99 |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $PIPELINES; do
  s=$(awk -v p="$p" '$1 == "single" && $2 == p { print $3, $4, $5 }' "$WRITES" | median)
  r=$(awk -v p="$p" '$1 == "shard" && $2 == p { print $3, $4, $5 }' "$WRITES" | median)
  read -r srps sp50 sp99 <<<"${s:-- - -}"
  read -r rrps rp50 rp99 <<<"${r:-- - -}"
  echo "| -P $p | ${srps%.*} | ${rrps%.*} | $(ratio "$rrps" "$srps") | $sp50 | $rp50 | $sp99 | $rp99 |"
done
echo
echo "SET -c $CLIENTS -r $KEYSPACE, -n $N1 (P=1) / $NP (P>1), median of $REPEAT runs; latency in ms."
echo
echo "### GET served by 1, 2, 3 shard nodes at once (one redis-benchmark per node)"
echo
echo "| nodes | total rps (sum) | vs 1 node | wall-clock rps | vs 1 node | per-node rps |"
echo "|---:|---:|---:|---:|---:|---|"
base_sum=; base_wall=
for k in 1 2 3; do
  row=$(awk -v k="$k" '$3 == k { print }' "$READS" | median)
  read -r sum wall _ per <<<"${row:-- - - -}"
  if [ "$k" = 1 ]; then base_sum=$sum base_wall=$wall; fi
  echo "| $k | $sum | $(ratio "$sum" "$base_sum") | $wall | $(ratio "$wall" "$base_wall") | $per |"
done
echo
echo "GET -c $CLIENTS -P $READ_PIPELINE -n $READ_N per node, $KEYSPACE preloaded keys, median (of the"
echo "sum) of $REPEAT runs. Serving order: leader $LEADER, then replicas. wall-clock rps = all"
echo "requests / time from first start to last finish (the sum overstates when runs finish apart)."
echo
echo "engram: $("$BIN" --version); shard durability: $SHARD_DURABILITY${SHARD_ARGS:+ ($SHARD_ARGS)};" \
  "single durability: $SINGLE_DURABILITY${SINGLE_ARGS:+ ($SINGLE_ARGS)}"
echo "shard: 3 nodes on loopback, heartbeat ${HEARTBEAT_MS} ms, election timeout ${ELECTION_MS} ms;" \
  "leader writable ${ELECT_SECS}s after start"
echo "redis-benchmark: $("$PEERS" bench 0 --version 2>/dev/null)"
echo "machine: $(nproc) cores (nproc), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "$(uname -sr); client and servers share it; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$WARNINGS" ]; then
  echo
  echo "warnings ($(wc -l <"$WARNINGS")):"
  sed 's/^/- /' "$WARNINGS"
fi
