"""Time to first streamed token through the studio's /v1 proxy vs straight to vLLM, side by side
on one deployment (with an API key), alternating request by request so drift on a shared machine
hits both alike:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/proxy_latency.py [--requests 20]

"direct" is the OpenAI client on the vLLM server's own port; "proxy" is the same client on a
FastAPI app that holds only proxy.mount (uvicorn in a thread, as the studio runs it).
Goal: proxy/direct median at most 1.05.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from openai import OpenAI  # noqa: E402

from studio import config, proxy, servebench, serving  # noqa: E402
from studio.jobs import JobStore  # noqa: E402

GOAL = 1.05


def ttft(client: OpenAI, model: str, question: str) -> float:
    t = time.perf_counter()
    stream = client.chat.completions.create(model=model, stream=True, max_tokens=8, temperature=0,
                                            messages=[{"role": "user", "content": question}])
    first = None
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - t
    return first


def run_proxy(s: config.Settings, store: JobStore) -> tuple[str, uvicorn.Server]:
    api = FastAPI()
    proxy.mount(api, s, store)
    port = serving.free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1", server


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1] if len(xs) > 1 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(Path(home) / "jobs")
        job = serving.start(s, store, opts=serving.DeployOptions(api_key=True))
        server = None
        try:
            while serving.state(store, job) == "starting":
                time.sleep(1)
            if serving.state(store, job) != "ready":
                raise RuntimeError("The server did not start:\n" + store.get(job.id).log_tail(3000))
            url, server = run_proxy(s, store)
            key, model = serving.api_key(job), job.spec["served_name"]
            clients = {"direct": OpenAI(base_url=serving.base_url(job), api_key=key),
                       "proxy": OpenAI(base_url=url, api_key=key)}
            took = {"direct": [], "proxy": []}
            for i in range(args.requests + 2):
                q = servebench.QUESTIONS[i % len(servebench.QUESTIONS)] + f" (#{i})"
                order = ("direct", "proxy") if i % 2 else ("proxy", "direct")
                for name in order:
                    t = ttft(clients[name], model, q)
                    if i >= 2:  # the first two warm up both paths (connections, caches)
                        took[name].append(t)
        finally:
            if server is not None:
                server.should_exit = True
            serving.stop(store, job.id)
    d, p = took["direct"], took["proxy"]
    print(f"time to first streamed token, {len(d)} requests each, interleaved, max_tokens 8")
    print(f"{'path':<8} {'median ms':>10} {'p90 ms':>8}")
    for name, xs in (("direct", d), ("proxy", p)):
        print(f"{name:<8} {statistics.median(xs) * 1000:>10.1f} {p90(xs) * 1000:>8.1f}")
    # Each round's two requests ran back to back: their difference cancels the box's drift.
    paired = statistics.median(b - a for a, b in zip(d, p))
    print(f"median paired difference (proxy - direct): {paired * 1000:+.1f} ms")
    ratio = statistics.median(p) / statistics.median(d)
    print(f"ratio proxy/direct (median): {ratio:.3f}  (goal: at most {GOAL:.2f}) "
          f"{'met' if ratio <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
