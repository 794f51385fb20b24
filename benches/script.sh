#!/usr/bin/env bash
# EVALSHA throughput side by side: a release engram-server against reference Redis 7.4
# (../shared/peers/redis-stack.sh), both driven by the peers script's bench client.
# The script is small and writes: GET + INCR + EXPIRE on KEYS[1].
# Not part of the test suite.
#
#   benches/script.sh
#
# Two pairs, each started fresh:
#   durable: engram (durability local) vs reference with --appendonly yes --appendfsync always
#   cache:   engram --durability none  vs reference without persistence
# and two key patterns: random keys (key:__rand_int__ out of KEYSPACE) and one hot key.
#
# Environment (defaults in brackets):
#   ENGRAM_PORT [7410]  REDIS_PORT [16410]
#   CLIENTS [50]  PIPELINE [16]  N [200000]  KEYSPACE [100000]
#   REPEAT [3]          runs per (server, keys); the median-rps run is reported
#   PAIRS ["durable cache"]
#   PEERS               path of redis-stack.sh [../shared/peers/redis-stack.sh]
#   NO_BUILD=1          use the existing release binary
#
# Goal (scripting issue): at least 1.0x the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ENGRAM_PORT=${ENGRAM_PORT:-7410}
REDIS_PORT=${REDIS_PORT:-16410}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
N=${N:-200000}
KEYSPACE=${KEYSPACE:-100000}
REPEAT=${REPEAT:-3}
PAIRS=${PAIRS:-"durable cache"}
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

SCRIPT="redis.call('GET', KEYS[1]) local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 3600) return n"

WORK=$(mktemp -d /tmp/engram-script-bench.XXXXXX)
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

cli() { "$PEERS" cli "$@" 2>/dev/null; }

wait_ping() {
  local port=$1
  for _ in $(seq 200); do
    if cli "$port" ping | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "server on port $port did not answer PING" >&2
  return 1
}

# load PORT -> prints the sha if the server ran the script once, nothing otherwise
load() {
  local port=$1 sha out
  sha=$(cli "$port" script load "$SCRIPT" | tr -d '\r')
  [[ "$sha" =~ ^[0-9a-f]{40}$ ]] || { echo "  port $port: SCRIPT LOAD failed: $sha" >&2; return 0; }
  out=$(cli "$port" evalsha "$sha" 1 bench:probe | tr -d '\r')
  [ "$out" = 1 ] || { echo "  port $port: EVALSHA returned '$out'" >&2; return 0; }
  cli "$port" del bench:probe >/dev/null
  echo "$sha"
}

# bench PORT SHA KEY -> "rps p99"
bench() {
  local port=$1 sha=$2 key=$3
  "$PEERS" bench "$port" -c "$CLIENTS" -P "$PIPELINE" -n "$N" -r "$KEYSPACE" --csv \
    evalsha "$sha" 1 "$key" 2>/dev/null | tail -n +2 |
    awk -F'","|"' 'NF > 2 { print $3, $8 }'
}

median() { # rows "rps p99" on stdin -> the row with the median rps
  sort -n -k1,1 | awk '{ rows[NR] = $0 } END { if (NR) print rows[int((NR + 1) / 2)] }'
}

