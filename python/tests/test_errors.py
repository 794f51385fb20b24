"""Error replies carry Redis's exact texts and leave the connection usable."""

from __future__ import annotations

import pytest
import redis


def test_unknown_command(engram):
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command("NOSUCHCMD", "a", "b")
    assert str(e.value) == "unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "


def test_unknown_command_without_args(engram):
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command("NOSUCHCMD")
    assert str(e.value) == "unknown command 'NOSUCHCMD', with args beginning with: "


@pytest.mark.parametrize(
    "args,name",
    [(("GET",), "get"), (("GET", "a", "b"), "get"), (("SET", "k"), "set"), (("EXISTS",), "exists"),
     (("DEL",), "del"), (("ECHO",), "echo"), (("PING", "a", "b"), "ping")],
)
def test_wrong_arity(engram, args, name):
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command(*args)
    assert str(e.value) == f"wrong number of arguments for '{name}' command"


def test_syntax_error(engram):
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command("SET", "k", "v", "BOGUS")
    assert str(e.value) == "syntax error"


def test_not_an_integer(engram):
    with pytest.raises(redis.ResponseError) as e:
        engram.execute_command("SELECT", "x")
    assert str(e.value) == "value is not an integer or out of range"


def test_connection_survives_errors(engram):
    for _ in range(3):
        with pytest.raises(redis.ResponseError):
            engram.execute_command("NOSUCHCMD")
    assert engram.set("k", "v") is True
    assert engram.get("k") == "v"


def test_pipeline_errors_stay_in_place(engram):
    pipe = engram.pipeline(transaction=False)
    pipe.set("a", "1")
    pipe.execute_command("NOSUCHCMD")
    pipe.get("a")
    pipe.execute_command("GET")
    pipe.get("a")
    out = pipe.execute(raise_on_error=False)
    assert out[0] is True
    assert isinstance(out[1], redis.ResponseError)
    assert out[2] == "1"
    assert isinstance(out[3], redis.ResponseError)
    assert str(out[3]) == "wrong number of arguments for 'get' command"
    assert out[4] == "1"


def test_which_error_wins_follows_redis(engram):
    """Where a command has several faults, the one Redis checks first is reported."""
    engram.set("str", "x")
    engram.zadd("z", {"a": 1})
    # A wrong-type key is found before a bad option after the keys...
    for args in (("ZINTER", 2, "str", "z", "WITHSCORES", "COUNT"), ("ZUNIONSTORE", "d", 2, "str", "z", "FOO"),
                 ("ZINTERCARD", 2, "str", "z", "LIMIT", -1)):
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            engram.execute_command(*args)
    # ...but SINTERCARD reads its LIMIT first, and ZPOPMIN counts its arguments first.
    engram.sadd("s", "a")
    with pytest.raises(redis.ResponseError, match="^LIMIT can't be negative"):
        engram.execute_command("SINTERCARD", 2, "str", "s", "LIMIT", -1)
    with pytest.raises(redis.ResponseError, match="^syntax error"):
        engram.execute_command("ZPOPMIN", "z", -1, "COUNT")
    assert engram.zcard("z") == 1


def test_doubles_accept_strtod_hexadecimal(engram):
    assert engram.execute_command("ZADD", "h", "0x10", "a", "0x1.8p1", "b") == 2
    assert engram.zscore("h", "a") == 16.0 and engram.zscore("h", "b") == 3.0
    assert float(engram.execute_command("INCRBYFLOAT", "f", "0x1p3")) == 8.0
    with pytest.raises(redis.ResponseError, match="not a valid float"):
        engram.execute_command("ZADD", "h", "0x", "c")
