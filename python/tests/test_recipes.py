"""The recipes in examples/recipes/: a session store and a leaderboard survive ``kill -9``.

Each recipe's own functions write through redis-py; the server is killed with SIGKILL,
restarted on the same data directory, and the recipe's ``verify`` checks everything the
clients were told was written (values, TTLs, scores, ranks). The scripts are also run as a
user runs them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(engram_factory):
    return engram_factory()


def test_sessions_survive_sigkill_with_their_ttls(server):
    recipe = load("session_store")
    store = recipe.SessionStore(server.client(decode_responses=True), ttl_s=600)
    state = recipe.populate(store)
    ttls = {sid: server.client().pexpiretime(store.prefix + sid) for sid in state["sessions"]}
    server.crash()
    server.restart()
    store = recipe.SessionStore(server.client(decode_responses=True), ttl_s=600)
    recipe.verify(store, state)
    # Absolute deadlines, not just "some TTL": a restart must not extend or reset them.
    assert {sid: server.client().pexpiretime(store.prefix + sid) for sid in ttls} == ttls


def test_a_touched_session_slides_and_a_destroyed_one_stays_gone(server):
    recipe = load("session_store")
    store = recipe.SessionStore(server.client(decode_responses=True), ttl_s=100)
    sid = store.create("ada")
    store.r.expire(store.prefix + sid, 5)
    assert store.touch(sid, cart="3")["cart"] == "3"
    assert store.ttl(sid) > 5
    assert store.destroy(sid)
    assert store.touch(sid, cart="4") is None
    server.crash()
    server.restart()
    store = recipe.SessionStore(server.client(decode_responses=True))
    assert store.get(sid) is None and store.count() == 0


def test_leaderboard_survives_sigkill(server):
    recipe = load("leaderboard")
    board = recipe.Leaderboard(server.client(decode_responses=True), game="cup")
    totals = recipe.play(board, players=100, rounds=1000)
    top = board.top(10)
    server.crash()
    server.restart()
    board = recipe.Leaderboard(server.client(decode_responses=True), game="cup")
    recipe.verify(board, totals)
    assert board.top(10) == top
    # Points keep adding up after the restart.
    leader, score = top[0]
    assert board.add_points(leader, 1) == score + 1


@pytest.mark.parametrize("name", ["session_store", "leaderboard"])
def test_recipe_script_runs_its_own_crash_demo(name):
    out = subprocess.run([sys.executable, str(RECIPES / f"{name}.py")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "killed engram-server with SIGKILL" in out.stdout
    assert "after the crash:" in out.stdout
