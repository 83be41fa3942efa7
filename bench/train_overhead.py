"""A LoRA run started through the studio vs the same YAML run by `llamafactory-cli` directly.

    .venvs/app/bin/python bench/train_overhead.py [--steps 10] [--repeat 2]

Both sides run the identical train.yaml (the studio writes it; the direct run gets a copy with
its own output_dir), alternating, one at a time. Prints wall seconds per run, medians and the
overhead ratio (goal: <= 1.05).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from studio import config, training  # noqa: E402
from studio.jobs import JobStore  # noqa: E402


def studio_run(s, store, form) -> tuple[float, Path]:
    t = time.perf_counter()
    job = training.start(s, store, form)
    while store.refresh(store.get(job.id)).status in ("queued", "running"):
        time.sleep(0.2)
    took = time.perf_counter() - t
    job = store.get(job.id)
    if job.status != "succeeded":
        raise SystemExit(job.log_tail())
    return took, job.folder / "train.yaml"


def direct_run(s, yaml_path: Path, out: Path) -> float:
    cfg = yaml.safe_load(yaml_path.read_text())
    cfg["output_dir"] = str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    direct = out.parent / "direct.yaml"
    direct.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, **training.train_env(s, out)}
    t = time.perf_counter()
    subprocess.run(training.command(s, direct), env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(s.home / "jobs")
        form = training.LoraForm(max_steps=args.steps, cutoff_len=256, batch_size=4)
        studio_s, direct_s = [], []
        for i in range(args.repeat):
            took, yaml_path = studio_run(s, store, form)
            studio_s.append(took)
            direct_s.append(direct_run(s, yaml_path, Path(home) / f"direct-{i}" / "output"))
            print(f"run {i + 1}: studio {studio_s[-1]:.1f} s, direct {direct_s[-1]:.1f} s", flush=True)
    ms, md = statistics.median(studio_s), statistics.median(direct_s)
    print(f"median: studio {ms:.1f} s, llamafactory-cli {md:.1f} s, ratio {ms / md:.3f}")


if __name__ == "__main__":
    main()
