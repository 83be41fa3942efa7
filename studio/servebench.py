"""Serving benchmark: what vLLM's batching and prefix caching buy on this machine, measured side
by side in one run. Used by bench/serve_speed.py and, as a job, by the Deploy tab's button:

    <app python> -I studio/servebench.py RESULT.json [--prompts 64] [--tokens 64]

1. The same prompts through vLLM launched with the studio's settings (sent all at once, as
   clients would) vs plain transformers `generate` on the same model, batched and one at a time.
2. Time to first token with a long shared system prompt, prefix caching on vs off.
The servers it starts live in a job store of their own and are stopped when it ends or is
cancelled, so a benchmark never leaves a server behind.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __name__ == "__main__":  # run as a job with -I: make the studio package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio import config, models, serving  # noqa: E402
from studio.jobs import Job, JobError, JobStore  # noqa: E402
from studio.words import Said  # noqa: E402

QUESTIONS = ["What is the capital of France?", "Name three colours.", "What is 12 times 7?",
             "Write a haiku about tea.", "Why is the sky blue?", "Give me a word that rhymes with cat.",
             "What do bees make?", "How many legs does a spider have?"]

def say(text: str) -> None:
    print(text, flush=True)


def deploy(s: config.Settings, store: JobStore, model_dir: Path, prefix_caching: bool = True,
           extra: list[str] | None = None) -> Job:
    job = serving.start(s, store, model_dir=model_dir, adapter_names=[],
                        opts=serving.DeployOptions(prefix_caching=prefix_caching), extra_args=extra)
    while serving.state(store, job) == "starting":
        time.sleep(1)
    if serving.state(store, job) != "ready":
        raise RuntimeError("The server did not start:\n" + store.get(job.id).log_tail(3000))
    return job


def vllm_tokens_per_s(job: Job, prompts: list[str], tokens: int) -> float:
    """Every prompt at once, each forced to produce exactly `tokens` tokens."""
    from openai import OpenAI

    client = OpenAI(base_url=serving.base_url(job), api_key=serving.api_key(job) or "EMPTY")

    def one(p):
        r = client.chat.completions.create(model=job.spec["served_name"], max_tokens=tokens,
                                           temperature=0, messages=[{"role": "user", "content": p}],
                                           extra_body={"min_tokens": tokens, "ignore_eos": True})
        return r.usage.completion_tokens

    t = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        produced = sum(pool.map(one, prompts))
    return produced / (time.perf_counter() - t)


def transformers_tokens_per_s(model_dir: Path, prompts: list[str], tokens: int,
                              batched: bool) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # every core, as the server gets them
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                     add_generation_prompt=True) for p in prompts]
    groups = [texts] if batched else [[x] for x in texts]
    t, produced = time.perf_counter(), 0
    for g in groups:
        enc = tok(g, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        produced += (out.shape[1] - enc["input_ids"].shape[1]) * len(g)
    return produced / (time.perf_counter() - t)


def ttft(job: Job, system: str, n: int = 8) -> tuple[float, int]:
    """Median seconds to the first streamed token (the first request only fills the cache), and
    the prompt's length in tokens."""
    from openai import OpenAI

    client = OpenAI(base_url=serving.base_url(job), api_key=serving.api_key(job) or "EMPTY")
    times, length = [], 0
    for q in QUESTIONS[:n]:
        t = time.perf_counter()
        stream = client.chat.completions.create(
            model=job.spec["served_name"], max_tokens=4, stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "system", "content": system}, {"role": "user", "content": q}])
        next(iter(stream))
        times.append(time.perf_counter() - t)
        for chunk in stream:
            if chunk.usage:
                length = chunk.usage.prompt_tokens
    return statistics.median(times[1:]), length


def shared_system_prompt() -> str:
    """A support bot's system prompt: its rules plus the documents it answers from (~800 tokens)."""
    docs = config.REPO / "assets" / "docs"
    return ("You are the support assistant of Qinghe Appliances. Answer from these documents.\n\n"
            + (docs / "qinghe_policies.md").read_text() + "\n\n" + (docs / "k2_kettle_manual.txt").read_text())


