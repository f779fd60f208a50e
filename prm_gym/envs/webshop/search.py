"""BM25 search over a :class:`~prm_gym.envs.webshop.catalog.Catalog`, in NumPy.

The index is an inverted file in CSR form: for each term, the ids of the documents holding it and
the term's precomputed BM25 weight in each (Robertson/Lucene idf ``log(1 + (N - df + 0.5) /
(df + 0.5))``, ``k1 = 1.5``, ``b = 0.75``). A query sums the weights of its distinct terms with
one ``np.bincount`` and ranks by score, ties broken by catalog position, so results are
deterministic. Its arrays are read-only. A document is a product's title, category, type,
attributes and option values.

``bm25s`` was measured first (0.3.16: 7 ms per query at 100k products on 2 cores, most of it
per-query tokenisation); this index answers in well under a millisecond there and needs no SciPy.

:func:`get_index` caches one index per catalog key in-process, and optionally on disk
(``cache_dir``: one ``.npz`` per catalog key hash).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prm_gym.envs.webshop.catalog import Catalog, Product

__all__ = ["BM25Index", "clear_index_cache", "get_index", "tokenize"]

_TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by for from i in is it its me my of on or that the this to want "
    "with need looking lower than price dollars im".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric words, stopwords dropped."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


def document_text(product: Product) -> str:
    values = " ".join(v for _, vals in product.options for v in vals)
    return " ".join(
        (product.title, product.category, product.product_type, " ".join(product.attributes),
         values)
    )  # fmt: skip


@dataclass(frozen=True)
class BM25Index:
    """An immutable BM25 inverted index (arrays are read-only).

    Attributes:
        vocab: term -> row of the CSR arrays.
        indptr: ``indptr[t]:indptr[t+1]`` slices term ``t``'s postings.
        doc_ids: Posting document ids (int32).
        weights: Posting BM25 weights (float32).
        num_docs: Number of documents.
    """

    vocab: dict[str, int]
    indptr: np.ndarray
    doc_ids: np.ndarray
    weights: np.ndarray
    num_docs: int

    @classmethod
    def build(cls, documents: list[str], k1: float = 1.5, b: float = 0.75) -> BM25Index:
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        lengths = np.zeros(len(documents), dtype=np.float64)
        for d, text in enumerate(documents):
            tokens = tokenize(text)
            lengths[d] = len(tokens)
            term_ids.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
        terms = np.asarray(term_ids, dtype=np.int64)
        docs = np.repeat(np.arange(len(documents), dtype=np.int64), lengths.astype(np.int64))
        pairs, tf = np.unique(terms * len(documents) + docs, return_counts=True)
        p_terms, p_docs = pairs // max(len(documents), 1), pairs % max(len(documents), 1)
        df = np.bincount(p_terms, minlength=len(vocab)).astype(np.float64)
        idf = np.log1p((len(documents) - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if len(documents) else 1.0
        norm = k1 * (1.0 - b + b * lengths[p_docs] / max(avgdl, 1e-9))
        weights = idf[p_terms] * tf * (k1 + 1.0) / (tf + norm)
        indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        index = cls(
            vocab=vocab,
            indptr=indptr,
            doc_ids=p_docs.astype(np.int32),
            weights=weights.astype(np.float32),
            num_docs=len(documents),
        )
        index._freeze()
        return index

    def _freeze(self) -> None:
        for array in (self.indptr, self.doc_ids, self.weights):
            array.flags.writeable = False

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (float64, length ``num_docs``)."""
        rows = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        if not rows:
            return np.zeros(self.num_docs)
        slices = [slice(self.indptr[r], self.indptr[r + 1]) for r in rows]
        docs = np.concatenate([self.doc_ids[s] for s in slices])
        weights = np.concatenate([self.weights[s] for s in slices])
        return np.bincount(docs, weights=weights, minlength=self.num_docs)

    def search(self, query: str, k: int = 50) -> list[int]:
        """Catalog positions of the top ``k`` documents with a positive score, best first
        (ties: lower position first)."""
        scores = self.scores(query)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            # keep everything tied with the k-th score so the tie-break sees all of them
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        order = np.lexsort((hits, -scores[hits]))
        return [int(i) for i in hits[order][:k]]

    def to_npz(self, path: Path) -> None:
        terms = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        np.savez(path, terms=terms.astype(str), indptr=self.indptr, doc_ids=self.doc_ids,
                 weights=self.weights, num_docs=np.array(self.num_docs))  # fmt: skip

    @classmethod
    def from_npz(cls, path: Path) -> BM25Index:
        with np.load(path, allow_pickle=False) as data:
            index = cls(
                vocab={str(t): i for i, t in enumerate(data["terms"])},
                indptr=data["indptr"],
                doc_ids=data["doc_ids"],
                weights=data["weights"],
                num_docs=int(data["num_docs"]),
            )
        index._freeze()
        return index


_CACHE: dict[tuple[object, ...], BM25Index] = {}
_LOCK = threading.Lock()


def get_index(catalog: Catalog, cache_dir: str | Path | None = None) -> BM25Index:
    """The BM25 index of ``catalog``, built once per catalog key and process (thread-safe);
    with ``cache_dir`` it is also stored on / loaded from disk."""
    with _LOCK:
        index = _CACHE.get(catalog.key)
        if index is not None:
            return index
        path = None
        if cache_dir is not None:
            digest = hashlib.sha256(repr(catalog.key).encode()).hexdigest()[:24]
            path = Path(cache_dir) / f"webshop-bm25-{digest}.npz"
            if path.exists():
                index = BM25Index.from_npz(path)
        if index is None:
            index = BM25Index.build([document_text(p) for p in catalog])
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                index.to_npz(path)
        _CACHE[catalog.key] = index
        return index


def clear_index_cache() -> None:
    """Forget every in-process index (benchmarks use it to time a cold build)."""
    with _LOCK:
        _CACHE.clear()
