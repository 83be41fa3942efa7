"""BM25 as Qdrant sparse vectors, offline and Chinese-ready.

LlamaIndex's default sparse encoders download models from the hub; this one needs nothing:
jieba (its dictionary ships in the PyPI package) cuts Chinese into words, English words are
lower-cased, stop-worded and Porter-stemmed (NLTK's stop lists ship inside llama-index-core).
A document's vector holds BM25's saturated term frequency; the collection is created with
Qdrant's IDF modifier, so Qdrant multiplies in each term's inverse document frequency at query
time, from the live collection: the statistics stay right as documents come and go.
"""
from __future__ import annotations

import functools
import logging
import re
import zlib
from collections import Counter

K1, B = 1.2, 0.75  # BM25's usual constants
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_SPLIT = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")


@functools.lru_cache(maxsize=1)
def _tools():
    import jieba
    from llama_index.core.utils import globals_helper
    from nltk.corpus import stopwords
    from nltk.stem import PorterStemmer

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    english = set(globals_helper.stopwords)  # puts llama-index's NLTK cache on nltk's path
    chinese = set(stopwords.words("chinese"))
    return jieba, PorterStemmer(), english, chinese


def tokens(text: str) -> list[str]:
    """Search terms of a text: jieba words for Chinese runs, stemmed words for the rest."""
    jieba, stem, english, chinese = _tools()
    out: list[str] = []
    for part in _SPLIT.split(text.lower()):
        if not part:
            continue
        if _CJK.fullmatch(part):
            out += [w for w in jieba.cut_for_search(part) if w.strip() and w not in chinese]
        else:
            out += [stem.stem(w) for w in _WORD.findall(part) if w not in english]
    return out


def term_id(term: str) -> int:
    """A stable index for a term: hashing needs no vocabulary, so new words just work."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def doc_vector(text: str, avg_len: float) -> tuple[list[int], list[float]]:
    terms = tokens(text)
    counts = Counter(term_id(t) for t in terms)
    norm = K1 * (1 - B + B * len(terms) / max(avg_len, 1.0))
    ids = sorted(counts)
    return ids, [counts[i] * (K1 + 1) / (counts[i] + norm) for i in ids]


def query_vector(text: str) -> tuple[list[int], list[float]]:
    ids = sorted({term_id(t) for t in tokens(text)})
    return ids, [1.0] * len(ids)


def doc_encoder(avg_len: float):
    """The batch callable LlamaIndex's QdrantVectorStore takes as sparse_doc_fn."""
    def encode(texts: list[str]):
        pairs = [doc_vector(t, avg_len) for t in texts]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return encode


def query_encoder(texts: list[str]):
    pairs = [query_vector(t) for t in texts]
    return [p[0] for p in pairs], [p[1] for p in pairs]
