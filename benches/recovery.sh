#!/usr/bin/env bash
# Recovery time side by side: a snapshot of KEYS keys plus LOG_MB of log after it, then a
# SIGKILL and a restart, timed until the server answers PING (not -LOADING).
#   engram:  SAVE after the keys, then the log (snapshot-log-bytes set high so it stays)
#   redis:   appendonly yes (RDB preamble): BGREWRITEAOF after the keys, then the AOF tail
# Not part of the test suite.
#
#   benches/recovery.sh     KEYS [1000000]  LOG_MB [1024]  VALUE [1000]  NO_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KEYS=${KEYS:-1000000}
LOG_MB=${LOG_MB:-1024}
VALUE=${VALUE:-1000}
ENGRAM_PORT=${ENGRAM_PORT:-7582}
REDIS_PORT=${REDIS_PORT:-7583}
PEERS=${PEERS:-$ROOT/../shared/peers/redis-stack.sh}
[ -x "$PEERS" ] || PEERS=/work/shared/peers/redis-stack.sh
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/release/engram-server
[ "${NO_BUILD:-0}" = 1 ] || cargo build --release --bin engram-server >&2

WORK=$(mktemp -d /tmp/engram-recovery.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
  "$PEERS" stop "$REDIS_PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cli() { "$PEERS" cli "$@"; }
now() { date +%s.%N; }
wait_ready() { # PORT -> seconds until PING answers PONG
  local start; start=$(now)
  until cli "$1" ping 2>/dev/null | grep -q PONG; do sleep 0.01; done
  awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
# KEYS distinct keys with small values, then enough overwrites to make LOG_MB of log.
fill() {
  local port=$1
  "$PEERS" bench "$port" -t set -n "$KEYS" -r "$KEYS" -d 16 -P 64 -c 8 -q >/dev/null 2>&1
  # -r draws keys at random: top up so exactly KEYS keys exist whatever was drawn.
  python3 - "$KEYS" <<'PY' | cli "$port" --pipe >/dev/null
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer
for i in range(n):
    k = b"key:%012d" % i
    out.write(b"*3\r\n$5\r\nSETNX\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(k), k))
PY
}
log_tail() {
  local port=$1 n=$(( LOG_MB * 1048576 / (VALUE + 60) ))
  "$PEERS" bench "$port" -t set -n "$n" -r "$KEYS" -d "$VALUE" -P 64 -c 8 -q >/dev/null 2>&1
}

echo "engram: $KEYS keys, snapshot, ${LOG_MB} MB of log" >&2
RUST_LOG=warn "$BIN" --port "$ENGRAM_PORT" --dir "$WORK/engram" --snapshot-log-bytes 100gb \
  >"$WORK/engram.log" 2>&1 &
PID=$!
wait_ready "$ENGRAM_PORT" >/dev/null
fill "$ENGRAM_PORT"
cli "$ENGRAM_PORT" save >/dev/null
log_tail "$ENGRAM_PORT"
e_keys=$(cli "$ENGRAM_PORT" dbsize)
mem() { cli "$1" info memory | awk -F: '/^used_memory:/ { printf "%.0f", $2 / 1048576 }'; }
e_mem=$(mem "$ENGRAM_PORT")
e_disk=$(du -sm "$WORK/engram" | cut -f1)
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
RUST_LOG=warn "$BIN" --port "$ENGRAM_PORT" --dir "$WORK/engram" --snapshot-log-bytes 100gb \
  >>"$WORK/engram.log" 2>&1 &
PID=$!
e_secs=$(wait_ready "$ENGRAM_PORT")
e_after=$(cli "$ENGRAM_PORT" dbsize)
e_mem_after=$(mem "$ENGRAM_PORT")
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
PID=

echo "redis: $KEYS keys, BGREWRITEAOF, ${LOG_MB} MB of AOF" >&2
mkdir -p "$WORK/redis"
"$PEERS" start "$REDIS_PORT" --dir "$WORK/redis" --appendonly yes --appendfsync everysec >/dev/null
fill "$REDIS_PORT"
cli "$REDIS_PORT" bgrewriteaof >/dev/null
until cli "$REDIS_PORT" info persistence | grep -q "aof_rewrite_in_progress:0"; do sleep 0.1; done
log_tail "$REDIS_PORT"
r_keys=$(cli "$REDIS_PORT" dbsize)
r_mem=$(mem "$REDIS_PORT")
RDIR=$(cli "$REDIS_PORT" config get dir | tail -1)
r_disk=$(du -sm "$RDIR/appendonlydir" | cut -f1)
RPID=$(cli "$REDIS_PORT" info server | awk -F: '/process_id/ { print $2 }' | tr -d '\r')
kill -9 "$RPID"
while kill -0 "$RPID" 2>/dev/null; do sleep 0.05; done
"$PEERS" start "$REDIS_PORT" --dir "$WORK/redis" --appendonly yes --appendfsync everysec >/dev/null 2>&1 &
r_secs=$(wait_ready "$REDIS_PORT")
r_after=$(cli "$REDIS_PORT" dbsize)
r_mem_after=$(mem "$REDIS_PORT")

printf '\n%-7s %10s %10s %12s %10s %16s\n' server keys "disk MB" "ready (s)" "keys after" "memory MB b/a"
printf '%-7s %10s %10s %12s %10s %16s\n' engram "$e_keys" "$e_disk" "$e_secs" "$e_after" "$e_mem/$e_mem_after"
printf '%-7s %10s %10s %12s %10s %16s\n' redis "$r_keys" "$r_disk" "$r_secs" "$r_after" "$r_mem/$r_mem_after"
awk -v e="$e_secs" -v r="$r_secs" 'BEGIN { printf "time to ready engram/redis: %.2f (lower is better)\n", e / r }'
echo "machine: $(nproc) cores; $(uname -sr)"