RESULTS=$WORK/results
: >"$RESULTS"
for pair in $PAIRS; do
  case "$pair" in
    durable) engram_args="" redis_args="--appendonly yes --appendfsync always" ;;
    cache) engram_args="--durability none" redis_args="" ;;
    *) echo "unknown pair $pair (durable, cache)" >&2; exit 2 ;;
  esac
  echo "== $pair: engram ${engram_args:-(durability local)} vs redis ${redis_args:-(no persistence)}" >&2
  rm -rf "$WORK/engram"
  # shellcheck disable=SC2086 # engram_args is a list of flags
  RUST_LOG=warn "$BIN" --port "$ENGRAM_PORT" --dir "$WORK/engram" $engram_args \
    >"$WORK/engram-$pair.log" 2>&1 &
  ENGRAM_PID=$!
  wait_ping "$ENGRAM_PORT"
  stop_redis
  # shellcheck disable=SC2086 # redis_args is a list of flags
  "$PEERS" start "$REDIS_PORT" $redis_args >/dev/null
  wait_ping "$REDIS_PORT"
  cli "$REDIS_PORT" flushall >/dev/null
  if [ "$pair" = durable ] && [ "$(cli "$REDIS_PORT" config get appendfsync | tail -1)" != always ]; then
    echo "reference did not take appendfsync always" >&2
    exit 1
  fi
  REDIS_VERSION=$(cli "$REDIS_PORT" info server | grep -m1 redis_version | tr -d '\r')

  esha=$(load "$ENGRAM_PORT")
  rsha=$(load "$REDIS_PORT")
  if [ -n "$esha" ] && [ -n "$rsha" ] && [ "$esha" != "$rsha" ]; then
    echo "SCRIPT LOAD shas differ: engram $esha, redis $rsha" >&2
    exit 1
  fi

  for keys in random hot; do
    if [ "$keys" = random ]; then key="key:__rand_int__"; else key="key:hot"; fi
    for rep in $(seq "$REPEAT"); do
      for server in engram redis; do
        if [ "$server" = engram ]; then port=$ENGRAM_PORT sha=$esha; else port=$REDIS_PORT sha=$rsha; fi
        [ -n "$sha" ] || continue
        echo "  $server $keys run $rep/$REPEAT" >&2
        bench "$port" "$sha" "$key" | awk -v p="$pair" -v k="$keys" -v s="$server" \
          '{ print p, k, s, $1, $2 }' >>"$RESULTS"
      done
    done
    # The script really ran: the hot key counted every request of every run.
    if [ "$keys" = hot ]; then
      for server in engram redis; do
        if [ "$server" = engram ]; then port=$ENGRAM_PORT sha=$esha; else port=$REDIS_PORT sha=$rsha; fi
        [ -n "$sha" ] || continue
        got=$(cli "$port" get key:hot | tr -d '\r')
        want=$((N * REPEAT))
        [ "$got" = "$want" ] || echo "  warning: $server key:hot = $got, expected $want" >&2
      done
    fi
  done
  stop_engram
  stop_redis
done

printf '\n%-8s %-7s %12s %12s %7s %10s %10s\n' \
  pair keys "engram rps" "redis rps" ratio "engram p99" "redis p99"
printf '%-8s %-7s %12s %12s %7s %10s %10s\n' \
  ---- ---- ---------- --------- ----- ---------- ---------
for pair in $PAIRS; do
  for keys in random hot; do
    e=$(awk -v p="$pair" -v k="$keys" '$1 == p && $2 == k && $3 == "engram" { print $4, $5 }' \
      "$RESULTS" | median)
    r=$(awk -v p="$pair" -v k="$keys" '$1 == p && $2 == k && $3 == "redis" { print $4, $5 }' \
      "$RESULTS" | median)
    read -r erps ep99 <<<"${e:-- -}"
    read -r rrps rp99 <<<"${r:-- -}"
    ratio=$(awk -v a="$erps" -v b="$rrps" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-8s %-7s %12s %12s %7s %10s %10s\n' "$pair" "$keys" "$erps" "$rrps" "$ratio" "$ep99" "$rp99"
  done
done
echo
echo "EVALSHA <sha> 1 KEY of: $SCRIPT"
echo "p99 in ms. -c $CLIENTS -P $PIPELINE -n $N, random keys out of $KEYSPACE; median of $REPEAT runs."
echo "durable: engram durability local vs redis appendfsync always; cache: engram durability none vs redis without persistence."
echo "engram: $("$BIN" --version)"
echo "redis:  ${REDIS_VERSION:-?}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); client and servers share it"
