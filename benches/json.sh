#!/usr/bin/env bash
# JSON documents side by side: a release engram-server against the reference (Redis Stack
# 7.4 with RedisJSON 2.8, ../shared/peers/redis-stack.sh), both driven by the same
# redis-benchmark binary. Not part of the test suite. Issue 5's "Memory" goal and "Benchmark"
# check.
#
#   benches/json.sh                  (NO_BUILD=1 to reuse the release binary)
#
# Two passes, each on freshly started servers:
#   local: engram with its default durability (local) vs the reference with
#          --appendonly yes --appendfsync always (both acknowledge only what is on disk)
#   none:  engram --durability none              vs the reference without persistence
# In each pass:
#   1. memory: INFO used_memory of the empty server, then DOCS documents of ~1 KB (a nested
#      user profile; doc:000000000000 .. doc:<DOCS-1>, the key format of __rand_int__) loaded
#      through `redis-cli --pipe`, then used_memory again; reports bytes per document and
#      the ratio engram/reference (goal: <= 0.7 in the "none" pass, where memory is the same
#      as with durability but loading is faster).
#   2. throughput on the loaded documents, -c CLIENTS -P PIPELINE -r DOCS:
#        SET        JSON.SET doc:__rand_int__ $ '<the ~1 KB document>'   (overwrites)
#        GET        JSON.GET doc:__rand_int__ $.a.b[2].c
#        NUMINCRBY  JSON.NUMINCRBY doc:__rand_int__ $.counters.visits 1
#        ARRAPPEND  JSON.ARRAPPEND doc:__rand_int__ $.tags '"zeta"'
#      ARRAPPEND spreads over DOCS keys, so each tags array grows by about
#      REPEAT*N/DOCS elements per pass (6 at the defaults), not unboundedly.
#      Goal: at least 1.0x the reference.
#
# Environment (defaults in brackets):
#   ENGRAM_PORT [7600]  REDIS_PORT [7601]
#   PASSES ["local none"]   CLIENTS [50]   PIPELINE [16]
#   N [200000]          requests per benchmark run
#   DOCS [100000]       documents loaded, and -r for the benchmark keys
#   REPEAT [3]          runs per (server, command); the median-rps run is reported
#   TESTS [SET,GET,NUMINCRBY,ARRAPPEND]
#   PEERS               path of redis-stack.sh [../shared/peers/redis-stack.sh]
#   NO_BUILD=1          use the existing release binary
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ENGRAM_PORT=${ENGRAM_PORT:-7600}
REDIS_PORT=${REDIS_PORT:-7601}
PASSES=${PASSES:-"local none"}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
N=${N:-200000}
DOCS=${DOCS:-100000}
REPEAT=${REPEAT:-3}
TESTS=${TESTS:-SET,GET,NUMINCRBY,ARRAPPEND}
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

