"""Chat over an OpenAI-compatible endpoint (the deployed vLLM), with optional retrieval.

With retrieval on, the top chunks go into the system prompt as numbered sources, and the reply
is followed by the list of those sources (file and chunk) so the user can check every claim.
"""
from __future__ import annotations

from collections.abc import Iterator

from studio.knowledge import Hit

SYSTEM = "You are a helpful assistant. Answer briefly."
RAG_SYSTEM = ("You are a helpful assistant. Answer the question using only the numbered sources "
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


def build_messages(history: list[dict], question: str, hits: list[Hit] | None) -> list[dict]:
    if hits:
        sources = "\n\n".join(f"[{i}] ({h.label})\n{h.text}" for i, h in enumerate(hits, start=1))
        system = RAG_SYSTEM.format(sources=sources)
    else:
        system = SYSTEM
    msgs = [{"role": "system", "content": system}]
    for m in history:
        if m.get("role") in ("user", "assistant"):
            msgs.append({"role": m["role"], "content": text_of(m.get("content"))})
    msgs.append({"role": "user", "content": question})
    return msgs


def sources_block(hits: list[Hit]) -> str:
    if not hits:
        return ""
    lines = [f"[{i}] {h.label} · score {h.score:.2f}" for i, h in enumerate(hits, start=1)]
    return "\n\n---\nSources / 来源:\n" + "\n".join(lines)


def stream(base_url: str, model: str, messages: list[dict], max_tokens: int = 256,
           temperature: float = 0.3, api_key: str = "EMPTY",
           repetition_penalty: float = 1.0) -> Iterator[str]:
    """Yield the growing reply as the server streams it."""
    from openai import APIConnectionError, APIStatusError, OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key, timeout=120, max_retries=0)
    text = ""
    try:
        # repetition_penalty is vLLM's extension: small models loop on one sentence without it.
        for chunk in client.chat.completions.create(
                model=model, messages=messages, stream=True, max_tokens=max_tokens,
                temperature=temperature, extra_body={"repetition_penalty": repetition_penalty}):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
                yield text
    except APIConnectionError as e:
        raise ChatError(f"Cannot reach the model server at {base_url}: is it deployed?") from e
    except APIStatusError as e:
        raise ChatError(f"The model server refused the request ({e.status_code}): {e.message}") from e
    if not text:
        yield ""
