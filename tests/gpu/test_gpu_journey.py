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
