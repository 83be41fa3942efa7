"""What a job needs and when it may start: the queue's plan, kept apart from the processes.

A job declares `needs`: {"gpus": n, "gpu_mem": bytes on each of them, "cpus": cores}. GPU memory
is the scarce thing (a second training beside a vLLM server holding 90% of a card dies of
out-of-memory), so the plan is a budget per GPU: its size minus what the running jobs placed on
it declared. Queued jobs start in the order they came; one that does not fit holds back the GPU
jobs behind it (so a large job is not starved by a stream of small ones), while jobs that need
no GPU start at once. CPU cores are not reserved: on a box without GPUs a training run and a
server can share the cores, only slower, and `contention` says so before either starts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from studio.words import Said, zh

GIB = 2**30
HEAVY = ("train", "serve", "bench", "merge", "compare")


@dataclass
class Decision:
    job: object           # the queued Job
    placed: list | None   # GPU indices it starts on now; None: it waits
    reason: str = ""      # why it waits, in words a user can act on
    why: tuple = ()       # the same as (message key, values), for the UI to say in its language
    never: bool = False   # it cannot start on these GPUs at all (they changed since it queued)


def inventory(budget_gib: str = "", has_gpu: bool = False, ray: str = "") -> list[int]:
    """Bytes of memory per GPU the queue may hand out. budget_gib ("24" or "80,80") sets it by
    hand: a share of a shared card, or a GPU-sized budget on a machine without one (the tests);
    on a Ray cluster, its GPUs (Ray shares them out); otherwise what nvidia-smi reports,
    CUDA_VISIBLE_DEVICES narrowing it."""
    if budget_gib.strip():
        return [int(float(x) * GIB) for x in budget_gib.split(",") if x.strip()]
    if ray:
        from studio import rayjobs

        return rayjobs.inventory(ray)
    if not has_gpu:
        return []
    from studio.core import runtime

    return [g["mib"] * 2**20 for g in runtime.visible_gpus()]


def held(running: list, gpus: list[int]) -> list[list[tuple[object, int]]]:
    """For each GPU, the running jobs placed on it and the bytes each declared."""
    on = [[] for _ in gpus]
    for job in running:
        need = job.needs or {}
        for i in need.get("placed") or []:
            if i < len(on):
                on[i].append((job, int(need.get("gpu_mem", 0))))
    return on


def free(running: list, gpus: list[int]) -> list[int]:
    """Bytes each GPU has left once the running jobs placed on it have what they declared."""
    return [size - sum(b for _, b in jobs) for size, jobs in zip(gpus, held(running, gpus))]


def gib(n: int) -> str:
    return f"{n / GIB:.1f}".rstrip("0").rstrip(".")


def check(needs: dict, gpus: list[int]) -> str | None:
    """Why a job can never start on these GPUs (None when it can, once they are free)."""
    n, mem = int(needs.get("gpus", 0)), int(needs.get("gpu_mem", 0))
    if n == 0:
        return None
    if n > len(gpus):
        return Said(f"it needs {n} GPU{'s' * (n > 1)} and the queue has {len(gpus)}",
                    f"它需要 {n} 张 GPU，而队列只有 {len(gpus)} 张")
    if mem > sorted(gpus, reverse=True)[n - 1]:
        return Said(f"it needs {gib(mem)} GiB on each GPU and the largest has {gib(max(gpus))} GiB",
                    f"它在每张 GPU 上需要 {gib(mem)} GiB，而最大的一张只有 {gib(max(gpus))} GiB")
    return None


# JobStore.launch's refusals (kept here: jobs.py is at its size limit).
def cannot_start(why: str) -> Said:
    return Said(f"This job cannot start here: {why}.", f"这个任务无法在这里启动：{zh(why)}。")


def busy(kind: str) -> Said:
    return Said(f"A {kind} job is already queued or running; wait for it or cancel it.",
                f"已有一个 {kind} 任务在排队或运行；请等它结束，或先取消它。")


def plan(queued: list, running: list, gpus: list[int]) -> list[Decision]:
    """Which queued jobs (oldest first) start now and why the others wait."""
    on, left = held(running, gpus), free(running, gpus)
    blocker, out = None, []
    for job in sorted(queued, key=lambda j: j.created):
        need = job.needs or {}
        n, mem = int(need.get("gpus", 0)), int(need.get("gpu_mem", 0))
        if n == 0:
            out.append(Decision(job, []))
            continue
        impossible = check(need, gpus)
        if impossible:
            out.append(Decision(job, None, impossible, never=True))
            continue
        if blocker is not None:
            out.append(Decision(job, None, f"behind {blocker.name}, which came first",
                                ("q_behind", {"name": blocker.name})))
            continue
        fitting = sorted((i for i in range(len(gpus)) if left[i] >= mem), key=lambda i: -left[i])
        if len(fitting) >= n:
            placed = sorted(fitting[:n])
            for i in placed:
                left[i] -= mem
            out.append(Decision(job, placed))
            continue
        blocker = job
        out.append(_waits(job, mem, gpus, left, on))
    return out


def _waits(job, mem: int, gpus: list[int], free: list[int], on: list) -> Decision:
    i = max(range(len(gpus)), key=lambda k: free[k])
    holders = ", ".join(f"{j.name} ({gib(b)} GiB)" for j, b in on[i]) or "-"
    values = {"gpu": i, "holders": holders, "size": gib(gpus[i]), "need": gib(mem),
              "free": gib(max(free[i], 0))}
    return Decision(job, None, "waiting for GPU {gpu}: in use by {holders} of {size} GiB; it needs "
                    "{need} GiB and {free} GiB are free".format(**values), ("q_gpu", values))


def contention(kind: str, running: list, cores: int | None = None) -> dict | None:
    """On a box without GPUs, the heavy jobs already running that this one would slow (and be
    slowed by): they share the same few cores. The values of the UI's warning, or None."""
    if kind not in HEAVY:
        return None
    others = [j for j in running if j.kind in HEAVY]
    if not others:
        return None
    return {"names": ", ".join(j.name for j in others), "cores": cores or os.cpu_count() or 1}
