"""Chat over an OpenAI-compatible endpoint (the deployed vLLM), with optional retrieval.

With retrieval on, the top chunks go into the system prompt as numbered sources, and the reply
is followed by the list of those sources (file and chunk) so the user can check every claim.
"""
from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
from collections.abc import Iterator

from studio.knowledge import Hit
from studio.words import Said

SYSTEM = "You are a helpful assistant. Answer briefly."
# With retrieval, the chunks come first in the user's turn, unnumbered, then the question in its
# own language. Asked to cite numbered sources, the 135M default model listed "[1] [2] [3] ..."
# instead of answering; the studio marks which source each sentence restates itself (cite). Rows
# that teach a model to answer from retrieved text are written the same way (rag_question).
RAG_QUESTION = ("{context}\n\nAnswer from the text above: {question}",
                "{context}\n\n请根据上面的内容回答：{question}")
# What the studio appends to an answer, in the page's language (0 English, 1 Chinese).
SOURCES_MARK = ("\n\n---\nSources:", "\n\n---\n来源：")
WARN_MARK = "\n\n⚠️ "
UNGROUNDED = ("This answer does not restate any of the sources: check it against them before relying on it.",
              "这个回答没有用到任何一条资料，请先对照资料核实。")


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


SMALL_MODEL = 1_000_000_000  # parameters: below this, sentences rather than chunks in the prompt
SMALL_MODEL_SENTENCES = 1  # see evidence()


def prompt_sentences(s, model_dir=None) -> int:
    """How many of the retrieved text's sentences a prompt for this model gets; 0: whole chunks."""
    if s.rag_prompt_sentences:
        return max(0, int(s.rag_prompt_sentences))
    if model_dir:
        from studio import models

        try:
            n = models.exact_params(model_dir)
        except (OSError, ValueError):
            n = None
        if n and n < SMALL_MODEL:
            return SMALL_MODEL_SENTENCES
    return 0


def evidence(question: str, texts: list[str], limit: int) -> list[str]:
    """The `limit` sentences of the retrieved texts that share the most with the question, best
    first. A 135M model handed a 200-token chunk often restated the wrong line of it (E2 for
    E3) or echoed the question: 10 of 20 sample questions right; handed the two closest sentences
    of the top chunks 12, the closest one 16 (bench/answer_quality.py). Terms shared by many
    sentences ("kettle") weigh less."""
    pool, seen = [], set()
    for rank, text in enumerate(texts):
        for pos, part in enumerate(sentences(text)):
            part = part.strip()
            if part.startswith("#") or len(_terms(part)) < 3 or part in seen:
                continue  # headings and labels ("Error codes.") hold no fact to read off
            seen.add(part)
            label = _LABEL.match(part)
            body = _clue_terms(part[label.end():] if label else part)
            pool.append((rank, pos, part, body, _clue_terms(label.group()) - body if label else set()))
    if not pool:
        return [t.strip() for t in texts[:1]]
    df: dict[str, int] = {}
    for *_, body, label in pool:
        for t in body | label:
            df[t] = df.get(t, 0) + 1
    asked = _clue_terms(question)
    # A line without a full stop is more likely a title ("K2 kettle: user manual") than a fact.
    scored = [((sum(math.log(1 + len(pool) / df[t]) * _weight(t, df[t]) for t in asked & body)
                + .3 * sum(math.log(1 + len(pool) / df[t]) for t in asked & label))
               * (1 if _ENDED.search(part) else .2),
               -rank, -pos, part) for rank, pos, part, body, label in pool]
    scored.sort(reverse=True)
    return [part for *_, part in scored[:limit]]


# The name of a list before its first item ("故障代码：E1 ..."; "Specs: ..."), not a code ("E3: ..."):
# it matched questions about every item of the list, so it weighs less than the item.
_CODE = re.compile(r"[a-z]+\d+|\d+[a-z]+")
_LABEL = re.compile(r"^[^\d:：,，。.]{1,12}[:：]\s*")


def _weight(term: str, df: int) -> float:
    """A rare code the question names (E3, in one or two sentences, where K2 is in all) pins its
    sentence down; a single Chinese character only hints."""
    if df <= 2 and _CODE.fullmatch(term):
        return 3.0
    return .3 if len(term) == 1 and _CJK.match(term) else 1.0


def _clue_terms(text: str) -> set[str]:
    """_terms and single Chinese characters (weighed less: evidence): "几年" and "两年" share 年."""
    return _terms(text) | {c for c in text if _CJK.match(c)}


def rag_question(question: str, texts: list[str]) -> str:
    """The user's turn with retrieved text: the text, then the question."""
    context = "\n\n".join(t.strip() for t in texts)
    return RAG_QUESTION[1 if _CJK.search(question) else 0].format(context=context, question=question)


def _spoken(content) -> str:
    """An earlier answer as the model said it: without the sources list and warnings the studio
    appended (they would fill the context and teach the model to write them)."""
    text = text_of(content)
    for mark in (*SOURCES_MARK, WARN_MARK):
        text = text.split(mark, 1)[0]
    return text


def build_messages(history: list[dict], question: str, hits: list[Hit] | None,
                   system: str | None = None, sentences: int = 0) -> list[dict]:
    """The conversation for the model; with hits, the question comes after the retrieved text:
    whole chunks, or their `sentences` closest sentences (prompt_sentences)."""
    msgs = [{"role": "system", "content": (system or "").strip() or SYSTEM}]
    for m in history:
        if m.get("role") in ("user", "assistant"):
            msgs.append({"role": m["role"], "content": _spoken(m.get("content"))})
    if hits:
        texts = [h.text for h in hits]
        question = rag_question(question, evidence(question, texts, sentences) if sentences else texts)
    msgs.append({"role": "user", "content": question})
    return msgs


