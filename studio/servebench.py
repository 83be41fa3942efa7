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
                              batched: bool, runs: int = 1) -> list[float]:
    """tokens/s of plain `generate`, once per run, the model loaded once."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # every core, as the server gets them
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                     add_generation_prompt=True) for p in prompts]
    groups = [texts] if batched else [[x] for x in texts]
    found = []
    for _ in range(runs):
        t, produced = time.perf_counter(), 0
        for g in groups:
            enc = tok(g, return_tensors="pt", padding=True)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
            produced += (out.shape[1] - enc["input_ids"].shape[1]) * len(g)
        found.append(produced / (time.perf_counter() - t))
    return found


def spread(xs: list[float]) -> dict:
    """The median and every run: one number hides how noisy a shared machine is."""
    return {"median": statistics.median(xs), "runs": list(xs)}


def ttft(job: Job, system: str, n: int = 8) -> tuple[list[float], int]:
    """Seconds to the first streamed token of each request after the first (which only fills
    the cache), and the prompt's length in tokens."""
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
    return times[1:], length


def shared_system_prompt() -> str:
    """A support bot's system prompt: its rules plus the documents it answers from (~800 tokens)."""
    docs = config.REPO / "assets" / "docs"
    return ("You are the support assistant of Qinghe Appliances. Answer from these documents.\n\n"
            + (docs / "qinghe_policies.md").read_text() + "\n\n" + (docs / "k2_kettle_manual.txt").read_text())


ADAPTER = """
import sys, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
cfg = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights="gaussian")
get_peft_model(model, cfg).save_pretrained(sys.argv[2])
"""


