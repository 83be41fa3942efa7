"""The sources under an answer: each opens to its chunk with the sentence the answer drew on
marked, and a warning when the retrieved evidence does not cover the question.

A citation [n] names a chunk of up to 200 tokens; the reader still has to find the line that
backs the claim. So every answer sentence that restates source n marks, in n's text, the
sentence of it that shares the most with the claim. The coverage warning reads both lists, each
as far as hybrid search listened to it (kbfusion): a dense score from a model that cannot read
the question is no evidence, and a BM25 match is evidence only when its score says rare words
of the question were found, not one common word."""
from __future__ import annotations

import html

from studio import chat
from studio.config import BUILTIN_EMBEDDINGS
from studio.knowledge import Hit

UNCOVERED = ("The knowledge base may not cover this{seen}.", "知识库可能没有涵盖这个问题{seen}。")
SEEN = (" (best match {best:.2f})", "（最接近的相似度 {best:.2f}）")
SCORE = ("score", "得分")
HEARD = 0.25  # a list with less of the fusion than this only breaks ties: its word is no evidence


def low_score(s, model: str) -> float:
    """The cosine similarity below which a chunk rarely answers the question, for the model
    that scored it: e5's similarities sit high (0.75-0.85 for unrelated text, bench/kb_quality.py)."""
    return s.rag_low_score_e5 if model == BUILTIN_EMBEDDINGS[1] else s.rag_low_score


def best_match(hits: list[Hit]) -> float | None:
    """The best cosine similarity among the hits (fused scores are ranks, not similarities)."""
    scores = [h.dense_score if h.dense_score is not None else h.score for h in hits
              if h.dense_score is not None or h.sparse_rank is None]
    return max(scores) if scores else None


def covered(hits: list[Hit], s) -> bool:
    """Whether the retrieved chunks hold evidence for the question: a list hybrid search listened
    to (its share of the fusion) vouches for the best of them, dense by a similarity above the
    model's low score, BM25 by a score above rag_low_bm25."""
    if not hits:
        return False
    w = next((h.weights for h in hits if h.weights), None)
    if w:
        dense_share, sparse_share = w.dense, w.sparse
    else:  # one list alone (dense or BM25 search)
        dense_share = float(any(h.dense_score is not None for h in hits))
        sparse_share = float(any(h.sparse_score is not None for h in hits))
    best = best_match(hits)
    dense = best is not None and best >= low_score(s, hits[0].embed_model)
    words = max((h.sparse_score or 0.0 for h in hits), default=0.0) >= s.rag_low_bm25
    return (dense and dense_share >= HEARD) or (words and sparse_share >= HEARD)


def backing(answer: str, hits: list[Hit]) -> dict[int, set[str]]:
    """For each source (1-based) an answer sentence cites, the sentences of its chunk that share
    the most with those answer sentences; none for a one-sentence chunk (the chunk is the line)."""
    answer = chat._spoken(answer)
    out: dict[int, set[str]] = {}
    for part in chat.sentences(answer):
        cited = {int(m.group()[1:-1]) for m in chat._MARK.finditer(part)}
        n = chat.supported_by(part, hits)
        for i in cited | ({n} if n else set()):
            if not 1 <= i <= len(hits):
                continue
            lines = [x.strip() for x in chat.sentences(hits[i - 1].text) if x.strip()]
            terms = chat._terms(chat._MARK.sub("", part))
            scored = [(len(terms & chat._terms(line)), line) for line in lines]
            top = max(scored, default=(0, ""))
            if len(lines) > 1 and top[0] >= 2:
                out.setdefault(i, set()).add(top[1])
    return out


def _marked_text(text: str, lines: set[str]) -> str:
    """The chunk's text, escaped, with the backing sentences in <mark>."""
    body = html.escape(text)
    for line in sorted(lines, key=len, reverse=True):
        esc = html.escape(line)
        body = body.replace(esc, f"<mark>{esc}</mark>", 1)
    return body


def sources_block(hits: list[Hit], s=None, asked: bool = False, zh: bool = False, answer: str = "") -> str:
    """The numbered sources under an answer, each opening to its chunk's text with the sentences
    the answer drew on marked; with s (the settings), a warning when retrieval was asked for and
    the evidence does not cover the question."""
    warn = ""
    if asked and s is not None and not covered(hits, s):
        best = best_match(hits)
        seen = SEEN[zh].format(best=best) if best is not None else ""
        warn = chat.WARN_MARK + UNCOVERED[zh].format(seen=seen)
    if not hits:
        return warn
    marks = backing(answer, hits) if answer else {}
    items = [f"<details><summary>[{i}] {html.escape(h.label_in(zh))} · {SCORE[zh]} {h.score:.2f}</summary>\n\n"
             f"{_marked_text(h.text, marks.get(i, set()))}\n\n</details>" for i, h in enumerate(hits, start=1)]
    return warn + chat.SOURCES_MARK[zh] + "\n\n" + "\n".join(items)