_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
# A sentence ends at 。！？； or at . ! ? ; before a space (not inside 1.7 or e.g.).
_SENTENCE = re.compile(r"(?<=[.!?;])(?=\s|$)[ \t]*|(?<=[。！？；])[ \t]*|\n+")
_MARK = re.compile(r"\[\d+\]")
_ENDED = re.compile(r"[.!?;。！？；]$")
_STOP = frozenset("a an and are as at be by can do does for from has have how i if in is it its "
                  "of on or our the this to was we what when will with you your".split())


def _stem(word: str) -> str:
    """"returned" and "return", "works" and "work" as one term: questions rarely use the
    document's word form."""
    for end in ("ing", "ed", "es", "s"):
        if len(word) > len(end) + 3 and word.endswith(end) and not word[0].isdigit():
            return word[:-len(end)]
    return word


def _terms(text: str) -> set[str]:
    """Words (English), numbers, and character pairs (Chinese): enough to tell which source a
    sentence restates, in either language."""
    low = text.lower()
    words = {_stem(w) for w in _WORD.findall(low) if w not in _STOP and (len(w) > 1 or w.isdigit())}
    cjk = [c if _CJK.match(c) else " " for c in low]
    pairs = {a + b for a, b in zip(cjk, cjk[1:]) if a != " " and b != " "}
    return words | pairs


def supported_by(sentence: str, hits: list[Hit], share: float = 0.5) -> int | None:
    """The source (1-based) that holds most of the sentence's terms, when it holds at least
    `share` of them (and two or more): the sentence restates that source."""
    terms = _terms(_MARK.sub("", sentence))
    if len(terms) < 2:
        return None
    best, best_n = None, 0
    for i, h in enumerate(hits, start=1):
        n = len(terms & _terms(h.text))
        if n > best_n:
            best, best_n = i, n
    return best if best_n >= max(2, share * len(terms)) else None


def cite(answer: str, hits: list[Hit]) -> str:
    """Put [n] after each sentence of the answer that restates source n and carries no marker
    yet. Small models seldom write the markers the prompt asks for; the reader still needs to
    see which chunk a claim came from."""
    if not hits or not answer.strip():
        return answer
    out, pos = [], 0
    for m in _SENTENCE.finditer(answer):
        out.append(_marked(answer[pos:m.start()], hits))
        out.append(answer[m.start():m.end()])
        pos = m.end()
    out.append(_marked(answer[pos:], hits))
    return "".join(out)


def _marked(sentence: str, hits: list[Hit]) -> str:
    if not sentence.strip() or _MARK.search(sentence):
        return sentence
    n = supported_by(sentence, hits)
    if n is None:
        return sentence
    body = sentence.rstrip()
    end = body[-1] if body and body[-1] in ".!?。！？；;" else ""
    return f"{body[:len(body) - len(end)]} [{n}]{end}" + sentence[len(body):]


def sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE.split(text) if part and part.strip()]


def grounded(answer: str, hits: list[Hit]) -> bool:
    """Whether any sentence of the answer cites or restates a source."""
    return bool(_MARK.search(answer)) or any(supported_by(part, hits) for part in sentences(answer))


def finish(answer: str, hits: list[Hit], zh: bool = False) -> str:
    """A complete answer given sources: each restating sentence marked with its source, and a
    warning when no sentence draws on any (the model answered from its own memory)."""
    if not hits or not answer.strip():
        return answer
    marked = cite(answer, hits)
    if grounded(marked, hits):
        return marked
    return marked + WARN_MARK + UNGROUNDED[zh]


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
        raise ChatError(*e.args) from e  # the Said, both languages


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
        raise ChatError(Said(f"Cannot reach the model server at {base_url}: is it running?",
                             f"连不上模型服务 {base_url}：它在运行吗？")) from e
    except APIStatusError as e:
        raise ChatError(explain(e.status_code, str(e.message))) from e
    if not text:
        yield ""


def explain(code: int, detail: str) -> Said:
    """An endpoint's refusal in words a user can act on."""
    if code == 401:
        return Said("The endpoint refused the API key (401): check the key.", "服务拒绝了这个 API 密钥（401）：请检查密钥。")
    if code == 404:
        return Said(f"The endpoint does not serve this model (404): {detail[:200]}",
                    f"这个服务没有提供该模型（404）：{detail[:200]}")
    if code in (429, 503):
        return Said(f"The endpoint is overloaded ({code}): wait a moment and send again.",
                    f"服务繁忙（{code}）：请稍等再发送。")
    if code == 400 and ("context" in detail.lower() or "maximum" in detail.lower()):
        return Said("The conversation is longer than the model's context: clear it, or deploy with a "
                    f"larger max model length. ({detail[:200]})",
                    f"对话超出了模型的上下文长度：请清空对话，或用更大的最大模型长度重新部署。（{detail[:200]}）")
    return Said(f"The endpoint refused the request ({code}): {detail[:300]}", f"服务拒绝了请求（{code}）：{detail[:300]}")


def list_models(base_url: str, api_key: str = "") -> list[str]:
    """The model ids an OpenAI-compatible endpoint serves."""
    from openai import APIConnectionError, APIStatusError

    try:
        return [m.id for m in _client(_checked(base_url), api_key or "EMPTY").models.list(timeout=15).data]
    except APIConnectionError as e:
        raise ChatError(Said(f"Cannot reach {base_url}: check the URL (it usually ends in /v1).",
                             f"连不上 {base_url}：请检查地址（通常以 /v1 结尾）。")) from e
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
