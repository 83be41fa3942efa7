"""On a CUDA machine: LoRA training in bf16 on the GPU, and vLLM serving with compiled kernels.
Skipped without a GPU (see tests/conftest.py)."""
import pytest

from studio import serving, training
from studio.jobs import JobStore

from tests.conftest import wait_done, wait_for

pytestmark = [pytest.mark.gpu, pytest.mark.integration]


def test_bf16_training_and_compiled_serving_on_the_gpu(settings):
    settings.gpu = True
    store = JobStore(settings.home / "jobs")
    job = training.start(settings, store, training.LoraForm(max_steps=3, cutoff_len=128))
    assert "bf16: true" in (job.folder / "train.yaml").read_text()
    job = wait_done(store, job.id, timeout=600, what="GPU training")
    assert job.status == "succeeded", job.log_tail()
    srv = serving.start(settings, store)
    try:
        assert "--enforce-eager" not in srv.command
        wait_for(lambda: serving.state(store, srv) != "starting", timeout=900, every=3,
                 what="vLLM on the GPU")
        assert serving.state(store, srv) == "ready", store.get(srv.id).log_tail()
    finally:
        serving.stop(store, srv.id)


def test_qlora_trains_in_4_bit_on_the_gpu(settings):
    settings.gpu = True
    store = JobStore(settings.home / "jobs")
    job = training.start(settings, store, training.LoraForm(max_steps=3, cutoff_len=128,
                                                            quant_4bit=True))
    job = wait_done(store, job.id, timeout=600, what="QLoRA training")
    assert job.status == "succeeded", job.log_tail()
    assert "quantization_bit: 4" in (job.folder / "train.yaml").read_text()


def test_the_memory_estimate_holds_on_the_gpu(tmp_path):
    """bench/gpu_check.py on a 0.5B model from its catalog config: the studio's estimate for the
    same settings is within a factor of 1.5 of the peak PyTorch allocated, either way."""
    import json
    import subprocess

    from studio import config

    out = subprocess.run([str(config.REPO / ".venvs" / "train" / "bin" / "python"),
                          str(config.REPO / "bench" / "gpu_check.py"), "--config", "Qwen2.5-0.5B-Instruct",
                          "--steps", "4", "--cutoff", "512", "--cases", "lora", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [r] = json.loads(out.stdout[out.stdout.index("\n["):])
    assert 1 / 1.5 < r["estimate_gib"] / r["peak_allocated_gib"] < 1.5, r
