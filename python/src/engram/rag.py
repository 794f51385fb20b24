"""Retrieval-augmented generation on Engram: from text files to answers with cited sources.

The pipeline, each step a plain function or method so that notebooks can reuse any part:

1. :func:`load_document` reads a text or Markdown file: a ``# Title`` first line and a
   ``tags: a, b`` line are metadata; the directories under the ingest root are tags too.
2. :func:`chunk_text` cuts the body into paragraph-aligned chunks of about ``max_words``
   words; the last sentence of each chunk opens the next, so no fact is cut in half.
3. :class:`RagIndex` embeds the chunks (:mod:`engram.embeddings`) and stores each as a JSON
   document ``{text, title, source, position, tags, embedding}``. One ``FT.CREATE ... ON
   JSON`` index covers them: TEXT, TAG and NUMERIC fields plus an HNSW (or FLAT) COSINE
   vector field.
4. :meth:`RagIndex.retrieve` runs a dialect-2 hybrid query,
   ``(@tags:{x})=>[KNN k @embedding $vec AS score]``: metadata filter first, then the k
   nearest chunks by cosine distance.
5. An answerer turns the hits into an :class:`Answer`. :class:`ExtractiveAnswerer` (the
   default, offline) picks the sentences closest to the question and cites their sources;
   :class:`ChatAnswerer` asks an OpenAI-compatible ``/chat/completions`` endpoint instead
   when ``ENGRAM_RAG_LLM_URL`` is set.

Everything goes through redis-py (``r.json()``, ``r.ft()``) exactly as it would against any
Redis with search and JSON: the example is also a compatibility test.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Protocol, Sequence

import numpy as np
import redis
from redis.commands.search.field import NumericField, TagField, TextField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.commands.search.query import Query

from .embeddings import Embedding, get_embedding

#: File name suffixes :meth:`RagIndex.ingest_dir` reads.
TEXT_SUFFIXES = (".md", ".txt", ".rst")
#: Index name used when none is given (also ``$ENGRAM_RAG_INDEX``).
DEFAULT_INDEX = "rag"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[`])")
_TAGS_LINE = re.compile(r"^\s*tags\s*:\s*(.*)$", re.IGNORECASE)
# Characters that keep their meaning inside a dialect-2 tag query and must be escaped.
_TAG_SPECIAL = re.compile(r"([^A-Za-z0-9_])")


# -- documents and chunks ----------------------------------------------------------------


@dataclass
class Document:
    """One source file: ``source`` is its path relative to the ingest root, with ``/``."""

    source: str
    title: str
    tags: list[str]
    body: str


@dataclass
class Chunk:
    source: str
    position: int
    title: str
    tags: list[str]
    text: str


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (whitespace collapsed); a heuristic, good for prose."""
    text = " ".join(text.split())
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def load_document(path: Path, root: Optional[Path] = None) -> Document:
    """Reads ``path``: title from a leading ``# Title``, tags from ``tags:`` and folders."""
    root = root or path.parent
    source = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    title = path.stem.replace("-", " ").replace("_", " ")
    tags = [p.lower() for p in Path(source).parent.parts]
    body_start = 0
    for i, line in enumerate(lines[:6]):
        if i == 0 and line.startswith("# "):
            title = line[2:].strip()
            body_start = 1
        elif (m := _TAGS_LINE.match(line)) is not None:
            tags += [t.strip().lower() for t in m.group(1).split(",") if t.strip()]
            body_start = i + 1
    deduped = list(dict.fromkeys(t for t in tags if t))
    return Document(source, title, deduped, "\n".join(lines[body_start:]).strip())


def _paragraphs(text: str) -> list[str]:
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = []
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("#"):
                # A heading ends a sentence of its own, so it does not run into the next one.
                line = line.lstrip("#").strip()
                if line and line[-1] not in ".!?:":
                    line += "."
            lines.append(line)
        block = " ".join(x for x in lines if x)
        if block:
            out.append(block)
    return out


