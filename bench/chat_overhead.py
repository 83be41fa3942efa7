"""Time to first token through the studio's chat path vs calling vLLM directly, side by side on
one server, alternating request by request so drift on a shared machine hits both alike:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/chat_overhead.py [--requests 40]

"direct" is the OpenAI client a developer would keep open; "studio" is studio.chat.stream, which
the Chat tab and compare mode call (retrieval off, so only the chat path itself is measured).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(Path(home) / "jobs")
        job = servebench.deploy(s, store, models.active_model(s))
        try:
            url, model = serving.base_url(job), job.spec["served_name"]
            client = OpenAI(base_url=url, api_key="EMPTY")
            direct, ours = [], []
            for i in range(args.requests + 2):
                q = servebench.QUESTIONS[i % len(servebench.QUESTIONS)] + f" (#{i})"
                messages = chat.build_messages([], q, None)
                pair = [("d", direct_ttft, (client, model, messages)),
                        ("s", studio_ttft, (url, model, messages))]
                for name, fn, a in (pair if i % 2 else pair[::-1]):
                    took = fn(*a)
                    if i >= 2:  # the first two warm both paths up
                        (direct if name == "d" else ours).append(took)
        finally:
            serving.stop(store, job.id)
    d, o = statistics.median(direct), statistics.median(ours)
    print(f"{len(direct)} requests each, time to first token (median): direct {d * 1000:.1f} ms, "
          f"studio chat path {o * 1000:.1f} ms; added {(o / d - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
