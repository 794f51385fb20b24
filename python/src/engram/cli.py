"""``engram-rag``: ingest a folder of text files into Engram, then ask questions about it.

::

    engram-rag ingest examples/rag/corpus
    engram-rag ask "How does the write-ahead log survive a crash?" --filter tag=durability -k 5
    engram-rag eval examples/rag/eval.json

The server comes from ``--url`` (default ``$ENGRAM_URL``, else ``redis://127.0.0.1:6379``);
the embedding from ``--embedding`` (default ``$ENGRAM_RAG_EMBEDDING``, else the MiniLM model
when installed, else the hashed bag of words). ``ask`` uses the embedding the index was
built with unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import redis

from .embeddings import get_embedding
from .rag import DEFAULT_INDEX, Answer, RagIndex, find_files, load_document, load_eval

DEFAULT_URL = "redis://127.0.0.1:6379"


def _index(args: argparse.Namespace, for_ingest: bool) -> RagIndex:
    client = redis.Redis.from_url(args.url, decode_responses=True)
    # For ingest the embedding is always chosen now; for queries the index remembers its own.
    embedding = get_embedding(args.embedding) if (for_ingest or args.embedding) else None
    return RagIndex(client, embedding, args.index)


def print_answer(answer: Answer, out=sys.stdout, show_chunks: bool = True) -> None:
    """Retrieved chunks with scores and sources, then the answer and its citations."""
    print(f"Q: {answer.question}", file=out)
    if show_chunks:
        for i, h in enumerate(answer.hits, 1):
            text = h.text if len(h.text) <= 220 else h.text[:217] + "..."
            print(f"  {i}. score={h.score:.4f}  {h.source}#{h.position}  tags={','.join(h.tags)}",
                  file=out)
            print(f"     {text}", file=out)
    print(f"A: {answer.render()}", file=out)
    t = answer.timings_ms
    if t:
        print(f"   (retrieve {t.get('retrieve', 0):.1f} ms, answer {t.get('answer', 0):.1f} ms)",
              file=out)


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415 (only the ingest needs it)

    root = Path(args.dir)
    if not root.is_dir():
        print(f"engram-rag: {root} is not a directory", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    index = _index(args, for_ingest=True)
    t_model = time.perf_counter() - t0
    index.create(algorithm=args.algorithm, recreate=args.recreate)
    docs = [load_document(p, root) for p in find_files(root)]
    if not docs:
        print(f"engram-rag: no {', '.join(('.md', '.txt', '.rst'))} files under {root}",
              file=sys.stderr)
        return 2
    with tqdm(total=len(docs), unit="file", desc="ingest", disable=args.quiet) as bar:
        report = index.ingest_documents(docs, max_words=args.chunk_words, progress=bar.update)
    total = time.perf_counter() - t0
    t = report.timings_ms
    print(
        f"ingested {report.chunks} chunks from {report.files} files into index {index.name!r} "
        f"({index.embedding.name}, {index.embedding.dim} dims) in {total:.2f} s: "
        f"load embedding {1000 * t_model:.0f} ms, chunk {t['chunk']:.0f} ms, "
        f"embed {t['embed']:.0f} ms, store {t['store']:.0f} ms"
        + (f"; replaced {report.replaced_chunks} older chunks" if report.replaced_chunks else "")
    )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    index = _index(args, for_ingest=False)
    if not index.exists():
        print(f"engram-rag: no index {index.name!r} at {args.url}; run `engram-rag ingest DIR` "
              "first", file=sys.stderr)
        return 2
    answer = index.ask(args.question, k=args.k, filters=args.filter)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2))
    else:
        print_answer(answer, show_chunks=not args.quiet)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    index = _index(args, for_ingest=False)
    cases = load_eval(args.file)
    t0 = time.perf_counter()
    report = index.evaluate(cases, k=args.k)
    elapsed = time.perf_counter() - t0
    for miss in report.misses:
        print(f"miss: {miss['question']!r} expected {miss['expected']} got {miss['got']}")
    print(f"hit@{report.k} = {report.hit_rate:.3f} ({report.hits}/{report.cases}), "
          f"MRR = {report.mrr:.3f}, embedding {index.embedding.name}, {elapsed:.2f} s")
    if args.min_hit_rate is not None and report.hit_rate < args.min_hit_rate:
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("ENGRAM_URL", DEFAULT_URL),
                        help="server URL (default: $ENGRAM_URL or %(default)s)")
    common.add_argument("--index", default=os.environ.get("ENGRAM_RAG_INDEX", DEFAULT_INDEX),
                        help="index name; chunks live under NAME:chunk: (default: %(default)s)")
    common.add_argument("--embedding", default=None,
                        help="auto, minilm, hash or hash-DIM (default: $ENGRAM_RAG_EMBEDDING, "
                             "or what the index was built with)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar / chunks")

    parser = argparse.ArgumentParser(prog="engram-rag", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="chunk, embed and store a folder")
    p.add_argument("dir")
    p.add_argument("--chunk-words", type=int, default=120, help="words per chunk (about)")
    p.add_argument("--algorithm", choices=["HNSW", "FLAT"], default="HNSW", type=str.upper)
    p.add_argument("--recreate", action="store_true", help="drop the index and its chunks first")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("ask", parents=[common], help="retrieve and answer")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="chunks to retrieve (default: %(default)s)")
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                   help="tag=VALUE or source=VALUE ('|' for alternatives); repeatable")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", parents=[common], help="hit@k over question/source pairs")
    p.add_argument("file", help="JSON list of {question, sources}")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--min-hit-rate", type=float, default=None,
                   help="exit 1 when hit@k is below this")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (redis.ConnectionError, RuntimeError, ValueError) as e:
        print(f"engram-rag: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