def chunk_text(text: str, max_words: int = 120, overlap_sentences: int = 1) -> list[str]:
    """Paragraph-aligned chunks of at most about ``max_words`` words.

    Paragraphs are packed whole while they fit; a longer one is cut between sentences. The
    last ``overlap_sentences`` sentences of a chunk are repeated at the start of the next.
    """
    if max_words < 10:
        raise ValueError("max_words must be at least 10")
    sentences_by_par = [split_sentences(p) for p in _paragraphs(text)]
    chunks: list[list[str]] = []
    current: list[str] = []
    carried = 0  # how many sentences at the start of `current` repeat the previous chunk

    def words(sentences: list[str]) -> int:
        return sum(len(s.split()) for s in sentences)

    def flush() -> None:
        nonlocal current, carried
        if len(current) > carried:
            chunks.append(current)
            keep = current[-overlap_sentences:] if overlap_sentences else []
            current, carried = list(keep), len(keep)

    for sentences in sentences_by_par:
        if len(current) > carried and words(current) + words(sentences) > max_words:
            flush()
        for sentence in sentences:
            if len(current) > carried and words(current) + len(sentence.split()) > max_words:
                flush()
            current.append(sentence)
    flush()
    return [" ".join(c) for c in chunks]


def chunk_document(doc: Document, max_words: int = 120, overlap_sentences: int = 1) -> list[Chunk]:
    return [
        Chunk(doc.source, i, doc.title, doc.tags, text)
        for i, text in enumerate(chunk_text(doc.body, max_words, overlap_sentences))
    ]


def find_files(directory: Path, suffixes: Sequence[str] = TEXT_SUFFIXES) -> list[Path]:
    """Text files under ``directory``, sorted so that ingest order is reproducible."""
    return sorted(
        p for p in Path(directory).rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )


# -- query helpers -----------------------------------------------------------------------


def escape_tag(value: str) -> str:
    """``value`` escaped for a ``@field:{...}`` tag query (dialect 2)."""
    return _TAG_SPECIAL.sub(r"\\\1", value)


def parse_filters(filters: Iterable[str]) -> str:
    """``["tag=durability", "source=a.md|b.md"]`` to ``@tags:{durability} @source:{a\\.md|b\\.md}``.

    Fields: ``tag``/``tags`` and ``source``; ``|`` separates alternatives. Several filters
    must all hold.
    """
    fields = {"tag": "tags", "tags": "tags", "source": "source"}
    parts = []
    for item in filters:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in fields or not value.strip():
            raise ValueError(f"bad filter {item!r}: expected tag=VALUE or source=VALUE")
        alternatives = "|".join(escape_tag(v.strip()) for v in value.split("|") if v.strip())
        parts.append(f"@{fields[name]}:{{{alternatives}}}")
    return " ".join(parts)


def vector_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


# -- retrieval results and answers -------------------------------------------------------


@dataclass
class Hit:
    """A retrieved chunk. ``score`` is the cosine distance the server computed (0 = same)."""

    key: str
    source: str
    position: int
    title: str
    tags: list[str]
    text: str
    score: float

    @property
    def similarity(self) -> float:
        return 1.0 - self.score


@dataclass
class Citation:
    number: int
    source: str
    title: str


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    hits: list[Hit]
    timings_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        """The answer followed by its numbered sources, as the CLI prints it."""
        lines = [self.text, ""]
        lines += [f"[{c.number}] {c.source} ({c.title})" for c in self.citations]
        return "\n".join(lines)


class Answerer(Protocol):
    def answer(self, question: str, hits: Sequence[Hit]) -> Answer: ...


class ExtractiveAnswerer:
    """The offline answer: the retrieved sentences closest to the question, with sources.

    Each sentence is scored by its similarity to the question plus a small share of its
    chunk's similarity, so that a sentence from the best chunk wins a near tie. The chosen
    sentences keep their order of score; each ends with the number of its source.
    """

    def __init__(self, embedding: Embedding, max_sentences: int = 3, min_words: int = 5) -> None:
        self.embedding = embedding
        self.max_sentences = max_sentences
        self.min_words = min_words

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        candidates: list[tuple[str, Hit]] = []
        seen: set[str] = set()
        for hit in hits:
            for sentence in split_sentences(hit.text):
                if len(sentence.split()) >= self.min_words and sentence not in seen:
                    seen.add(sentence)
                    candidates.append((sentence, hit))
        if not candidates:
            return Answer(question, "No relevant passage was found.", [], list(hits))
        vectors = self.embedding.embed([question] + [s for s, _ in candidates])
        sims = vectors[1:] @ vectors[0]
        scores = [float(s) + 0.25 * hit.similarity for s, (_, hit) in zip(sims, candidates)]
        best = sorted(range(len(candidates)), key=lambda i: -scores[i])[: self.max_sentences]
        numbers: dict[str, int] = {}
        parts = []
        for i in best:
            sentence, hit = candidates[i]
            n = numbers.setdefault(hit.source, len(numbers) + 1)
            parts.append(f"{sentence} [{n}]")
        titles = {h.source: h.title for h in hits}
        citations = [Citation(n, s, titles[s]) for s, n in numbers.items()]
        return Answer(question, " ".join(parts), citations, list(hits))


