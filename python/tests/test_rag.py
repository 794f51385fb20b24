"""engram.rag, the ``engram-rag`` CLI and examples/rag/ end to end, with the hashed embedding.

Ingest stores chunks as JSON documents under an ``FT.CREATE ... ON JSON`` index (TEXT, TAG,
NUMERIC and an HNSW/FLAT COSINE vector); ``ask`` runs dialect-2 hybrid KNN queries and builds
an extractive answer with cited sources. The MiniLM embedding is not used here (it needs
torch); its hit@5 is measured by hand, see examples/rag/README.md.

The server is chosen as in test_search.py (``ENGRAM_SEARCH_TARGET_PORT=P`` runs against a
reference already listening on P); the crash test always starts its own engram-server.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

np = pytest.importorskip("numpy")
pytest.importorskip("tqdm")

from engram import rag  # noqa: E402
from engram.embeddings import HashEmbedding, get_embedding, tokenize  # noqa: E402
from engram.rag import ChatAnswerer, ExtractiveAnswerer, RagIndex  # noqa: E402

from test_search import ON_REFERENCE, r, target  # noqa: E402,F401 (fixtures)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rag"
CORPUS = EXAMPLE / "corpus"


def cli(target, *args: str, check: bool = True) -> subprocess.CompletedProcess:  # noqa: F811
    """Runs ``engram-rag`` as a user does (``python -m engram.cli``, so PATH does not matter)."""
    out = subprocess.run(
        [sys.executable, "-m", "engram.cli", *args, "--url", f"redis://127.0.0.1:{target.port}"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "ENGRAM_RAG_EMBEDDING": "hash"},
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def corpus_index(target, r):  # noqa: F811
    index = RagIndex(r, HashEmbedding(), name="rag")
    index.create()
    index.ingest_dir(CORPUS)
    return index


# -- pieces that need no server ------------------------------------------------------------


def test_hash_embedding_is_deterministic_normalized_and_lexical():
    emb = HashEmbedding(128)
    a, b, c = emb.embed(["The write-ahead log survives crashes",
                         "crashes: the log (write ahead) survives!",
                         "HNSW graphs for nearest neighbour search"])
    assert a.dtype == np.float32 and a.shape == (128,)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(a, HashEmbedding(128).embed_one("The write-ahead log survives crashes"))
    assert float(a @ b) > 0.8 > 0.2 > float(a @ c)
    assert np.linalg.norm(emb.embed_one("the of and")) == pytest.approx(1.0)
    assert tokenize("Indexes indexing the INDEX") == ["index", "index", "index"]
    assert get_embedding("hash-64").dim == 64
    with pytest.raises(ValueError):
        get_embedding("nonsense")


def test_chunks_follow_paragraphs_and_overlap_by_a_sentence():
    text = "# Title\n\n" + "\n\n".join(
        " ".join(f"Paragraph {p} sentence {s} has some words in it." for s in range(4))
        for p in range(6)
    )
    chunks = rag.chunk_text(text, max_words=60)
    assert len(chunks) > 2
    assert all(len(c.split()) <= 60 + 10 for c in chunks)
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.startswith(rag.split_sentences(prev)[-1])
    joined = " ".join(chunks)
    assert all(f"Paragraph {p} sentence 3" in joined for p in range(6))
    assert chunks[0].startswith("Title.")


def test_documents_take_title_and_tags_from_header_and_folders():
    doc = rag.load_document(CORPUS / "durability" / "write-ahead-log.md", CORPUS)
    assert doc.source == "durability/write-ahead-log.md"
    assert doc.title == "The write-ahead log"
    assert doc.tags == ["durability", "storage", "recovery"]
    assert not doc.body.startswith("tags:")


def test_filters_become_escaped_tag_queries():
    assert rag.parse_filters(["tag=durability"]) == "@tags:{durability}"
    assert rag.parse_filters(["tag=a|b", "source=guide/intro.md"]) == (
        "@tags:{a|b} @source:{guide\\/intro\\.md}")
    for bad in (["durability"], ["color=red"], ["tag="]):
        with pytest.raises(ValueError):
            rag.parse_filters(bad)


# -- against the server --------------------------------------------------------------------


def test_ingest_stores_json_chunks_with_metadata_and_an_index(corpus_index, r):  # noqa: F811
    files = rag.find_files(CORPUS)
    info = r.ft("rag").info()
    assert int(info["num_docs"]) == corpus_index.num_docs() > len(files)
    key = corpus_index.key("vector-search/hnsw.md", 0)
    doc = r.json().get(key)
    assert doc["source"] == "vector-search/hnsw.md" and doc["position"] == 0
    assert doc["tags"] == ["vector-search", "algorithms", "indexing"]
    assert len(doc["embedding"]) == 256 and doc["title"].startswith("HNSW")
    assert r.hgetall("rag:meta") == {"embedding": "hash-256", "dim": "256", "algorithm": "HNSW"}


def test_retrieve_ranks_by_cosine_distance_and_honours_filters(corpus_index):
    hits = corpus_index.retrieve("HNSW graph layers EF_CONSTRUCTION neighbours", k=5)
    assert len(hits) == 5 and hits[0].source == "vector-search/hnsw.md"
    assert [h.score for h in hits] == sorted(h.score for h in hits)
    assert all(0.0 <= h.score <= 2.0 for h in hits)
    # The distance the server reports is the cosine distance of the stored vectors.
    q = corpus_index.embedding.embed(["HNSW graph layers EF_CONSTRUCTION neighbours"])[0]
    stored = np.array(corpus_index.r.json().get(hits[0].key, "$.embedding")[0], dtype=np.float32)
    assert hits[0].score == pytest.approx(1.0 - float(q @ stored), abs=1e-4)

    only_ops = corpus_index.retrieve("HNSW graph layers", k=5, filters=["tag=operations"])
    assert only_ops and all("operations" in h.tags for h in only_ops)
    either = corpus_index.retrieve("memory", k=20, filters=["tag=security|observability"])
    assert {h.source for h in either} == {"operations/security.md", "operations/monitoring.md"}
    one = corpus_index.retrieve("log", k=50, filters=["source=durability/snapshots.md"])
    assert {h.source for h in one} == {"durability/snapshots.md"}
    assert [h.position for h in one] != [] and len(one) == len(corpus_index.chunk_keys(
        "durability/snapshots.md"))
    assert corpus_index.retrieve("log", k=3, filters=["tag=no-such-tag"]) == []


def test_knn_with_a_parenthesized_star_prefilter(corpus_index, r):  # noqa: F811
    """``(*)=>[KNN ...]`` is accepted by RediSearch and means the same as ``*=>[KNN ...]``."""
    vec = rag.vector_bytes(corpus_index.embedding.embed(["write-ahead log"])[0])
    star = r.ft("rag").search(
        rag.Query("*=>[KNN 3 @embedding $vec AS score]").sort_by("score").return_fields("score")
        .dialect(2), query_params={"vec": vec})
    paren = r.ft("rag").search(
        rag.Query("(*)=>[KNN 3 @embedding $vec AS score]").sort_by("score").return_fields("score")
        .dialect(2), query_params={"vec": vec})
    assert [d.id for d in paren.docs] == [d.id for d in star.docs] and len(star.docs) == 3


def test_extractive_answer_cites_the_sources_of_its_sentences(corpus_index):
    answer = corpus_index.ask("What do M and EF_CONSTRUCTION control in HNSW?", k=5,
                              answerer=ExtractiveAnswerer(corpus_index.embedding))
    assert "EF_CONSTRUCTION" in answer.text
    sources = {c.source: c.number for c in answer.citations}
    assert "vector-search/hnsw.md" in sources
    numbers = {c.number for c in answer.citations}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == numbers
    assert set(answer.timings_ms) == {"retrieve", "answer"}
    rendered = answer.render()
    hnsw = sources["vector-search/hnsw.md"]
    assert f"[{hnsw}] vector-search/hnsw.md (HNSW: hierarchical navigable small world graphs)" in rendered


def test_chat_answerer_posts_an_openai_style_request(corpus_index):
    """A fake OpenAI-compatible endpoint on loopback: the request carries the numbered context."""
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            seen["path"] = self.path
            seen["auth"] = self.headers.get("Authorization")
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = {"choices": [{"message": {"role": "assistant", "content": " Use HNSW [1]. "}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/v1"
        answer = corpus_index.ask("Which graph index is approximate?", k=3,
                                  answerer=ChatAnswerer(base, "local-model", api_key="sk-test"))
    finally:
        server.shutdown()
        server.server_close()
    assert answer.text == "Use HNSW [1]."
    assert seen["path"] == "/v1/chat/completions" and seen["auth"] == "Bearer sk-test"
    body = seen["body"]
    assert body["model"] == "local-model" and body["messages"][0]["role"] == "system"
    assert "[1] (" in body["messages"][1]["content"] and "[3] (" in body["messages"][1]["content"]
    assert [c.number for c in answer.citations] == [1, 2, 3]


def test_reingest_replaces_chunks_and_another_embedding_is_refused(corpus_index, r):  # noqa: F811
    before = corpus_index.num_docs()
    report = corpus_index.ingest_dir(CORPUS)
    assert report.replaced_chunks == before == report.chunks == corpus_index.num_docs()
    with pytest.raises(RuntimeError, match="hash-256 vectors"):
        RagIndex(r, HashEmbedding(64), name="rag").create()
    # A query without an explicit embedding uses the one recorded with the index.
    assert RagIndex(r, name="rag").embedding.name == "hash-256"


def test_flat_and_hnsw_indexes_agree_on_the_nearest_chunk(target, r):  # noqa: F811
    flat = RagIndex(r, HashEmbedding(), name="flat")
    flat.create(algorithm="FLAT")
    hnsw = RagIndex(r, HashEmbedding(), name="hnsw")
    hnsw.create(algorithm="HNSW")
    docs = [rag.load_document(p, CORPUS) for p in rag.find_files(CORPUS / "durability")]
    flat.ingest_documents(docs)
    hnsw.ingest_documents(docs)
    for q in ("group commit amortises fsync", "Raft leader election terms", "torn tail checksum"):
        assert flat.retrieve(q, k=1)[0].key.split(":chunk:")[1] == hnsw.retrieve(q, k=1)[0].key.split(
            ":chunk:")[1]


def test_cli_ingest_ask_filter_json_and_eval(target):
    out = cli(target, "ingest", str(CORPUS))
    files = len([p for p in CORPUS.rglob("*") if p.suffix in (".md", ".txt", ".rst")])
    assert "ingested" in out.stdout and f"{files} files" in out.stdout and "hash-256" in out.stdout
    assert "ingest" in out.stderr and "100%" in out.stderr  # the tqdm bar

    out = cli(target, "ask", "How does group commit share the cost of fsync?")
    assert "durability/fsync-and-group-commit.md" in out.stdout
    assert out.stdout.startswith("Q: How does group commit") and "\nA: " in out.stdout
    assert "score=" in out.stdout and "retrieve" in out.stdout

    out = cli(target, "ask", "How is memory measured?", "--filter", "tag=security", "-k", "2",
              "--json")
    answer = json.loads(out.stdout)
    assert len(answer["hits"]) == 2
    assert {h["source"] for h in answer["hits"]} == {"operations/security.md"}

    out = cli(target, "eval", str(EXAMPLE / "eval.json"), "--min-hit-rate", "0.8")
    assert "hit@5 = " in out.stdout

    bad = cli(target, "ask", "x", "--filter", "colour=red", check=False)
    assert bad.returncode == 1 and "bad filter" in bad.stderr


def test_cli_ask_without_an_index_says_what_to_do(target):
    out = cli(target, "ask", "anything", "--index", "missing", check=False)
    assert out.returncode == 2 and "engram-rag ingest" in out.stderr


def test_rvl_cli_describes_the_rag_index(corpus_index, target):
    pytest.importorskip("redisvl")
    code = "import sys; from redisvl.cli.runner import main; sys.argv[0] = 'rvl'; sys.exit(main())"

    def rvl(*args):
        out = subprocess.run([sys.executable, "-c", code, *args, "--url",
                              f"redis://127.0.0.1:{target.port}", "--json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    info = rvl("index", "info", "-i", "rag")
    assert info["index_information"]["storage_type"] == "JSON"
    assert info["index_information"]["prefixes"] == ["rag:chunk:"]
    fields = {f["name"]: f for f in info["index_fields"]}
    assert [fields[n]["type"] for n in ("$.text", "$.source", "$.tags[*]", "$.position")] == [
        "TEXT", "TAG", "TAG", "NUMERIC"]
    assert fields["$.embedding"]["field_options"]["algorithm"] == "HNSW"
    assert fields["$.embedding"]["field_options"]["distance_metric"] == "COSINE"
    stats = rvl("stats", "-i", "rag")
    assert stats["num_docs"] == corpus_index.num_docs()
    assert stats["hash_indexing_failures"] == 0


def test_example_run_script_prints_three_answers_with_sources(target):
    out = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py"), "--url", f"redis://127.0.0.1:{target.port}",
         "--embedding", "hash"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\nQ: ") == 3 and out.stdout.count("\nA: ") == 3
    assert "ingested" in out.stdout and "(filter: tag=vector-search)" in out.stdout
    assert "[1] " in out.stdout and "score=" in out.stdout
    hit_rate = float(out.stdout.split("hit@5 = ")[1].split()[0])
    assert hit_rate >= 0.8
    again = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py"), "--url", f"redis://127.0.0.1:{target.port}",
         "--embedding", "hash"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "reusing index" in again.stdout


@pytest.mark.skipif(ON_REFERENCE, reason="kills the server: engram only")
def test_ingested_corpus_and_index_survive_sigkill(engram_factory):
    server = engram_factory()
    index = RagIndex(server.client(decode_responses=True), HashEmbedding(), name="rag")
    index.ingest_dir(CORPUS)
    question = "How are nested JSON fields addressed with a dollar path?"
    before = [(h.key, round(h.score, 5)) for h in index.retrieve(question, k=5)]
    count = index.num_docs()
    server.crash()
    server.restart()
    index = RagIndex(server.client(decode_responses=True), name="rag")
    index.wait_indexed()
    assert index.num_docs() == count
    assert [(h.key, round(h.score, 5)) for h in index.retrieve(question, k=5)] == before
    assert index.embedding.name == "hash-256"
    with pytest.raises(redis.ResponseError):
        server.client().execute_command("FT.INFO", "no-such-index")