WORK=$(mktemp -d /tmp/engram-json-bench.XXXXXX)
ENGRAM_PID=
stop_servers() {
  if [ -n "$ENGRAM_PID" ]; then
    kill "$ENGRAM_PID" 2>/dev/null || true
    wait "$ENGRAM_PID" 2>/dev/null || true
    ENGRAM_PID=
  fi
  "$PEERS" stop "$REDIS_PORT" >/dev/null 2>&1 || true
}
cleanup() {
  stop_servers
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

# The documents: a nested user profile of ~1 KB (strings, integers, floats, booleans, null,
# arrays, nested objects), varied per key. $WORK/doc.json is the one JSON.SET writes in the
# benchmark; $WORK/load.resp is the RESP stream of DOCS JSON.SETs for redis-cli --pipe.
python3 - "$DOCS" "$WORK" <<'EOF'
import json, sys
docs, work = int(sys.argv[1]), sys.argv[2]
def doc(i):
    return {
        "id": i,
        "user": {"name": f"User Number {i}", "email": f"user{i}@example.com",
                 "active": i % 3 != 0, "age": 18 + i % 60, "score": round(i % 1000 / 7, 3),
                 "roles": ["user", "editor"],
                 "address": {"street": f"{i % 997} Long Street Name", "city": "Springfield",
                             "zip": f"{10000 + i % 89999}", "country": "US"}},
        "a": {"b": [{"c": 1, "d": "first"}, {"c": 2.5, "d": "second"},
                    {"c": f"value-{i}", "d": "third"}, {"c": None, "d": "fourth"}]},
        "tags": ["alpha", "beta", "gamma", "delta", "epsilon"],
        "counters": {"visits": i % 100, "likes": 0, "shares": 7},
        "events": [{"type": "login", "ts": 1700000000 + i, "ok": True, "ip": "10.0.0.1"},
                   {"type": "view", "ts": 1700000060 + i, "ok": True, "page": "/products/12345"},
                   {"type": "logout", "ts": 1700000120 + i, "ok": False, "reason": "timeout"}],
        "description": "A realistic user profile document with a nested address, an event "
                       "history, preferences and counters, used to measure JSON storage.",
        "prefs": {"theme": "dark", "lang": "en-US", "timezone": "Europe/Berlin",
                  "notifications": {"email": True, "sms": False, "push": True}},
        "created": "2024-01-15T10:30:00Z", "updated": "2024-06-30T18:45:12Z",
        "history": [1.5, 2.25, 3.125, 4, 5, 6.75, 7, 8.5],
    }
def text(i):
    return json.dumps(doc(i), separators=(",", ":"))
with open(f"{work}/doc.json", "w") as f:
    f.write(text(424242))
total = 0
with open(f"{work}/load.resp", "wb") as f:
    for i in range(docs):
        args = [b"JSON.SET", b"doc:%012d" % i, b"$", text(i).encode()]
        total += len(args[3])
        f.write(b"*%d\r\n" % len(args))
        for a in args:
            f.write(b"$%d\r\n%s\r\n" % (len(a), a))
with open(f"{work}/doc-bytes", "w") as f:
    f.write("%.0f" % (total / max(docs, 1)))
EOF
DOC=$(cat "$WORK/doc.json")
DOC_BYTES=$(cat "$WORK/doc-bytes")

start_servers() { # $1: extra engram-server flags, $2: extra reference flags
  local args=$1 rargs=$2
  rm -rf "$WORK/engram"
  echo "starting engram-server on $ENGRAM_PORT ($BIN $args)" >&2
  # shellcheck disable=SC2086 # args is a list of flags
  RUST_LOG=warn "$BIN" --port "$ENGRAM_PORT" --dir "$WORK/engram" $args \
    >"$WORK/engram.log" 2>&1 &
  ENGRAM_PID=$!
  wait_ping "$ENGRAM_PORT"
  echo "starting reference redis-stack on $REDIS_PORT ($rargs)" >&2
  # shellcheck disable=SC2086 # rargs is a list of flags
  "$PEERS" start "$REDIS_PORT" $rargs >/dev/null
  wait_ping "$REDIS_PORT"
}

used_memory() {
  "$PEERS" cli "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'
}

# load PORT: the DOCS documents through redis-cli --pipe; fails unless every reply was OK
load_docs() {
  local out
  out=$("$PEERS" cli "$1" --pipe <"$WORK/load.resp" 2>&1)
  if ! grep -q "errors: 0, replies: $DOCS" <<<"$out"; then
    echo "loading into port $1 failed: $out" >&2
    return 1
  fi
}

# bench PORT TEST -> "rps p99" of one redis-benchmark run
bench() {
  local port=$1 t=$2 cmd
  case "$t" in
    SET) cmd=(JSON.SET 'doc:__rand_int__' '$' "$DOC") ;;
    GET) cmd=(JSON.GET 'doc:__rand_int__' '$.a.b[2].c') ;;
    NUMINCRBY) cmd=(JSON.NUMINCRBY 'doc:__rand_int__' '$.counters.visits' 1) ;;
    ARRAPPEND) cmd=(JSON.ARRAPPEND 'doc:__rand_int__' '$.tags' '"zeta"') ;;
    *) echo "unknown test $t" >&2; return 1 ;;
  esac
  # CSV: "test","rps","avg","min","p50","p95","p99","max"; the test name is the command
  # line (with the document's quotes and commas), so count fields from the end.
  "$PEERS" bench "$port" -c "$CLIENTS" -P "$PIPELINE" -n "$N" -r "$DOCS" --csv "${cmd[@]}" \
    2>/dev/null | tail -n 1 | awk -F, '{ r = $(NF-6); p = $(NF-1); gsub(/"/, "", r);
      gsub(/"/, "", p); print r, p }'
}

median() { # rows "rps p99" on stdin -> the row with the median rps
  sort -n -k1,1 | awk '{ rows[NR] = $0 } END { if (NR) print rows[int((NR + 1) / 2)] }'
}

# sanity PORT: the commands reply as expected on a loaded server (not errors)
sanity() {
  local port=$1 k=doc:000000000002 out
  out=$("$PEERS" cli "$port" JSON.GET "$k" '$.a.b[2].c')
  [ "$out" = '["value-2"]' ] || { echo "port $port: JSON.GET gave $out" >&2; return 1; }
}

