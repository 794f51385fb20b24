"""The RAG example: ingest the shipped corpus into Engram, answer three questions, score hit@5.

    python examples/rag/run.py [--url redis://127.0.0.1:6379] [--embedding auto|minilm|hash]

The corpus is ingested on the first run (or with ``--reingest``); later runs reuse it, since
Engram keeps it on disk. For each question the script prints the retrieved chunks with
their cosine distances, sources and tags, then the extractive answer with its citations
(or an LLM's answer if ``ENGRAM_RAG_LLM_URL`` points at an OpenAI-compatible endpoint).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import redis
from tqdm import tqdm

from engram.cli import print_answer
from engram.embeddings import get_embedding
from engram.rag import RagIndex, find_files, load_document, load_eval

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

QUESTIONS = [
    ("How does the server make sure an acknowledged write survives a crash?", []),
    ("Which index gives exact nearest neighbours for a small collection?", ["tag=vector-search"]),
    ("How do I keep a user's session alive while they are active and expire it afterwards?", []),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("ENGRAM_URL", "redis://127.0.0.1:6379"))
    parser.add_argument("--embedding", default=None, help="auto (default), minilm, hash")
    parser.add_argument("--index", default="rag-example")
    parser.add_argument("--reingest", action="store_true", help="drop and rebuild the index")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)

    client = redis.Redis.from_url(args.url, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError as e:
        print(f"cannot reach engram-server at {args.url} ({e}); start it with\n"
              "  cargo run --release --bin engram-server", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    embedding = get_embedding(args.embedding)
    index = RagIndex(client, embedding, args.index)
    print(f"embedding: {embedding.name} ({embedding.dim} dims), loaded in "
          f"{time.perf_counter() - t0:.2f} s")
    if args.reingest or not index.exists():
        index.create(algorithm="HNSW", recreate=True)
        docs = [load_document(p, CORPUS) for p in find_files(CORPUS)]
        t1 = time.perf_counter()
        with tqdm(total=len(docs), unit="file", desc="ingest") as bar:
            report = index.ingest_documents(docs, progress=bar.update)
        print(f"ingested {report.chunks} chunks from {report.files} files in "
              f"{time.perf_counter() - t1:.2f} s (embed {report.timings_ms['embed']:.0f} ms, "
              f"store {report.timings_ms['store']:.0f} ms)")
    else:
        index.create()  # refuses an index built with another embedding
        print(f"reusing index {index.name!r}: {index.num_docs()} chunks already stored")

    for question, filters in QUESTIONS:
        print()
        if filters:
            print(f"(filter: {' '.join(filters)})")
        print_answer(index.ask(question, k=args.k, filters=filters))

    report = index.evaluate(load_eval(HERE / "eval.json"), k=5)
    print(f"\nretrieval quality on eval.json: hit@5 = {report.hit_rate:.3f} "
          f"({report.hits}/{report.cases}), MRR = {report.mrr:.3f} with {embedding.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
