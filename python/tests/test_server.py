"""The server process: flags, config file, limits, graceful stop (via engram.server)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from engram.server import EngramServer, find_binary
from engram.testing import Raw, wait_until


def test_binary_is_found():
    assert find_binary().name == "engram-server"


def test_data_dir_is_created(tmp_path):
    data = tmp_path / "nested" / "data"
    with EngramServer(data_dir=data) as srv:
        assert redis.Redis(port=srv.port).ping()
        assert data.is_dir()


def test_config_file_with_flag_override(tmp_path, engram_factory):
    conf = tmp_path / "engram.conf"
    conf.write_text("# a comment\nmaxclients 77\nproto-max-bulk-len 2048\nport 1\n")
    # --port from the command line wins over the file's `port 1`.
    srv = engram_factory(config_file=conf)
    r = redis.Redis(port=srv.port)
    assert r.ping()
    c = Raw(srv.port)
    try:
        big = b"x" * 4096
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(big), big))
        assert c.read_until_closed() == b"-ERR Protocol error: invalid bulk length\r\n"
    finally:
        c.close()


def test_maxclients(engram_factory):
    srv = engram_factory("--maxclients", "2")
    # The start-up probe's connection is unregistered asynchronously: retry until admitted.
    a = _admitted(srv.port)
    b = _admitted(srv.port)
    try:
        c = Raw(srv.port)
        try:
            assert c.read_until_closed() == b"-ERR max number of clients reached\r\n"
        finally:
            c.close()
    finally:
        a.close()
        b.close()
    # Once a slot is free again a new client gets in.
    ok = wait_until(lambda: _ping_raw(srv.port), timeout=5.0)
    assert ok


def _admitted(port: int) -> Raw:
    deadline = time.monotonic() + 5
    while True:
        c = Raw(port)
        if c.exchange(b"PING\r\n", b"+PONG\r\n") == b"+PONG\r\n":
            return c
        c.close()
        assert time.monotonic() < deadline, "no connection admitted"
        time.sleep(0.02)


def _ping_raw(port: int) -> bool:
    c = Raw(port, timeout=1.0)
    try:
        return c.exchange(b"PING\r\n", b"+PONG\r\n") == b"+PONG\r\n"
    except OSError:
        return False
    finally:
        c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully(engram_factory, sig):
    srv = engram_factory()
    r = redis.Redis(port=srv.port)
    r.set("k", "v")
    os.kill(srv.pid, sig)
    deadline = time.monotonic() + 10
    while srv.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.proc.poll() == 0, "server did not exit cleanly after the signal"
