"""RESP3: HELLO, and redis-py's protocol=3 client."""

from __future__ import annotations

import pytest
import redis


def test_hello_3_reply_shape(engram_server):
    r = redis.Redis(port=engram_server.port, protocol=3, decode_responses=True)
    hello = r.execute_command("HELLO", "3")
    assert isinstance(hello, dict)
    assert hello["server"] == "redis"
    assert hello["proto"] == 3
    assert isinstance(hello["id"], int)
    assert hello["mode"] == "standalone"
    assert hello["role"] == "master"
    assert isinstance(hello["modules"], list)
    assert tuple(int(x) for x in hello["version"].split(".")[:2]) >= (7, 0)


def test_hello_2_is_a_flat_list(engram):
    hello = engram.execute_command("HELLO", "2")
    # RESP2: an array of alternating names and values; redis-py hands it back as a list
    # (or a dict with newer callbacks): check both forms.
    if isinstance(hello, list):
        hello = dict(zip(hello[::2], hello[1::2]))
    assert hello["proto"] == 2
    assert hello["server"] == "redis"


def test_hello_unsupported_version(engram):
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command("HELLO", "4")
    assert str(e.value) == "NOPROTO unsupported protocol version"
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command("HELLO", "x")
    assert str(e.value) == "Protocol version is not an integer or out of range"


def test_resp3_client_basic_commands(engram_server):
    r = redis.Redis(port=engram_server.port, protocol=3, decode_responses=True)
    assert r.ping() is True
    assert r.get("missing") is None
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.set("k", "w", get=True) == "v"
    assert r.exists("k", "missing") == 1
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("NOSUCHCMD")
    assert str(e.value).startswith("unknown command 'NOSUCHCMD'")


def test_resp3_pipeline(engram_server):
    r = redis.Redis(port=engram_server.port, protocol=3, decode_responses=True)
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"k{i}", i)
        pipe.get(f"k{i}")
        pipe.get(f"nokey{i}")
    out = pipe.execute()
    assert out == [x for i in range(200) for x in (True, str(i), None)]


def test_resp3_null_on_the_wire(raw):
    c = raw()
    c.send(b"HELLO 3\r\nGET nosuchkey\r\n")
    out = c.read_until(b"_\r\n")
    assert out.startswith(b"%7\r\n")
    assert out.endswith(b"_\r\n")


def test_resp2_null_on_the_wire(raw):
    c = raw()
    assert c.exchange(b"GET nosuchkey\r\n", b"$-1\r\n") == b"$-1\r\n"