#: Environment variables that configure :class:`ChatAnswerer`.
LLM_URL_ENV = "ENGRAM_RAG_LLM_URL"
LLM_MODEL_ENV = "ENGRAM_RAG_LLM_MODEL"
LLM_KEY_ENV = "ENGRAM_RAG_LLM_API_KEY"


class ChatAnswerer:
    """Asks an OpenAI-compatible chat endpoint (``POST {base_url}/chat/completions``).

    The prompt numbers the retrieved chunks ``[1]..[k]`` and asks for an answer from them
    only, citing those numbers; the citations list the same numbering.
    """

    SYSTEM = (
        "Answer the question using only the numbered context passages. Cite the passages "
        "you use as [n]. If the context does not contain the answer, say so."
    )

    def __init__(self, base_url: str, model: str, api_key: Optional[str] = None,
                 timeout_s: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        context = "\n\n".join(f"[{i}] ({h.source}) {h.text}" for i, h in enumerate(hits, 1))
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": self.SYSTEM},
                {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
            ],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, OSError) as e:
            raise RuntimeError(f"LLM endpoint {self.url} failed: {e}") from e
        try:
            text = reply["choices"][0]["message"]["content"].strip()
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise RuntimeError(f"unexpected reply from {self.url}: {str(reply)[:200]}") from e
        citations = [Citation(i, h.source, h.title) for i, h in enumerate(hits, 1)]
        return Answer(question, text, citations, list(hits))


def answerer_from_env(embedding: Embedding) -> Answerer:
    """:class:`ChatAnswerer` when ``$ENGRAM_RAG_LLM_URL`` is set, else extractive."""
    url = os.environ.get(LLM_URL_ENV)
    if url:
        return ChatAnswerer(url, os.environ.get(LLM_MODEL_ENV, "default"),
                            os.environ.get(LLM_KEY_ENV) or os.environ.get("OPENAI_API_KEY"))
    return ExtractiveAnswerer(embedding)


# -- the index ---------------------------------------------------------------------------


@dataclass
class IngestReport:
    files: int = 0
    chunks: int = 0
    replaced_chunks: int = 0
    timings_ms: dict = field(default_factory=dict)


@dataclass
class EvalReport:
    k: int
    cases: int
    hits: int
    mrr: float
    misses: list[dict]

    @property
    def hit_rate(self) -> float:
        return self.hits / self.cases if self.cases else 0.0


