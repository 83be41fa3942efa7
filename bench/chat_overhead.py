"""Time to first token in chat, side by side on one server as the studio launches it:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/chat_overhead.py [--requests 20]

1. Four lanes through the studio's chat path (studio.chat.stream, which the Chat tab and compare
   mode call): the base model and an adapter, each without and with a three-chunk retrieval
   prompt as the Chat tab builds it. Every retrieval request is a cold prefill (its system
   prompt is numbered, so no cached prefix is shared). Lanes take turns request by request, so
   drift on a shared machine hits all alike.
2. The chat path itself: the same short question straight through the OpenAI client a developer
   would keep open, and through studio.chat.stream.
The adapter is rank 8 on every linear layer (the Train tab's default) with random weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openai import OpenAI  # noqa: E402

from studio import chat, config, models, servebench, serving  # noqa: E402
from studio.jobs import JobStore  # noqa: E402


def direct_ttft(client: OpenAI, model: str, messages: list[dict]) -> float:
    t = time.perf_counter()
    stream = client.chat.completions.create(model=model, messages=messages, stream=True,
                                            max_tokens=8, temperature=0)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - t
            break
    for _ in stream:
        pass
    return first


def studio_ttft(url: str, model: str, messages: list[dict]) -> float:
    t, first = time.perf_counter(), None
    for text in chat.stream(url, model, messages, max_tokens=8, temperature=0):
        if first is None and text:
            first = time.perf_counter() - t
    return first


def prompt_tokens(client: OpenAI, model: str, messages: list[dict]) -> int:
    r = client.chat.completions.create(model=model, messages=messages, max_tokens=1)
    return r.usage.prompt_tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(Path(home) / "jobs")
        model_dir = models.active_model(s)
        adapter = servebench.make_adapter(s, model_dir, Path(home) / "adapter")
        hits = servebench.retrieved(s)
        job = servebench.deploy(s, store, model_dir, extra=["--lora-modules", f"tuned={adapter}"])
        try:
            url, base = serving.base_url(job), job.spec["served_name"]
            client = OpenAI(base_url=url, api_key="EMPTY")
            lanes = {"base": (base, False), "adapter": ("tuned", False),
                     "base + retrieval": (base, True), "adapter + retrieval": ("tuned", True)}
            took = {k: [] for k in lanes}
            for i in range(args.requests + 1):
                for name, (model, rag) in lanes.items():
                    q = servebench.QUESTIONS[i % len(servebench.QUESTIONS)] + f" (#{i})"
                    messages = servebench.rag_messages(1000 * i + len(name) + i, hits) if rag else chat.build_messages([], q, None)
                    t = studio_ttft(url, model, messages)
                    if i:  # the first round loads the adapter and warms the kernels
                        took[name].append(t)
            length = prompt_tokens(client, base, servebench.rag_messages(7, hits))
            print(f"time to first token through the studio's chat path, {args.requests} requests each "
                  f"(median, lowest-highest); retrieval prompts about {length} tokens:")
            for name, xs in took.items():
                print(f"  {name:20s} {statistics.median(xs):6.2f} s  ({min(xs):.2f}-{max(xs):.2f})")
            direct, ours = [], []
            for i in range(args.requests + 2):
                q = servebench.QUESTIONS[i % len(servebench.QUESTIONS)] + f" (##{i})"
                messages = chat.build_messages([], q, None)
                pair = [("d", direct_ttft, (client, base, messages)),
                        ("s", studio_ttft, (url, base, messages))]
                for name, fn, a in (pair if i % 2 else pair[::-1]):
                    t = fn(*a)
                    if i >= 2:
                        (direct if name == "d" else ours).append(t)
        finally:
            serving.stop(store, job.id)
    d, o = statistics.median(direct), statistics.median(ours)
    print(f"the chat path itself: direct {d * 1000:.1f} ms, studio {o * 1000:.1f} ms; "
          f"added {(o / d - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
