"""Timings of the journey on this machine, each through the studio's own services:

    .venvs/app/bin/python bench/journey.py [--steps 10]

1. seconds per training step of the sample run (LoRA r8 on all linear layers, batch 4, cutoff 256)
2. deploy -> healthy endpoint, side by side: the base model alone vs with the trained adapter
   (--enable-lora), and their ratio.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from studio import config, serving, training  # noqa: E402
from studio.jobs import JobStore  # noqa: E402


def wait(store, job, done, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = store.refresh(store.get(job.id))
        if done(job):
            return job, time.time() - t0
        time.sleep(0.5)
    raise SystemExit(f"timed out: {job.name}\n{job.log_tail()}")


def seconds(hms: str) -> float:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


def deploy_time(s, store, adapters):
    job = serving.start(s, store, adapter_names=adapters)
    try:
        _, took = wait(store, job, lambda j: j.status != "running" or serving.healthy(j),
                       s.serve_start_timeout)
        if serving.state(store, job) != "ready":
            raise SystemExit(f"deploy failed:\n{store.get(job.id).log_tail()}")
        return took
    finally:
        serving.stop(store, job.id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(s.home / "jobs")
        form = training.LoraForm(max_steps=args.steps, cutoff_len=256, batch_size=4)
        job = training.start(s, store, form)
        job, wall = wait(store, job, lambda j: j.status not in ("queued", "running"), 1800)
        p = training.progress(job)
        if job.status != "succeeded":
            raise SystemExit(job.log_tail())
        per_step = seconds(p["elapsed"]) / p["step"]
        print(f"training: {p['step']} steps, {per_step:.2f} s/step in the trainer "
              f"({wall:.0f} s wall for the whole job, start-up included)")
        plain = deploy_time(s, store, [])
        lora = deploy_time(s, store, [job.name])
        print(f"deploy -> healthy: base only {plain:.1f} s, with adapter {lora:.1f} s, "
              f"ratio {lora / plain:.2f}")


if __name__ == "__main__":
    main()
