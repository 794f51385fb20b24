"""Durable leaderboard: a sorted set of scores, surviving ``kill -9``.

Players' scores live in the sorted set ``leaderboard:<game>``: ``ZINCRBY`` adds points
atomically, ``ZREVRANGE ... WITHSCORES`` gives the top N, ``ZREVRANK`` a player's rank and
``ZCOUNT`` how many are above a score. Player profiles sit beside it in hashes. Every
acknowledged ``ZINCRBY`` is on disk, so a crash loses no points.

Run it (starts its own engram-server in a temporary directory, kills it with SIGKILL,
restarts it on the same data and checks the board)::

    cargo build --bin engram-server
    python examples/recipes/leaderboard.py

``--url redis://host:port`` runs the board against a server you started instead (the crash
step is skipped).
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Optional

import redis


class Leaderboard:
    def __init__(self, client: redis.Redis, game: str = "demo") -> None:
        self.r = client
        self.key = f"leaderboard:{game}"

    def add_points(self, player: str, points: float) -> float:
        return self.r.zincrby(self.key, points, player)

    def top(self, n: int = 10) -> list[tuple[str, float]]:
        return self.r.zrevrange(self.key, 0, n - 1, withscores=True)

    def rank(self, player: str) -> Optional[int]:
        """1-based rank, highest score first; None for an unknown player."""
        r = self.r.zrevrank(self.key, player)
        return None if r is None else r + 1

    def score(self, player: str) -> Optional[float]:
        return self.r.zscore(self.key, player)

    def around(self, player: str, span: int = 2) -> list[tuple[str, float]]:
        """The players ranked just above and below ``player``."""
        r = self.r.zrevrank(self.key, player)
        if r is None:
            return []
        return self.r.zrevrange(self.key, max(0, r - span), r + span, withscores=True)

    def count_at_least(self, score: float) -> int:
        return self.r.zcount(self.key, score, "+inf")

    def remove(self, player: str) -> bool:
        return self.r.zrem(self.key, player) == 1

    def size(self) -> int:
        return self.r.zcard(self.key)


def play(board: Leaderboard, players: int = 200, rounds: int = 2000, seed: int = 7) -> dict:
    """Random games; returns the totals every player must have."""
    rng = random.Random(seed)
    totals: dict[str, float] = {}
    pipe = board.r.pipeline(transaction=False)
    for _ in range(rounds):
        player = f"player{rng.randrange(players):03d}"
        points = rng.randint(1, 100)
        totals[player] = totals.get(player, 0) + points
        pipe.zincrby(board.key, points, player)
    pipe.execute()
    cheater = max(totals, key=totals.get)
    board.remove(cheater)
    del totals[cheater]
    return totals


def verify(board: Leaderboard, totals: dict) -> None:
    expected = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    assert board.size() == len(totals)
    top = board.top(10)
    assert [s for _, s in top] == [s for _, s in expected[:10]], (top, expected[:10])
    for player, total in totals.items():
        assert board.score(player) == total, player
    leader = top[0][0]
    assert board.rank(leader) == 1
    assert board.count_at_least(top[-1][1]) >= 10


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="use this server (no crash demo)")
    args = parser.parse_args(argv)

    if args.url:
        board = Leaderboard(redis.Redis.from_url(args.url, decode_responses=True))
        board.r.delete(board.key)
        totals = play(board)
        verify(board, totals)
        print(f"{board.size()} players on the board at {args.url}; top 3: {board.top(3)}")
        return 0

    from engram.server import EngramServer  # noqa: PLC0415

    with EngramServer() as server:
        board = Leaderboard(server.client(decode_responses=True))
        totals = play(board)
        before = board.top(5)
        print(f"{board.size()} players; top 5 before the crash: {before}")
        server.crash()
        print(f"killed engram-server with SIGKILL; restarting on {server.data_dir}")
        server.restart()
        board = Leaderboard(server.client(decode_responses=True))
        verify(board, totals)
        assert board.top(5) == before
        leader, middle = before[0][0], sorted(totals)[len(totals) // 2]
        print(f"after the crash: top 5 {board.top(5)}; {leader} is rank {board.rank(leader)}; "
              f"{middle} is rank {board.rank(middle)} between {board.around(middle, 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
