"""A real LLaMA-Factory LoRA run on the default model (a few steps, CPU)."""
import json

import pytest

from studio import training

pytestmark = pytest.mark.integration


def test_lora_run_writes_an_adapter_and_metrics(trained):
    s, store, job = trained
    assert job.status == "succeeded", job.log_tail()
    adapter = training.adapter_dir(job)
    assert adapter is not None and (adapter / "adapter_model.safetensors").exists()
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16
    p = training.progress(job)
    assert p["step"] == 3 and p["total"] == 3 and p["percent"] == 100
    assert len(p["loss"]) == 3 and all(x["loss"] > 0 for x in p["loss"])
    assert (job.folder / "train.yaml").exists() and (job.folder / "exit.json").exists()
    [found] = training.adapters(store)
    assert found["name"] == job.name and found["rank"] == 8


def test_cancel_stops_training_gracefully_and_keeps_the_adapter(settings):
    from studio.jobs import JobStore

    from tests.conftest import wait_for

    store = JobStore(settings.home / "jobs")
    job = training.start(settings, store, training.LoraForm(max_steps=200, cutoff_len=64,
                                                            batch_size=2))
    wait_for(lambda: training.progress(store.get(job.id))["step"] >= 1, timeout=300,
             what="the first training step")
    job = training.cancel(store, job.id)
    assert job.status == "cancelled"
    assert training.progress(job)["step"] < 200
    # LLaMA-Factory saves what it has on SIGABRT: the adapter is there to serve or resume from.
    assert training.adapter_dir(job) is not None, job.log_tail()
