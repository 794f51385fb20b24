#!/usr/bin/env bash
# Durable writes side by side: engram-server (durability local: fdatasync before every
# reply, group commit) against reference Redis 7.4 with `--appendonly yes --appendfsync
# always`, then engram with durability none against Redis without persistence.
# SET and INCR at -c 1, -c 50 and -c 50 -P 16. Not part of the test suite.
#
#   benches/durability.sh            (NO_BUILD=1 to reuse the release binary)
#
# Goals (issue: durable log): -c 50 >= 1.2x, -c 50 -P 16 >= 2x the reference with lower
# p99; durability none >= 1.0x Redis without persistence.
set -euo pipefail
cd "$(dirname "$0")/.."
export TESTS=${TESTS:-set,incr} REPEAT=${REPEAT:-3} KEYSPACE=${KEYSPACE:-100000}
cargo build --release --bin engram-server >&2
export NO_BUILD=1

echo "== durable: engram durability local vs redis appendfsync always =="
CLIENTS=1 PIPELINES=1 N1=${N_SINGLE:-5000} \
  REDIS_ARGS="--appendonly yes --appendfsync always" benches/load.sh
CLIENTS=50 PIPELINES="1 16" N1=${N1:-100000} NP=${NP:-500000} \
  REDIS_ARGS="--appendonly yes --appendfsync always" benches/load.sh

echo "== cache: engram durability none vs redis without persistence =="
CLIENTS=50 PIPELINES="1 16" N1=${N1:-100000} NP=${NP:-500000} \
  ENGRAM_ARGS="--durability none" benches/load.sh
