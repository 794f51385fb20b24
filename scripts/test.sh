#!/usr/bin/env bash
# The whole test suite, Rust and Python, as CI runs it:
#   build the server, rustfmt check, clippy (warnings are errors), cargo test,
#   then the Python compatibility suite (redis-py) in .venv against the debug binary.
#
# Environment:
#   CARGO_TARGET_DIR   honoured everywhere (the Python tests find the binary there too)
#   ENGRAM_SKIP_PYTHON=1   skip the Python part (quick Rust-only runs)
#   PYTHON             interpreter used to create .venv (default: python3)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
START=$SECONDS

step "cargo build --bin engram-server"
cargo build --bin engram-server

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace --no-fail-fast"
cargo test --workspace --no-fail-fast

if [ "${ENGRAM_SKIP_PYTHON:-0}" = "1" ]; then
  echo "ENGRAM_SKIP_PYTHON=1: Python suite skipped"
  exit 0
fi

VENV=$ROOT/.venv
STAMP=$VENV/.engram-installed
if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
# Reinstall only when the package definition changed since the last install.
if [ ! -f "$STAMP" ] || [ python/pyproject.toml -nt "$STAMP" ]; then
  step "pip install -e 'python[test]'"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "python[test]"
  touch "$STAMP"
fi

TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
export ENGRAM_BIN=$TARGET_DIR/debug/engram-server
[ -x "$ENGRAM_BIN" ] || { echo "missing $ENGRAM_BIN" >&2; exit 1; }

step "pytest python/tests (server: $ENGRAM_BIN)"
"$VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider

echo
echo "all tests passed in $((SECONDS - START)) s"
