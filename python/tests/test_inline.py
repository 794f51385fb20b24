"""The inline protocol (what telnet and `redis-cli` in a pipe send), over a raw socket."""

from __future__ import annotations


def test_inline_ping(raw):
    c = raw()
    assert c.exchange(b"PING\r\n", b"+PONG\r\n") == b"+PONG\r\n"


def test_inline_lf_only_and_blank_lines(raw):
    c = raw()
    # A bare LF ends a line too, and empty lines are ignored.
    assert c.exchange(b"\r\n\nPING\n", b"+PONG\r\n") == b"+PONG\r\n"


def test_inline_set_get(raw):
    c = raw()
    expected = b"+OK\r\n$5\r\nvalue\r\n"
    assert c.exchange(b"SET key value\r\nGET key\r\n", expected) == expected


def test_inline_quotes_and_escapes(raw, engram_bytes):
    c = raw()
    expected = b"+OK\r\n+OK\r\n+OK\r\n"
    line = b"SET \"a key\" 'single quoted'\r\nSET esc \"x\\x00y\\r\\n\\t\\\"\"\r\nSET sq 'it\\'s'\r\n"
    assert c.exchange(line, expected) == expected
    assert engram_bytes.get(b"a key") == b"single quoted"
    assert engram_bytes.get(b"esc") == b"x\x00y\r\n\t\""
    assert engram_bytes.get(b"sq") == b"it's"


def test_inline_unbalanced_quotes_is_a_protocol_error(raw):
    c = raw()
    c.send(b"SET \"oops value\r\n")
    out = c.read_until_closed()
    assert out == b"-ERR Protocol error: unbalanced quotes in request\r\n"


def test_inline_unknown_command(raw):
    c = raw()
    expected = b"-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n"
    assert c.exchange(b"NOPE x\r\n", expected) == expected


def test_inline_and_multibulk_mixed_in_one_write(raw):
    c = raw()
    data = b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n*1\r\n$4\r\nPING\r\n"
    expected = b"+PONG\r\n+OK\r\n$1\r\nv\r\n+PONG\r\n"
    assert c.exchange(data, expected) == expected


def test_command_split_across_writes(raw):
    c = raw()
    data = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
    for i in range(len(data)):
        c.send(data[i : i + 1])
    expected = b"+OK\r\n$5\r\nvalue\r\n"
    assert c.read_exactly(len(expected)) == expected


def test_protocol_errors_close_only_that_connection(raw):
    bad = raw()
    bad.send(b"*2\r\n$3\r\nGET\r\n$-5\r\n")
    assert bad.read_until_closed() == b"-ERR Protocol error: invalid bulk length\r\n"
    good = raw()
    assert good.exchange(b"PING\r\n", b"+PONG\r\n") == b"+PONG\r\n"
