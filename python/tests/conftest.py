"""Fixtures: a fresh engram-server per test (start-up takes milliseconds), and clients.

- ``engram_server``: the running :class:`engram.server.EngramServer`.
- ``engram``: a ``redis.Redis`` client (RESP2, ``decode_responses=True``).
- ``engram_bytes``: the same without decoding (binary-safe tests).
- ``engram_port``: the port, for raw-socket tests (see ``raw`` below).
- ``engram_factory``: ``engram_factory("--maxclients", "2")`` starts extra servers with
  flags; all are stopped at the end of the test.
"""

from __future__ import annotations

import pytest
import redis

from engram.server import EngramServer
from engram.testing import Raw


@pytest.fixture
def engram_factory():
    started: list[EngramServer] = []

    def make(*args: str, **kwargs) -> EngramServer:
        srv = EngramServer(list(args), **kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.cleanup()


@pytest.fixture
def engram_server(engram_factory) -> EngramServer:
    return engram_factory()


@pytest.fixture
def engram_port(engram_server) -> int:
    return engram_server.port


@pytest.fixture
def engram(engram_server):
    client = redis.Redis(host="127.0.0.1", port=engram_server.port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def engram_bytes(engram_server):
    client = redis.Redis(host="127.0.0.1", port=engram_server.port)
    yield client
    client.close()


@pytest.fixture
def raw(engram_port):
    """``raw()`` opens a new raw connection to the test's server."""
    conns: list[Raw] = []

    def connect() -> Raw:
        c = Raw(engram_port)
        conns.append(c)
        return c

    yield connect
    for c in conns:
        c.close()