class RagIndex:
    """Chunks as JSON documents under ``{name}:chunk:`` and one search index over them.

    The embedding's name and size are kept in the hash ``{name}:meta``; opening the index
    with a different embedding is refused, since its vectors would not be comparable.
    """

    def __init__(self, client: redis.Redis, embedding: Optional[Embedding] = None,
                 name: str = DEFAULT_INDEX) -> None:
        self.r = client
        self.name = name
        self.prefix = f"{name}:chunk:"
        self.meta_key = f"{name}:meta"
        self._embedding = embedding

    @classmethod
    def from_url(cls, url: str, embedding: Optional[Embedding] = None,
                 name: str = DEFAULT_INDEX) -> "RagIndex":
        return cls(redis.Redis.from_url(url, decode_responses=True), embedding, name)

    @property
    def embedding(self) -> Embedding:
        """The embedding given, or the one the index was built with, or the default."""
        if self._embedding is None:
            stored = self.r.hget(self.meta_key, "embedding")
            self._embedding = get_embedding(None if stored is None else str(stored))
        return self._embedding

    @property
    def ft(self):
        return self.r.ft(self.name)

    # -- schema ----------------------------------------------------------------------

    def exists(self) -> bool:
        try:
            self.ft.info()
            return True
        except redis.ResponseError:
            return False

    def create(self, algorithm: str = "HNSW", recreate: bool = False) -> None:
        """Creates the index (dropping it and its chunks first if ``recreate``)."""
        if recreate:
            self.drop()
        elif self.exists():
            self._check_meta()
            return
        emb = self.embedding
        vector_params = {"TYPE": "FLOAT32", "DIM": emb.dim, "DISTANCE_METRIC": "COSINE"}
        if algorithm.upper() == "HNSW":
            vector_params.update({"M": 16, "EF_CONSTRUCTION": 200})
        self.ft.create_index(
            [
                TextField("$.text", as_name="text"),
                TextField("$.title", as_name="title", weight=2.0),
                TagField("$.source", as_name="source"),
                TagField("$.tags[*]", as_name="tags"),
                NumericField("$.position", as_name="position", sortable=True),
                VectorField("$.embedding", algorithm.upper(), vector_params, as_name="embedding"),
            ],
            definition=IndexDefinition(prefix=[self.prefix], index_type=IndexType.JSON),
        )
        self.r.hset(self.meta_key, mapping={"embedding": emb.name, "dim": emb.dim,
                                            "algorithm": algorithm.upper()})

    def _check_meta(self) -> None:
        stored = self.r.hget(self.meta_key, "embedding")
        if stored is not None and self._embedding is not None and stored != self._embedding.name:
            raise RuntimeError(
                f"index {self.name!r} holds {stored} vectors, not {self._embedding.name}: "
                "use the same --embedding, or ingest again with --recreate"
            )

    def drop(self) -> None:
        """Drops the index with its chunk documents (``FT.DROPINDEX ... DD``)."""
        try:
            self.ft.dropindex(delete_documents=True)
        except redis.ResponseError as e:
            if "unknown index name" not in str(e).lower() and "no such index" not in str(e).lower():
                raise
        self.r.delete(self.meta_key)

    def num_docs(self) -> int:
        return int(self.ft.info()["num_docs"])

    def wait_indexed(self, timeout_s: float = 30.0) -> None:
        """Polls ``FT.INFO`` until no background indexing is left, or raises at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.ft.info()
            if str(info.get("indexing", "0")) in ("0", "0.0"):
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"index {self.name!r} still indexing after {timeout_s} s")
            time.sleep(0.01)

    # -- ingest ----------------------------------------------------------------------

    def chunk_keys(self, source: str) -> list[str]:
        """Keys of the chunks of ``source`` currently indexed (a TAG query)."""
        keys: list[str] = []
        offset = 0
        while True:
            q = Query(f"@source:{{{escape_tag(source)}}}").no_content().paging(offset, 1000).dialect(2)
            res = self.ft.search(q)
            keys += [d.id for d in res.docs]
            offset += 1000
            if offset >= res.total:
                return keys

    def ingest_documents(self, docs: Sequence[Document], max_words: int = 120,
                         batch_size: int = 64,
                         progress: Optional[Callable[[int], None]] = None) -> IngestReport:
        """Chunks, embeds and stores ``docs``, replacing earlier chunks of the same sources."""
        self.create()
        report = IngestReport(files=len(docs))
        t_chunk = t_embed = t_store = 0.0
        for doc in docs:
            t0 = time.perf_counter()
            chunks = chunk_document(doc, max_words)
            t1 = time.perf_counter()
            stale = self.chunk_keys(doc.source)
            if stale:
                self.r.delete(*stale)
                report.replaced_chunks += len(stale)
            for start in range(0, len(chunks), batch_size):
                batch = chunks[start : start + batch_size]
                t2 = time.perf_counter()
                vectors = self.embedding.embed([f"{c.title}. {c.text}" for c in batch])
                t3 = time.perf_counter()
                pipe = self.r.pipeline(transaction=False)
                for c, vec in zip(batch, vectors):
                    pipe.json().set(self.key(c.source, c.position), "$", {
                        "text": c.text,
                        "title": c.title,
                        "source": c.source,
                        "position": c.position,
                        "tags": c.tags,
                        "embedding": [round(float(x), 6) for x in vec],
                    })
                pipe.execute()
                t_embed += t3 - t2
                t_store += time.perf_counter() - t3
            t_chunk += t1 - t0
            report.chunks += len(chunks)
            if progress is not None:
                progress(1)
        self.wait_indexed()
        report.timings_ms = {"chunk": 1000 * t_chunk, "embed": 1000 * t_embed,
                             "store": 1000 * t_store}
        return report

    def key(self, source: str, position: int) -> str:
        return f"{self.prefix}{source}#{position}"

    def ingest_dir(self, directory: os.PathLike, max_words: int = 120,
                   progress: Optional[Callable[[int], None]] = None) -> IngestReport:
        root = Path(directory)
        docs = [load_document(p, root) for p in find_files(root)]
        return self.ingest_documents(docs, max_words, progress=progress)

    # -- retrieval -------------------------------------------------------------------

    def retrieve(self, question: str, k: int = 5, filters: Sequence[str] = (),
                 ef_runtime: Optional[int] = None) -> list[Hit]:
        """The ``k`` chunks nearest to ``question`` among those matching ``filters``."""
        return self.retrieve_vector(self.embedding.embed([question])[0], k, filters, ef_runtime)

    def retrieve_vector(self, vec: np.ndarray, k: int = 5, filters: Sequence[str] = (),
                        ef_runtime: Optional[int] = None) -> list[Hit]:
        prefilter = parse_filters(filters)
        knn = f"KNN {int(k)} @embedding $vec"
        if ef_runtime:
            knn += f" EF_RUNTIME {int(ef_runtime)}"
        q = (
            Query(f"({prefilter})=>[{knn} AS score]" if prefilter else f"*=>[{knn} AS score]")
            .sort_by("score")
            .return_fields("text", "title", "source", "position", "score")
            .return_field("$.tags", as_field="tags")
            .paging(0, int(k))
            .dialect(2)
        )
        res = self.ft.search(q, query_params={"vec": vector_bytes(vec)})
        hits = []
        for d in res.docs:
            tags = getattr(d, "tags", "[]")
            hits.append(Hit(
                key=d.id,
                source=d.source,
                position=int(d.position),
                title=d.title,
                tags=json.loads(tags) if isinstance(tags, str) and tags.startswith("[") else [tags],
                text=d.text,
                score=float(d.score),
            ))
        return hits

    def ask(self, question: str, k: int = 5, filters: Sequence[str] = (),
            answerer: Optional[Answerer] = None) -> Answer:
        """Retrieves, then answers; ``timings_ms`` has the retrieval and answer times."""
        t0 = time.perf_counter()
        hits = self.retrieve(question, k, filters)
        t1 = time.perf_counter()
        answer = (answerer or answerer_from_env(self.embedding)).answer(question, hits)
        t2 = time.perf_counter()
        answer.timings_ms = {"retrieve": 1000 * (t1 - t0), "answer": 1000 * (t2 - t1)}
        return answer

    # -- evaluation ------------------------------------------------------------------

    def evaluate(self, cases: Sequence[dict], k: int = 5) -> EvalReport:
        """hit@k and MRR over ``[{"question": q, "sources": [s, ...]}, ...]``.

        A case is a hit when any expected source is among the top-k chunks' sources.
        """
        hits, rr, misses = 0, 0.0, []
        for case in cases:
            expected = set(case["sources"])
            got = [h.source for h in self.retrieve(case["question"], k, case.get("filters", ()))]
            rank = next((i for i, s in enumerate(got, 1) if s in expected), None)
            if rank is None:
                misses.append({"question": case["question"], "expected": sorted(expected),
                               "got": got})
            else:
                hits += 1
                rr += 1.0 / rank
        return EvalReport(k, len(cases), hits, rr / len(cases) if cases else 0.0, misses)


def load_eval(path: os.PathLike) -> list[dict]:
    """Question / expected-source pairs from a JSON file (a list of objects)."""
    cases = json.loads(Path(path).read_text(encoding="utf-8"))
    for c in cases:
        if not isinstance(c.get("question"), str) or not c.get("sources"):
            raise ValueError(f"bad eval case {c!r}: needs question and sources")
    return cases
