"""Live numbers from a vLLM server's Prometheus /metrics: requests running and waiting,
generation tokens/s, time to first token, KV-cache usage and prefix-cache hit rate.

Each sample is appended to the deployment's folder (metrics.jsonl), so the curves survive a page
reload or an app restart; rates are differences between consecutive samples.
"""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

from studio.jobs import Job

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$")
# our name -> vLLM metric names (the first one present wins; names moved between versions)
WANTED = {
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "generation_tokens": ("vllm:generation_tokens_total", "vllm:generation_tokens"),
    "prompt_tokens": ("vllm:prompt_tokens_total", "vllm:prompt_tokens"),
    "ttft_sum": ("vllm:time_to_first_token_seconds_sum",),
    "ttft_count": ("vllm:time_to_first_token_seconds_count",),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:cpu_cache_usage_perc"),
    "prefix_hits": ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits"),
    "prefix_queries": ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries"),
}


def parse(text: str) -> dict[str, float]:
    """Prometheus text -> {metric name: value}, summing over label sets (e.g. per model)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m and not line.startswith("#"):
            try:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
            except ValueError:
                continue
    return out


def pick(raw: dict[str, float]) -> dict[str, float]:
    return {ours: next((raw[n] for n in names if n in raw), 0.0) for ours, names in WANTED.items()}


def scrape(job: Job, base_url: str, timeout: float = 3.0) -> dict | None:
    """One sample from /metrics, appended to the job's metrics.jsonl; None if unreachable."""
    url = base_url[: -len("/v1")] + "/metrics" if base_url.endswith("/v1") else base_url + "/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            sample = {"t": time.time(), **pick(parse(r.read().decode("utf-8", "replace")))}
    except (urllib.error.URLError, OSError):
        return None
    with open(job.folder / "metrics.jsonl", "a") as f:
        f.write(json.dumps(sample) + "\n")
    return sample


def history(job: Job, last: int = 300) -> list[dict]:
    """Points for the plots: raw gauges plus rates between consecutive samples."""
    f = job.folder / "metrics.jsonl"
    if not f.exists():
        return []
    samples = []
    for line in f.read_text().splitlines()[-last:]:
        try:
            samples.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    points, t0 = [], samples[0]["t"] if samples else 0
    for prev, cur in zip(samples, samples[1:]):
        dt = max(cur["t"] - prev["t"], 1e-6)
        d_ttft = cur["ttft_count"] - prev["ttft_count"]
        d_queries = cur["prefix_queries"] - prev["prefix_queries"]
        points.append({
            "seconds": round(cur["t"] - t0, 1),
            "running": cur["running"], "waiting": cur["waiting"],
            "tokens_per_s": max(0.0, (cur["generation_tokens"] - prev["generation_tokens"]) / dt),
            "ttft_s": (cur["ttft_sum"] - prev["ttft_sum"]) / d_ttft if d_ttft > 0 else None,
            "kv_usage_pct": 100 * cur["kv_usage"],
            "prefix_hit_pct": 100 * (cur["prefix_hits"] - prev["prefix_hits"]) / d_queries
            if d_queries > 0 else None,
        })
    return points


def totals(job: Job) -> dict | None:
    """Lifetime numbers from the latest sample: tokens, mean TTFT, prefix-cache hit rate."""
    f = job.folder / "metrics.jsonl"
    if not f.exists():
        return None
    lines = f.read_text().splitlines()
    if not lines:
        return None
    s = json.loads(lines[-1])
    return {"generation_tokens": s["generation_tokens"], "prompt_tokens": s["prompt_tokens"],
            "ttft_mean_s": s["ttft_sum"] / s["ttft_count"] if s["ttft_count"] else None,
            "prefix_hit_pct": 100 * s["prefix_hits"] / s["prefix_queries"] if s["prefix_queries"] else None,
            "kv_usage_pct": 100 * s["kv_usage"]}
