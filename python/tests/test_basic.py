"""Strings and keys through redis-py: GET/SET with every option, expiry, DEL/EXISTS, SELECT."""

from __future__ import annotations

import time

import pytest
import redis

from engram.testing import wait_until


def test_ping_and_echo(engram):
    assert engram.ping() is True
    assert engram.echo("hello") == "hello"
    assert engram.execute_command("ECHO", "") == ""


def test_set_get_roundtrip(engram):
    assert engram.get("missing") is None
    assert engram.set("k", "v") is True
    assert engram.get("k") == "v"
    assert engram.set("k", "v2") is True
    assert engram.get("k") == "v2"


def test_set_empty_and_large_values(engram):
    assert engram.set("empty", "") is True
    assert engram.get("empty") == ""
    big = "x" * (1 << 20)
    engram.set("big", big)
    assert engram.get("big") == big


def test_set_nx_xx(engram):
    assert engram.set("k", "1", nx=True) is True
    assert engram.set("k", "2", nx=True) is None
    assert engram.get("k") == "1"
    assert engram.set("other", "1", xx=True) is None
    assert engram.exists("other") == 0
    assert engram.set("k", "3", xx=True) is True
    assert engram.get("k") == "3"


def test_set_get_option_returns_old_value(engram):
    assert engram.set("k", "a", get=True) is None
    assert engram.set("k", "b", get=True) == "a"
    assert engram.get("k") == "b"


def test_set_ex_expires(engram):
    assert engram.set("k", "v", ex=1) is True
    assert engram.get("k") == "v"
    assert wait_until(lambda: engram.get("k") is None, timeout=5.0)
    assert engram.exists("k") == 0


def test_set_px_expires(engram):
    assert engram.set("k", "v", px=150) is True
    assert wait_until(lambda: engram.get("k") is None, timeout=5.0)


def test_set_exat_pxat_in_the_past_deletes(engram):
    engram.set("k", "v")
    # An absolute time in the past: the key is gone at once (Redis semantics).
    engram.set("k", "v", exat=int(time.time()) - 10)
    assert engram.get("k") is None
    engram.set("k2", "v", pxat=int(time.time() * 1000) + 200)
    assert engram.get("k2") == "v"
    assert wait_until(lambda: engram.get("k2") is None, timeout=5.0)


def test_plain_set_clears_ttl_and_keepttl_keeps_it(engram):
    engram.set("a", "v", px=200)
    engram.set("a", "v2")  # no TTL any more
    engram.set("b", "v", px=200)
    engram.set("b", "v2", keepttl=True)
    assert wait_until(lambda: engram.get("b") is None, timeout=5.0)
    assert engram.get("a") == "v2"


def test_set_option_errors(engram):
    with pytest.raises(redis.ResponseError, match=r"^syntax error$"):
        engram.execute_command("SET", "k", "v", "NX", "XX")
    with pytest.raises(redis.ResponseError, match=r"^syntax error$"):
        engram.execute_command("SET", "k", "v", "EX", "10", "PX", "100")
    with pytest.raises(redis.ResponseError, match=r"^invalid expire time in 'set' command$"):
        engram.execute_command("SET", "k", "v", "EX", "0")
    with pytest.raises(redis.ResponseError, match=r"^invalid expire time in 'set' command$"):
        engram.execute_command("SET", "k", "v", "PX", "-5")
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range$"):
        engram.execute_command("SET", "k", "v", "EX", "soon")
    # None of the failed SETs wrote anything.
    assert engram.exists("k") == 0


def test_del_and_exists_count_keys(engram):
    engram.set("a", "1")
    engram.set("b", "2")
    assert engram.exists("a", "b", "a", "nope") == 3
    assert engram.delete("a", "nope") == 1
    assert engram.exists("a") == 0
    assert engram.delete("a") == 0
    assert engram.get("b") == "2"


def test_select_isolates_databases(engram_server):
    r0 = redis.Redis(port=engram_server.port, db=0, decode_responses=True)
    r1 = redis.Redis(port=engram_server.port, db=1, decode_responses=True)
    r0.set("k", "zero")
    assert r1.get("k") is None
    r1.set("k", "one")
    assert r0.get("k") == "zero"
    assert r1.get("k") == "one"
    with pytest.raises(redis.ResponseError, match=r"^DB index is out of range$"):
        r0.execute_command("SELECT", "16")


def test_values_are_byte_strings_not_numbers(engram):
    engram.set("n", 10)
    assert engram.get("n") == "10"
    engram.set("f", 1.5)
    assert engram.get("f") == "1.5"
