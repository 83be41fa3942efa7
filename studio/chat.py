"""Chat over an OpenAI-compatible endpoint (the deployed vLLM), with optional retrieval.

With retrieval on, the top chunks go into the system prompt as numbered sources, and the reply
is followed by the list of those sources (file and chunk) so the user can check every claim.
"""
from __future__ import annotations

import contextlib
import functools
import html
import threading
from collections.abc import Iterator

from studio.knowledge import Hit

SYSTEM = "You are a helpful assistant. Answer briefly."
RAG_SYSTEM = ("Answer the question using only the numbered sources "
              "below, and cite them like [1]. If the sources do not contain the answer, say so.\n\n"
              "{sources}")


class ChatError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


def text_of(content) -> str:
    """Message content as text: Gradio 6 hands content over as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return "" if content is None else str(content)


def build_messages(history: list[dict], question: str, hits: list[Hit] | None,
                   system: str | None = None) -> list[dict]:
    base = (system or "").strip() or SYSTEM
    if hits:
        sources = "\n\n".join(f"[{i}] ({h.label})\n{h.text}" for i, h in enumerate(hits, start=1))
        system = base + "\n\n" + RAG_SYSTEM.format(sources=sources)
    else:
        system = base
    msgs = [{"role": "system", "content": system}]
    for m in history:
        if m.get("role") in ("user", "assistant"):
            msgs.append({"role": m["role"], "content": text_of(m.get("content"))})
    msgs.append({"role": "user", "content": question})
    return msgs


def best_match(hits: list[Hit]) -> float | None:
    """The best cosine similarity among the hits (fused scores are ranks, not similarities)."""
    scores = [h.dense_score if h.dense_score is not None else h.score for h in hits
              if h.dense_score is not None or h.sparse_rank is None]
    return max(scores) if scores else None


def sources_block(hits: list[Hit], low: float = 0.0, asked: bool = False) -> str:
    """The numbered sources under an answer, each opening to its chunk's text; a warning when
    retrieval was asked for and nothing close was found."""
    warn = ""
    best = best_match(hits)
    # A chunk BM25 ranked shares words with the question: covered, even when an English-only
    # embedding model scores a Chinese match low.
    words_match = any(h.sparse_rank is not None for h in hits)
    if asked and not words_match and (best is None or best < low):
        seen = f" (best match {best:.2f})" if best is not None else ""
        warn = (f"\n\n⚠️ The knowledge base may not cover this{seen}. / 知识库可能没有涵盖这个问题{seen}。")
    if not hits:
        return warn
    items = [f"<details><summary>[{i}] {html.escape(h.label)} · score {h.score:.2f}</summary>\n\n"
             f"{html.escape(h.text)}\n\n</details>" for i, h in enumerate(hits, start=1)]
    return warn + "\n\n---\nSources / 来源:\n\n" + "\n".join(items)


@functools.lru_cache(maxsize=32)
def _client(base_url: str, api_key: str):
    """One client per endpoint, kept: a new one per message cost ~18 ms of time to first token
    (TLS context, connection pool); httpx clients are safe to share across threads."""
    import httpx
    from openai import OpenAI

    from studio.core import netguard

    return OpenAI(base_url=base_url, api_key=api_key, timeout=120, max_retries=0,
                  http_client=httpx.Client(transport=netguard.GuardedTransport(), timeout=120,
                                           follow_redirects=True))


class Pacer:
    """How often a streamed answer goes to the page: every `every` seconds while few answers
    stream, less often as more do at once. Each update costs the app CPU that, on a small box,
    the engine needs: with 32 answers at once the updates alone slowed its decoding by a fifth
    (bench/team_load.py)."""

    def __init__(self, every: float, per: int = 8):
        self.every, self.per, self.active = every, per, 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def streaming(self):
        with self._lock:
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1

    def interval(self) -> float:
        return self.every * max(1.0, self.active / self.per)


def _checked(base_url: str) -> str:
    from studio.core import netguard

    try:
        return netguard.check_url(base_url)
    except netguard.Refused as e:
        raise ChatError(str(e)) from e


def stream(base_url: str, model: str, messages: list[dict], max_tokens: int = 256,
           temperature: float = 0.3, api_key: str = "EMPTY", repetition_penalty: float = 1.0,
           top_p: float = 1.0) -> Iterator[str]:
    """Yield the growing reply as the server streams it. The server applies the chat template."""
    from openai import APIConnectionError, APIStatusError

    client = _client(_checked(base_url), api_key or "EMPTY")
    # repetition_penalty is vLLM's extension (small models loop without it); other servers may
    # reject unknown fields, so it is only sent when asked for.
    extra = {"repetition_penalty": repetition_penalty} if repetition_penalty != 1.0 else None
    text = ""
    try:
        for chunk in client.chat.completions.create(
                model=model, messages=messages, stream=True, max_tokens=max_tokens,
                temperature=temperature, top_p=top_p, extra_body=extra):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
                yield text
    except APIConnectionError as e:
        raise ChatError(f"Cannot reach the model server at {base_url}: is it running?") from e
    except APIStatusError as e:
        raise ChatError(explain(e.status_code, str(e.message))) from e
    if not text:
        yield ""


def explain(code: int, detail: str) -> str:
    """An endpoint's refusal in words a user can act on."""
    if code == 401:
        return "The endpoint refused the API key (401): check the key."
    if code == 404:
        return f"The endpoint does not serve this model (404): {detail[:200]}"
    if code in (429, 503):
        return f"The endpoint is overloaded ({code}): wait a moment and send again."
    if code == 400 and ("context" in detail.lower() or "maximum" in detail.lower()):
        return ("The conversation is longer than the model's context: clear it, or deploy with a "
                f"larger max model length. ({detail[:200]})")
    return f"The endpoint refused the request ({code}): {detail[:300]}"


def list_models(base_url: str, api_key: str = "") -> list[str]:
    """The model ids an OpenAI-compatible endpoint serves."""
    from openai import APIConnectionError, APIStatusError

    try:
        return [m.id for m in _client(_checked(base_url), api_key or "EMPTY").models.list(timeout=15).data]
    except APIConnectionError as e:
        raise ChatError(f"Cannot reach {base_url}: check the URL (it usually ends in /v1).") from e
    except APIStatusError as e:
        raise ChatError(explain(e.status_code, str(e.message))) from e


def to_markdown(history: list[dict]) -> str:
    out = ["# Conversation", ""]
    for m in history:
        who = {"user": "**You**", "assistant": "**Assistant**"}.get(m.get("role"), m.get("role"))
        out += [f"{who}:", "", text_of(m.get("content")), ""]
    return "\n".join(out)


def to_json(history: list[dict]) -> str:
    import json

    return json.dumps([{"role": m.get("role"), "content": text_of(m.get("content"))} for m in history],
                      ensure_ascii=False, indent=1)