def make_adapter(s: config.Settings, model_dir: Path, out: Path) -> Path:
    """A rank-8 adapter on every linear layer, as the Train tab's defaults make, with random
    weights: for timing only (the kernels do the same work whatever the weights)."""
    import subprocess

    subprocess.run([s.train_python, "-c", ADAPTER, str(model_dir), str(out)], check=True,
                   capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


DOC_QUESTIONS = ["How many days do I have to return a product?", "How long is the K2 kettle's warranty?",
                 "What does error E3 mean on the K2?", "How much water does the K2 hold?",
                 "Who founded Qinghe Appliances?", "退货要在几天之内？", "K2 水壶的保修期是多久？",
                 "K2 显示 E3 是什么意思？"]


def retrieved(s: config.Settings) -> list[list]:
    """The top chunks for each of DOC_QUESTIONS from a knowledge base of the sample documents,
    built the way the Knowledge tab builds one (its default chunking, embedding and search)."""
    from studio.knowledge import Knowledge, context_for

    kb = Knowledge(s)
    try:
        kb.ingest(sorted((config.REPO / "assets" / "docs").iterdir()))
        return [context_for(kb, q) for q in DOC_QUESTIONS]
    finally:
        kb.close()


def rag_messages(i: int, hits: list[list]) -> list[dict]:
    """Question i with its retrieved chunks, whole, as the Chat tab sends them to a model of 1B
    parameters or more. The system prompt is numbered so that no request reuses another's
    cached prefix: every one is a cold prefill."""
    from studio import chat

    k = i % len(DOC_QUESTIONS)
    return chat.build_messages([], DOC_QUESTIONS[k], hits[k], system=f"{chat.SYSTEM} (#{i})")


def run(s: config.Settings, work: Path, model_dir: Path, prompts: int = 64, tokens: int = 64,
        runs: int = 3) -> dict:
    """Each side `runs` times; the medians go under the plain keys, the runs beside them."""
    store = JobStore(work / "jobs")
    asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(prompts)]
    system = shared_system_prompt()
    res = {"prompts": prompts, "tokens": tokens, "device": "GPU" if s.gpu else "CPU", "repeats": runs}
    say("Starting vLLM with the studio's settings (prefix caching on)…")
    t = time.perf_counter()
    job = deploy(s, store, model_dir, prefix_caching=True)
    res["startup_s"] = time.perf_counter() - t
    res["plan"] = [f"{c['name']}={c['value']}" for c in job.spec.get("plan", [])]
    try:
        vllm_tokens_per_s(job, asked, 8)  # warm-up at full concurrency: first batches build kernels
        found = []
        for i in range(runs):
            say(f"vLLM: {prompts} prompts at once, run {i + 1} of {runs}…")
            found.append(vllm_tokens_per_s(job, asked, tokens))
        res["vllm"] = spread(found)
        say("vLLM: time to first token with a long shared system prompt…")
        on, res["prefix_tokens"] = ttft(job, system, 2 + 3 * runs)
        res["ttft_on"] = spread([x * 1000 for x in on])
    finally:
        serving.stop(store, job.id)
    say(f"transformers generate, batched, {runs} runs…")
    res["hf_batched"] = spread(transformers_tokens_per_s(model_dir, asked, tokens, True, runs))
    say(f"transformers generate, one prompt at a time, {runs} runs…")
    res["hf_single"] = spread(transformers_tokens_per_s(model_dir, asked[:4], tokens, False, runs))
    say("Starting vLLM again with prefix caching off…")
    job = deploy(s, store, model_dir, prefix_caching=False)
    try:
        res["ttft_off"] = spread([x * 1000 for x in ttft(job, system, 2 + 3 * runs)[0]])
    finally:
        serving.stop(store, job.id)
    v, b, o = res["vllm"]["runs"], res["hf_batched"]["runs"], res["hf_single"]["runs"]
    res["vs_batched_runs"] = [a / c for a, c in zip(v, b)]  # run i of each side, as they ran
    res["vs_single_runs"] = [a / c for a, c in zip(v, o)]
    res["vllm_tps"], res["hf_batched_tps"], res["hf_single_tps"] = (
        res["vllm"]["median"], res["hf_batched"]["median"], res["hf_single"]["median"])
    res["ttft_on_ms"], res["ttft_off_ms"] = res["ttft_on"]["median"], res["ttft_off"]["median"]
    res["vs_batched"] = statistics.median(res["vs_batched_runs"])
    res["vs_single"] = statistics.median(res["vs_single_runs"])
    res["prefix_speedup"] = res["ttft_off_ms"] / res["ttft_on_ms"]
    return res


def _range(d: dict, fmt: str = ".1f") -> str:
    return f"median {d['median']:{fmt}} (runs {', '.join(format(x, fmt) for x in d['runs'])})"


def report(r: dict) -> str:
    return "\n".join([
        f"{r['prompts']} prompts x {r['tokens']} tokens, {r['device']}, each side {r['repeats']} times; "
        f"healthy after {r['startup_s']:.0f} s; launch plan: {', '.join(r['plan']) or 'vLLM defaults'}",
        f"vLLM server, concurrent:   {_range(r['vllm'])} tok/s",
        f"transformers, batched:     {_range(r['hf_batched'])} tok/s",
        f"transformers, one by one:  {_range(r['hf_single'])} tok/s",
        f"vLLM / batched:   {', '.join(f'{x:.2f}' for x in r['vs_batched_runs'])} (median {r['vs_batched']:.2f})",
        f"vLLM / one by one: {', '.join(f'{x:.1f}' for x in r['vs_single_runs'])} (median {r['vs_single']:.1f})",
        f"time to first token, shared system prompt of ~{r['prefix_tokens']} tokens: prefix caching on "
        f"{_range(r['ttft_on'], '.0f')} ms, off {_range(r['ttft_off'], '.0f')} ms, "
        f"speed-up {r['prefix_speedup']:.1f}x"])


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
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_term)
    r = run(config.load(), args.result.parent, args.model, args.prompts, args.tokens, args.runs)
    args.result.write_text(json.dumps(r, indent=1))
    say(report(r))


if __name__ == "__main__":
    main()
