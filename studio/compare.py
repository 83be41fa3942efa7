"""One question answered by several targets at once (e.g. base, LoRA, base + retrieval, LoRA +
retrieval), streamed together, with time to first token and tokens/s under each answer."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from studio import chat, words


@dataclass
class Target:
    label: str
    base_url: str
    model: str
    api_key: str = ""
    messages: list = field(default_factory=list)
    # The cited-sources block to append when the answer is complete: text, or a function of the
    # finished answer (the sentence each citation rests on is marked in its source)
    sources: Callable[[str], str] | str = ""
    rag: bool = False  # retrieval was asked for (the lane's title says so)
    hits: list = field(default_factory=list)  # the chunks behind it, to mark what each sentence uses
    zh: bool = False  # the studio's own words under the answer in Chinese
    repetition_penalty: float = 1.0


@dataclass
class Lane:
    text: str = ""
    error: str = ""
    done: bool = False
    started: float = 0.0
    first: float | None = None  # seconds to the first token
    finished: float | None = None
    chunks: int = 0  # streamed pieces; vLLM sends about one token each

    def summary(self, zh: bool = False) -> str:
        if self.error:
            return self.error
        if self.first is None:
            return "…"
        took = (self.finished or time.perf_counter()) - self.started
        rate = self.chunks / max(took - self.first, 1e-6) if self.chunks > 1 else 0.0
        if zh:
            return f"首个 token {self.first * 1000:.0f} 毫秒 · {rate:.1f} token/秒 · 共 {took:.1f} 秒"
        return f"first token {self.first * 1000:.0f} ms · {rate:.1f} tokens/s · {took:.1f} s"


def run(targets: list[Target], max_tokens: int = 256, temperature: float = 0.3,
        every: float = 0.25) -> Iterator[list[Lane]]:
    """Stream every target in its own thread; yield all lanes every `every` seconds until done."""
    lanes = [Lane() for _ in targets]

    def work(t: Target, lane: Lane) -> None:
        lane.started = time.perf_counter()
        try:
            for text in chat.stream(t.base_url, t.model, t.messages, max_tokens=max_tokens,
                                    temperature=temperature, api_key=t.api_key,
                                    repetition_penalty=t.repetition_penalty):
                if lane.first is None and text:
                    lane.first = time.perf_counter() - lane.started
                lane.chunks += 1
                lane.text = text
            done = chat.finish(lane.text, t.hits, t.zh)
            lane.text = done + (t.sources(done) if callable(t.sources) else t.sources)
        except chat.ChatError as e:
            lane.error = words.pick(e, t.zh)
        finally:
            lane.finished = time.perf_counter()
            lane.done = True

    threads = [threading.Thread(target=work, args=(t, lane), daemon=True)
               for t, lane in zip(targets, lanes)]
    for th in threads:
        th.start()
    while not all(lane.done for lane in lanes):
        time.sleep(every)
        yield lanes
    yield lanes
