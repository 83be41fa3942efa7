"""What the Ray Jobs backend costs beside local processes, side by side in one run: a one-node Ray
head on loopback (started and stopped here, in a folder of its own), then the same jobs through
the studio's job store both ways: an empty job (submission to exit: the backend's own latency)
and a 2-step LLaMA-Factory training on the default model; and the head's own memory.

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/ray_overhead.py [--jobs 5] [--no-train]
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")
RAY = Path(sys.executable).with_name("ray")


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until_done(store, job, timeout: float = 900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.refresh(store.get(job.id))
        if job.status not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise SystemExit(f"{job.name} did not end in {timeout} s")


def head_rss_mib(temp: Path) -> float:
    """Resident memory of the head's processes (GCS, raylet, dashboard and its agents)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            # Ray's binaries (gcs_server, raylet), and its python processes (dashboard, agents,
            # idle workers), which name the head's folder or call themselves ray::...
            if not (str(temp).encode() in cmd or b"/ray/" in cmd.split(b"\0")[0] or cmd.startswith(b"ray::")):
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--no-train", action="store_true")
    a = p.parse_args()
    from studio import config, jobs, training

    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    gcs, dash = port(), port()
    t0 = time.time()
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--num-cpus=8",
                    "--disable-usage-stats", f"--temp-dir={temp}"], check=True, stdout=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{dash}"
    home = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    try:
        from studio import rayjobs

        while True:
            try:
                rayjobs.client(address).list_jobs()
                break
            except Exception:  # noqa: BLE001 - not up yet
                rayjobs._clients.clear()
                time.sleep(0.5)
        print(f"Ray head up in {time.time() - t0:.1f} s; its processes hold {head_rss_mib(temp):.0f} MiB")
        stores = {"local": jobs.JobStore(home / "local"), "ray": jobs.JobStore(home / "ray", ray=address)}
        empty = {k: [] for k in stores}
        for _ in range(a.jobs):
            for side, store in stores.items():
                t = time.perf_counter()
                job = until_done(store, store.launch("bench", "empty", [sys.executable, "-c", "pass"]))
                assert job.status == "succeeded", (side, job.error, job.log_tail())
                empty[side].append(time.perf_counter() - t)
        lo, ra = statistics.median(empty["local"]), statistics.median(empty["ray"])
        print(f"empty job, submit to settled (median of {a.jobs}): local {lo:.2f} s, Ray {ra:.2f} s, "
              f"+{ra - lo:.2f} s on Ray")
        if not a.no_train:
            s = config.load(home=home / "s", models_dir=REPO / "studio_data" / "models")
            took = {}
            for side, store in stores.items():
                t = time.perf_counter()
                job = training.start(s, store, training.LoraForm(max_steps=2, cutoff_len=64, batch_size=2))
                job = until_done(store, job)
                assert job.status == "succeeded", (side, job.log_tail())
                took[side] = time.perf_counter() - t
            print(f"2-step LoRA training, start to settled: local {took['local']:.1f} s, Ray {took['ray']:.1f} s, "
                  f"ratio Ray/local x{took['ray'] / took['local']:.2f}")
    finally:
        subprocess.run([str(RAY), "stop", "--force"], stdout=subprocess.DEVNULL)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
