#!/usr/bin/env python3
"""Runs json/tests/cases.in against a reference RedisJSON and writes json/tests/cases.txt.

    ../shared/peers/redis-stack.sh start 16380
    python3 json/tests/refcases.py [port]        # default $REFCASES_PORT, else 16380
    ../shared/peers/redis-stack.sh stop 16380

cases.in: one command per line (shell quoting, `#` comments). Keys are prefixed with
`ejt:` on the reference and flushed first. cases.txt holds each command as a JSON array
followed by `=> <reply>`, the reply rendered by render() below; json/tests/reference.rs
renders our replies the same way and compares.
"""
import json, os, shlex, socket, sys

HERE = os.path.dirname(os.path.abspath(__file__))


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def call(self, args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            b = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(b), b)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return ("simple", rest.decode())
        if t == b"-":
            return ("error", rest.decode("utf-8", "replace"))
        if t == b":":
            return ("int", int(rest))
        if t == b"$":
            n = int(rest)
            if n < 0:
                return ("nil",)
            data = self.f.read(n + 2)[:-2]
            return ("bulk", data.decode("utf-8", "replace"))
        if t == b"*":
            n = int(rest)
            if n < 0:
                return ("nil",)
            return ("array", [self.read() for _ in range(n)])
        raise ValueError(line)


def render(r):
    k = r[0]
    if k == "simple":
        return "+" + r[1]
    if k == "error":
        return "!" + r[1]
    if k == "int":
        return ":" + str(r[1])
    if k == "nil":
        return "nil"
    if k == "bulk":
        return json.dumps(r[1], ensure_ascii=False)
    return "[" + ", ".join(render(x) for x in r[1]) + "]"


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("REFCASES_PORT", 16380))
    c = Conn(port)
    keys = c.call(["KEYS", "ejt:*"])
    for k in keys[1]:
        c.call(["DEL", k[1]])
    out = []
    with open(os.path.join(HERE, "cases.in"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            args = shlex.split(line)
            sent = list(args)
            # The key: JSON.DEBUG's comes after its subcommand.
            ki = 2 if sent[0].upper() == "JSON.DEBUG" else 1
            if len(sent) > ki and sent[0].upper() not in ("PING",):
                sent[ki] = "ejt:" + sent[ki]
            out.append(json.dumps(args, ensure_ascii=False))
            out.append("=> " + render(c.call(sent)))
    for k in c.call(["KEYS", "ejt:*"])[1]:
        c.call(["DEL", k[1]])
    with open(os.path.join(HERE, "cases.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print(f"{len(out) // 2} cases written")


if __name__ == "__main__":
    main()
