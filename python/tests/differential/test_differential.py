"""Differential test: the same seeded random command sequences go to Engram and to a
reference Redis 7.4, and the replies must match (after the normalisations in diff.py).

Not part of the default suite's requirements: it runs only when a reference is reachable,

- ``ENGRAM_REFERENCE_PORT=P``: a running Redis on 127.0.0.1:P (its data is FLUSHALLed!), or
- ``ENGRAM_DIFFERENTIAL=1``: starts its own with ``/work/shared/peers/redis-stack.sh``
  (port ``ENGRAM_REFERENCE_START_PORT``, default a free one), stopped afterwards,

and is skipped otherwise. Engram is started from the built binary (see engram.server),
or ``ENGRAM_PORT=P`` points at a running one. ``ENGRAM_DIFF_SEEDS`` (default 20) seeds of
``ENGRAM_DIFF_LENGTH`` (default 150) commands run per family, in RESP2 and RESP3.
``ENGRAM_DIFF_SKIP=CMD,...`` leaves commands out; ``ENGRAM_DIFF_STRICT=1`` also reports the
known differences that diff.known() hides. A failure prints each minimised mismatch with
its seed; replay one with
``python -m differential.diff --family F --seeds N --protocol P`` (run from python/tests).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engram.server import EngramServer, free_port, ping

from .diff import run_family
from .gen import FAMILIES

STACK = Path(os.environ.get("ENGRAM_REDIS_STACK", "/work/shared/peers/redis-stack.sh"))


@pytest.fixture(scope="module")
def reference_port():
    env = os.environ.get("ENGRAM_REFERENCE_PORT")
    if env:
        port = int(env)
        if not ping(port):
            pytest.skip(f"ENGRAM_REFERENCE_PORT={port}: nothing answers PING there")
        yield port
        return
    if os.environ.get("ENGRAM_DIFFERENTIAL") != "1":
        pytest.skip("differential test needs a reference Redis: set ENGRAM_REFERENCE_PORT, "
                    f"or ENGRAM_DIFFERENTIAL=1 to start one with {STACK}")
    if not STACK.is_file():
        pytest.skip(f"ENGRAM_DIFFERENTIAL=1 but {STACK} does not exist")
    port = int(os.environ.get("ENGRAM_REFERENCE_START_PORT") or free_port())
    started = subprocess.run(["bash", str(STACK), "start", str(port)], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"could not start the reference: {started.stderr.strip()[-500:]}")
    try:
        yield port
    finally:
        subprocess.run(["bash", str(STACK), "stop", str(port)], capture_output=True)


@pytest.fixture(scope="module")
def engram_diff_port(reference_port):
    env = os.environ.get("ENGRAM_PORT")
    if env:
        yield int(env)
        return
    srv = EngramServer().start()
    try:
        yield srv.port
    finally:
        srv.cleanup()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_differential(family, reference_port, engram_diff_port):
    seeds = range(int(os.environ.get("ENGRAM_DIFF_SEEDS", "20")))
    length = int(os.environ.get("ENGRAM_DIFF_LENGTH", "150"))
    res = run_family(reference_port, engram_diff_port, family, seeds, length)
    assert res.commands > 0
    if res.mismatches:
        report = "\n\n".join(m.render() for m in res.mismatches)
        pytest.fail(f"{family}: {len(res.mismatches)} distinct mismatches "
                    f"(+{res.duplicates} repeats) in {res.commands} commands\n\n{report}",
                    pytrace=False)
