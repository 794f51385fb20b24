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
