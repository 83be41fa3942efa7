"""The Ray Jobs backend: the same job rows, run on an existing Ray cluster (RAY_ADDRESS).

A job is submitted through Ray's job submission API with the studio's job id as its submission
id, so that after an app restart the cluster still answers for it by the same name. Status, logs
and stop go through that API; the row keeps the cluster's address, and a row is settled by the
cluster that runs it even when the app now starts without RAY_ADDRESS.

What the nodes must share with the studio: the data root at the same path (job folders, models,
datasets, adapters) and the studio's environments at the same path (run the studio's image on
every node). The entrypoint is the same wrapper as a local job's (studio/jobwrap.py --cluster),
which takes the job's variables from its folder: nothing secret enters Ray's runtime environment,
which the cluster keeps in plain sight.
"""
from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path

from studio.words import Said

# The studio's own variables a job may need on the node; anything named like a secret stays out.
_PASS = re.compile(r"^(STUDIO_|HF_|OMP_|VLLM_|TRANSFORMERS_|TOKENIZERS_|PYTHONUNBUFFERED$)")
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|USERS|AUTH|COOKIE|CREDENTIAL", re.I)
# Ray waits 3 s between SIGTERM and SIGKILL by default; a trainer saving its adapter needs longer.
STOP_GRACE_S = 30
_LOG_EVERY_S = 3.0
_STATUS = {"PENDING": "running", "RUNNING": "running", "SUCCEEDED": "succeeded",
           "FAILED": "failed", "STOPPED": "cancelled"}
_clients: dict[str, object] = {}
_synced: dict[str, float] = {}
# What a command names for the node's address and a port free there (studio/jobwrap.py fills them in).
ON_NODE, FREE_PORT = "{node_ip}", "{free_port}"
# A job waits for the cluster's resources as PENDING: the local queue does not count its memory.
UNCOUNTED = 10**15


class ClusterError(Exception):
    """The cluster cannot be reached or refused the job; the message says which."""


def dashboard(address: str) -> str:
    """RAY_ADDRESS as the job API wants it: the dashboard's http(s) address."""
    address = address.strip().rstrip("/")
    if address.startswith("ray://"):
        raise ClusterError(Said(
            f"RAY_ADDRESS is {address}, a Ray Client address; the studio submits jobs through the "
            "cluster's dashboard: give its address, such as http://HEAD:8265.",
            f"RAY_ADDRESS 是 {address}，这是 Ray Client 地址；工作台通过集群的 dashboard 提交任务："
            "请填它的地址，例如 http://HEAD:8265。"))
    return address if "://" in address else "http://" + address


def client(address: str):
    address = dashboard(address)
    if address not in _clients:
        from ray.job_submission import JobSubmissionClient

        try:
            _clients[address] = JobSubmissionClient(address)
        except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError
            raise ClusterError(unreachable(address, e)) from e
    return _clients[address]


def unreachable(address: str, e: Exception) -> Said:
    return Said(f"The Ray cluster at {address} did not answer: {e}",
                f"{address} 上的 Ray 集群没有响应：{e}")


def cluster_gpus(address: str) -> int:
    """GPUs the cluster's live nodes have, as Ray counts them."""
    from ray.util.state import list_nodes

    try:
        nodes = list_nodes(address=dashboard(address), timeout=10)
    except Exception as e:  # noqa: BLE001
        raise ClusterError(unreachable(address, e)) from e
    return int(sum(n.resources_total.get("GPU", 0) for n in nodes if n.state == "ALIVE"))


def inventory(address: str) -> list[int]:
    """The queue's GPUs on a cluster: as many as it has; their memory is Ray's to share out."""
    return [UNCOUNTED] * cluster_gpus(address)


def runtime_env(environ: dict) -> dict:
    env = {k: v for k, v in environ.items() if _PASS.match(k) and not _SECRET.search(k)}
    return {"env_vars": {**env, "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S), "PYTHONUNBUFFERED": "1"}}


def submit(address: str, job, wrapper: Path, command: list[str], environ: dict) -> None:
    """Submit job's command to the cluster; it holds as many GPUs as the job needs."""
    need = job.needs or {}
    entry = shlex.join([sys.executable, "-I", str(wrapper), str(job.folder), "--cluster", "--", *command])
    try:
        client(address).submit_job(entrypoint=entry, submission_id=job.id, runtime_env=runtime_env(environ),
                                   entrypoint_num_gpus=int(need.get("gpus", 0)) or None,
                                   entrypoint_num_cpus=need.get("cpus") or None,
                                   metadata={"studio_kind": job.kind, "studio_name": job.name[:200]})
    except ClusterError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ClusterError(Said(f"The Ray cluster at {address} refused the job: {e}",
                                f"{address} 上的 Ray 集群拒绝了这个任务：{e}")) from e


def sync_log(address: str, job, force: bool = False) -> None:
    """Copy the cluster's log of the job into its log.txt, where the UI and post-mortem read it."""
    if not force and time.time() - _synced.get(job.id, 0) < _LOG_EVERY_S:
        return
    _synced[job.id] = time.time()
    try:
        text = client(address).get_job_logs(job.id)
    except Exception:  # noqa: BLE001 - the status call says what is wrong
        return
    tmp = job.folder / "log.txt.tmp"
    tmp.write_text(text, encoding="utf-8", errors="replace")
    tmp.replace(job.folder / "log.txt")


def settle(address: str, job) -> dict | None:
    """The row's new columns for a job the cluster finished (or forgot); None while it runs or
    while the cluster cannot be reached (a network blip is not a lost job)."""
    try:
        info = client(address).get_job_info(job.id)
    except ClusterError:
        return None
    except Exception as e:  # noqa: BLE001
        if "does not exist" in str(e):
            return {"status": "lost", "finished": time.time(),
                    "error": f"the Ray cluster at {address} no longer knows this job (was it restarted?)"}
        return None
    status = _STATUS.get(str(info.status).split(".")[-1], "running")
    sync_log(address, job, force=status != "running")
    if status == "running":
        return None
    rec = {}
    try:
        rec = json.loads((job.folder / "exit.json").read_text())
    except (OSError, ValueError):
        pass
    rc = rec.get("returncode")
    if rec.get("signals") or job.status == "cancelled":
        status = "cancelled"
    error = None
    if status == "failed":
        error = rec.get("error") or (f"exit code {rc}" if rc is not None else info.message or "failed on the cluster")
    end = info.end_time / 1000 if info.end_time else time.time()
    return {"status": status, "exit_code": rc, "finished": rec.get("finished") or end, "error": error}


def _ended(address: str, job, seconds: float) -> dict | None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        done = settle(address, job)
        if done is not None:
            return {**done, "status": "cancelled"}
        time.sleep(0.5)
    return None


def stop(address: str, job, sig: int, grace: float) -> dict:
    """Stop the job as a local cancel would: sig through the job's folder, which its wrapper
    passes to the command (a trainer saves its adapter on SIGABRT); after grace seconds, Ray's
    own stop (SIGTERM to every process of the job, SIGKILL STOP_GRACE_S later)."""
    tmp = job.folder / "cancel.json.tmp"
    tmp.write_text(json.dumps({"signal": int(sig)}))
    tmp.replace(job.folder / "cancel.json")
    done = _ended(address, job, grace)
    if done is None:
        try:
            client(address).stop_job(job.id)
        except Exception:  # noqa: BLE001 - already ended, or the cluster is gone: settle says which
            pass
        done = _ended(address, job, STOP_GRACE_S + 10)
    return done or {"finished": time.time(), "error": "the cluster did not confirm the stop in time"}