MEMORY=$WORK/memory
: >"$MEMORY"
for pass in $PASSES; do
  case "$pass" in
    local)
      # A fresh directory: the peer's default one keeps an AOF from earlier runs.
      mkdir -p "$WORK/redis-aof"
      eargs= rflags="--appendonly yes --appendfsync always" rargs="--dir $WORK/redis-aof $rflags" ;;
    none) eargs="--durability none" rflags= rargs= ;;
    *) echo "unknown pass $pass" >&2; exit 1 ;;
  esac
  echo "== pass $pass ==" >&2
  start_servers "$eargs" "$rargs"
  for server in engram redis; do
    if [ "$server" = engram ]; then port=$ENGRAM_PORT; else port=$REDIS_PORT; fi
    before=$(used_memory "$port")
    t0=$(date +%s.%N)
    load_docs "$port"
    t1=$(date +%s.%N)
    sleep 1 # let background work (log, lazy frees) settle before reading the allocator
    after=$(used_memory "$port")
    dbg=$("$PEERS" cli "$port" JSON.DEBUG MEMORY doc:000000000001 2>/dev/null || echo -)
    echo "$pass $server $before $after $t0 $t1 $dbg" >>"$MEMORY"
    sanity "$port"
  done

  RESULTS=$WORK/results-$pass
  : >"$RESULTS"
  for rep in $(seq "$REPEAT"); do
    for t in $(tr ',' ' ' <<<"$TESTS"); do
      for server in engram redis; do
        if [ "$server" = engram ]; then port=$ENGRAM_PORT; else port=$REDIS_PORT; fi
        echo "  $pass: $server $t -n $N run $rep/$REPEAT" >&2
        echo "$server $t $(bench "$port" "$t")" >>"$RESULTS"
      done
    done
  done
  ENGRAM_VERSION=$("$BIN" --version)
  DURABILITY=$("$PEERS" cli "$ENGRAM_PORT" config get durability 2>/dev/null | tail -1)
  REDIS_VERSION=$("$PEERS" cli "$REDIS_PORT" info server 2>/dev/null | grep -m1 redis_version |
    tr -d '\r')
  REJSON=$("$PEERS" cli "$REDIS_PORT" module list 2>/dev/null | tr -d '\r' |
    awk 'f == 2 { print; exit } f { f++ } $0 == "ReJSON" { f = 1 }')
  stop_servers

  echo
  echo "== throughput, engram durability $DURABILITY vs reference ${rflags:-without persistence} =="
  printf '%-10s %12s %12s %7s %10s %10s\n' \
    command "engram rps" "redis rps" ratio "engram p99" "redis p99"
  printf '%-10s %12s %12s %7s %10s %10s\n' \
    ---------- ---------- --------- ----- ---------- ---------
  for t in $(tr ',' ' ' <<<"$TESTS"); do
    e=$(awk -v t="$t" '$1 == "engram" && $2 == t { print $3, $4 }' "$RESULTS" | median)
    r=$(awk -v t="$t" '$1 == "redis" && $2 == t { print $3, $4 }' "$RESULTS" | median)
    read -r erps ep99 <<<"${e:-- -}"
    read -r rrps rp99 <<<"${r:-- -}"
    ratio=$(awk -v a="$erps" -v b="$rrps" \
      'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-10s %12s %12s %7s %10s %10s\n' "$t" "$erps" "$rrps" "$ratio" "$ep99" "$rp99"
  done
  echo
  echo "== memory, $DOCS documents of $DOC_BYTES bytes of JSON text on average =="
  printf '%-7s %14s %14s %14s %9s %9s %10s\n' \
    server "used before" "used after" "delta" "B/doc" "x text" "load s"
  for server in engram redis; do
    awk -v s="$server" -v p="$pass" -v docs="$DOCS" -v text="$DOC_BYTES" \
      '$1 == p && $2 == s { d = $4 - $3; printf "%-7s %14d %14d %14d %9.0f %9.2f %10.2f\n",
        s, $3, $4, d, d / docs, d / docs / text, $6 - $5 }' "$MEMORY"
  done
  awk -v p="$pass" '$1 == p && $2 == "engram" { e = $4 - $3; ed = $7 }
    $1 == p && $2 == "redis" { r = $4 - $3; rd = $7 }
    END { if (r > 0) printf "ratio engram/reference: %.2f (goal <= 0.70)\n", e / r
          printf "JSON.DEBUG MEMORY of one document: engram %s, reference %s\n", ed, rd }' \
    "$MEMORY"
  echo
  echo "p99 in ms. -c $CLIENTS -P $PIPELINE -n $N -r $DOCS, median of $REPEAT runs."
  echo "engram: $ENGRAM_VERSION${eargs:+ ($eargs)}; durability: $DURABILITY"
  echo "reference: $REDIS_VERSION, ReJSON $REJSON, ${rflags:---save '' --appendonly no}"
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); client and servers share it"