def run(s: config.Settings, work: Path, model_dir: Path, prompts: int = 64, tokens: int = 64) -> dict:
    store = JobStore(work / "jobs")
    asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(prompts)]
    system = shared_system_prompt()
    res = {"prompts": prompts, "tokens": tokens, "device": "GPU" if s.gpu else "CPU"}
    say("Starting vLLM with the studio's settings (prefix caching on)…")
    job = deploy(s, store, model_dir, prefix_caching=True)
    try:
        say(f"vLLM: {prompts} prompts at once…")
        res["vllm_tps"] = vllm_tokens_per_s(job, asked, tokens)
        say("vLLM: time to first token with a long shared system prompt…")
        on, res["prefix_tokens"] = ttft(job, system)
        res["ttft_on_ms"] = on * 1000
    finally:
        serving.stop(store, job.id)
    say("transformers generate, batched…")
    res["hf_batched_tps"] = transformers_tokens_per_s(model_dir, asked, tokens, batched=True)
    say("transformers generate, one prompt at a time…")
    res["hf_single_tps"] = transformers_tokens_per_s(model_dir, asked[:4], tokens, batched=False)
    say("Starting vLLM again with prefix caching off…")
    job = deploy(s, store, model_dir, prefix_caching=False)
    try:
        res["ttft_off_ms"] = ttft(job, system)[0] * 1000
    finally:
        serving.stop(store, job.id)
    res["vs_batched"] = res["vllm_tps"] / res["hf_batched_tps"]
    res["vs_single"] = res["vllm_tps"] / res["hf_single_tps"]
    res["prefix_speedup"] = res["ttft_off_ms"] / res["ttft_on_ms"]
    return res


def report(r: dict) -> str:
    return "\n".join([
        f"{r['prompts']} prompts x {r['tokens']} tokens, {r['device']}",
        f"vLLM server, concurrent: {r['vllm_tps']:7.1f} tok/s",
        f"transformers, batched:   {r['hf_batched_tps']:7.1f} tok/s   (vLLM / this: {r['vs_batched']:.2f})",
        f"transformers, one by one:{r['hf_single_tps']:7.1f} tok/s   (vLLM / this: {r['vs_single']:.2f})",
        f"time to first token, shared system prompt of ~{r['prefix_tokens']} tokens: prefix caching on {r['ttft_on_ms']:.0f} ms, "
        f"off {r['ttft_off_ms']:.0f} ms, speed-up {r['prefix_speedup']:.1f}x"])


def launch(s: config.Settings, store: JobStore, prompts: int = 64, tokens: int = 64,
           user: str | None = None) -> Job:
    """The benchmark as a job on the active model (minutes: it starts vLLM twice)."""
    if not 1 <= int(prompts) <= 256 or not 1 <= int(tokens) <= 1024:
        raise ValueError(Said("Use 1-256 prompts and 1-1024 tokens each.",
                              "提示数须在 1-256 之间，每个回答的 token 数须在 1-1024 之间。"))
    model_dir = models.active_model(s, user)
    job_id, folder = store.new_folder("bench")
    cmd = [sys.executable, "-I", str(Path(__file__).resolve()), str(folder / "result.json"),
           "--model", str(model_dir), "--prompts", str(int(prompts)), "--tokens", str(int(tokens))]
    for job in store.list(kind="bench", status=("running",)):
        store.refresh(job)  # one that ended without the monitor noticing yet does not block
    try:  # one at a time: two would each measure the other's load; unique makes it atomic
        return store.launch("bench", f"benchmark {model_dir.name}", cmd, job_id=job_id, folder=folder,
                            env={"STUDIO_HOME": str(s.home)}, owner=user, unique=True,
                            needs={"cpus": os.cpu_count() or 1})
    except JobError:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise ValueError(Said("A benchmark is already running; wait for it or cancel it.",
                              "已有一个基准测试在运行；请等它结束，或先取消它。")) from None


def result(job: Job) -> dict | None:
    f = job.folder / "result.json"
    return json.loads(f.read_text()) if f.exists() else None


def _stop_on_term(*_):
    raise KeyboardInterrupt  # unwinds through the finally blocks that stop the servers


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("result", type=Path)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_term)
    r = run(config.load(), args.result.parent, args.model, args.prompts, args.tokens)
    args.result.write_text(json.dumps(r, indent=1))
    say(report(r))


if __name__ == "__main__":
    main()
